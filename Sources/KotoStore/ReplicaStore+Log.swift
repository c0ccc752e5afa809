import Foundation
public import KotoCore

/// The change log as peers read it.
extension ReplicaStore {
    /// The entries after `position` that `covered` lacks, in log order, and
    /// the position just after the last entry scanned. At most `limit`
    /// entries, except that a batch never ends an origin's run on an unsigned
    /// change: it then goes on, in log order, to that origin's next signed one.
    ///
    /// Entries are picked by position from the `(origin, seq)` index alone
    /// (each origin's missing positions, merged); only returned rows are loaded.
    public func readLog(after position: UInt64, notCoveredBy covered: VersionVector, limit: Int) throws -> ChangeBatch {
        guard covered.covers(state.floor) else { throw ReplicaStoreError.snapshotRequired }
        if let stranger = covered.entries.keys.sorted().first(where: { !identity.region.isMember($0) }) {
            throw ReplicaStoreError.notMember(stranger)
        }
        let limit = min(max(1, limit), WireFormat.maxChanges)
        return try database.readTransaction {
            var cursors = state.versionVector.sorted.compactMap { origin, held -> OriginCursor? in
                held > covered[origin] ? OriginCursor(origin: origin, afterSeq: covered[origin]) : nil
            }
            var changes: [Change] = []
            var unsignedTails: Set<String> = []
            var lastPosition = position
            while true {
                var best: Int?
                for index in cursors.indices {
                    try cursors[index].refill(database, after: position, page: limit + 1)
                    guard let head = cursors[index].peek else { continue }
                    if best == nil || head < cursors[best!].peek! { best = index }
                }
                guard let best else {
                    // Nothing lies beyond: the puller has everything up to the log's end.
                    return makeBatch(nextPosition: max(state.logEnd, position), changes: changes)
                }
                if changes.count >= limit && unsignedTails.isEmpty {
                    return makeBatch(nextPosition: lastPosition, changes: changes)
                }
                let entryPosition = cursors[best].take()
                let change = try logEntry(at: entryPosition)
                if change.signature == nil { unsignedTails.insert(change.dot.origin) } else { unsignedTails.remove(change.dot.origin) }
                changes.append(change)
                lastPosition = entryPosition
            }
        }
    }

    private func makeBatch(nextPosition: UInt64, changes: [Change]) -> ChangeBatch {
        ChangeBatch(incarnation: state.incarnation, nextPosition: nextPosition, changes: changes, heads: chainHeads,
                    senderClockMillis: options.now(), stateDigest: state.digest, digestProvisional: stateDigestProvisional)
    }

    /// One origin's missing log positions, read from the index a page at a time.
    private struct OriginCursor {
        let origin: String
        var afterSeq: UInt64
        var buffer: [(position: UInt64, seq: UInt64)] = []
        var next = 0
        var exhausted = false

        init(origin: String, afterSeq: UInt64) {
            self.origin = origin
            self.afterSeq = afterSeq
        }

        var peek: UInt64? { next < buffer.count ? buffer[next].position : nil }

        mutating func take() -> UInt64 {
            defer { next += 1 }
            return buffer[next].position
        }

        mutating func refill(_ database: Database, after position: UInt64, page: Int) throws {
            guard next >= buffer.count, !exhausted else { return }
            buffer = try database.query("""
                SELECT pos, seq FROM change_log INDEXED BY change_log_dot
                WHERE origin = ? AND seq > ? AND pos > ? ORDER BY seq LIMIT ?
                """, [.text(origin), .integer(Int64(afterSeq)), .integer(Int64(position)), .integer(Int64(page))]) {
                (UInt64($0.int64(0)), UInt64($0.int64(1)))
            }
            next = 0
            if let last = buffer.last { afterSeq = last.seq }
            exhausted = buffer.count < page
        }
    }

    static let logColumns = "pos, origin, seq, hlc, record, row_id, kind, payload, row_clock, payload_digest, chain_hash, signature"

    private func logEntry(at position: UInt64) throws -> Change {
        let entries = try database.query("SELECT \(Self.logColumns) FROM change_log WHERE pos = ?", [.integer(Int64(position))]) {
            try Self.decodeLogEntry($0)
        }
        guard let entry = entries.first else { throw ReplicaStoreError.corrupt("log entry \(position) vanished") }
        return entry
    }

    /// Every entry of the local log in order (tests, dumps, repairs).
    public func logEntries(after position: UInt64 = 0, limit: Int = .max) throws -> [(position: UInt64, change: Change)] {
        try database.query("SELECT \(Self.logColumns) FROM change_log WHERE pos > ? ORDER BY pos LIMIT ?",
                           [.integer(Int64(position)), .integer(Int64(min(limit, Int(Int64.max))))]) { row in
            (UInt64(row.int64(0)), try Self.decodeLogEntry(row))
        }
    }

    static func decodeLogEntry(_ row: Statement) throws -> Change {
        guard let origin = row.string(1), let record = RecordKind(table: row.string(4) ?? ""),
              let rowID = UUID(uuidString: row.string(5) ?? ""),
              let kind = ChangeKind(rawValue: UInt8(truncatingIfNeeded: row.int64(6))) else {
            throw ReplicaStoreError.corrupt("unreadable change log entry")
        }
        let clock = try WireFormat.decodeClock(row.blob(8) ?? [])
        let digest = row.blob(9) ?? []
        var fields: FieldMap = [:]
        var purgedDigest: [UInt8]?
        if let payload = row.blob(7) {
            fields = try WireFormat.decodeFields(payload, record: record)
        } else if kind != .erase {
            purgedDigest = digest
        }
        return Change(dot: Dot(origin: origin, seq: UInt64(row.int64(2))), hlc: HLC(rawValue: UInt64(bitPattern: row.int64(3))),
                      record: record, rowID: rowID, kind: kind, fields: fields, rowClock: clock,
                      purgedPayloadDigest: purgedDigest, chainHash: row.blob(10) ?? [], signature: row.blob(11))
    }

    /// The chain link this node holds under `dot`, nil when it holds no such
    /// change, or holds it but compaction dropped its entry (below the floor,
    /// in no frontier): then it cannot compare, and reports no fork.
    public func chainHash(at dot: Dot) throws -> [UInt8]? {
        guard state.versionVector.covers(dot) else { return nil }
        if dot.seq == state.versionVector[dot.origin] { return state.heads[dot.origin] }
        return try database.query("SELECT chain_hash FROM change_log WHERE origin = ? AND seq = ?",
                                  [.text(dot.origin), .integer(Int64(dot.seq))]) { $0.blob(0) ?? [] }.first
    }

    /// The heads of `other` (a peer's chain heads) that disagree with the
    /// change this node holds under the same dot: each is a fork. Heads this
    /// node cannot compare (it holds less of that origin) are left out.
    public func forks(comparedWith other: [String: ChainHead]) throws -> [Dot] {
        var forks: [Dot] = []
        for (origin, head) in other.sorted(by: { $0.key < $1.key }) {
            let dot = Dot(origin: origin, seq: head.seq)
            if let held = try chainHash(at: dot), held != head.hash { forks.append(dot) }
        }
        return forks
    }

    /// Gives the log a new incarnation id: peers then restart from position
    /// 0 in it. Called after the database was restored from a backup, whose
    /// log positions no longer mean what peers remember.
    public func startNewIncarnation() throws {
        let incarnation = UUID().lowercased
        try database.transaction {
            try database.run("UPDATE node_state SET incarnation = ? WHERE singleton = 1", .text(incarnation))
        }
        state.incarnation = incarnation
    }
}
