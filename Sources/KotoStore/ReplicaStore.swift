public import Foundation
public import KotoCore

/// One office's replica: the records, the change log and the replication
/// metadata in one SQLite file. Every local write and every applied batch is
/// one transaction. Not Sendable: the node gives it exactly one owner.
public final class ReplicaStore {
    public let nodeID: String
    public let options: StoreOptions
    /// The schema version peers must share to sync.
    public static var schemaVersion: Int { StoreSchema.currentVersion }

    let database: Database
    private let validator: RecordValidator
    private let tables: [TableStatements]
    /// The change log's append, prepared once.
    private let appendToLog: Statement
    private var state: NodeState

    /// Test hook: called before each entry of a batch is applied; throwing
    /// from it simulates a failure halfway through a batch.
    var beforeApplyingEntry: ((Int) throws -> Void)?

    /// The replicated state that lives in memory between transactions and is
    /// written in each; a transaction works on a copy, kept only on commit.
    struct NodeState {
        var seq: UInt64
        var clock: HybridClock
        var versionVector: VersionVector
        var logEnd: UInt64
        var incarnation: String
        var floor: VersionVector
    }

    /// Opens (creating and migrating if needed) the replica at `path` for `nodeID`.
    public init(path: String, nodeID: String, options: StoreOptions = StoreOptions()) throws {
        guard NodeID.isValid(nodeID) else { throw ReplicaStoreError.corrupt("invalid node id") }
        self.nodeID = nodeID
        self.options = options
        self.validator = RecordValidator(registry: options.registry)
        database = try Database(path: path, synchronous: options.synchronous)
        try StoreSchema.migrate(database)
        let database = self.database
        tables = try RecordKind.allCases.map { try TableStatements(kind: $0, database: database) }
        appendToLog = try database.prepare(
            "INSERT INTO change_log (pos, origin, seq, hlc, record, row_id, kind, payload, row_clock) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        state = try Self.loadOrCreateState(database, nodeID: nodeID, now: options.now())
    }

    private static func loadOrCreateState(_ database: Database, nodeID: String, now: UInt64) throws -> NodeState {
        try database.transaction {
            let rows = try database.query("SELECT node_id, seq, hlc, log_end, incarnation FROM node_state") { row in
                (row.string(0) ?? "", UInt64(row.int64(1)), HLC(rawValue: UInt64(row.int64(2))), UInt64(row.int64(3)), row.string(4) ?? "")
            }
            let vv = try readVector(database, table: "version_vector")
            let floor = try readVector(database, table: "log_floor")
            if let (storedNode, seq, hlc, logEnd, incarnation) = rows.first {
                guard storedNode == nodeID else { throw ReplicaStoreError.nodeMismatch(stored: storedNode, requested: nodeID) }
                return NodeState(seq: seq, clock: HybridClock(last: hlc), versionVector: vv, logEnd: logEnd,
                                 incarnation: incarnation, floor: floor)
            }
            let incarnation = UUID().lowercased
            try database.run("INSERT INTO node_state (singleton, node_id, seq, hlc, log_end, incarnation, created_at) VALUES (1, ?, 0, 0, 0, ?, ?)",
                             .text(nodeID), .text(incarnation), .integer(Int64(now)))
            return NodeState(seq: 0, clock: HybridClock(), versionVector: VersionVector(), logEnd: 0,
                             incarnation: incarnation, floor: VersionVector())
        }
    }

    private static func readVector(_ database: Database, table: String) throws -> VersionVector {
        let entries = try database.query("SELECT origin, seq FROM \(table)") { ($0.string(0) ?? "", UInt64($0.int64(1))) }
        return VersionVector(Dictionary(entries, uniquingKeysWith: max))
    }

    // MARK: State

    public var versionVector: VersionVector { state.versionVector }
    /// Position of the last entry in the local change log.
    public var logPosition: UInt64 { state.logEnd }
    /// Identifies this database's log; a restored or recreated database gets a new one.
    public var incarnation: String { state.incarnation }
    public var seq: UInt64 { state.seq }
    public var lastHLC: HLC { state.clock.last }
    /// Every change this node holds that the floor does not cover is in its log.
    public var logFloor: VersionVector { state.floor }

    // MARK: Local writes

    /// Groups many local writes in one transaction (imports, seed data):
    /// all of them commit together or none does.
    public func batch<T>(_ body: () throws -> T) throws -> T {
        let saved = state
        batchDepth += 1
        defer { batchDepth -= 1 }
        do {
            return try database.transaction {
                let result = try body()
                // The node's own VV entry and node state, once for the whole batch.
                if batchDepth == 1 { try saveOwnProgress(state) }
                return result
            }
        } catch {
            state = saved
            throw error
        }
    }

    /// Nesting depth of `batch {}`: inside one, local writes leave their
    /// VV entry and node state for the batch to write once at its end.
    private var batchDepth = 0

    private func saveOwnProgress(_ next: NodeState) throws {
        try database.run("INSERT INTO version_vector (origin, seq) VALUES (?, ?) ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq",
                         .text(nodeID), .integer(Int64(next.seq)))
        try saveNodeState(next)
    }

    /// Creates a record with every field of its kind (absent ones null).
    @discardableResult
    public func create(_ kind: RecordKind, id: UUID = UUID(), fields: FieldMap) throws -> Change {
        try writeLocally(kind, id: id, operation: .create(fields))
    }

    /// Writes only the given fields of an existing, not deleted record.
    @discardableResult
    public func update(_ kind: RecordKind, id: UUID, fields: FieldMap) throws -> Change {
        try writeLocally(kind, id: id, operation: .update(fields))
    }

    /// Hides the record (writes `deleted = true`).
    @discardableResult
    public func delete(_ kind: RecordKind, id: UUID) throws -> Change {
        try writeLocally(kind, id: id, operation: .delete)
    }

    /// Shows a deleted record again (writes `deleted = false`).
    @discardableResult
    public func restore(_ kind: RecordKind, id: UUID) throws -> Change {
        try writeLocally(kind, id: id, operation: .restore)
    }

    /// Clears the record's fields for good and purges them from the log.
    @discardableResult
    public func erase(_ kind: RecordKind, id: UUID) throws -> Change {
        try writeLocally(kind, id: id, operation: .erase)
    }

    enum LocalOperation {
        case create(FieldMap), update(FieldMap), delete, restore, erase
    }

    private func writeLocally(_ kind: RecordKind, id: UUID, operation: LocalOperation) throws -> Change {
        var next = state
        let change: Change = try database.transaction {
            var row = try loadRow(kind, id: id.lowercased)
            let written: FieldMap
            var changeKind = ChangeKind.upsert
            switch operation {
            case .create(var fields):
                guard !row.exists else { throw ReplicaStoreError.alreadyExists(kind, id) }
                // A full record may carry `deleted: false`; a new record is never deleted.
                if fields[deletedFieldName] == .bool(false) || fields[deletedFieldName] == .null {
                    fields[deletedFieldName] = nil
                }
                var all: FieldMap = [:]
                for spec in kind.fields { all[spec.name] = fields[spec.name] ?? .null }
                for (name, value) in fields where kind.field(named: name) == nil { all[name] = value }
                all[deletedFieldName] = .bool(false)
                try checkWritable(fields, full: all, kind: kind)
                written = all
            case .update(let fields):
                try requireLive(row, kind, id)
                guard !fields.isEmpty else {
                    throw ReplicaStoreError.invalid([FieldProblem(field: "(fields)", reason: "an update must write at least one field")])
                }
                var full = row.state.fields
                for (name, value) in fields { full[name] = value }
                try checkWritable(fields, full: full, kind: kind)
                written = fields
            case .delete:
                try requireLive(row, kind, id)
                written = [deletedFieldName: .bool(true)]
                changeKind = .delete
            case .restore:
                guard row.exists else { throw ReplicaStoreError.notFound(kind, id) }
                guard !row.state.erased else { throw ReplicaStoreError.erased(kind, id) }
                written = [deletedFieldName: .bool(false)]
            case .erase:
                guard row.exists else { throw ReplicaStoreError.notFound(kind, id) }
                guard !row.state.erased else { throw ReplicaStoreError.erased(kind, id) }
                written = [:]
                changeKind = .erase
            }
            next.seq += 1
            let dot = Dot(origin: nodeID, seq: next.seq)
            let hlc = next.clock.tick(nowMillis: options.now())
            var rowClock = row.state.rowClock
            rowClock.advance(to: dot)
            let change = Change(dot: dot, hlc: hlc, record: kind, rowID: id, kind: changeKind, fields: written, rowClock: rowClock)
            next.versionVector.advance(to: dot)
            try merge(change, into: &row, state: &next)
            if batchDepth == 0 { try saveOwnProgress(next) }
            return change
        }
        state = next
        return change
    }

    private func requireLive(_ row: LoadedRow, _ kind: RecordKind, _ id: UUID) throws {
        guard row.exists else { throw ReplicaStoreError.notFound(kind, id) }
        guard !row.state.erased else { throw ReplicaStoreError.erased(kind, id) }
        guard !row.state.isDeleted else { throw ReplicaStoreError.notFound(kind, id) }
    }

    /// The problems a create of `fields` would be refused with (schema,
    /// `deleted`, references), without writing anything.
    public func problems(creating kind: RecordKind, fields: FieldMap) throws -> [FieldProblem] {
        var fields = fields
        if fields[deletedFieldName] == .bool(false) || fields[deletedFieldName] == .null { fields[deletedFieldName] = nil }
        var all: FieldMap = [:]
        for spec in kind.fields { all[spec.name] = fields[spec.name] ?? .null }
        for (name, value) in fields where kind.field(named: name) == nil { all[name] = value }
        all[deletedFieldName] = .bool(false)
        return try problems { try checkWritable(fields, full: all, kind: kind) }
    }

    /// The problems an update of `fields` would be refused with, without writing.
    public func problems(updating kind: RecordKind, id: UUID, fields: FieldMap) throws -> [FieldProblem] {
        let row = try loadRow(kind, id: id.lowercased)
        try requireLive(row, kind, id)
        var full = row.state.fields
        for (name, value) in fields { full[name] = value }
        return try problems { try checkWritable(fields, full: full, kind: kind) }
    }

    private func problems(_ check: () throws -> Void) throws -> [FieldProblem] {
        do {
            try check()
            return []
        } catch ReplicaStoreError.invalid(let problems) {
            return problems
        }
    }

    /// Validation of a local write: the schema's rules on the whole resulting
    /// record, `deleted` kept to its own operations, and references that must
    /// resolve in this replica.
    private func checkWritable(_ written: FieldMap, full: FieldMap, kind: RecordKind) throws {
        var problems: [FieldProblem] = []
        if written[deletedFieldName] != nil {
            problems.append(FieldProblem(field: deletedFieldName, reason: "is set by delete and restore only"))
        }
        problems += validator.problems(in: full, kind: kind).filter { $0.field != deletedFieldName || written[deletedFieldName] == nil }
        if kind == .placement {
            for (name, target) in [("clientId", RecordKind.client), ("serviceId", RecordKind.service)] {
                guard written[name] != nil, let text = full[name]?.text, let id = UUID(uuidString: text),
                      !problems.contains(where: { $0.field == name }) else { continue }
                let referenced = try loadRow(target, id: id.lowercased)
                if !referenced.exists || referenced.state.erased || referenced.state.isDeleted {
                    problems.append(FieldProblem(field: name, reason: "no such \(target.rawValue)"))
                }
            }
        }
        if !problems.isEmpty { throw ReplicaStoreError.invalid(problems) }
    }

    // MARK: Remote apply

    /// Applies a batch pulled from (or pushed by) `peer` in one transaction
    /// with the version vector and the peer's cursor. Entries already held are
    /// skipped; a batch that cannot be applied whole is refused whole.
    @discardableResult
    public func apply(_ batch: ChangeBatch, from peer: String) throws -> ApplyResult {
        var next = state
        let now = options.now()
        let result: ApplyResult = try database.transaction {
            var applied = 0, skipped = 0
            var touchedOrigins: Set<String> = []
            for (index, change) in batch.changes.enumerated() {
                try beforeApplyingEntry?(index)
                if next.versionVector.covers(change.dot) {
                    skipped += 1
                    continue
                }
                let origin = change.dot.origin
                guard change.dot.seq == next.versionVector[origin] + 1 else {
                    throw ReplicaStoreError.batchRefused("change \(change.dot) does not follow \(origin):\(next.versionVector[origin]) (gap)")
                }
                for (dependency, seq) in change.rowClock.entries where dependency != origin && next.versionVector[dependency] < seq {
                    throw ReplicaStoreError.batchRefused("change \(change.dot) depends on \(dependency):\(seq), not held")
                }
                guard change.hlc.wallMillis <= now + options.maxClockAheadMillis else {
                    throw ReplicaStoreError.batchRefused("change \(change.dot) has a clock \((change.hlc.wallMillis - now) / 1000) s ahead of this node's (bound \(options.maxClockAheadMillis / 1000) s)")
                }
                next.clock.observe(change.hlc)
                next.versionVector.advance(to: change.dot)
                if origin == nodeID {
                    // Our own change we no longer held: this database was restored
                    // from a backup and is catching up; never hand out this seq again.
                    next.seq = max(next.seq, change.dot.seq)
                }
                touchedOrigins.insert(origin)
                var row = try loadRow(change.record, id: change.rowID.lowercased)
                try merge(change, into: &row, state: &next)
                applied += 1
            }
            for origin in touchedOrigins.sorted() {
                try database.run("INSERT INTO version_vector (origin, seq) VALUES (?, ?) ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq",
                                 .text(origin), .integer(Int64(next.versionVector[origin])))
            }
            if applied > 0 { try saveNodeState(next) }
            try database.run("""
                INSERT INTO peer_cursors (peer, incarnation, position, last_success, last_error, failures) VALUES (?, ?, ?, ?, NULL, 0)
                ON CONFLICT (peer) DO UPDATE SET incarnation = excluded.incarnation, position = excluded.position,
                    last_success = excluded.last_success, last_error = NULL, failures = 0
                """, .text(peer), .text(batch.incarnation), .integer(Int64(batch.nextPosition)), .integer(Int64(now)))
            return ApplyResult(applied: applied, skipped: skipped)
        }
        state = next
        return result
    }

    // MARK: Log reading for peers

    /// The entries after `position` that `covered` lacks, in log order, at
    /// most `limit`; and the position just after the last entry scanned.
    /// Work is proportional to the entries returned: each origin's missing
    /// entries are found by index, then merged by position.
    public func readLog(after position: UInt64, notCoveredBy covered: VersionVector, limit: Int) throws -> ChangeBatch {
        guard covered.covers(state.floor) else { throw ReplicaStoreError.snapshotRequired }
        let limit = min(max(1, limit), WireFormat.maxChanges)
        return try database.readTransaction {
            var candidates: [(pos: UInt64, change: Change)] = []
            for (origin, held) in state.versionVector.sorted where held > covered[origin] {
                let rows = try database.query("""
                    SELECT pos, seq, hlc, record, row_id, kind, payload, row_clock FROM change_log
                    WHERE origin = ? AND seq > ? AND pos > ? ORDER BY seq LIMIT ?
                    """, [.text(origin), .integer(Int64(covered[origin])), .integer(Int64(position)), .integer(Int64(limit) + 1)]) { row in
                    (UInt64(row.int64(0)), try Self.decodeLogEntry(row, origin: origin))
                }
                candidates += rows
            }
            // One more than the limit per origin tells whether anything lies beyond the batch.
            candidates.sort { $0.pos < $1.pos }
            if candidates.count > limit {
                candidates.removeLast(candidates.count - limit)
                return ChangeBatch(incarnation: state.incarnation, nextPosition: candidates.last!.pos, changes: candidates.map(\.change))
            }
            return ChangeBatch(incarnation: state.incarnation, nextPosition: max(state.logEnd, position), changes: candidates.map(\.change))
        }
    }

    /// Every entry of the local log in order (tests, dumps, snapshots).
    public func logEntries(after position: UInt64 = 0, limit: Int = .max) throws -> [(position: UInt64, change: Change)] {
        try database.query("""
            SELECT pos, seq, hlc, record, row_id, kind, payload, row_clock, origin FROM change_log
            WHERE pos > ? ORDER BY pos LIMIT ?
            """, [.integer(Int64(position)), .integer(Int64(min(limit, Int(Int64.max))))]) { row in
            (UInt64(row.int64(0)), try Self.decodeLogEntry(row, origin: row.string(8) ?? ""))
        }
    }

    private static func decodeLogEntry(_ row: Statement, origin: String) throws -> Change {
        guard let record = RecordKind(table: row.string(3) ?? ""),
              let rowID = UUID(uuidString: row.string(4) ?? ""),
              let kind = ChangeKind(rawValue: UInt8(truncatingIfNeeded: row.int64(5))) else {
            throw ReplicaStoreError.corrupt("unreadable change log entry")
        }
        let fields = try row.blob(6).map { bytes throws(WireError) in try WireFormat.decodeFields(bytes, record: record) } ?? [:]
        let clock = try WireFormat.decodeClock(row.blob(7) ?? [])
        return Change(dot: Dot(origin: origin, seq: UInt64(row.int64(1))), hlc: HLC(rawValue: UInt64(row.int64(2))),
                      record: record, rowID: rowID, kind: kind, fields: fields, rowClock: clock)
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

    // MARK: Peer cursors

    public func peerCursor(_ peer: String) throws -> PeerCursor? {
        try database.query("""
            SELECT peer, incarnation, position, peer_log_position, last_success, last_error, failures
            FROM peer_cursors WHERE peer = ?
            """, [.text(peer)]) { row in
            PeerCursor(peer: row.string(0) ?? peer, incarnation: row.string(1), position: UInt64(row.int64(2)),
                       peerLogPosition: UInt64(row.int64(3)), lastSuccessMillis: row.isNull(4) ? nil : row.int64(4),
                       lastError: row.string(5), consecutiveFailures: Int(row.int64(6)))
        }.first
    }

    /// Records the peer's reported log end (for lag) after a successful exchange.
    public func recordPeerLogPosition(_ peer: String, position: UInt64) throws {
        try database.transaction {
            try database.run("""
                INSERT INTO peer_cursors (peer, peer_log_position) VALUES (?, ?)
                ON CONFLICT (peer) DO UPDATE SET peer_log_position = excluded.peer_log_position
                """, .text(peer), .integer(Int64(position)))
        }
    }

    /// Records a successful exchange that `peer` started (it pulled from us):
    /// clears an earlier error shown for it.
    public func recordPeerContact(_ peer: String) throws {
        try database.transaction {
            try database.run("""
                INSERT INTO peer_cursors (peer, last_success) VALUES (?, ?)
                ON CONFLICT (peer) DO UPDATE SET last_success = excluded.last_success, last_error = NULL, failures = 0
                """, .text(peer), .integer(Int64(options.now())))
        }
    }

    /// Records a failed exchange with `peer`; the message must hold no personal data.
    public func recordPeerFailure(_ peer: String, message: String) throws {
        try database.transaction {
            try database.run("""
                INSERT INTO peer_cursors (peer, last_error, failures) VALUES (?, ?, 1)
                ON CONFLICT (peer) DO UPDATE SET last_error = excluded.last_error, failures = failures + 1
                """, .text(peer), .text(message))
        }
    }

    /// Starts the next pull from `peer` at position 0 (its log's incarnation changed).
    public func resetPeerCursor(_ peer: String, incarnation: String?) throws {
        try database.transaction {
            try database.run("""
                INSERT INTO peer_cursors (peer, incarnation, position) VALUES (?, ?, 0)
                ON CONFLICT (peer) DO UPDATE SET incarnation = excluded.incarnation, position = 0
                """, .text(peer), incarnation.map(SQLiteValue.text) ?? .null)
        }
    }

    // MARK: Merge and persistence of one change

    struct LoadedRow {
        var state: RowState
        var exists: Bool
        /// When each open conflict was first seen here, kept across rewrites.
        var firstSeen: [Dot: Int64]
    }

    func loadRow(_ kind: RecordKind, id: String) throws -> LoadedRow {
        let statement = tables[Int(kind.wireTag) - 1].select
        statement.reset()
        defer { statement.reset() }
        try statement.bind(id, at: 1)
        guard try statement.step() else {
            return LoadedRow(state: RowState(), exists: false, firstSeen: [:])
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
        var state = RowState(fields: fields, stamps: stamps, rowClock: rowClock, erased: erased)
        var firstSeen: [Dot: Int64] = [:]
        if conflictCount > 0 {
            let entries = try database.query(
                "SELECT field, origin, seq, hlc, value, first_seen FROM conflicts WHERE record = ? AND row_id = ?",
                [.text(kind.table), .text(id)]) { row -> (String, FrontierEntry, Int64) in
                let field = row.string(0) ?? ""
                guard let spec = kind.field(named: field) else { throw ReplicaStoreError.corrupt("conflict on unknown field") }
                let dot = Dot(origin: row.string(1) ?? "", seq: UInt64(row.int64(2)))
                let value = try WireFormat.decodeValue(row.blob(4) ?? [], for: spec)
                return (field, FrontierEntry(stamp: FieldStamp(hlc: HLC(rawValue: UInt64(row.int64(3))), dot: dot), value: value), row.int64(5))
            }
            for (field, entry, seen) in entries {
                state.conflicts[field, default: []].append(entry)
                firstSeen[entry.stamp.dot] = seen
            }
        }
        return LoadedRow(state: state, exists: true, firstSeen: firstSeen)
    }

    /// Merges `change` into `row` and writes the log entry, the row and its
    /// conflicts. Called inside a transaction; `state` is the transaction's copy.
    private func merge(_ change: Change, into row: inout LoadedRow, state next: inout NodeState) throws {
        let kind = change.record
        let id = change.rowID.lowercased
        let wasErased = row.state.erased
        let effect = row.state.apply(change)
        if effect.erasedNow {
            try database.run("UPDATE change_log SET payload = NULL WHERE record = ? AND row_id = ?", .text(kind.table), .text(id))
            try database.run("DELETE FROM conflicts WHERE record = ? AND row_id = ?", .text(kind.table), .text(id))
        }
        next.logEnd += 1
        let log = appendToLog
        log.reset()
        try log.bind(Int64(next.logEnd), at: 1)
        try log.bind(change.dot.origin, at: 2)
        try log.bind(Int64(change.dot.seq), at: 3)
        try log.bind(Int64(bitPattern: change.hlc.rawValue), at: 4)
        try log.bind(kind.table, at: 5)
        try log.bind(id, at: 6)
        try log.bind(Int64(change.kind.rawValue), at: 7)
        if wasErased || change.kind == .erase {
            try log.bindNull(at: 8)
        } else {
            try log.bind(WireFormat.encodeFields(change.fields, record: kind), at: 8)
        }
        try log.bind(WireFormat.encodeClock(change.rowClock), at: 9)
        try log.run()

        let now = Int64(options.now())
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
        let table = tables[Int(kind.wireTag) - 1]
        let statement = row.exists ? table.update : table.insert
        statement.reset()
        var column: Int32 = 1
        if !row.exists {
            try statement.bind(id, at: column)
            column += 1
        }
        for spec in kind.fields {
            switch row.state.fields[spec.name] ?? .null {
            case .null: try statement.bindNull(at: column)
            case .text(let text): try statement.bind(text, at: column)
            case .integer(let number): try statement.bind(number, at: column)
            case .bool(let flag): try statement.bind(flag ? 1 : 0, at: column)
            }
            column += 1
        }
        try statement.bind(WireFormat.encodeClock(row.state.rowClock), at: column)
        try statement.bind(WireFormat.encodeStamps(row.state.stamps, record: kind), at: column + 1)
        try statement.bind(row.state.erased ? 1 : 0, at: column + 2)
        try statement.bind(Int64(conflictTotal), at: column + 3)
        if row.exists { try statement.bind(id, at: column + 4) }
        try statement.run()
        row.exists = true
    }

    private func saveNodeState(_ next: NodeState) throws {
        try database.run("UPDATE node_state SET seq = ?, hlc = ?, log_end = ? WHERE singleton = 1",
                         .integer(Int64(next.seq)), .integer(Int64(bitPattern: next.clock.last.rawValue)),
                         .integer(Int64(next.logEnd)))
    }
}

/// The statements of one record table, built from its schema and prepared once.
final class TableStatements {
    let select: Statement
    let insert: Statement
    let update: Statement

    init(kind: RecordKind, database: Database) throws {
        let columns = kind.fields.map(\.column)
        let meta = ["row_clock", "stamps", "erased", "open_conflicts"]
        select = try database.prepare("SELECT \((columns + meta).joined(separator: ", ")) FROM \(kind.table) WHERE id = ?")
        let all = ["id"] + columns + meta
        insert = try database.prepare(
            "INSERT INTO \(kind.table) (\(all.joined(separator: ", "))) VALUES (\(all.map { _ in "?" }.joined(separator: ", ")))")
        update = try database.prepare(
            "UPDATE \(kind.table) SET \((columns + meta).map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?")
    }
}
