import Foundation
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing

/// A full disk is the one SQLite failure clients are told about: 507
/// `insufficient_storage`, with a message that names no record and no SQL.
/// `PRAGMA max_page_count` makes SQLite answer SQLITE_FULL as a full disk
/// does (the region test fills a real tmpfs).
@Suite struct StorageFullTests {
    static func fullError() throws -> SQLiteError {
        let directory = try TemporaryDirectory()
        let database = try Database(path: directory.path("full.sqlite"), synchronous: .off)
        try database.execute("CREATE TABLE t (x BLOB)")
        try database.execute("PRAGMA max_page_count = 8")
        for _ in 0..<100 {
            do {
                try database.run("INSERT INTO t (x) VALUES (?)", .blob([UInt8](repeating: 7, count: 4096)))
            } catch {
                return error
            }
        }
        throw SQLiteError(resultCode: 0, message: "100 inserts fitted into 8 pages")
    }

    @Test func sqliteFullIs507InsufficientStorage() async throws {
        let error = try Self.fullError()
        #expect(error.isStorageFull, "\(error)")
        let response = Router().response(for: error, to: try HTTPRequest(method: .post, target: "/v1/services"))
        #expect(response.status == .insufficientStorage)
        #expect(response.status.description == "507 Insufficient Storage")
        let body = String(decoding: response.body, as: UTF8.self)
        #expect(body.contains("\"insufficient_storage\""))
        #expect(body.contains("disk is full"))
        #expect(!body.contains("INSERT") && !body.contains("SQLite"), "the answer leaks internals: \(body)")
    }

    @Test func enospcBehindAnIOErrorIsFullToo() {
        let ioError = SQLiteError(resultCode: 778 /* SQLITE_IOERR_WRITE */, message: "disk I/O error", systemErrno: ENOSPC)
        #expect(ioError.isStorageFull)
        #expect(ioError.responseError?.status == .insufficientStorage)
    }

    @Test func otherSQLiteFailuresStayTheGenericLogged500() throws {
        let error = SQLiteError(resultCode: 11 /* SQLITE_CORRUPT */, message: "database disk image is malformed", sql: "SELECT 1")
        #expect(!error.isStorageFull && error.responseError == nil)
        let response = Router().response(for: error, to: try HTTPRequest(method: .get, target: "/v1/services"))
        #expect(response.status == .internalServerError)
        #expect(!String(decoding: response.body, as: UTF8.self).contains("malformed"))
    }
}
