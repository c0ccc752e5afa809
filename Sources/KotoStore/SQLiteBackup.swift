import CSQLite
import Foundation

/// Owns one `sqlite3_backup*` (SQLite's online backup API) between two open
/// connections; `sqlite3_backup_finish` frees it in `finish()` or deinit.
/// While it steps it holds a read transaction on the source: with WAL the
/// source's writers go on, and what lands in the destination is one
/// committed snapshot. Not Sendable: one owner steps it.
public final class SQLiteBackup {
    private var handle: OpaquePointer?
    /// Kept alive (and so open) until the backup is finished.
    private let source: Database
    private let destination: Database

    /// Starts copying `source`'s main database into `destination`'s.
    public init(from source: Database, to destination: Database) throws(SQLiteError) {
        guard let sourceConnection = source.connection else { throw source.closedError(sql: nil) }
        guard let destinationConnection = destination.connection else { throw destination.closedError(sql: nil) }
        guard let handle = sqlite3_backup_init(destinationConnection, "main", sourceConnection, "main") else {
            throw destination.error(sqlite3_errcode(destinationConnection), sql: nil)
        }
        self.handle = handle
        self.source = source
        self.destination = destination
    }

    deinit {
        sqlite3_backup_finish(handle)
    }

    /// Copies up to `pages` pages (-1: all that remain); true when the copy is complete.
    /// A busy or locked source is not an error: the caller steps again.
    public func step(pages: Int32 = -1) throws(SQLiteError) -> Bool {
        guard let handle else { return true }
        let code = sqlite3_backup_step(handle, pages)
        switch code & 0xff {
        case SQLITE_DONE: return true
        case SQLITE_OK, SQLITE_BUSY, SQLITE_LOCKED: return false
        default: throw SQLiteError(resultCode: code, message: String(cString: sqlite3_errstr(code)), sql: "sqlite3_backup_step")
        }
    }

    /// Pages still to copy after the last step, and the source's size in pages.
    public var progress: (remaining: Int, total: Int) {
        guard let handle else { return (0, 0) }
        return (Int(sqlite3_backup_remaining(handle)), Int(sqlite3_backup_pagecount(handle)))
    }

    /// Frees the backup; throws the first error any step met.
    public func finish() throws(SQLiteError) {
        guard let handle else { return }
        self.handle = nil
        let code = sqlite3_backup_finish(handle)
        guard code == SQLITE_OK else { throw destination.error(code, sql: "sqlite3_backup_finish") }
    }
}

/// What `Database.backup(from:to:)` wrote.
public struct BackupReport: Sendable, Equatable {
    public let path: String
    public let bytes: Int
    public let pages: Int
    /// `PRAGMA integrity_check` on the finished copy ("ok").
    public let integrity: String
}

extension Database {
    /// Copies the SQLite database at `sourcePath` into a new file at
    /// `destinationPath` through the online backup API, without stopping the
    /// process that writes it: the source is opened read-only (with WAL the
    /// copy is one committed snapshot and the writer never waits), the copy
    /// is written to `<destination>.partial` (mode 0600), checked with
    /// `PRAGMA integrity_check`, synced and renamed into place, so a failed or
    /// interrupted backup leaves no file that looks finished. Refuses to
    /// overwrite an existing file.
    public static func backup(from sourcePath: String, to destinationPath: String,
                              busyTimeout: Duration = .seconds(30)) throws -> BackupReport {
        let files = FileManager.default
        guard files.fileExists(atPath: sourcePath) else {
            throw SQLiteError(resultCode: SQLITE_CANTOPEN, message: "no database at \(sourcePath)")
        }
        guard !files.fileExists(atPath: destinationPath) else {
            throw SQLiteError(resultCode: SQLITE_CANTOPEN, message: "\(destinationPath) exists; a backup never overwrites a file")
        }
        let partial = destinationPath + ".partial"
        try? files.removeItem(atPath: partial)
        guard files.createFile(atPath: partial, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw SQLiteError(resultCode: SQLITE_CANTOPEN, message: "cannot create \(partial)")
        }
        do {
            let report = try copy(from: sourcePath, to: partial, busyTimeout: busyTimeout)
            guard report.integrity == "ok" else {
                throw SQLiteError(resultCode: SQLITE_CORRUPT, message: "the copy fails PRAGMA integrity_check: \(report.integrity)")
            }
            try files.moveItem(atPath: partial, toPath: destinationPath)
            return BackupReport(path: destinationPath, bytes: report.bytes, pages: report.pages, integrity: report.integrity)
        } catch {
            try? files.removeItem(atPath: partial)
            try? files.removeItem(atPath: partial + "-journal")
            throw error
        }
    }

    private static func copy(from sourcePath: String, to path: String, busyTimeout: Duration) throws -> BackupReport {
        let source = try Database(path: sourcePath, readOnly: true)
        defer { try? source.close() }
        let destination = try Database(path: path, synchronous: .full, wal: false)
        defer { try? destination.close() }
        let backup = try SQLiteBackup(from: source, to: destination)
        let deadline = ContinuousClock.now + busyTimeout
        while try !backup.step() {
            // Busy or locked: another connection holds what the copy needs for now.
            guard ContinuousClock.now < deadline else {
                throw SQLiteError(resultCode: SQLITE_BUSY, message: "the source stayed busy for \(busyTimeout); try again")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let pages = backup.progress.total
        try backup.finish()
        let integrity = try destination.query("PRAGMA integrity_check") { $0.string(0) ?? "" }.joined(separator: "; ")
        try destination.close()
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        return BackupReport(path: path, bytes: size, pages: pages, integrity: integrity)
    }
}
