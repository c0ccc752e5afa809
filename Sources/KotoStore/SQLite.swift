import CSQLite

/// A failed SQLite call: result code, SQLite's message and the SQL it ran.
/// Bound values are never part of it: they may be personal data.
public struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    public let resultCode: Int32
    public let message: String
    public let sql: String?

    public init(resultCode: Int32, message: String, sql: String? = nil) {
        self.resultCode = resultCode
        self.message = message
        self.sql = sql
    }

    /// The primary result code (extended codes carry detail in the high bits).
    public var primaryCode: Int32 { resultCode & 0xff }

    public var description: String {
        var text = "SQLite error \(resultCode): \(message)"
        if let sql { text += " — in `\(sql)`" }
        return text
    }
}

/// A value SQLite stores or returns.
public enum SQLiteValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])
}

/// How hard a commit waits for the disk. `full` makes an acknowledged write
/// survive power loss (the default: a lost write could reuse a dot).
public enum SynchronousMode: String, Sendable, CaseIterable {
    case full = "FULL"
    case normal = "NORMAL"
    case off = "OFF"
}

/// Owns one `sqlite3*` connection and its cached statements. Not Sendable:
/// exactly one owner (an actor or a single thread) uses it.
public final class Database {
    private var handle: OpaquePointer?
    private var statements: [String: Statement] = [:]
    /// Statements prepared for their callers (`prepare`): `close()` finalises the ones still alive.
    private var prepared: [WeakStatement] = []
    private var savepointDepth = 0
    public let path: String

    /// `wal`: false for a connection that must keep the file's own journal
    /// mode (a backup's destination takes the source's pages as they are).
    public init(path: String, synchronous: SynchronousMode = .full, readOnly: Bool = false, wal: Bool = true) throws(SQLiteError) {
        self.path = path
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let code = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open database"
            sqlite3_close_v2(db)
            throw SQLiteError(resultCode: code, message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5000)
        if !readOnly, wal {
            try execute("PRAGMA journal_mode = WAL")
        }
        try execute("PRAGMA synchronous = \(synchronous.rawValue)")
        // 32 MiB of page cache: a large batch stays in memory until commit
        // instead of spilling pages to the WAL mid-transaction.
        try execute("PRAGMA cache_size = -32768")
        // Savepoint sub-journals and temporary indexes in memory, not temp files.
        try execute("PRAGMA temp_store = MEMORY")
        // Deleted content is overwritten with zeros (cells, freed pages), so an
        // erased client's values do not linger in free space; never left to the
        // library's compile-time default, and refused if it does not hold.
        try execute("PRAGMA secure_delete = ON")
        try requireSecureDelete()
    }

    /// Throws unless `secure_delete` reads back 1 on this connection: a build
    /// of SQLite that ignores it would leave erased values in free pages.
    public func requireSecureDelete() throws(SQLiteError) {
        let value = try? query("PRAGMA secure_delete") { $0.int64(0) }.first
        guard value == 1 else {
            throw SQLiteError(resultCode: SQLITE_MISUSE, message: "PRAGMA secure_delete reads back \(value.map(String.init) ?? "nothing"), "
                              + "not 1: deleted content would stay in the file; refusing to use \(path)")
        }
    }

    /// What a WAL checkpoint did: whether it completed (every frame copied
    /// into the database and the WAL truncated to zero bytes) or a reader
    /// holding an older snapshot kept it from finishing.
    public struct CheckpointResult: Sendable, Equatable {
        /// Frames in the WAL when the checkpoint ended (0 after a truncation).
        public let logFrames: Int
        /// Frames copied into the database file.
        public let checkpointedFrames: Int
        /// False when another connection was busy until the timeout (SQLITE_BUSY).
        public let completed: Bool
    }

