import Foundation
import KotoCore
import KotoTestSupport
import Testing
@testable import KotoStore

/// The replica's schema: created and versioned on first open, left alone on
/// reopen, and a database this build cannot read (newer schema, other node)
/// is refused rather than touched.
@Suite struct StoreSchemaTests {
    static let expectedTables: Set<String> = [
        "node_state", "version_vector", "log_floor", "change_log", "conflicts", "peer_cursors",
        "peer_vectors", "chain_heads", "services", "clients", "placements",
    ]

    func userVersion(_ database: Database) throws -> Int {
        try database.query("PRAGMA user_version") { Int($0.int64(0)) }.first ?? -1
    }

    func tables(_ database: Database) throws -> Set<String> {
        Set(try database.query("SELECT name FROM sqlite_master WHERE type = 'table'") { $0.string(0) ?? "" })
    }

    @Test func newStoreHasCurrentVersionAndTables() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        #expect(ReplicaStore.schemaVersion == StoreSchema.migrations.last?.version)
        #expect(ReplicaStore.schemaVersion >= 1)
        #expect(try userVersion(store.database) == ReplicaStore.schemaVersion)
        // The replicated schema's tables, and the report aggregates and next limits derived from them (not replicated, no version).
        #expect(try tables(store.database) == Self.expectedTables.union(ReportAggregates.tables.map(\.name) + [DeadlineAggregate.table]))
        #expect(store.seq == 0)
        #expect(store.logPosition == 0)
        #expect(store.versionVector.isEmpty)
        #expect(store.logFloor.isEmpty)
        #expect(store.lastHLC == .zero)
        #expect(!store.incarnation.isEmpty)
        let nodeRows = try store.database.query("SELECT node_id, created_at FROM node_state") { ($0.string(0), $0.int64(1)) }
        #expect(nodeRows.count == 1)
        #expect(nodeRows.first?.0 == "jakobstad")
        #expect(nodeRows.first?.1 == Int64(harness.clock.now))
    }

    @Test(arguments: RecordKind.allCases)
    func recordTablesHaveAColumnPerField(kind: RecordKind) throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let columns = try store.database.query("SELECT name FROM pragma_table_info('\(kind.table)') ORDER BY cid") { $0.string(0) ?? "" }
        #expect(columns == ["id"] + kind.fields.map(\.column) + ["row_clock", "stamps", "erased", "open_conflicts", "digest", "awaiting_erase"])
    }

    @Test func reopeningKeepsDataAndDoesNotRerunMigrations() throws {
        let harness = try StoreHarness()
        let id = UUID()
        var incarnation = ""
        var dump = ""
        do {
            let store = try harness.open("jakobstad")
            try store.create(.client, id: id, fields: Sample.fixedClient(number: 1))
            try store.update(.client, id: id, fields: ["status": .text("assessed")])
            try store.recordPeerFailure("larsmo", message: "timeout")
            incarnation = store.incarnation
            dump = try store.canonicalDump()
        }
        let reopened = try harness.open("jakobstad")
        #expect(try userVersion(reopened.database) == ReplicaStore.schemaVersion)
        #expect(reopened.incarnation == incarnation)
        #expect(reopened.seq == 2)
        #expect(reopened.logPosition == 2)
        #expect(reopened.versionVector == VersionVector(["jakobstad": 2]))
        #expect(try reopened.canonicalDump() == dump)
        #expect(try reopened.record(.client, id: id)?.fields["status"] == .text("assessed"))
        #expect(try reopened.peerCursor("larsmo")?.consecutiveFailures == 1)
        #expect(try reopened.logEntries().count == 2)
        // Migrating an up-to-date database again is a no-op (a re-run would fail on CREATE TABLE).
        try StoreSchema.migrate(reopened.database)
        #expect(try userVersion(reopened.database) == ReplicaStore.schemaVersion)
        #expect(try reopened.canonicalDump() == dump)
        // And a third open still works.
        let third = try harness.open("jakobstad", file: "jakobstad")
        #expect(third.seq == 2)
    }

    @Test func newerSchemaIsRefusedAndNotTouched() throws {
        let harness = try StoreHarness()
        let newer = ReplicaStore.schemaVersion + 1
        do {
            let database = try Database(path: harness.path("future.sqlite"))
            try database.execute("PRAGMA user_version = \(newer)")
            try database.execute("CREATE TABLE from_the_future (x INTEGER)")
        }
        let error = try #require(throws: ReplicaStoreError.self) {
            try harness.open("jakobstad", file: "future")
        }
        #expect(error == .schemaTooNew(found: newer, supported: ReplicaStore.schemaVersion))
        let database = try Database(path: harness.path("future.sqlite"))
        #expect(try userVersion(database) == newer)
        #expect(try tables(database) == ["from_the_future"])
    }

    @Test func storeOfAnotherNodeIsRefused() throws {
        let harness = try StoreHarness()
        var dump = ""
        do {
            let store = try harness.open("jakobstad", file: "office")
            try store.create(.service, fields: Sample.fixedService(number: 1))
            dump = try store.canonicalDump()
        }
        let error = try #require(throws: ReplicaStoreError.self) {
            try harness.open("larsmo", file: "office")
        }
        #expect(error == .nodeMismatch(stored: "jakobstad", requested: "larsmo"))
        #expect(error.description.contains("jakobstad"))
        // The rightful node still opens it, unchanged.
        let store = try harness.open("jakobstad", file: "office")
        #expect(try store.canonicalDump() == dump)
        #expect(store.seq == 1)
    }

    @Test(arguments: ["", "Jakobstad", "jakob stad", "../etc", String(repeating: "a", count: 65)])
    func invalidNodeIDIsRefusedBeforeAnyFileIsCreated(node: String) throws {
        let harness = try StoreHarness()
        let path = harness.path("invalid.sqlite")
        let error = try #require(throws: ReplicaStoreError.self) {
            try ReplicaStore(path: path, nodeID: node, identity: TestKeys.identity(node))
        }
        #expect(error == .corrupt("invalid node id"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func eachNewDatabaseGetsItsOwnIncarnation() throws {
        let harness = try StoreHarness()
        let first = try harness.open("jakobstad", file: "first")
        let second = try harness.open("jakobstad", file: "second")
        #expect(first.incarnation != second.incarnation)
        #expect(UUID(uuidString: first.incarnation) != nil)
    }
}
