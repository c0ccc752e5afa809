import Foundation
import KotoCore
import KotoCrypto

/// A row as the store holds it: the merge's state plus what only this replica knows.
struct LoadedRow {
    var state: RowState
    var exists: Bool
    /// When each open conflict was first seen here, kept across rewrites.
    var firstSeen: [Dot: Int64]
    /// The row's contribution to the state digest as stored; nil for a new row.
    var digest: [UInt8]?
}

/// Reads and writes rows of the record tables, their conflicts and the log
/// entry of each merged change, with statements prepared once per connection.
/// Only a writable store calls `merge`; the read-only view uses `load`.
final class RowStore {
    let database: Database
    private let tables: [TableStatements]
    /// The change log's append; nil on a read-only connection.
    private let appendToLog: Statement?
    /// Set when a merge erased a row: until a WAL checkpoint has truncated
    /// the log, earlier versions of its pages may still hold its values.
    var erasedSinceWipe = false

    init(database: Database, writable: Bool = true) throws {
        self.database = database
        tables = try RecordKind.allCases.map { try TableStatements(kind: $0, database: database, writable: writable) }
        appendToLog = writable ? try database.prepare("""
            INSERT INTO change_log (pos, origin, seq, hlc, record, row_id, kind, payload, row_clock, payload_digest, chain_hash, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """) : nil
    }

    private func table(_ kind: RecordKind) -> TableStatements { tables[Int(kind.wireTag) - 1] }

    func load(_ kind: RecordKind, id: String) throws -> LoadedRow {
        let statement = table(kind).select
        statement.reset()
        defer { statement.reset() }
        try statement.bind(id, at: 1)
        guard try statement.step() else {
            return LoadedRow(state: RowState(), exists: false, firstSeen: [:], digest: nil)
        }
        var fields: FieldMap = [:]
        fields.reserveCapacity(kind.fields.count)
        for (index, spec) in kind.fields.enumerated() {
            let column = Int32(index)
            guard !statement.isNull(column) else { continue }
            switch spec.type.storage {
            case .text: fields[spec.name] = .text(statement.string(column) ?? "")
            case .integer: fields[spec.name] = .integer(statement.int64(column))
            case .bool: fields[spec.name] = .bool(statement.int64(column) != 0)
            }
        }
        let base = Int32(kind.fields.count)
        let rowClock = try WireFormat.decodeClock(statement.blob(base) ?? [])
        let stamps = try WireFormat.decodeStamps(statement.blob(base + 1) ?? [], record: kind)
        let erased = statement.int64(base + 2) != 0
        let conflictCount = statement.int64(base + 3)
        let digest = statement.blob(base + 4)
        let awaitingErase = statement.int64(base + 5) != 0
        var state = RowState(fields: fields, stamps: stamps, rowClock: rowClock, erased: erased, awaitingErase: awaitingErase)
        var firstSeen: [Dot: Int64] = [:]
        if conflictCount > 0 {
            let entries = try database.query(
                "SELECT field, origin, seq, hlc, value, first_seen FROM conflicts WHERE record = ? AND row_id = ?",
                [.text(kind.table), .text(id)]) { row -> (String, FrontierEntry, Int64) in
                let field = row.string(0) ?? ""
                guard let spec = kind.field(named: field) else { throw ReplicaStoreError.corrupt("conflict on unknown field") }
                let dot = Dot(origin: row.string(1) ?? "", seq: UInt64(row.int64(2)))
                let value = try WireFormat.decodeValue(row.blob(4) ?? [], for: spec)
                return (field, FrontierEntry(stamp: FieldStamp(hlc: HLC(rawValue: UInt64(bitPattern: row.int64(3))), dot: dot), value: value),
                        row.int64(5))
            }
            for (field, entry, seen) in entries {
                state.conflicts[field, default: []].append(entry)
                firstSeen[entry.stamp.dot] = seen
            }
        }
        return LoadedRow(state: state, exists: true, firstSeen: firstSeen, digest: digest)
    }

