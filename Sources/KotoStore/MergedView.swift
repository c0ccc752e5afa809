public import Foundation
public import KotoCore

/// Read queries for the merged view. Reads never wait for sync. The
/// writer's store has one over its own connection; `ReadOnlyReplica` has one
/// over a connection opened read-only, for the node's API.
public final class MergedView {
    let database: Database
    let rows: RowStore

    init(database: Database, rows: RowStore) {
        self.database = database
        self.rows = rows
    }

    /// One record with its stamps, or nil when no change ever touched it.
    public func record(_ kind: RecordKind, id: UUID) throws -> StoredRecord? {
        let row = try rows.load(kind, id: id.lowercased)
        guard row.exists else { return nil }
        return storedRecord(kind, id: id, state: row.state)
    }

    private func storedRecord(_ kind: RecordKind, id: UUID, state: RowState) -> StoredRecord {
        var fields: FieldMap = [:]
        for spec in kind.fields { fields[spec.name] = state.fields[spec.name] ?? .null }
        let conflicts = state.conflicts.values.reduce(0) { $0 + $1.count }
        return StoredRecord(kind: kind, id: id, fields: fields, erased: state.erased, rowClock: state.rowClock,
                            stamps: state.stamps, openConflicts: conflicts, awaitingErase: state.awaitingErase)
    }

    /// Records of one kind matching `query`, ordered by id (keyset paging).
    public func list(_ kind: RecordKind, _ query: RecordQuery = RecordQuery()) throws -> [StoredRecord] {
        var conditions: [String] = []
        var values: [SQLiteValue] = []
        for (name, value) in query.equals.sorted(by: { $0.key < $1.key }) {
            guard let spec = kind.field(named: name) else {
                throw ReplicaStoreError.invalid([FieldProblem(field: name, reason: "unknown field")])
            }
            switch value {
            case .null: conditions.append("\(spec.column) IS NULL")
            case .text(let text): conditions.append("\(spec.column) = ?"); values.append(.text(text))
            case .integer(let number): conditions.append("\(spec.column) = ?"); values.append(.integer(number))
            case .bool(true): conditions.append("\(spec.column) = 1")
            // An unset flag reads as false, as the typed records read it.
            case .bool(false): conditions.append("(\(spec.column) = 0 OR \(spec.column) IS NULL)")
            }
        }
        for (name, element) in query.contains.sorted(by: { $0.key < $1.key }) {
            guard let spec = kind.field(named: name), spec.type == .municipalityCodes || spec.type == .languageCodes else {
                throw ReplicaStoreError.invalid([FieldProblem(field: name, reason: "is not a list field")])
            }
            conditions.append("instr(',' || \(spec.column) || ',', ?) > 0")
            values.append(.text(",\(element),"))
        }
        if !query.includeDeleted { conditions.append("(deleted IS NULL OR deleted = 0)") }
        // A row awaiting the erase of a purged change is hidden like an erased one.
        if !query.includeErased { conditions.append("erased = 0 AND awaiting_erase = 0") }
        if query.onlyConflicted { conditions.append("open_conflicts > 0") }
        if let after = query.afterID { conditions.append("id > ?"); values.append(.text(after)) }
        let whereClause = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        values.append(.integer(Int64(max(0, query.limit))))
        let ids = try database.query("SELECT id FROM \(kind.table)\(whereClause) ORDER BY id LIMIT ?", values) { $0.string(0) ?? "" }
        return try ids.compactMap { text in
            guard let id = UUID(uuidString: text) else { throw ReplicaStoreError.corrupt("unreadable row id") }
            return try record(kind, id: id)
        }
    }

    /// Number of live (not deleted, not erased) records of a kind.
    public func count(_ kind: RecordKind) throws -> Int {
        try database.query("SELECT count(*) FROM \(kind.table) WHERE (deleted IS NULL OR deleted = 0) AND erased = 0 AND awaiting_erase = 0") {
            Int($0.int64(0))
        }.first ?? 0
    }

