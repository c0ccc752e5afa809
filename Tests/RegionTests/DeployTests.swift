import Foundation
import Glibc
import Testing

/// The office's installation: the systemd unit and `deploy/install.sh`.
@Suite("Deploy: systemd unit and install.sh")
struct DeployTests {
    static var unitPath: String { RegionPaths.packageRoot.appendingPathComponent("deploy/systemd/kotosyncd.service").path }
    static var installScript: String { RegionPaths.packageRoot.appendingPathComponent("deploy/install.sh").path }

    /// `key=value` settings of the unit, by key (repeated keys collected).
    static func unitSettings(_ text: String) -> [String: [String]] {
        var settings: [String: [String]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("[") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            settings[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return settings
    }

    /// Runs `systemd-analyze verify` on a copy of `unit` whose ExecStart names the built daemon
    /// (verify refuses a unit whose binary does not exist); its exit status and output.
    static func verify(_ unit: String, in directory: String) async throws -> (status: Int32, output: String) {
        let analyze = try RegionPaths.tool("systemd-analyze", fallbackDirectories: ["/usr/bin", "/bin"], missing: """
            systemd-analyze is not installed, so the unit cannot be verified: deploy/test.sh must install \
            the Debian package `systemd` (add it to need_packages)
            """)
        let daemon = try RegionPaths.daemonBinary()
        let path = "\(directory)/kotosyncd.service"
        try writeFile(unit.replacingOccurrences(of: "ExecStart=/usr/local/bin/kotosyncd", with: "ExecStart=\(daemon)"), to: path)
        let log = "\(directory)/verify-\(UUID().uuidString).log"
        let status = try await ChildProcess.run(analyze, ["verify", path], logPath: log, timeout: .seconds(60))
        return (status, tail(ofFile: log, lines: 40, missing: ""))
    }

    @Test("the unit has the hardening, the user, the state directory and Type=notify, and systemd-analyze verify passes with no warning")
    func unitVerifies() async throws {
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let settings = Self.unitSettings(unit)
        let expected: [String: String] = [
            "Type": "notify", "User": "kotosync", "Group": "kotosync", "StateDirectory": "kotosync", "StateDirectoryMode": "0700",
            "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
            "NoNewPrivileges": "yes", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "MemoryDenyWriteExecute": "yes",
            "LockPersonality": "yes", "Restart": "on-failure",
            "ExecStart": "/usr/local/bin/kotosyncd --config /etc/kotosync/kotosyncd.json",
        ]
        for (key, value) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(settings[key] == [value], "\(key)= is \(settings[key] ?? []), expected \(value)")
        }
        let directory = try RegionPaths.makeTemporaryDirectory(prefix: "kotosync-unit")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await Self.verify(unit, in: directory)
        #expect(result.status == 0, "systemd-analyze verify exited \(result.status):\n\(result.output)")
        #expect(result.output.isEmpty, "systemd-analyze verify warned:\n\(result.output)")

        // The check itself sees a broken unit: an unknown key is a warning, a missing binary an error.
        let unknownKey = try await Self.verify(unit.replacingOccurrences(of: "[Service]\n", with: "[Service]\nProtectEverything=yes\n"),
                                               in: directory)
        #expect(unknownKey.output.contains("ProtectEverything"), "verify did not report an unknown key: \(unknownKey.output)")
        let missingBinaryPath = "\(directory)/missing.service"
        try writeFile(unit.replacingOccurrences(of: "ExecStart=/usr/local/bin/kotosyncd", with: "ExecStart=\(directory)/no-such-kotosyncd"),
                      to: missingBinaryPath)
        let analyze = try RegionPaths.tool("systemd-analyze", fallbackDirectories: ["/usr/bin"], missing: "systemd-analyze")
        let missingStatus = try await ChildProcess.run(analyze, ["verify", missingBinaryPath], logPath: "\(directory)/missing.log",
                                                       timeout: .seconds(60))
        #expect(missingStatus != 0, "verify passed a unit whose binary does not exist")
    }

    /// A file's mode bits, owner uid and modification time.
    struct Attributes: Equatable {
        let mode: Int
        let owner: UInt32
        let modified: Date
        let inode: UInt64
    }

    static func attributes(_ path: String) throws -> Attributes {
        let values = try FileManager.default.attributesOfItem(atPath: path)
        return Attributes(mode: (values[.posixPermissions] as? Int) ?? -1,
                          owner: UInt32((values[.ownerAccountID] as? Int) ?? -1),
                          modified: (values[.modificationDate] as? Date) ?? .distantPast,
                          inode: UInt64((values[.systemFileNumber] as? Int) ?? 0))
    }

    /// Every file and directory under `root`, relative, with its attributes.
    static func tree(_ root: String) throws -> [String: Attributes] {
        var result: [String: Attributes] = [:]
        guard let walker = FileManager.default.enumerator(atPath: root) else { return result }
        while let relative = walker.nextObject() as? String {
            result[relative] = try attributes("\(root)/\(relative)")
        }
        return result
    }

    @Test("install.sh --root installs binaries, config, key, secrets, TLS files, unit and nginx site with their modes; a second run changes nothing; drift is repaired; a different key is refused")
    func installIsIdempotent() async throws {
        let directory = try RegionPaths.makeTemporaryDirectory(prefix: "kotosync-install")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let root = "\(directory)/root", tls = "\(directory)/tls"
        try FileManager.default.createDirectory(atPath: tls, withIntermediateDirectories: true)
        for name in ["region-ca.pem", "jakobstad-client.pem", "jakobstad-client.key", "jakobstad-server.pem", "jakobstad-server.key"] {
            try writeFile("test material for \(name)\n", to: "\(tls)/\(name)")
        }
        let demo = RegionPaths.demoConfigDirectory.path
        let binaries = (try RegionPaths.daemonBinary() as NSString).deletingLastPathComponent
        let arguments = ["--root", root, "--binaries", binaries, "--manifest", "\(demo)/region.json",
                         "--key", "\(demo)/keys/jakobstad.key", "--secrets", "\(demo)/secrets/jakobstad.json", "--tls", tls, "jakobstad"]
        func install(_ extra: [String] = [], log: String) async throws -> (status: Int32, output: String) {
            let path = "\(directory)/\(log).log"
            let status = try await ChildProcess.run("/bin/bash", [Self.installScript] + extra + arguments, logPath: path, timeout: .seconds(120))
            return (status, tail(ofFile: path, lines: 60, missing: ""))
        }

        let first = try await install(log: "first")
        try #require(first.status == 0, "install.sh failed:\n\(first.output)")
        let me = getuid()
        let officeFiles = ["etc/kotosync/kotosyncd.json", "etc/kotosync/region.json", "etc/kotosync/jakobstad.key",
                           "etc/kotosync/secrets.json", "etc/kotosync/region-ca.pem", "etc/kotosync/jakobstad-client.pem",
                           "etc/kotosync/jakobstad-client.key", "etc/kotosync/tls/jakobstad-server.pem", "etc/kotosync/tls/jakobstad-server.key"]
        for file in officeFiles {
            let attributes = try Self.attributes("\(root)/\(file)")
            #expect(attributes.mode == 0o600, "\(file) has mode \(String(attributes.mode, radix: 8))")
            #expect(attributes.owner == me, "\(file) is owned by uid \(attributes.owner)")
        }
        for directory in ["etc/kotosync", "etc/kotosync/tls", "var/lib/kotosync"] {
            #expect(try Self.attributes("\(root)/\(directory)").mode == 0o700, "\(directory) is not 0700")
        }
        for (file, mode) in [("usr/local/bin/kotosyncd", 0o755), ("usr/local/bin/kotosync", 0o755),
                             ("etc/systemd/system/kotosyncd.service", 0o644), ("etc/nginx/conf.d/kotosync.conf", 0o644),
                             ("usr/local/share/doc/kotosync/operations.md", 0o644)] {
            #expect(try Self.attributes("\(root)/\(file)").mode == mode, "\(file) is not \(String(mode, radix: 8))")
        }
        // Contents: the office's config, the demo key and secrets as given, the unit as committed, the site filled in.
        func same(_ installed: String, _ source: String) -> Bool {
            FileManager.default.contentsEqual(atPath: "\(root)/\(installed)", andPath: source)
        }
        let package = RegionPaths.packageRoot.path
        #expect(same("etc/kotosync/kotosyncd.json", "\(package)/Config/jakobstad.json"))
        #expect(same("etc/kotosync/jakobstad.key", "\(demo)/keys/jakobstad.key"))
        #expect(same("etc/kotosync/secrets.json", "\(demo)/secrets/jakobstad.json"))
        #expect(same("etc/systemd/system/kotosyncd.service", Self.unitPath))
        #expect(same("usr/local/bin/kotosyncd", "\(binaries)/kotosyncd"))
        let site = try String(contentsOfFile: "\(root)/etc/nginx/conf.d/kotosync.conf", encoding: .utf8)
        let placeholdersLeft = site.contains("{{")
        #expect(!placeholdersLeft, "placeholders left in the nginx site")
        #expect(site.contains("server 127.0.0.1:7100 "), "the site proxies to the config's listen.port")
        #expect(site.contains("server_name kotosync.jakobstad.example.invalid;"))
        #expect(site.contains("ssl_certificate     /etc/kotosync/tls/jakobstad-server.pem;"))
        #expect(site.contains("ssl_client_certificate /etc/kotosync/region-ca.pem;"))

        // Twice: nothing changes, not even a modification time.
        let before = try Self.tree(root)
        let second = try await install(log: "second")
        #expect(second.status == 0, "second run failed:\n\(second.output)")
        #expect(second.output.contains("jakobstad installed: 0 changed"), "second run:\n\(second.output)")
        let after = try Self.tree(root)
        #expect(after == before, "the second run changed \(Set(after.keys).union(before.keys).filter { after[$0] != before[$0] }.sorted())")

        // A mode that drifted is put back, and only that.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(root)/etc/kotosync/secrets.json")
        let repaired = try await install(log: "repair")
        #expect(repaired.status == 0 && repaired.output.contains("jakobstad installed: 1 changed"), "repair run:\n\(repaired.output)")
        #expect(try Self.attributes("\(root)/etc/kotosync/secrets.json").mode == 0o600)

        // Another key over the installed one: refused, the installed key kept.
        let otherKey = "\(directory)/other.key"
        try FileManager.default.copyItem(atPath: "\(demo)/keys/larsmo.key", toPath: otherKey)
        var swapped = arguments
        swapped[swapped.firstIndex(of: "\(demo)/keys/jakobstad.key")!] = otherKey
        let refusedLog = "\(directory)/refused.log"
        let refused = try await ChildProcess.run("/bin/bash", [Self.installScript] + swapped, logPath: refusedLog, timeout: .seconds(120))
        #expect(refused != 0, "install.sh replaced the node's key")
        #expect(tail(ofFile: refusedLog, lines: 5, missing: "").contains("holds another key"))
        #expect(same("etc/kotosync/jakobstad.key", "\(demo)/keys/jakobstad.key"))
    }
}
