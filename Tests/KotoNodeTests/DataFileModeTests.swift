import Foundation
import Glibc
import KotoCore
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// The data directory is 0700, the database, its `-wal` and `-shm`, the key
/// and the secrets file 0600: the node creates them so, and refuses to
/// start when one is wider, naming the file, its mode and the fix.
@Suite struct DataFileModeTests {
    static func mode(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_mode & 0o7777)
    }

    /// Writes a node's files (key 0600, secrets 0600) and starts it once, so its database, WAL and SHM exist.
    /// `whileRunning` sees the files while the node holds its database open (its -wal and -shm exist).
    static func startedNode(in directory: TemporaryDirectory,
                            whileRunning: (NodeConfig) -> Void = { _ in }) async throws -> NodeConfig {
        var config = try TestRegion.writeNode("kronoby", in: directory)
        config.port = 0
        config.synchronous = .off
        try directory.write("secrets.json", "{}", permissions: 0o600)
        Log.isEnabled = false
        let node = try Node(config: config, secrets: testSecrets(for: "kronoby"))
        try await node.replica.withStore { store in
            _ = try store.create(.service, id: UUID(), fields: [
                "nameFi": .text("Testikurssi"), "providerName": .text("Testiopisto"), "providerType": .text("adult_education"), "category": .text("language_course"),
                "municipalities": .text("288"), "studyPath": .text("basic"), "status": .text("active"),
            ])
        }
        whileRunning(config)
        node.shutdown()
        return config
    }

    @Test func aNodeCreatesItsFilesWithOwnerOnlyModes() async throws {
        let directory = try TemporaryDirectory()
        let config = try await Self.startedNode(in: directory) { config in
            #expect(Self.mode(config.dataDirectory) == 0o700)
            for suffix in ["", "-wal", "-shm"] {
                let path = config.databasePath + suffix
                #expect(FileManager.default.fileExists(atPath: path), "\(suffix.isEmpty ? "database" : suffix) exists")
                #expect(Self.mode(path) == 0o600, "\(path)")
            }
        }
        // It starts again with the same files.
        #expect(try Self.start(config) == nil)
    }

    /// What is widened, to which mode, the config key the refusal names and the chmod it proposes.
    struct Widened: Sendable, CustomStringConvertible {
        let file: String
        let mode: Int
        let key: String
        let fix: String
        var description: String { "\(file) \(String(format: "%04o", mode))" }
    }

    @Test(arguments: [
        Widened(file: "data", mode: 0o755, key: "dataDirectory", fix: "chmod 700"),
        Widened(file: "data", mode: 0o710, key: "dataDirectory", fix: "chmod 700"),
        Widened(file: "database", mode: 0o644, key: "dataDirectory", fix: "chmod 600"),
        Widened(file: "-wal", mode: 0o640, key: "dataDirectory", fix: "chmod 600"),
        Widened(file: "-shm", mode: 0o604, key: "dataDirectory", fix: "chmod 600"),
        Widened(file: "key", mode: 0o640, key: "keyFile", fix: "chmod 600"),
        Widened(file: "secrets", mode: 0o644, key: "secretsFile", fix: "chmod 600"),
        Widened(file: "database", mode: 0o700, key: "dataDirectory", fix: "chmod 600"),
    ])
    func aWiderModeRefusesTheStart(_ widened: Widened) async throws {
        let directory = try TemporaryDirectory()
        let config = try await Self.startedNode(in: directory)
        let path = switch widened.file {
        case "data": config.dataDirectory
        case "database": config.databasePath
        case "-wal", "-shm": config.databasePath + widened.file
        case "key": config.keyFile
        default: config.secretsFile
        }
        // A stopped node may have checkpointed its -wal and -shm away: stand in for a left-over one.
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        try FileManager.default.setAttributes([.posixPermissions: widened.mode], ofItemAtPath: path)
        let error = try #require(try Self.start(config))
        #expect(error.key == widened.key)
        #expect(error.reason.contains(path), "names the file")
        #expect(error.reason.contains(String(format: "%04o", widened.mode)), "names its mode")
        #expect(error.reason.contains("\(widened.fix) \(path)"), "names the fix")
        // Narrowed again, it starts.
        try FileManager.default.setAttributes([.posixPermissions: widened.file == "data" ? 0o700 : 0o600], ofItemAtPath: path)
        #expect(try Self.start(config) == nil)
    }

    static func start(_ config: NodeConfig) throws -> ConfigError? {
        do {
            let node = try Node(config: config, secrets: testSecrets(for: "kronoby"))
            node.shutdown()
            return nil
        } catch let error as ConfigError {
            return error
        }
    }
}
