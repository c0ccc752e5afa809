import Foundation
import KotoCore
import KotoStore

/// `kotosync backup FILE [--config PATH] [--access-log FILE]`.
struct BackupRequest: Sendable, Hashable {
    var file: String
    var config: String?
    var accessLog: String?
}

/// The one subcommand that does not talk to the daemon: it opens the node's
/// SQLite files itself (read-only) and copies them with SQLite's online
/// backup API while the daemon goes on writing. Over HTTP it would hand every
/// record to an admin credential, which reads no records; on the server,
/// whoever may read the data directory already holds the data.
enum LocalBackup {
    static let defaultConfig = "/etc/kotosync/kotosyncd.json"

    /// The node's database and access log, from its configuration file.
    struct Paths: Equatable {
        let node: String
        let database: String
        let accessLog: String
    }

    static func run(_ request: BackupRequest, environment: [String: String], console: Console) throws(CLIError) {
        let configPath = request.config ?? environment["KOTOSYNC_CONFIG"] ?? defaultConfig
        let paths = try paths(fromConfig: configPath)
        if let accessLog = request.accessLog, accessLog == request.file {
            throw .usage("--access-log must name another file than FILE", topic: "backup")
        }
        try copy(paths.database, to: request.file, what: "\(paths.node)'s database", console: console)
        if let accessLog = request.accessLog {
            try copy(paths.accessLog, to: accessLog, what: "\(paths.node)'s access log", console: console)
        }
    }

    /// Reads `node` and `dataDirectory` the way the daemon does (a relative
    /// directory is relative to the file), and nothing else of the file.
    static func paths(fromConfig path: String) throws(CLIError) -> Paths {
        let name = Sentence.printable(path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .failure("cannot read the node's configuration \(name) (give it with --config or $KOTOSYNC_CONFIG)")
        }
        guard let json = try? JSONValue.parse(Array(data)) else { throw .failure("\(name) is not JSON") }
        guard let node = json["node"]?.stringValue, NodeID.isValid(node) else {
            throw .failure("\(name) names no valid \"node\"; is it a kotosyncd configuration?")
        }
        guard let directory = json["dataDirectory"]?.stringValue, !directory.isEmpty else {
            throw .failure("\(name) has no \"dataDirectory\"")
        }
        let base = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        let resolved = directory.hasPrefix("/") ? directory
            : (((base.isEmpty ? "." : base) as NSString).appendingPathComponent(directory) as NSString).standardizingPath
        return Paths(node: node, database: (resolved as NSString).appendingPathComponent("\(node).sqlite"),
                     accessLog: (resolved as NSString).appendingPathComponent("access.sqlite"))
    }

    private static func copy(_ source: String, to destination: String, what: String, console: Console) throws(CLIError) {
        do {
            let report = try Database.backup(from: source, to: destination)
            console.error("backed up \(what) to \(Sentence.printable(destination)): \(report.bytes) bytes, "
                          + "\(report.pages) pages, integrity_check \(report.integrity)\n")
        } catch let error as SQLiteError {
            throw .failure("backup of \(what) failed: \(error.message)")
        } catch {
            throw .failure("backup of \(what) failed: \(error)")
        }
    }
}