    /// `wal_checkpoint(TRUNCATE)`: copies every frame into the database file
    /// and truncates the WAL to zero bytes, so no earlier version of a page
    /// (an erased value among them) survives in it. Waits up to
    /// `busyTimeoutMillis` for readers on older snapshots; when they outlast
    /// it, `completed` is false and the caller retries later.
    public func checkpointTruncate(busyTimeoutMillis: Int32 = 2000) throws(SQLiteError) -> CheckpointResult {
        guard let handle else { throw closedError(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        sqlite3_busy_timeout(handle, busyTimeoutMillis)
        defer { sqlite3_busy_timeout(handle, 5000) }
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        let code = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_TRUNCATE, &logFrames, &checkpointed)
        if code == SQLITE_BUSY || code & 0xff == SQLITE_BUSY || code == SQLITE_LOCKED {
            return CheckpointResult(logFrames: Int(logFrames), checkpointedFrames: Int(checkpointed), completed: false)
        }
        guard code == SQLITE_OK else { throw error(code, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return CheckpointResult(logFrames: Int(logFrames), checkpointedFrames: Int(checkpointed), completed: logFrames == 0)
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// True once `close()` succeeded: every call after it throws SQLITE_MISUSE "database is closed".
    public var isClosed: Bool { handle == nil }

    /// Closes the connection now, on the way out: finalises every statement
    /// it prepared (a statement used afterwards throws, it does not crash),
    /// then `sqlite3_close`. The last connection to a WAL database
    /// checkpoints it and removes the -wal file, so a cleanly stopped node
    /// leaves one self-contained file. Closing twice does nothing; throws
    /// (and stays open) if SQLite refuses, e.g. while a backup reads from it.
    public func close() throws(SQLiteError) {
        guard let handle else { return }
        if isInTransaction { try? execute("ROLLBACK") }
        statements.values.forEach { $0.finalize() }
        statements.removeAll()
        prepared.forEach { $0.statement?.finalize() }
        prepared.removeAll()
        let code = sqlite3_close(handle)
        guard code == SQLITE_OK else { throw error(code, sql: nil) }
        self.handle = nil
    }

    /// The open connection, or nil once closed.
    var connection: OpaquePointer? { handle }

    func error(_ code: Int32, sql: String?) -> SQLiteError {
        guard let handle else { return closedError(sql: sql) }
        return SQLiteError(resultCode: code, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    func closedError(sql: String?) -> SQLiteError {
        SQLiteError(resultCode: SQLITE_MISUSE, message: "database \(path) is closed", sql: sql)
    }

    /// Runs one or more statements without bound values (schema, pragmas).
    public func execute(_ sql: String) throws(SQLiteError) {
        guard let handle else { throw closedError(sql: sql) }
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw SQLiteError(resultCode: code, message: text, sql: sql)
        }
    }

    /// A cached prepared statement for `sql`, reset and with bindings cleared.
    public func statement(_ sql: String) throws(SQLiteError) -> Statement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        let statement = try Statement(database: self, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// A prepared statement owned by the caller (hot paths keep theirs
    /// instead of looking SQL up in the cache each time); `reset()` before reuse.
    func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        let statement = try Statement(database: self, sql: sql)
        prepared.removeAll { $0.statement == nil }
        prepared.append(WeakStatement(statement: statement))
        return statement
    }

    /// Runs a statement with the given bindings to completion.
    public func run(_ sql: String, _ values: SQLiteValue...) throws(SQLiteError) {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(values)
        while try statement.step() {}
    }

    /// All rows of a query, each mapped by `row`.
    public func query<T>(_ sql: String, _ values: [SQLiteValue] = [], row: (Statement) throws -> T) throws -> [T] {
        let statement = try statement(sql)
        // Reset on the way out, also when `row` throws: a statement left
        // standing on a row would hold its read snapshot (and so keep a WAL
        // checkpoint from truncating) until its next use.
        defer { statement.reset() }
        try statement.bind(values)
        var result: [T] = []
        while try statement.step() {
            result.append(try row(statement))
        }
        return result
    }

    public var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }
    public var lastInsertRowID: Int64 { handle.map { sqlite3_last_insert_rowid($0) } ?? 0 }
    public var isInTransaction: Bool { handle.map { sqlite3_get_autocommit($0) == 0 } ?? false }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`): commits when it
    /// returns, rolls back and rethrows when it throws. Nested calls use
    /// savepoints, so an inner failure undoes only the inner part.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        if isInTransaction {
            savepointDepth += 1
            let name = "kotosync_sp\(savepointDepth)"
            defer { savepointDepth -= 1 }
            try run("SAVEPOINT \(name)")
            do {
                let result = try body()
                try run("RELEASE \(name)")
                return result
            } catch {
                try? run("ROLLBACK TO \(name)")
                try? run("RELEASE \(name)")
                throw error
            }
        }
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Runs `body` in a read transaction: every query inside sees one snapshot.
    public func readTransaction<T>(_ body: () throws -> T) throws -> T {
        if isInTransaction { return try body() }
        try execute("BEGIN DEFERRED")
        defer { if isInTransaction { try? execute("COMMIT") } }
        return try body()
    }
}

/// A statement `Database.close()` must finalise if it is still alive.
private struct WeakStatement {
    weak var statement: Statement?
}

/// Owns one `sqlite3_stmt*`; finalised in deinit, or by `Database.close()`
/// first (then every use throws "database is closed"). Not Sendable.
public final class Statement {
    private var statement: OpaquePointer?
    private unowned let database: Database
    public let sql: String

    init(database: Database, sql: String) throws(SQLiteError) {
        guard let connection = database.connection else { throw database.closedError(sql: sql) }
        var prepared: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard code == SQLITE_OK, let prepared else { throw database.error(code, sql: sql) }
        self.statement = prepared
        self.database = database
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(statement)
    }

    /// Finalises now (the database is closing); later uses throw.
    fileprivate func finalize() {
        sqlite3_finalize(statement)
        statement = nil
    }

    /// Rewinds the statement and clears its bindings, for the next use.
    public func reset() {
        guard let statement else { return }
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    private func check(_ code: Int32) throws(SQLiteError) {
        if code != SQLITE_OK { throw database.error(code, sql: sql) }
    }

    private func open() throws(SQLiteError) -> OpaquePointer {
        guard let statement else { throw database.closedError(sql: sql) }
        return statement
    }

    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        for (index, value) in values.enumerated() {
            try bind(value, at: Int32(index + 1))
        }
    }

    public func bind(_ value: SQLiteValue, at index: Int32) throws(SQLiteError) {
        switch value {
        case .null: try bindNull(at: index)
        case .integer(let number): try bind(number, at: index)
        case .text(let text): try bind(text, at: index)
        case .blob(let bytes): try bind(bytes, at: index)
        }
    }

    public func bind(_ value: Int64, at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_int64(try open(), index, value))
    }

    public func bind(_ value: String, at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_text(try open(), index, value, -1, kotosync_sqlite_transient()))
    }

    public func bind(_ value: [UInt8], at index: Int32) throws(SQLiteError) {
        let statement = try open()
        let code = value.withUnsafeBytes { buffer in
            sqlite3_bind_blob(statement, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count),
                              kotosync_sqlite_transient())
        }
        try check(code)
    }

    public func bindNull(at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_null(try open(), index))
    }

    /// Advances; true while a row is available.
    public func step() throws(SQLiteError) -> Bool {
        let statement = try open()
        let code = sqlite3_step(statement)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            sqlite3_reset(statement)
            throw database.error(code, sql: sql)
        }
    }

    /// Steps to completion, for statements that return no rows.
    public func run() throws(SQLiteError) {
        while try step() {}
    }

    public func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(statement, column) == SQLITE_NULL
    }

    public func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(statement, column)
    }

    public func string(_ column: Int32) -> String? {
        guard let text = sqlite3_column_text(statement, column) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// The column's text as SQLite holds it, without making a `String`: valid
    /// only until the statement steps or resets (for comparing ids in a merge).
    func textBytes(_ column: Int32) -> UnsafeRawBufferPointer {
        guard let text = sqlite3_column_text(statement, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column)))
    }

    public func blob(_ column: Int32) -> [UInt8]? {
        guard sqlite3_column_type(statement, column) != SQLITE_NULL else { return nil }
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    public func value(_ column: Int32) -> SQLiteValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_NULL: .null
        case SQLITE_INTEGER: .integer(int64(column))
        case SQLITE_BLOB: .blob(blob(column) ?? [])
        default: .text(string(column) ?? "")
        }
    }
}
