import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Testing

/// Runs one SQL statement with the sqlite3 shell on `database`; its output lines.
func sqliteLines(_ database: String, _ sql: String, scratch directory: String) async throws -> [String] {
    let shell = try RegionPaths.sqliteShell()
    let output = "\(directory)/sqlite-\(UUID().uuidString).txt"
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: output) }
    let status = try await ChildProcess.run(shell, ["-readonly", database, sql], logPath: output, timeout: .seconds(60))
    let text = FileManager.default.contents(atPath: output).map { String(decoding: $0, as: UTF8.self) } ?? ""
    guard status == 0 else { throw RegionError("sqlite3 \(sql) on \(database) exited \(status): \(text.prefix(300))") }
    return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
}

extension Region {
    @Suite("Region: backup and restore")
    struct Backup {
        /// `kotosync backup` against a node's config; its exit status and what it printed.
        static func backup(_ node: RegionNode, to file: String, accessLog: String?, in directory: String) async throws -> (Int32, String) {
            let log = "\(directory)/backup-\(UUID().uuidString).log"
            var arguments = ["backup", file, "--config", node.configPath]
            if let accessLog { arguments += ["--access-log", accessLog] }
            let status = try await ChildProcess.run(try RegionPaths.cliBinary(), arguments, logPath: log, timeout: .seconds(120))
            return (status, tail(ofFile: log, lines: 10, missing: ""))
        }