    /// Merges `change` into `row` and writes the log entry, the row, its
    /// conflicts and the state digest. Called inside a transaction; `next` is
    /// the transaction's copy of the node state.
    func merge(_ change: Change, payload: [UInt8]?, payloadDigest: [UInt8], into row: inout LoadedRow,
               state next: inout ReplicaStore.NodeState, now: Int64) throws {
        guard let log = appendToLog else { throw ReplicaStoreError.corrupt("a read-only view cannot write") }
        let kind = change.record
        let id = change.rowID.lowercased
        let wasErased = row.state.erased
        let effect = row.state.apply(change)
        if effect.erasedNow {
            erasedSinceWipe = true
            // Payloads go, their digests stay: purged entries still verify.
            try database.run("UPDATE change_log SET payload = NULL WHERE record = ? AND row_id = ? AND kind != ?",
                             .text(kind.table), .text(id), .integer(Int64(ChangeKind.erase.rawValue)))
            try database.run("DELETE FROM conflicts WHERE record = ? AND row_id = ?", .text(kind.table), .text(id))
        }
        if effect.awaitingEraseChanged { next.awaitingEraseRows += row.state.awaitingErase ? 1 : -1 }
        next.logEnd += 1
        log.reset()
        try log.bind(Int64(next.logEnd), at: 1)
        try log.bind(change.dot.origin, at: 2)
        try log.bind(Int64(change.dot.seq), at: 3)
        try log.bind(Int64(bitPattern: change.hlc.rawValue), at: 4)
        try log.bind(kind.table, at: 5)
        try log.bind(id, at: 6)
        try log.bind(Int64(change.kind.rawValue), at: 7)
        if let payload, change.kind == .erase || !wasErased {
            try log.bind(payload, at: 8)
        } else {
            try log.bindNull(at: 8)
        }
        try log.bind(WireFormat.encodeClock(change.rowClock), at: 9)
        try log.bind(payloadDigest, at: 10)
        try log.bind(change.chainHash, at: 11)
        if let signature = change.signature { try log.bind(signature, at: 12) } else { try log.bindNull(at: 12) }
        try log.run()

        var conflictTotal = 0
        for entries in row.state.conflicts.values { conflictTotal += entries.count }
        if !effect.erasedNow {
            for field in effect.conflictFields.sorted() {
                try database.run("DELETE FROM conflicts WHERE record = ? AND row_id = ? AND field = ?",
                                 .text(kind.table), .text(id), .text(field))
                guard let entries = row.state.conflicts[field], let winner = row.state.stamps[field] else { continue }
                for entry in entries {
                    let seen = row.firstSeen[entry.stamp.dot] ?? now
                    row.firstSeen[entry.stamp.dot] = seen
                    try database.run("""
                        INSERT INTO conflicts (record, row_id, field, origin, seq, hlc, value, winner_origin, winner_seq, first_seen)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, .text(kind.table), .text(id), .text(field), .text(entry.stamp.dot.origin),
                        .integer(Int64(entry.stamp.dot.seq)), .integer(Int64(bitPattern: entry.stamp.hlc.rawValue)),
                        .blob(WireFormat.encodeValue(entry.value)), .text(winner.dot.origin), .integer(Int64(winner.dot.seq)),
                        .integer(seen))
                }
            }
        }
        // The row in schema order, looked up by name once for the digest, the stamps and the columns.
        let ordered = OrderedRow(row.state, kind: kind)
        // The state digest: this row's old contribution out, its new one in.
        let digest = SHA256.hash(RowDigestFormat.bytes(kind, id: change.rowID, ordered: ordered, conflicts: row.state.conflicts,
                                                       erased: row.state.erased))
        if let old = row.digest { next.digest.subtract(old) }
        next.digest.add(digest)
        row.digest = digest

        let table = table(kind)
        guard let statement = row.exists ? table.update : table.insert else {
            throw ReplicaStoreError.corrupt("a read-only view cannot write")
        }
        statement.reset()
        var column: Int32 = 1
        if !row.exists {
            try statement.bind(id, at: column)
            column += 1
        }
        column = try TableStatements.bindColumns(statement, from: column, ordered, rowClock: row.state.rowClock,
                                                 erased: row.state.erased, openConflicts: conflictTotal, digest: digest,
                                                 awaitingErase: row.state.awaitingErase)
        if row.exists { try statement.bind(id, at: column) }
        try statement.run()
        row.exists = true
    }
}

/// The statements of one record table, built from its schema and prepared once.
final class TableStatements {
    static let metaColumns = ["row_clock", "stamps", "erased", "open_conflicts", "digest", "awaiting_erase"]

    let select: Statement
    let insert: Statement?
    let update: Statement?

    /// Binds a row's field columns (schema order) and then `metaColumns`,
    /// from `column` on, as `insert` and `update` list them; the next column.
    static func bindColumns(_ statement: Statement, from column: Int32, _ ordered: OrderedRow, rowClock: RowClock, erased: Bool,
                            openConflicts: Int, digest: [UInt8], awaitingErase: Bool) throws -> Int32 {
        var column = column
        for value in ordered.values {
            switch value {
            case .null: try statement.bindNull(at: column)
            case .text(let text): try statement.bind(text, at: column)
            case .integer(let number): try statement.bind(number, at: column)
            case .bool(let flag): try statement.bind(flag ? 1 : 0, at: column)
            }
            column += 1
        }
        try statement.bind(WireFormat.encodeClock(rowClock), at: column)
        try statement.bind(WireFormat.encodeStamps(ordered: ordered.stamps), at: column + 1)
        try statement.bind(erased ? 1 : 0, at: column + 2)
        try statement.bind(Int64(openConflicts), at: column + 3)
        try statement.bind(digest, at: column + 4)
        try statement.bind(awaitingErase ? 1 : 0, at: column + 5)
        return column + 6
    }

    init(kind: RecordKind, database: Database, writable: Bool) throws {
        let columns = kind.fields.map(\.column)
        let meta = Self.metaColumns
        select = try database.prepare("SELECT \((columns + meta).joined(separator: ", ")) FROM \(kind.table) WHERE id = ?")
        guard writable else {
            insert = nil
            update = nil
            return
        }
        let all = ["id"] + columns + meta
        insert = try database.prepare(
            "INSERT INTO \(kind.table) (\(all.joined(separator: ", "))) VALUES (\(all.map { _ in "?" }.joined(separator: ", ")))")
        update = try database.prepare(
            "UPDATE \(kind.table) SET \((columns + meta).map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?")
    }
}
