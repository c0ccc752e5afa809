import Foundation
import KotoTestSupport
import Testing
@testable import KotoStore

/// The SQLite layer: transactions and savepoints, errors that never carry
/// bound values, the pragmas a replica relies on, and the statement cache.
@Suite struct DatabaseTests {
    struct Boom: Error, Equatable {
        let token: Int
    }

    /// SQLite result codes (the test target does not import CSQLite).
    enum Code {
        static let error: Int32 = 1
        static let constraint: Int32 = 19
        static let constraintUnique: Int32 = 2067 // SQLITE_CONSTRAINT | (8 << 8)
    }

    static let insertSQL = "INSERT INTO items (label) VALUES (?)"

    func makeDatabase(_ directory: TemporaryDirectory, synchronous: SynchronousMode = .normal) throws -> Database {
        let database = try Database(path: directory.path("items.sqlite"), synchronous: synchronous)
        try database.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE)")
        return database
    }

    func labels(_ database: Database) throws -> [String] {
        try database.query("SELECT label FROM items ORDER BY id") { $0.string(0) ?? "" }
    }

    // MARK: Transactions

    @Test func transactionCommitsWhenBodyReturns() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        var inTransaction = false
        let result = try database.transaction { () throws -> Int in
            try database.run(Self.insertSQL, .text("a"))
            try database.run(Self.insertSQL, .text("b"))
            inTransaction = database.isInTransaction
            return 42
        }
        #expect(result == 42)
        #expect(inTransaction)
        #expect(!database.isInTransaction)
        #expect(try labels(database) == ["a", "b"])
        // Committed: a second connection sees it too.
        let other = try Database(path: directory.path("items.sqlite"))
        #expect(try labels(other) == ["a", "b"])
    }

    @Test func transactionRollsBackAndRethrowsTheSameError() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        try database.run(Self.insertSQL, .text("kept"))
        let thrown = #expect(throws: Boom.self) {
            try database.transaction {
                try database.run(Self.insertSQL, .text("undone-1"))
                try database.run(Self.insertSQL, .text("undone-2"))
                throw Boom(token: 7)
            }
        }
        #expect(thrown == Boom(token: 7))
        #expect(!database.isInTransaction)
        #expect(try labels(database) == ["kept"])
    }

    @Test func failingStatementInsideTransactionRollsBackEverything() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        try database.run(Self.insertSQL, .text("dup"))
        let thrown = #expect(throws: SQLiteError.self) {
            try database.transaction {
                try database.run(Self.insertSQL, .text("fresh"))
                try database.run(Self.insertSQL, .text("dup"))
            }
        }
        #expect(thrown?.resultCode == Code.constraintUnique)
        #expect(!database.isInTransaction)
        #expect(try labels(database) == ["dup"])
    }

    @Test func nestedTransactionIsASavepoint() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        // Observations inside the closures are asserted after them (see `thrownError`).
        var inner: Boom?
        var stillInTransaction = false
        var labelsAfterInner: [String] = []
        try database.transaction {
            try database.run(Self.insertSQL, .text("outer-before"))
            inner = thrownError(Boom.self) {
                try database.transaction {
                    try database.run(Self.insertSQL, .text("inner-undone"))
                    throw Boom(token: 1)
                }
            }
            stillInTransaction = database.isInTransaction
            labelsAfterInner = try labels(database)
            try database.transaction {
                try database.run(Self.insertSQL, .text("inner-kept"))
            }
            try database.run(Self.insertSQL, .text("outer-after"))
        }
        #expect(inner == Boom(token: 1))
        // Still inside the outer transaction, which kept its own work.
        #expect(stillInTransaction)
        #expect(labelsAfterInner == ["outer-before"])
        #expect(!database.isInTransaction)
        #expect(try labels(database) == ["outer-before", "inner-kept", "outer-after"])
    }

    @Test func savepointsNestSeveralLevels() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        var innermost: Boom?
        try database.transaction {
            try database.run(Self.insertSQL, .text("level-1"))
            try database.transaction {
                try database.run(Self.insertSQL, .text("level-2"))
                innermost = thrownError(Boom.self) {
                    try database.transaction {
                        try database.run(Self.insertSQL, .text("level-3-undone"))
                        throw Boom(token: 3)
                    }
                }
                try database.run(Self.insertSQL, .text("level-2-after"))
            }
        }
        #expect(innermost == Boom(token: 3))
        #expect(try labels(database) == ["level-1", "level-2", "level-2-after"])
    }

    @Test func innerFailureNotCaughtUndoesTheWholeOuterTransaction() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        let thrown = #expect(throws: Boom.self) {
            try database.transaction {
                try database.run(Self.insertSQL, .text("outer"))
                try database.transaction {
                    try database.run(Self.insertSQL, .text("inner"))
                    throw Boom(token: 9)
                }
            }
        }
        #expect(thrown == Boom(token: 9))
        #expect(!database.isInTransaction)
        #expect(try labels(database).isEmpty)
        // The connection is usable afterwards, savepoint depth back to zero.
        try database.transaction { try database.run(Self.insertSQL, .text("after")) }
        #expect(try labels(database) == ["after"])
    }

    @Test func readTransactionSeesOneSnapshot() throws {
        let directory = try TemporaryDirectory()
        let reader = try makeDatabase(directory)
        let writer = try Database(path: directory.path("items.sqlite"))
        try writer.run(Self.insertSQL, .text("first"))
        let (seenFirst, seenAfterWrite) = try reader.readTransaction {
            let first = try labels(reader)
            try writer.run(Self.insertSQL, .text("second"))
            return (first, try labels(reader))
        }
        #expect(seenFirst == ["first"])
        #expect(seenAfterWrite == ["first"], "a write by another connection is invisible inside the read transaction")
        #expect(try labels(writer) == ["first", "second"])
        #expect(!reader.isInTransaction)
        #expect(try labels(reader) == ["first", "second"])
    }

    // MARK: Errors

    @Test func constraintErrorCarriesCodeMessageAndSQLButNoBoundValue() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        // Looks like personal data; must never reach an error text.
        let secret = "SALAINEN-010101A999X"
        try database.run(Self.insertSQL, .text(secret))
        let error = try #require(throws: SQLiteError.self) {
            try database.run(Self.insertSQL, .text(secret))
        }
        #expect(error.resultCode == Code.constraintUnique)
        #expect(error.primaryCode == Code.constraint)
        #expect(error.message.contains("UNIQUE constraint failed"))
        #expect(error.sql == Self.insertSQL)
        #expect(error.description.contains(Self.insertSQL))
        #expect(error.description.contains("\(Code.constraintUnique)"))
        #expect(!error.description.contains(secret), "the bound value must not appear in the description")
        #expect(!error.message.contains(secret), "the bound value must not appear in the message")
        #expect(!String(reflecting: error).contains(secret), "the bound value must not appear in reflection")
        // The failed statement left nothing behind and the cache still works.
        try database.run(Self.insertSQL, .text("other"))
        #expect(try labels(database).count == 2)
    }

    @Test func prepareAndExecuteErrorsCarryTheSQL() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        let badQuery = "SELECT nope FROM missing_table WHERE id = ?"
        let prepareError = try #require(throws: SQLiteError.self) { try database.statement(badQuery) }
        #expect(prepareError.resultCode == Code.error)
        #expect(prepareError.sql == badQuery)
        #expect(prepareError.message.contains("missing_table"))

        let badScript = "CREATE TABLE items (id INTEGER)"
        let executeError = try #require(throws: SQLiteError.self) { try database.execute(badScript) }
        #expect(executeError.resultCode == Code.error)
        #expect(executeError.sql == badScript)
        #expect(executeError.message.contains("already exists"))
        #expect(executeError.description.contains(badScript))
    }

    @Test func errorDescriptionWithoutSQL() {
        let error = SQLiteError(resultCode: 14, message: "unable to open database file")
        #expect(error.description == "SQLite error 14: unable to open database file")
        #expect(error.primaryCode == 14)
    }

    // MARK: Pragmas

    @Test(arguments: [(SynchronousMode.full, 2), (.normal, 1), (.off, 0)])
    func journalModeIsWALAndSynchronousModeIsApplied(mode: SynchronousMode, expected: Int) throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory, synchronous: mode)
        #expect(try database.query("PRAGMA journal_mode") { $0.string(0) } == ["wal"])
        #expect(try database.query("PRAGMA synchronous") { Int($0.int64(0)) } == [expected])
    }

    @Test func defaultSynchronousModeIsFull() throws {
        let directory = try TemporaryDirectory()
        let database = try Database(path: directory.path("default.sqlite"))
        #expect(try database.query("PRAGMA synchronous") { $0.int64(0) } == [2])
        #expect(StoreOptions().synchronous == .full)
    }

    @Test(arguments: [(SynchronousMode.full, 2), (.normal, 1)])
    func replicaStoreAppliesItsOptions(mode: SynchronousMode, expected: Int) throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad") { $0.synchronous = mode }
        #expect(try store.database.query("PRAGMA journal_mode") { $0.string(0) } == ["wal"])
        #expect(try store.database.query("PRAGMA synchronous") { Int($0.int64(0)) } == [expected])
    }

    // MARK: Statement cache

    @Test func statementsAreCachedAndResetWithBindingsCleared() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        let first = try database.statement("SELECT ?")
        try first.bind(.integer(5), at: 1)
        #expect(try first.step())
        #expect(first.int64(0) == 5)

        let again = try database.statement("SELECT ?")
        #expect(again === first, "the same SQL returns the cached statement")
        // Reset and with bindings cleared: it runs from the start with a null parameter.
        #expect(try again.step())
        #expect(again.isNull(0))
        #expect(again.value(0) == .null)

        let different = try database.statement("SELECT ? + 1")
        #expect(different !== first)
    }

    @Test func cachedStatementsAreReusableAcrossManyCalls() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        for index in 0..<200 {
            try database.run(Self.insertSQL, .text("item-\(index)"))
        }
        let statement = try database.statement(Self.insertSQL)
        #expect(try database.statement(Self.insertSQL) === statement)
        for index in [0, 99, 199] {
            let found = try database.query("SELECT id FROM items WHERE label = ?", [.text("item-\(index)")]) { $0.int64(0) }
            #expect(found == [Int64(index + 1)])
        }
        #expect(try database.query("SELECT count(*) FROM items") { $0.int64(0) } == [200])
        #expect(database.lastInsertRowID == 200)
    }

    @Test func valuesRoundTripThroughBindAndColumns() throws {
        let directory = try TemporaryDirectory()
        let database = try makeDatabase(directory)
        try database.execute("CREATE TABLE mixed (i INTEGER, t TEXT, b BLOB, n INTEGER)")
        let blob: [UInt8] = [0, 1, 2, 255]
        try database.run("INSERT INTO mixed VALUES (?, ?, ?, ?)", .integer(-3), .text("ääkköset ✓"), .blob(blob), .null)
        try database.run("INSERT INTO mixed VALUES (?, ?, ?, ?)", .integer(Int64.max), .text(""), .blob([]), .null)
        let rows = try database.query("SELECT i, t, b, n FROM mixed ORDER BY rowid") { row in
            [row.value(0), row.value(1), row.value(2), row.value(3)]
        }
        #expect(rows == [
            [.integer(-3), .text("ääkköset ✓"), .blob(blob), .null],
            [.integer(Int64.max), .text(""), .blob([]), .null],
        ])
        #expect(database.changes == 1)
    }
}
