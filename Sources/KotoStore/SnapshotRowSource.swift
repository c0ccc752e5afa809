import Dispatch
import Foundation
import KotoCore
import KotoCrypto
import Synchronization

/// The rows of a snapshot stream after its header, each decoded, checked
/// (membership of every row clock's nodes, row clocks within the snapshot's
/// version vector) and hashed for the state digest; the end frame's row
/// count and SHA-256 are checked when it comes. Nothing here writes.
struct SnapshotRowSource {
    var stream: SnapshotStream
    let header: SnapshotHeader
    let region: RegionKeys
    private(set) var rowCount: UInt64 = 0

    init(stream: SnapshotStream, header: SnapshotHeader, region: RegionKeys) {
        self.stream = stream
        self.header = header
        self.region = region
    }

    /// The next row and its row digest; nil after a verified end.
    mutating func next() throws -> (row: OrderedSnapshotRow, digest: [UInt8])? {
        let (tag, payload) = try stream.frame()
        if tag == SnapshotFormat.endTag {
            let claimed = stream.digestBeforeLastFrame
            let end: (rowCount: UInt64, sha256: [UInt8])
            do {
                end = try SnapshotFormat.decodeEnd(payload)
            } catch {
                throw SnapshotRefused("end: \(error)")
            }
            guard end.sha256 == claimed else { throw SnapshotRefused("the stream's SHA-256 does not match (altered in transit)") }
            guard end.rowCount == rowCount, rowCount == header.rowCount else {
                throw SnapshotRefused("the snapshot holds \(rowCount) rows, its header says \(header.rowCount)")
            }
            try stream.requireEnd()
            return nil
        }
        guard tag == SnapshotFormat.rowTag else { throw SnapshotRefused("a second header inside the snapshot") }
        let row: OrderedSnapshotRow
        do {
            row = try SnapshotFormat.decodeOrderedRow(payload)
        } catch {
            throw SnapshotRefused("row \(rowCount + 1): \(error)")
        }
        if let stranger = row.rowClock.entries.keys.first(where: { !region.isMember($0) }) {
            throw SnapshotRefused("a row clock names \(stranger), which is not a member of the region")
        }
        guard header.versionVector.covers(row.rowClock) else {
            throw SnapshotRefused("a row clock goes beyond the snapshot's version vector")
        }
        rowCount += 1
        return (row, SHA256.hash(row.digestBytes))
    }
}

/// Runs a `SnapshotRowSource` on a thread of its own, a few batches ahead
/// of the import's inserts, so reading, decoding and hashing rows use the
/// second core while SQLite writes on the first. The source (its stream's
/// read function included) is used only by that thread until `stop()` has
/// joined it, which the import does before it returns or throws.
final class PrefetchingRowSource: @unchecked Sendable {
    typealias Batch = [(row: OrderedSnapshotRow, digest: [UInt8])]

    private struct Shared {
        var ready: [Result<(batch: Batch, last: Bool), any Error>] = []
        var stopped = false
    }

    private let shared = Mutex(Shared())
    private let filled = DispatchSemaphore(value: 0)
    private let space: DispatchSemaphore
    private let exited = DispatchSemaphore(value: 0)
    private var source: SnapshotRowSource
    private let batchSize: Int
    private var joined = false

    init(_ source: SnapshotRowSource, batchSize: Int = 256, batchesAhead: Int = 8) {
        self.source = source
        self.batchSize = batchSize
        space = DispatchSemaphore(value: batchesAhead)
        let thread = Thread { [self] in produce() }
        thread.name = "snapshot-rows"
        thread.start()
    }

    private func produce() {
        defer { exited.signal() }
        while true {
            space.wait()
            if shared.withLock({ $0.stopped }) { return }
            var batch: Batch = []
            batch.reserveCapacity(batchSize)
            let entry: Result<(batch: Batch, last: Bool), any Error>
            do {
                var last = false
                while batch.count < batchSize {
                    guard let item = try source.next() else {
                        last = true
                        break
                    }
                    batch.append(item)
                }
                entry = .success((batch, last))
            } catch {
                entry = .failure(error)
            }
            shared.withLock { $0.ready.append(entry) }
            filled.signal()
            guard case .success(let produced) = entry, !produced.last else { return }
        }
    }

    /// The next batch of checked rows and whether it is the last (the end verified); rethrows what the source threw.
    func next() throws -> (batch: Batch, last: Bool) {
        filled.wait()
        let entry = shared.withLock { $0.ready.removeFirst() }
        space.signal()
        return try entry.get()
    }

    /// Bytes of the stream the source consumed; read after `stop()`.
    var consumed: UInt64 {
        precondition(joined, "the row thread still reads the stream")
        return source.stream.consumed
    }

    /// Stops the thread and waits for it (it finishes the read it is in).
    func stop() {
        guard !joined else { return }
        joined = true
        shared.withLock { $0.stopped = true }
        space.signal()
        exited.wait()
    }
}
