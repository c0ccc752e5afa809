import Foundation
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoCLI

/// `kotosync backup` on real SQLite files (no daemon): the copy, its checks and its refusals.
@Suite struct BackupCommandTests {
    /// A WAL database at `<dir>/data/<node>.sqlite` with `rows` rows, left open (as a running daemon keeps it).
    static func liveDatabase(in directory: TemporaryDirectory, node: String, rows: Int) throws -> Database {
        try FileManager.default.createDirectory(atPath: directory.path("data"), withIntermediateDirectories: true)
        let database = try Database(path: directory.path("data/\(node).sqlite"))
        try database.execute("CREATE TABLE services (id TEXT PRIMARY KEY NOT NULL, label TEXT)")
        try database.transaction {
            for index in 0..<rows { try database.run("INSERT INTO services VALUES (?, ?)", .text("id-\(index)"), .text("label")) }
        }
        return database
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) -> (ExitCode, CapturedConsole) {
        let captured = CapturedConsole()
        return (CLI.run(arguments, environment: environment, console: captured.console), captured)
    }

    @Test func copiesTheCommittedStateOfALiveWALDatabaseCheckedAndPrivate() throws {
        let directory = try TemporaryDirectory()
        let live = try Self.liveDatabase(in: directory, node: "kronoby", rows: 500)
        // An open write transaction is not in the copy: only what was committed.
        try live.execute("BEGIN IMMEDIATE")
        try live.run("INSERT INTO services VALUES ('uncommitted', 'x')")
        let config = try directory.write("kronoby.json", #"{"node": "kronoby", "dataDirectory": "data"}"#)
        let out = directory.path("backup.sqlite")
        let (status, captured) = run(["backup", out, "--config", config])
        try live.execute("ROLLBACK")
        #expect(status == .ok, "\(captured.error)")
        #expect(captured.error.contains("integrity_check ok"))
        #expect((try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? Int) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        let copy = try Database(path: out, readOnly: true)
        #expect(try copy.query("SELECT count(*) FROM services") { $0.int64(0) } == [500])
        #expect(try copy.query("PRAGMA integrity_check") { $0.string(0) } == ["ok"])

        // Never over an existing file; the first copy stays as it was.
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        let (again, againCaptured) = run(["backup", out, "--config", config])
        #expect(again == .failure)
        #expect(againCaptured.error.contains("never overwrites"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == before)
    }

    @Test func findsTheConfigThroughTheEnvironmentAndCopiesTheAccessLogToo() throws {
        let directory = try TemporaryDirectory()
        _ = try Self.liveDatabase(in: directory, node: "larsmo", rows: 3)
        let access = try Database(path: directory.path("data/access.sqlite"))
        try access.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY); INSERT INTO entries VALUES (1), (2)")
        let config = try directory.write("larsmo.json", #"{"node": "larsmo", "dataDirectory": "data"}"#)
        let (status, captured) = run(["backup", directory.path("r.sqlite"), "--access-log", directory.path("a.sqlite")],
                                     environment: ["KOTOSYNC_CONFIG": config])
        #expect(status == .ok, "\(captured.error)")
        let copy = try Database(path: directory.path("a.sqlite"), readOnly: true)
        #expect(try copy.query("SELECT count(*) FROM entries") { $0.int64(0) } == [2])
    }

    @Test func refusesAMissingConfigOrDatabaseWithOneSentence() throws {
        let directory = try TemporaryDirectory()
        let (missing, missingCaptured) = run(["backup", directory.path("b.sqlite"), "--config", directory.path("none.json")])
        #expect(missing == .failure)
        #expect(missingCaptured.error.hasPrefix("kotosync: cannot read the node's configuration"))
        let config = try directory.write("c.json", #"{"node": "pedersore", "dataDirectory": "empty"}"#)
        let (noDatabase, noDatabaseCaptured) = run(["backup", directory.path("b.sqlite"), "--config", config])
        #expect(noDatabase == .failure)
        #expect(noDatabaseCaptured.error.contains("no database at"))
        #expect(!FileManager.default.fileExists(atPath: directory.path("b.sqlite")))
        let (usage, _) = run(["backup"])
        #expect(usage == .usage)
    }
}
