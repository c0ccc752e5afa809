import Foundation
public import KotoCore
import KotoCrypto

/// What one written or imported snapshot held.
public struct SnapshotSummary: Sendable, Equatable {
    public let rows: UInt64
    public let bytes: UInt64
    public let versionVector: VersionVector
    public let stateDigest: StateDigest
}

/// A snapshot was refused (cut off, altered, of another schema, a head that
/// does not verify, a digest that does not match its rows, or a store that
/// holds changes the snapshot lacks); nothing of it was written. Says why,
/// never what a row held.
public struct SnapshotRefused: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { "snapshot refused: \(reason)" }
}

/// Writing a snapshot (`SnapshotFormat`) of a replica file: on a connection
/// of its own, opened read-only, in ONE read transaction, so the rows, the
/// version vector, the heads and the digest are one consistent state while
/// the writer goes on. Each table is stepped through by one cursor, so
/// memory holds one chunk of output at a time, never the database.
public enum SnapshotWriter {
    /// Streams a snapshot of the replica at `databasePath` to `sink`, in chunks of about `chunkBytes`.
    @discardableResult
    public static func write(databasePath: String, now: UInt64, chunkBytes: Int = 256 << 10,
                             to sink: ([UInt8]) throws -> Void) throws -> SnapshotSummary {
        let database = try Database(path: databasePath, readOnly: true)
        defer { try? database.close() }
        return try database.readTransaction {
            let nodeRows = try database.query("SELECT node_id, hlc, state_digest, awaiting_erase_rows FROM node_state") { row in
                (row.string(0) ?? "", HLC(rawValue: UInt64(bitPattern: row.int64(1))), row.blob(2) ?? [], row.int64(3))
            }
            guard let (sender, hlc, digestBytes, awaiting) = nodeRows.first, digestBytes.count == 32 else {
                throw ReplicaStoreError.corrupt("no node state to snapshot")
            }
            let schema = try database.query("PRAGMA user_version") { Int($0.int64(0)) }.first ?? 0
            let entries = try database.query("SELECT origin, seq FROM version_vector") { ($0.string(0) ?? "", UInt64($0.int64(1))) }
            let vector = VersionVector(Dictionary(entries, uniquingKeysWith: max))
            var heads: [String: SignedChainHead] = [:]
            for (origin, seq) in vector.sorted {
                heads[origin] = try signedHead(database, origin: origin, seq: seq)
            }
            var rowCount: UInt64 = 0
            for kind in RecordKind.allCases {
                rowCount += UInt64(try database.query("SELECT count(*) FROM \(kind.table)") { $0.int64(0) }.first ?? 0)
            }
            let header = SnapshotHeader(schemaVersion: schema, sender: sender, createdMillis: now, hlc: hlc, versionVector: vector,
                                        heads: heads, stateDigest: StateDigest(bytes: digestBytes), digestProvisional: awaiting > 0,
                                        rowCount: rowCount)
            let hasher = SHA256Hasher()
            var total: UInt64 = 0
            var chunk = SnapshotFormat.preamble
            chunk.reserveCapacity(chunkBytes + 64 << 10)
            func flush() throws {
                hasher.update(chunk)
                total += UInt64(chunk.count)
                try sink(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
            SnapshotFormat.appendHeader(header, to: &chunk)
            var written: UInt64 = 0
            for kind in RecordKind.allCases {
                try RowCursor.each(kind, in: database) { row in
                    SnapshotFormat.appendRow(row, to: &chunk)
                    written += 1
                    if chunk.count >= chunkBytes { try flush() }
                }
            }
            guard written == rowCount else { throw ReplicaStoreError.corrupt("rows changed inside one read transaction") }
            try flush()
            SnapshotFormat.appendEnd(rowCount: written, sha256: hasher.finalize(), to: &chunk)
            total += UInt64(chunk.count)
            try sink(chunk)
            return SnapshotSummary(rows: written, bytes: total, versionVector: vector, stateDigest: header.stateDigest)
        }
    }

    /// The link at `origin:seq` and the origin's signature over it: from the
    /// log, or from `chain_heads` where the log no longer holds the entry.
    static func signedHead(_ database: Database, origin: String, seq: UInt64) throws -> SignedChainHead {
        let found = try database.query("SELECT chain_hash, signature FROM change_log WHERE origin = ? AND seq = ?",
                                       [.text(origin), .integer(Int64(seq))]) { ($0.blob(0) ?? [], $0.blob(1)) }.first
            ?? database.query("SELECT hash, signature FROM chain_heads WHERE origin = ? AND seq = ?",
                              [.text(origin), .integer(Int64(seq))]) { ($0.blob(0) ?? [], $0.blob(1)) }.first
        // The change at a version vector's entry always ends a signed run (a batch never ends a run unsigned).
        guard let (hash, signature) = found, hash.count == ChainFormat.hashByteCount,
              let signature, signature.count == ChainFormat.signatureByteCount else {
            throw ReplicaStoreError.corrupt("no signed chain head for \(origin):\(seq)")
        }
        return SignedChainHead(seq: seq, hash: hash, signature: signature)
    }
}

/// Steps through one record table in id order with its open conflicts
/// (merged from one ordered scan of `conflicts`), giving each row's whole
/// merged state in schema order. Columns by the record schema
/// (`RecordKind.fields`) and `TableStatements.metaColumns`, as `RowStore`
/// stores them.
enum RowCursor {
    static func each(_ kind: RecordKind, in database: Database, _ body: (OrderedSnapshotRow) throws -> Void) throws {
        let specs = kind.fields
        let rows = try database.prepare("""
            SELECT id, \(specs.map(\.column).joined(separator: ", ")), row_clock, stamps, erased, awaiting_erase
            FROM \(kind.table) ORDER BY id
            """)
        let conflicts = try database.prepare(
            "SELECT row_id, field, origin, seq, hlc, value FROM conflicts WHERE record = ? ORDER BY row_id")
        defer {
            rows.reset()
            conflicts.reset()
        }
        try conflicts.bind(kind.table, at: 1)
        var pendingConflict = try conflicts.step()
        let base = Int32(specs.count) + 1
        while try rows.step() {
            let idText = rows.string(0) ?? ""
            guard let id = UUID(uuidString: idText) else { throw ReplicaStoreError.corrupt("unreadable row id in \(kind.table)") }
            var ordered = OrderedRow(fieldCount: specs.count)
            for (index, spec) in specs.enumerated() {
                let column = Int32(index) + 1
                guard !rows.isNull(column) else { continue }
                switch spec.type.storage {
                case .text: ordered.values[index] = .text(rows.string(column) ?? "")
                case .integer: ordered.values[index] = .integer(rows.int64(column))
                case .bool: ordered.values[index] = .bool(rows.int64(column) != 0)
                }
            }
            ordered.stamps = try WireFormat.decodeStamps(ordered: rows.blob(base + 1) ?? [], record: kind)
            var row = OrderedSnapshotRow(kind: kind, id: id, row: ordered, rowClock: try WireFormat.decodeClock(rows.blob(base) ?? []),
                                         erased: rows.int64(base + 2) != 0, awaitingErase: rows.int64(base + 3) != 0)
            while pendingConflict {
                let rowID = conflicts.string(0) ?? ""
                if rowID > idText { break }
                if rowID == idText {
                    let name = conflicts.string(1) ?? ""
                    guard let spec = kind.field(named: name) else { throw ReplicaStoreError.corrupt("conflict on unknown field") }
                    let dot = Dot(origin: conflicts.string(2) ?? "", seq: UInt64(conflicts.int64(3)))
                    let stamp = FieldStamp(hlc: HLC(rawValue: UInt64(bitPattern: conflicts.int64(4))), dot: dot)
                    row.conflicts[name, default: []].append(
                        FrontierEntry(stamp: stamp, value: try WireFormat.decodeValue(conflicts.blob(5) ?? [], for: spec)))
                }
                pendingConflict = try conflicts.step()
            }
            try body(row)
        }
    }
}

/// Building a replica from a snapshot.
extension ReplicaStore {
    /// True while this store holds no change and no row: a new or wiped node.
    public var isEmptyReplica: Bool {
        guard state.versionVector.isEmpty, state.logEnd == 0 else { return false }
        for kind in RecordKind.allCases {
            if (try? database.query("SELECT 1 FROM \(kind.table) LIMIT 1") { _ in true })?.isEmpty == false { return false }
        }
        return true
    }

    /// Builds this replica from a snapshot read by `read` (up to the given
    /// count of bytes per call, empty at the end), in one transaction:
    /// rows with their frontiers and row clocks, the version vector, the
    /// HLC, each origin's signed head (verified with the region's keys) and
    /// the floor, which becomes the snapshot's version vector (the log
    /// starts empty). The state digest is recomputed from the rows and must
    /// equal the one the snapshot claims; the stream's SHA-256 must match.
    /// Anything refused leaves the store as it was.
    ///
    /// Only into an empty store, or one whose every change the snapshot
    /// holds too (its version vector covers this store's): then the local
    /// state is replaced and nothing local is lost, and the log starts a
    /// new incarnation. A store holding changes the snapshot lacks is
    /// refused: the operator decides (see docs/operations.md).
    @discardableResult
    public func importSnapshot(read: @escaping (Int) throws -> [UInt8]) throws -> SnapshotSummary {
        var stream = SnapshotStream(read: read)  // read by the row thread after the header (PrefetchingRowSource)
        try stream.preamble()
        let (tag, payload) = try stream.frame()
        guard tag == SnapshotFormat.headerTag else { throw SnapshotRefused("the snapshot does not begin with its header") }
        let header: SnapshotHeader
        do {
            header = try SnapshotFormat.decodeHeader(payload)
        } catch {
            throw SnapshotRefused("header: \(error)")
        }
        try check(header)
        let replacing = !isEmptyReplica
        if replacing {
            guard header.versionVector.covers(state.versionVector) else {
                throw SnapshotRefused("this node holds changes the snapshot lacks (here \(state.versionVector), snapshot \(header.versionVector)); "
                                      + "it is not replaced")
            }
        }
        let now = Int64(options.now())
        let region = identity.region
        var digest = StateDigest.zero
        var awaiting = 0
        var rowCount: UInt64 = 0
        var consumed: UInt64 = 0
        var next = state
        try database.transaction {
            let bulk = try BulkLoad.begin(database, deadlineRules: options.deadlineRules)
            if replacing {
                for kind in RecordKind.allCases { try database.execute("DELETE FROM \(kind.table)") }
                for table in ["conflicts", "change_log", "version_vector", "log_floor", "chain_heads"] {
                    try database.execute("DELETE FROM \(table)")
                }
                rows.erasedSinceWipe = true
            }
            let inserts = try RecordKind.allCases.map { try SnapshotRowInsert(kind: $0, database: database) }
            let conflictInsert = try database.prepare("""
                INSERT INTO conflicts (record, row_id, field, origin, seq, hlc, value, winner_origin, winner_seq, first_seen)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let rowsAhead = PrefetchingRowSource(SnapshotRowSource(stream: stream, header: header, region: region))
            defer { rowsAhead.stop() }
            var last = false
            while !last {
                let (batch, isLast) = try rowsAhead.next()
                last = isLast
                for (row, rowDigest) in batch {
                    digest.add(rowDigest)
                    if row.awaitingErase { awaiting += 1 }
                    try inserts[Int(row.kind.wireTag) - 1].insert(row, digest: rowDigest)
                    try insertConflicts(row, statement: conflictInsert, now: now)
                    rowCount += 1
                }
            }
            rowsAhead.stop()
            consumed = rowsAhead.consumed
            guard digest == header.stateDigest else {
                throw SnapshotRefused("the state digest of the rows (\(digest.hex.prefix(12))) is not the one the snapshot claims "
                                      + "(\(header.stateDigest.hex.prefix(12)))")
            }
            try bulk.finish(database)
            for (origin, seq) in header.versionVector.sorted {
                try database.run("INSERT INTO version_vector (origin, seq) VALUES (?, ?)", .text(origin), .integer(Int64(seq)))
                try database.run("INSERT INTO log_floor (origin, seq) VALUES (?, ?)", .text(origin), .integer(Int64(seq)))
                let head = header.heads[origin]!
                try database.run("INSERT INTO chain_heads (origin, seq, hash, signature) VALUES (?, ?, ?, ?)",
                                 .text(origin), .integer(Int64(seq)), .blob(head.hash), .blob(head.signature))
            }
            next.seq = max(state.seq, header.versionVector[nodeID])
            next.clock.observe(header.hlc)
            next.versionVector = header.versionVector
            next.floor = header.versionVector
            next.heads = header.heads.mapValues(\.hash)
            next.digest = digest
            next.awaitingEraseRows = awaiting
            if replacing {
                next.logEnd = 0
                next.incarnation = UUID().lowercased
                try database.run("UPDATE node_state SET incarnation = ? WHERE singleton = 1", .text(next.incarnation))
            }
            try saveNodeState(next)
        }
        state = next
        wipeErasedContentIfPending()
        return SnapshotSummary(rows: rowCount, bytes: consumed, versionVector: header.versionVector, stateDigest: digest)
    }

    /// The header's promises that need no row: schema, membership, and each origin's head signed by that origin.
    private func check(_ header: SnapshotHeader) throws {
        guard header.schemaVersion == StoreSchema.currentVersion else {
            throw SnapshotRefused("the snapshot has schema version \(header.schemaVersion), this node \(StoreSchema.currentVersion)")
        }
        let region = identity.region
        guard region.isMember(header.sender) else { throw SnapshotRefused("the sender \(header.sender) is not a member of the region") }
        for (origin, seq) in header.versionVector.sorted {
            guard region.isMember(origin) else { throw SnapshotRefused("the version vector names \(origin), which is not a member of the region") }
            guard let head = header.heads[origin], head.seq == seq else {
                throw SnapshotRefused("no chain head for \(origin) at \(origin):\(seq)")
            }
            let message = ChainFormat.signedMessage(head.hash)
            guard region.keys(of: origin).contains(where: { $0.verify(signature: head.signature, message: message) }) else {
                throw SnapshotRefused("the chain head \(origin):\(seq) is not signed by any key the region manifest lists for \(origin)")
            }
        }
        guard header.heads.count == header.versionVector.entries.count else {
            throw SnapshotRefused("chain heads for origins outside the version vector")
        }
    }

    private func insertConflicts(_ row: OrderedSnapshotRow, statement: Statement, now: Int64) throws {
        guard !row.conflicts.isEmpty else { return }
        let id = row.id.lowercased
        let specs = row.kind.fields
        for (field, entries) in row.conflicts.sorted(by: { $0.key < $1.key }) {
            guard let index = specs.firstIndex(where: { $0.name == field }), let winner = row.row.stamps[index] else {
                throw SnapshotRefused("a conflict on a field without a winner")
            }
            for entry in entries {
                statement.reset()
                try statement.bind([.text(row.kind.table), .text(id), .text(field), .text(entry.stamp.dot.origin),
                                    .integer(Int64(entry.stamp.dot.seq)), .integer(Int64(bitPattern: entry.stamp.hlc.rawValue)),
                                    .blob(WireFormat.encodeValue(entry.value)), .text(winner.dot.origin),
                                    .integer(Int64(winner.dot.seq)), .integer(now)])
                try statement.run()
            }
        }
    }
}

/// The insert of one snapshot row into its record table: the table's own
/// insert (`TableStatements`), prepared once per import.
private struct SnapshotRowInsert {
    let statement: Statement

    init(kind: RecordKind, database: Database) throws {
        guard let insert = try TableStatements(kind: kind, database: database, writable: true).insert else {
            throw ReplicaStoreError.corrupt("a read-only view cannot write")
        }
        statement = insert
    }

    func insert(_ row: OrderedSnapshotRow, digest: [UInt8]) throws {
        statement.reset()
        try statement.bind(row.id.lowercased, at: 1)
        var conflictTotal = 0
        for entries in row.conflicts.values { conflictTotal += entries.count }
        _ = try TableStatements.bindColumns(statement, from: 2, row.row, rowClock: row.rowClock, erased: row.erased,
                                            openConflicts: conflictTotal, digest: digest, awaitingErase: row.awaitingErase)
        try statement.run()
    }
}

/// Reads a snapshot stream frame by frame from a byte source, hashing
/// every byte it consumes, so the end frame's SHA-256 can be checked.
struct SnapshotStream {
    private let read: (Int) throws -> [UInt8]
    private var buffer: [UInt8] = []
    private var position = 0
    private let hasher = SHA256Hasher()
    /// The SHA-256 of every byte before the frame read last.
    private(set) var digestBeforeLastFrame: [UInt8] = []
    private(set) var consumed: UInt64 = 0

    init(read: @escaping (Int) throws -> [UInt8]) {
        self.read = read
    }

    private mutating func take(_ count: Int, hashed: Bool = true) throws -> [UInt8] {
        while buffer.count - position < count {
            if position > 0 {
                buffer.removeFirst(position)
                position = 0
            }
            let more = try read(max(count - buffer.count, 256 << 10))
            guard !more.isEmpty else { throw SnapshotRefused("the stream was cut off at byte \(consumed + UInt64(buffer.count))") }
            buffer += more
        }
        let bytes = Array(buffer[position..<position + count])
        position += count
        consumed += UInt64(count)
        if hashed { hasher.update(bytes) }
        return bytes
    }

    mutating func preamble() throws {
        do {
            try SnapshotFormat.checkPreamble(try take(SnapshotFormat.preamble.count))
        } catch let error as WireError {
            throw SnapshotRefused(error.description)
        }
    }

    /// The next frame's tag and payload. The end frame is not hashed: its SHA-256 covers what came before it.
    mutating func frame() throws -> (UInt8, [UInt8]) {
        let offset = Int(clamping: consumed)
        let headBytes = try take(SnapshotFormat.frameHeadByteCount, hashed: false)
        let head: (tag: UInt8, length: Int)
        do {
            head = try SnapshotFormat.frameHead(headBytes, offset: offset)
        } catch {
            throw SnapshotRefused(error.description)
        }
        let isEnd = head.tag == SnapshotFormat.endTag
        if isEnd { digestBeforeLastFrame = hasher.finalize() } else { hasher.update(headBytes) }
        return (head.tag, try take(head.length, hashed: !isEnd))
    }

    /// Nothing may follow the end frame.
    mutating func requireEnd() throws {
        guard buffer.count == position, try read(1).isEmpty else { throw SnapshotRefused("bytes after the end of the snapshot") }
    }
}
