import Foundation
import KotoTestSupport
import Testing
@testable import KotoStore

/// `Database.close()`: the daemon's last step. A closed connection leaves one
/// checkpointed file and fails every later call with an error, never a crash.
@Suite struct DatabaseCloseTests {
    @Test func closingTheLastConnectionCheckpointsAndRemovesTheWAL() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("node.sqlite")
        let writer = try Database(path: path)
        let reader = try Database(path: path, readOnly: true)
        try writer.execute("CREATE TABLE t (x INTEGER)")
        try writer.transaction { for value in 0..<100 { try writer.run("INSERT INTO t VALUES (?)", .integer(Int64(value))) } }
        // A statement prepared for a caller (as RowStore keeps them) is finalised by close.
        let held = try writer.prepare("SELECT count(*) FROM t")
        #expect(try reader.query("SELECT count(*) FROM t") { $0.int64(0) } == [100])
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        try reader.close()
        try writer.close()
        #expect(writer.isClosed)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the WAL is left after the last close")
        #expect(!FileManager.default.fileExists(atPath: path + "-shm"))
        // Every use after close throws "closed"; none crashes.
        #expect(throws: SQLiteError.self) { try writer.execute("SELECT 1") }
        #expect(throws: SQLiteError.self) { try writer.query("SELECT count(*) FROM t") { $0.int64(0) } }
        #expect(throws: SQLiteError.self) { _ = try held.step() }
        #expect(throws: SQLiteError.self) { _ = try writer.checkpointTruncate() }
        held.reset()
        try writer.close()  // twice: nothing
        let reopened = try Database(path: path, readOnly: true)
        #expect(try reopened.query("SELECT count(*) FROM t") { $0.int64(0) } == [100])
    }

    @Test func theOnlineBackupCopiesWhileAnotherConnectionWrites() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("source.sqlite")
        let writer = try Database(path: path)
        try writer.execute("CREATE TABLE t (x INTEGER)")
        try writer.transaction { for value in 0..<1000 { try writer.run("INSERT INTO t VALUES (?)", .integer(Int64(value))) } }
        let report = try Database.backup(from: path, to: directory.path("copy.sqlite"))
        #expect(report.integrity == "ok")
        #expect(report.pages > 0 && report.bytes > 0)
        try writer.run("INSERT INTO t VALUES (1000)")  // the writer was never blocked
        let copy = try Database(path: directory.path("copy.sqlite"), readOnly: true)
        #expect(try copy.query("SELECT count(*) FROM t") { $0.int64(0) } == [1000])
    }
}