        @Test("kotosync backup under write load gives a consistent copy (integrity_check ok); restored into the node (stop, replace, start) it catches up from its peers: nothing lost, no dot reused")
        func backupUnderLoadRestores() async throws {
            try await withRegion(RegionOptions(nodes: ["jakobstad", "nykarleby", "kronoby"])) { region in
                let node = region["jakobstad"]
                _ = try RegionPaths.sqliteShell()
                let early = try await writeServices(at: node, count: 30, streams: 2, label: "early")
                try #require(early.acknowledged.count == 30, "early writes: \(early.failures) failed, last: \(early.lastFailure ?? "-")")

                // The backup, while three streams keep writing and the peers keep pulling.
                let stop = StopFlag()
                let load = Task { try await writeServices(at: node, count: 0, streams: 3, label: "load", stop: stop) }
                try await Task.sleep(for: .milliseconds(400))
                let backup = "\(region.directory)/jakobstad-backup.sqlite"
                let accessBackup = "\(region.directory)/jakobstad-access-backup.sqlite"
                let (status, output) = try await Self.backup(node, to: backup, accessLog: accessBackup, in: region.directory)
                try await Task.sleep(for: .milliseconds(400))
                stop.stop()
                let during = try await load.value
                try #require(status == 0, "kotosync backup exited \(status): \(output)")
                #expect(output.contains("integrity_check ok"), "backup said: \(output)")
                #expect(during.acknowledged.count > 10 && during.failures == 0,
                        "the node kept taking writes around the backup: \(during.acknowledged.count) acknowledged, \(during.failures) failed (\(during.lastFailure ?? "-"))")
                #expect(node.isRunning, "the backup stopped the daemon")
                let mode = try FileManager.default.attributesOfItem(atPath: backup)[.posixPermissions] as? Int
                #expect(mode == 0o600, "the backup's mode is \(mode.map { String($0, radix: 8) } ?? "?")")
                #expect(!FileManager.default.fileExists(atPath: backup + ".partial"))

                // Consistent: integrity_check ok, and every write acknowledged before the backup began is in it.
                #expect(try await sqliteLines(backup, "PRAGMA integrity_check;", scratch: region.directory) == ["ok"])
                #expect(try await sqliteLines(accessBackup, "PRAGMA integrity_check;", scratch: region.directory) == ["ok"])
                let inBackup = Set(try await sqliteLines(backup, "SELECT id FROM services;", scratch: region.directory))
                let missingEarly = early.acknowledged.filter { !inBackup.contains($0) }
                #expect(missingEarly.isEmpty, "\(missingEarly.count) writes acknowledged before the backup are not in it")
                // A second backup to the same file is refused and leaves the first intact.
                let (again, againOutput) = try await Self.backup(node, to: backup, accessLog: nil, in: region.directory)
                #expect(again == 1 && againOutput.contains("never overwrites"), "second backup to the same file: \(again) \(againOutput)")

                // Writes after the backup, held by the peers.
                let later = try await writeServices(at: node, count: 10, streams: 2, label: "later")
                try #require(later.acknowledged.count == 10)
                let seqBeforeRestore = try #require(try await node.status()["seq"]?.int64Value)
                try await region.waitPeersHold(of: node.name, seq: seqBeforeRestore)

                // The restore as docs/operations.md says: stop, replace the database (no -wal/-shm left), start.
                _ = try await region.stop(node.name)
                #expect(!FileManager.default.fileExists(atPath: node.databasePath + "-wal"), "a stopped node left a WAL")
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: node.databasePath + suffix) }
                try FileManager.default.copyItem(atPath: backup, toPath: node.databasePath)
                let accessLog = "\(node.dataDirectory)/access.sqlite"
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: accessLog + suffix) }
                try FileManager.default.copyItem(atPath: accessBackup, toPath: accessLog)
                try await region.start(node.name, untilWritable: false)

                let first = try await Region.Restore.firstAcceptedWrite(at: node, label: "after-backup-restore")
                #expect(first.stamp.origin == node.name)
                #expect(first.stamp.seq > seqBeforeRestore,
                        "the first write after the restore got seq \(first.stamp.seq); peers held jakobstad:\(seqBeforeRestore)")
                note("backup restore: first write after \(first.refusals) catching-up refusals got seq \(first.stamp.seq) (peers held \(seqBeforeRestore))")

                try await region.waitConverged(timeout: .seconds(60))
                let acknowledged = early.acknowledged + during.acknowledged + later.acknowledged + [first.id]
                for peer in region.all {
                    let counts = try await Region.Crashes.serviceCounts(at: peer)
                    let missing = acknowledged.filter { counts[$0] == nil }
                    #expect(missing.isEmpty, "\(peer.name) lacks \(missing.count) of \(acknowledged.count) acknowledged writes")
                    #expect(counts.values.allSatisfy { $0 == 1 }, "\(peer.name) lists a service more than once")
                }
                let differences = try await region.differences()
                #expect(differences.isEmpty, "replicas differ: \(differences.prefix(3).joined(separator: "; "))")
            }
        }
    }

    @Suite("Region: lifecycle")
    struct Lifecycle {
        @Test("SIGTERM stops the parts in reverse order of start and closes the databases: the WAL is checkpointed and removed, systemd hears READY=1 and STOPPING=1")
        func sigtermClosesDatabases() async throws {
            try await withRegion(RegionOptions(nodes: ["jakobstad", "nykarleby"]), start: false) { region in
                let node = region["jakobstad"]
                let listener = try NotifyListener(path: "\(region.directory)/notify.sock")
                try await region.start("nykarleby")
                try await region.start(node.name, environment: ["NOTIFY_SOCKET": listener.path])
                let ready = try await listener.receive(timeout: .seconds(10))
                #expect(ready?.contains("READY=1") == true, "no READY=1 from the daemon: \(ready ?? "nothing")")
                let writes = try await writeServices(at: node, count: 20, streams: 2, label: "before-stop")
                #expect(writes.acknowledged.count == 20)
                #expect(FileManager.default.fileExists(atPath: node.databasePath + "-wal"), "a running node writes through its WAL")

                let (status, signalled, _) = try await region.stop(node.name)
                #expect(!signalled && status == 0, "exit status \(status)")
                let stopping = try await listener.receive(timeout: .seconds(2))
                #expect(stopping?.contains("STOPPING=1") == true, "no STOPPING=1: \(stopping ?? "nothing")")
                let log = node.log
                #expect(log.contains("event=store.closed"))
                for file in [node.databasePath, "\(node.dataDirectory)/access.sqlite"] {
                    #expect(!FileManager.default.fileExists(atPath: file + "-wal"), "\((file as NSString).lastPathComponent)-wal is left after SIGTERM")
                    #expect(!FileManager.default.fileExists(atPath: file + "-shm"), "\((file as NSString).lastPathComponent)-shm is left after SIGTERM")
                }
                // Reverse order of start: the API first, the store last.
                let order = log.split(separator: "\n").compactMap { line -> String? in
                    guard line.contains("event=service.stopped") else { return nil }
                    return line.split(separator: " ").first { $0.hasPrefix("service=") }.map { String($0.dropFirst("service=".count)) }
                }
                #expect(order == ["api", "compaction", "sync", "access-log-purge", "access-log", "store"], "stop order: \(order)")
                // Everything acknowledged is in the closed file itself.
                let held = Set(try await sqliteLines(node.databasePath, "SELECT id FROM services;", scratch: region.directory))
                #expect(writes.acknowledged.allSatisfy(held.contains), "acknowledged writes are missing from the closed database")
                #expect(try await region.integrityCheck(node.name) == "ok")
            }
        }
    }
}

/// The receiving end of `$NOTIFY_SOCKET`, as systemd holds it: an AF_UNIX
/// datagram socket the daemon's sd_notify messages arrive on.
final class NotifyListener: @unchecked Sendable {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw RegionError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw RegionError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw RegionError("bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// The next datagram, or nil after `timeout`.
    func receive(timeout: Duration) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 { return String(decoding: buffer.prefix(count), as: UTF8.self) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }
}