    /// Open conflicts, optionally of one kind or one row, in a stable order.
    public func openConflicts(_ kind: RecordKind? = nil, rowID: UUID? = nil) throws -> [OpenConflict] {
        var conditions: [String] = []
        var values: [SQLiteValue] = []
        if let kind { conditions.append("record = ?"); values.append(.text(kind.table)) }
        if let rowID { conditions.append("row_id = ?"); values.append(.text(rowID.lowercased)) }
        let whereClause = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try database.query("""
            SELECT record, row_id, field, origin, seq, hlc, value, winner_origin, winner_seq, first_seen FROM conflicts\(whereClause)
            ORDER BY record, row_id, field, origin, seq
            """, values) { row in
            guard let record = RecordKind(table: row.string(0) ?? ""), let rowID = UUID(uuidString: row.string(1) ?? ""),
                  let spec = record.field(named: row.string(2) ?? "") else {
                throw ReplicaStoreError.corrupt("unreadable conflict")
            }
            return OpenConflict(record: record, rowID: rowID, field: spec.name,
                                value: try WireFormat.decodeValue(row.blob(6) ?? [], for: spec),
                                dot: Dot(origin: row.string(3) ?? "", seq: UInt64(row.int64(4))),
                                hlc: HLC(rawValue: UInt64(bitPattern: row.int64(5))),
                                winner: Dot(origin: row.string(7) ?? "", seq: UInt64(row.int64(8))),
                                firstSeenMillis: row.int64(9))
        }
    }

    /// A canonical text of everything replicas must agree on: every row's
    /// columns, erased flag and row clock, and every open conflict. Equal
    /// dumps mean converged replicas. Holds personal data: for tests only,
    /// compare it, never print it.
    public func canonicalDump() throws -> String {
        var lines: [String] = []
        for kind in RecordKind.allCases {
            let columns = (["id"] + kind.fields.map(\.column) + ["erased", "row_clock", "stamps", "digest", "awaiting_erase"]).joined(separator: ", ")
            let rows = try database.query("SELECT \(columns) FROM \(kind.table) ORDER BY id") { row in
                (0..<Int32(kind.fields.count + 6)).map { column -> String in
                    switch row.value(column) {
                    case .null: "∅"
                    case .integer(let number): String(number)
                    case .text(let text): "\"\(text)\""
                    case .blob(let bytes): bytes.map { String($0, radix: 16) }.joined()
                    }
                }.joined(separator: "|")
            }
            lines += rows.map { "\(kind.rawValue)|\($0)" }
        }
        for conflict in try openConflicts() {
            lines.append("conflict|\(conflict.record.rawValue)|\(conflict.rowID.lowercased)|\(conflict.field)|\(conflict.dot)|\(conflict.hlc.rawValue)|\(WireFormat.encodeValue(conflict.value))|winner \(conflict.winner)")
        }
        return lines.joined(separator: "\n")
    }

    /// Number of open conflicts (non-winning frontier entries) in the replica.
    public func openConflictCount() throws -> Int {
        try database.query("SELECT count(*) FROM conflicts") { Int($0.int64(0)) }.first ?? 0
    }

    /// When this node first held the oldest conflict still open (local Unix ms), or nil when none is open.
    public func oldestOpenConflictFirstSeenMillis() throws -> Int64? {
        try database.query("SELECT min(first_seen) FROM conflicts") { $0.isNull(0) ? nil : $0.int64(0) }.first ?? nil
    }
}

/// A second connection to the replica for the merged-view queries, opened
/// read-only (`SQLITE_OPEN_READONLY`): with WAL it reads the last committed
/// state while the writer applies a batch, and nothing on it can write.
public final class ReadOnlyReplica {
    public let view: MergedView

    public init(path: String) throws {
        let database = try Database(path: path, readOnly: true)
        // Reports read tens of megabytes of index: map the file rather than copy pages into a 32 MiB cache.
        try database.execute("PRAGMA mmap_size = 1073741824")
        view = MergedView(database: database, rows: try RowStore(database: database, writable: false))
    }
}

/// The writer's own merged view, for callers (tests, tools) that hold only the store.
extension ReplicaStore {
    public func record(_ kind: RecordKind, id: UUID) throws -> StoredRecord? { try view.record(kind, id: id) }
    public func list(_ kind: RecordKind, _ query: RecordQuery = RecordQuery()) throws -> [StoredRecord] { try view.list(kind, query) }
    public func count(_ kind: RecordKind) throws -> Int { try view.count(kind) }
    public func openConflicts(_ kind: RecordKind? = nil, rowID: UUID? = nil) throws -> [OpenConflict] {
        try view.openConflicts(kind, rowID: rowID)
    }
    public func openConflictCount() throws -> Int { try view.openConflictCount() }
    public func oldestOpenConflictFirstSeenMillis() throws -> Int64? { try view.oldestOpenConflictFirstSeenMillis() }
    public func canonicalDump() throws -> String { try view.canonicalDump() }
}
