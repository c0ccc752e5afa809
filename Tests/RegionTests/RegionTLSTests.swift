import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

// Two offices through a real nginx with mutual TLS: jakobstad pulls larsmo
// through nginx running deploy/nginx/kotosync-tls.conf.template, with a
// throwaway region CA made by the `openssl` CLI. jakobstad's only route to
// larsmo is nginx, and larsmo never contacts jakobstad (passive), so a
// record written at larsmo can reach jakobstad only through the proxy.
//
// Self-contained (its own processes, ports and files) apart from being
// nested in `Region`, so it never runs alongside another region's daemons.
// Blocking work stays off Swift's cooperative pool: HTTP goes through
// `AsyncHTTPClient`, waits for child processes poll with `Task.sleep`.

extension Region {
    @Suite("Region: mutual TLS through nginx")
    struct RegionTLSTests {
        @Test("jakobstad pulls larsmo through nginx with mutual TLS; a missing client certificate, a client certificate of another CA and a wrong CA bundle are refused",
              .timeLimit(.minutes(2)))
        func pullThroughNginxWithMutualTLS() async throws {
            let lab = try Lab()
            do {
                try await run(lab)
                await lab.stopAll()
                lab.finish(failed: false)
            } catch {
                lab.killAll()
                lab.finish(failed: true)
                throw error
            }
        }

        private func run(_ lab: Lab) async throws {
            try await lab.makePKI()
            try lab.writeSecrets()

            // larsmo: jakobstad is passive, so larsmo never contacts it.
            try lab.writeConfig(node: "larsmo", port: lab.larsmoPort, data: "larsmo",
                                peers: [.object([("node", .string("jakobstad")), ("mode", .string("passive"))])], tls: nil)
            let larsmo = try await lab.startDaemon("larsmo", port: lab.larsmoPort)
            let first = UUID().uuidString.lowercased()
            try await lab.createService(id: first, at: "larsmo", port: lab.larsmoPort)
            #expect(try await lab.peers(port: lab.larsmoPort).map { $0["mode"]?.stringValue } == ["passive"],
                    "larsmo must never contact jakobstad itself")

            try await lab.startNginx()

            // Refused: no client certificate (nginx answers 400).
            let withoutCertificate = try await lab.refusedLink(
                variant: "no-client-cert", tls: [("caBundle", lab.pki("ca.pem"))], recordID: first)
            #expect(withoutCertificate.contains("HTTP 400"), "lastError: \(withoutCertificate)")
            #expect(withoutCertificate.contains("no client certificate"), "lastError: \(withoutCertificate)")

            // Refused: a client certificate signed by another CA (nginx answers 400).
            let foreignCertificate = try await lab.refusedLink(
                variant: "foreign-client-cert",
                tls: [("caBundle", lab.pki("ca.pem")), ("clientCertificate", lab.pki("foreign-client.pem")),
                      ("clientKey", lab.pki("foreign-client.key"))],
                recordID: first)
            #expect(foreignCertificate.contains("HTTP 400"), "lastError: \(foreignCertificate)")
            #expect(foreignCertificate.contains("not signed by the region CA"), "lastError: \(foreignCertificate)")

            // Refused: jakobstad trusts another CA, so nginx's server certificate fails verification.
            let wrongCA = try await lab.refusedLink(
                variant: "wrong-ca",
                tls: [("caBundle", lab.pki("other-ca.pem")), ("clientCertificate", lab.pki("client.pem")),
                      ("clientKey", lab.pki("client.key"))],
                recordID: first)
            #expect(wrongCA.contains("SSL") && wrongCA.contains("certificate"), "lastError: \(wrongCA)")

            // The real thing: the region CA bundle plus a client certificate it signed.
            try lab.writeConfig(node: "jakobstad", port: lab.jakobstadPort, data: "jakobstad", peers: [lab.larsmoThroughNginx],
                                tls: [("caBundle", lab.pki("ca.pem")), ("clientCertificate", lab.pki("client.pem")),
                                      ("clientKey", lab.pki("client.key"))])
            let jakobstad = try await lab.startDaemon("jakobstad", port: lab.jakobstadPort)
            let links = try await lab.peers(port: lab.jakobstadPort)
            #expect(links.map { $0["url"]?.stringValue } == ["https://127.0.0.1:\(lab.nginxPort)"], "jakobstad's only peer must be nginx")
            try await lab.waitUntil("larsmo's record at jakobstad", timeout: .seconds(20)) {
                try await lab.service(first, port: lab.jakobstadPort) != nil
            }
            #expect(try await lab.service(first, port: lab.jakobstadPort)?["id"]?.stringValue == first)
            try await lab.waitUntil("jakobstad's link to larsmo to be ok", timeout: .seconds(10)) {
                try await lab.peerStatus("larsmo", port: lab.jakobstadPort)?["state"]?.stringValue == "ok"
            }
            #expect(try await lab.peerStatus("larsmo", port: lab.jakobstadPort)?["lastError"] == .null)
            let pulls = lab.successfulPullsThroughNginx()
            #expect(pulls > 0, "no pull answered 200 in nginx's access log")
            lab.note("record \(first) reached jakobstad through nginx (\(pulls) pulls answered 200 by nginx)")

            // Without nginx nothing arrives; with it back, the next record does.
            await lab.stopNginx()
            try await lab.waitUntil("jakobstad's link to back off without nginx", timeout: .seconds(10)) {
                try await lab.peerStatus("larsmo", port: lab.jakobstadPort)?["state"]?.stringValue == "backing off"
            }
            let second = UUID().uuidString.lowercased()
            try await lab.createService(id: second, at: "larsmo", port: lab.larsmoPort)
            try await lab.expectAbsent(second, port: lab.jakobstadPort, for: .milliseconds(1500), "while nginx is down")
            try await lab.startNginx()
            try await lab.waitUntil("the second record at jakobstad once nginx is back", timeout: .seconds(20)) {
                try await lab.service(second, port: lab.jakobstadPort) != nil
            }
            #expect(lab.successfulPullsThroughNginx() > pulls)
            lab.note("record \(second) waited for nginx and arrived once it was back")
            await lab.stop(jakobstad)
            await lab.stop(larsmo)
        }
    }
}

// MARK: - The lab: files, ports, child processes

extension Region.RegionTLSTests {
    struct LabError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Pids still running with the signal that ends them, for the exit hook.
    static let liveChildren = Mutex<[Int32: Int32]>([:])
    private static let exitHook: Void = {
        atexit {
            for (pid, number) in Region.RegionTLSTests.liveChildren.withLock({ $0 }) { Glibc.kill(pid, number) }
        }
    }()

    /// One child process (a daemon, nginx's master, a tool) with its log file.
    final class Child: @unchecked Sendable {
        let name: String
        let logPath: String
        /// What ends it cleanly: SIGTERM (nginx's master then stops its workers).
        let stopSignal: Int32
        private let lock = NSLock()
        private let process: Process

        /// `atExit`: the signal it gets if the test process exits with it
        /// still running (nginx's master: SIGTERM, so it stops its workers).
        init(name: String, executable: String, arguments: [String], logPath: String, stopSignal: Int32 = SIGTERM,
             atExit: Int32 = SIGKILL, directory: String? = nil) throws {
            _ = Region.RegionTLSTests.exitHook
            self.name = name
            self.logPath = logPath
            self.stopSignal = stopSignal
            if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
            guard let log = FileHandle(forWritingAtPath: logPath) else { throw LabError("cannot open \(logPath)") }
            defer { try? log.close() }
            _ = try log.seekToEnd()
            process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = log
            process.standardError = log
            try process.run()
            let pid = process.processIdentifier
            Region.RegionTLSTests.liveChildren.withLock { $0[pid] = atExit }
        }

        var pid: Int32 { process.processIdentifier }
        var isRunning: Bool { lock.withLock { process.isRunning } }

        func signal(_ number: Int32) {
            lock.withLock {
                if process.isRunning { _ = Glibc.kill(process.processIdentifier, number) }
            }
        }

        /// The exit status once it exited, nil on timeout.
        func waitForExit(timeout: Duration) async -> Int32? {
            let deadline = ContinuousClock.now + timeout
            while true {
                let status: Int32? = lock.withLock {
                    guard !process.isRunning else { return nil }
                    Region.RegionTLSTests.liveChildren.withLock { _ = $0.removeValue(forKey: process.processIdentifier) }
                    return process.terminationStatus
                }
                if let status { return status }
                if ContinuousClock.now >= deadline { return nil }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }

        /// The clean signal, then SIGKILL for it and its children (nginx's
        /// workers would otherwise outlive a killed master).
        func stop(timeout: Duration = .seconds(15)) async {
            signal(SIGCONT)
            signal(stopSignal)
            if await waitForExit(timeout: timeout) != nil { return }
            kill()
            _ = await waitForExit(timeout: .seconds(5))
        }

        /// SIGKILL for it and its direct children, at once.
        func kill() {
            lock.withLock {
                guard process.isRunning else { return }
                let children = Self.children(of: process.processIdentifier)
                _ = Glibc.kill(process.processIdentifier, SIGKILL)
                for child in children { _ = Glibc.kill(child, SIGKILL) }
            }
        }

        /// Pids whose parent is `pid`, from /proc.
        static func children(of pid: Int32) -> [Int32] {
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
            return entries.compactMap { entry -> Int32? in
                guard let candidate = Int32(entry),
                      let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { return nil }
                // After "pid (comm)": state, then the parent's pid.
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                return fields.count > 1 && Int32(fields[1]) == pid ? candidate : nil
            }
        }

        func logTail(lines: Int = 15) -> String {
            guard let data = FileManager.default.contents(atPath: logPath) else { return "(no log)" }
            return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: "\n")
        }
    }

    final class Lab: @unchecked Sendable {
        let directory: String
        let daemon: String
        let nginx: String
        let openssl: String
        let jakobstadPort: Int
        let larsmoPort: Int
        let nginxPort: Int
        let officeToken = "tls-test-office-token-0001"
        let adminToken = "tls-test-admin-token-00001"
        let client: AsyncHTTPClient
        private let lock = NSLock()
        private var children: [Child] = []
        private var nginxProcess: Child?

        var secretsPath: String { "\(directory)/secrets.json" }
        var accessLogPath: String { "\(directory)/nginx/access.log" }
        var errorLogPath: String { "\(directory)/nginx/error.log" }
        func pki(_ file: String) -> String { "\(directory)/pki/\(file)" }

        /// jakobstad's only peer: larsmo, at nginx's port.
        var larsmoThroughNginx: JSONValue {
            .object([("node", .string("larsmo")), ("url", .string("https://127.0.0.1:\(nginxPort)")), ("mode", .string("pull"))])
        }

        init() throws {
            daemon = try Self.daemonBinary()
            nginx = try Self.tool("nginx", candidates: [ProcessInfo.processInfo.environment["NGINX"], "/usr/sbin/nginx"])
            openssl = try Self.tool("openssl", candidates: [ProcessInfo.processInfo.environment["OPENSSL"], "/usr/bin/openssl",
                                                             "/usr/local/bin/openssl"])
            let template = FileManager.default.temporaryDirectory.appendingPathComponent("kotosync-tls-XXXXXX").path
            var buffer = Array(template.utf8CString)
            guard mkdtemp(&buffer) != nil else { throw LabError("mkdtemp failed: \(String(cString: strerror(errno)))") }
            directory = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            for sub in ["pki", "data", "nginx", "nginx/temp"] {
                try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
            }
            let ports = try Self.freePorts(3)
            (jakobstadPort, larsmoPort, nginxPort) = (ports[0], ports[1], ports[2])
            client = try AsyncHTTPClient(configuration: HTTPClient.Configuration(connectTimeout: .seconds(2), totalTimeout: .seconds(10)))
        }

        deinit { killAll() }

        func note(_ line: String) { print("region-tls: \(line)") }

        // MARK: Locations

        static var packageRoot: URL {
            var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            while url.path != "/" {
                if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
                url = url.deletingLastPathComponent()
            }
            return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        }

        /// `KOTOSYNCD`, else the kotosyncd built next to this test bundle, else .build/debug.
        static func daemonBinary() throws -> String {
            var candidates: [String] = []
            if let explicit = ProcessInfo.processInfo.environment["KOTOSYNCD"] { candidates.append(explicit) }
            var directories: [URL] = []
            if let executable = Bundle.main.executableURL { directories.append(executable.resolvingSymlinksInPath().deletingLastPathComponent()) }
            directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
            for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
                directories.append(bundle.bundleURL.resolvingSymlinksInPath().deletingLastPathComponent())
            }
            for directory in directories {
                var url = directory
                for _ in 0..<4 {
                    candidates.append(url.appendingPathComponent("kotosyncd").path)
                    url = url.deletingLastPathComponent()
                }
            }
            candidates.append(packageRoot.appendingPathComponent(".build/debug/kotosyncd").path)
            guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw LabError("kotosyncd not found (looked at \(candidates.joined(separator: ", "))); build it with `swift build --build-tests`")
            }
            return found
        }

        static func tool(_ name: String, candidates: [String?]) throws -> String {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            let all = candidates.compactMap { $0 } + path.split(separator: ":").map { "\($0)/\(name)" }
            guard let found = all.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw LabError("`\(name)` is not installed: the TLS region test runs a real nginx with certificates made by openssl; "
                    + "deploy/test.sh installs the Debian packages nginx and openssl")
            }
            return found
        }

        /// Distinct free loopback ports below the kernel's ephemeral range.
        static func freePorts(_ count: Int) throws -> [Int] {
            var upper = 32768
            if let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
               let low = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap({ Int($0) }) {
                upper = max(low, 12000)
            }
            var ports: [Int] = []
            for _ in 0..<1000 where ports.count < count {
                let port = Int.random(in: 10000..<upper)
                if !ports.contains(port), canBind(port) { ports.append(port) }
            }
            guard ports.count == count else { throw LabError("no free loopback ports found") }
            return ports
        }

        static func canBind(_ port: Int) -> Bool {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            return result == 0
        }

        // MARK: Files

        func write(_ text: String, to path: String, permissions: Int = 0o644) throws {
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { throw LabError("cannot write \(path)") }
            try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: path)
        }

        /// One secrets file for both nodes; the daemon refuses it unless only its owner can read it.
        func writeSecrets() throws {
            let secrets: JSONValue = .object([
                ("peerToken", .string("tls-test-peer-token-000001")),
                ("tokens", .object([
                    ("peer", .array([.string("tls-test-peer-token-000001")])),
                    ("office", .array([.string(officeToken)])),
                    ("coordinator", .array([.string("tls-test-coordinator-token-01")])),
                    ("admin", .array([.string(adminToken)])),
                ])),
            ])
            try write(secrets.serialized, to: secretsPath, permissions: 0o600)
        }

        func writeConfig(node: String, port: Int, data: String, peers: [JSONValue], tls: [(String, String)]?) throws {
            var members: [(String, JSONValue)] = [
                ("node", .string(node)),
                ("listen", .object([("host", .string("127.0.0.1")), ("port", .number(Double(port)))])),
                ("dataDirectory", .string("\(directory)/data/\(data)")),
                ("secretsFile", .string(secretsPath)),
                ("peers", .array(peers)),
                ("sync", .object([
                    ("intervalSeconds", .number(0.5)),
                    ("backoffInitialSeconds", .number(0.2)),
                    ("backoffMaxSeconds", .number(1)),
                    ("connectTimeoutSeconds", .number(2)),
                    ("requestTimeoutSeconds", .number(5)),
                ])),
                ("durability", .string("normal")),
                ("shutdownGraceSeconds", .number(2)),
            ]
            if let tls { members.append(("tls", .object(tls.map { ($0.0, .string($0.1)) }))) }
            try write(JSONValue.object(members).serialized, to: "\(directory)/\(node).json")
        }

        // MARK: PKI

        /// A region CA with a server certificate for 127.0.0.1 and a client
        /// certificate, plus another CA with its own client certificate.
        func makePKI() async throws {
            let caConfig = """
                [req]
                distinguished_name = dn
                prompt = no
                x509_extensions = v3
                [dn]
                CN = kotosync test CA
                [v3]
                basicConstraints = critical, CA:TRUE
                keyUsage = critical, keyCertSign, cRLSign
                subjectKeyIdentifier = hash

                """
            func leafConfig(_ commonName: String) -> String {
                "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = \(commonName)\n"
            }
            func extensions(_ usage: String, altNames: String? = nil) -> String {
                var text = """
                    [v3]
                    basicConstraints = critical, CA:FALSE
                    keyUsage = critical, digitalSignature
                    extendedKeyUsage = \(usage)
                    subjectKeyIdentifier = hash
                    authorityKeyIdentifier = keyid

                    """
                if let altNames { text += "subjectAltName = \(altNames)\n" }
                return text
            }
            try write(caConfig, to: pki("ca.cnf"))
            try write(extensions("serverAuth", altNames: "IP:127.0.0.1, DNS:localhost"), to: pki("server.ext"))
            try write(extensions("clientAuth"), to: pki("client.ext"))
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

            for ca in ["ca", "other-ca"] {
                try await runTool(openssl, ["req", "-x509", "-new"] + ec + ["-config", pki("ca.cnf"), "-keyout", pki("\(ca).key"),
                                                                             "-out", pki("\(ca).pem"), "-days", "2"])
            }
            for (name, ca, commonName, ext) in [("server", "ca", "127.0.0.1", "server.ext"), ("client", "ca", "jakobstad", "client.ext"),
                                                ("foreign-client", "other-ca", "jakobstad", "client.ext")] {
                try write(leafConfig(commonName), to: pki("\(name).cnf"))
                try await runTool(openssl, ["req", "-new"] + ec + ["-config", pki("\(name).cnf"), "-keyout", pki("\(name).key"),
                                                                   "-out", pki("\(name).csr")])
                try await runTool(openssl, ["x509", "-req", "-in", pki("\(name).csr"), "-CA", pki("\(ca).pem"), "-CAkey", pki("\(ca).key"),
                                            "-set_serial", String(UInt32.random(in: 1...UInt32.max)), "-days", "2",
                                            "-extfile", pki(ext), "-extensions", "v3", "-out", pki("\(name).pem")])
            }
        }

        /// Runs a tool to completion (polling, off the cooperative pool); throws with its output on failure.
        func runTool(_ executable: String, _ arguments: [String]) async throws {
            let logPath = "\(directory)/tools.log"
            let child = try Child(name: (executable as NSString).lastPathComponent, executable: executable, arguments: arguments,
                                  logPath: logPath, stopSignal: SIGKILL, directory: "\(directory)/pki")
            guard let status = await child.waitForExit(timeout: .seconds(30)) else {
                child.kill()
                _ = await child.waitForExit(timeout: .seconds(5))
                throw LabError("\(executable) \(arguments.joined(separator: " ")) did not finish")
            }
            guard status == 0 else {
                throw LabError("\(executable) \(arguments.joined(separator: " ")) exited with \(status):\n\(child.logTail())")
            }
        }

        // MARK: Processes

        private func track(_ child: Child) { lock.withLock { children.append(child) } }

        /// Starts a daemon and waits until it answers /healthz.
        func startDaemon(_ node: String, port: Int) async throws -> Child {
            let child = try Child(name: node, executable: daemon, arguments: ["--config", "\(directory)/\(node).json"],
                                  logPath: "\(directory)/\(node).log")
            track(child)
            try await waitUntil("\(node) to answer /healthz", timeout: .seconds(20), poll: .milliseconds(50)) {
                guard child.isRunning else { throw LabError("\(node) exited during startup:\n\(child.logTail())") }
                return try await self.get("/healthz", port: port).status.code == 200
            }
            return child
        }

        func stop(_ child: Child) async { await child.stop() }

        /// Renders the deploy template into a test nginx.conf (every path
        /// under the lab directory, running as the current user) and starts
        /// nginx in front of larsmo; ready once it proxies /healthz.
        func startNginx() async throws {
            let templatePath = Self.packageRoot.appendingPathComponent("deploy/nginx/kotosync-tls.conf.template").path
            guard let data = FileManager.default.contents(atPath: templatePath) else { throw LabError("cannot read \(templatePath)") }
            var site = String(decoding: data, as: UTF8.self)
            let values = [
                "LISTEN": "127.0.0.1:\(nginxPort)", "SERVER_NAME": "localhost",
                "SERVER_CERTIFICATE": pki("server.pem"), "SERVER_KEY": pki("server.key"),
                "REGION_CA": pki("ca.pem"), "KOTOSYNCD_PORT": String(larsmoPort),
            ]
            for (name, value) in values {
                guard site.contains("{{\(name)}}") else { throw LabError("\(templatePath) has no {{\(name)}} placeholder") }
                site = site.replacingOccurrences(of: "{{\(name)}}", with: value)
            }
            let directives = site.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
            if let unfilled = directives.first(where: { $0.contains("{{") }) {
                throw LabError("\(templatePath) has a placeholder the test does not fill: \(unfilled)")
            }
            let root = "\(directory)/nginx"
            try write(site, to: "\(root)/kotosync-tls.conf")
            // Running as root, nginx's workers would switch to an unprivileged
            // user that cannot write in this private directory: keep root.
            let user = geteuid() == 0 ? "user root root;\n" : ""
            let main = """
                \(user)worker_processes 1;
                events { worker_connections 128; }
                http {
                    access_log \(accessLogPath);
                    client_body_temp_path \(root)/temp/client_body;
                    proxy_temp_path \(root)/temp/proxy;
                    fastcgi_temp_path \(root)/temp/fastcgi;
                    uwsgi_temp_path \(root)/temp/uwsgi;
                    scgi_temp_path \(root)/temp/scgi;
                    include \(root)/kotosync-tls.conf;
                }

                """
            try write(main, to: "\(root)/nginx.conf")
            let child = try Child(name: "nginx", executable: nginx,
                                  arguments: ["-p", "\(root)/", "-c", "\(root)/nginx.conf", "-e", errorLogPath,
                                              "-g", "daemon off; pid \(root)/nginx.pid; error_log \(errorLogPath) info;"],
                                  logPath: "\(root)/stdout.log", atExit: SIGTERM)
            track(child)
            lock.withLock { nginxProcess = child }
            // Ready once a client with the region's certificate reaches larsmo through it.
            let probe = try AsyncHTTPClient(configuration: HTTPClient.Configuration(
                connectTimeout: .seconds(2), totalTimeout: .seconds(5), caBundlePath: pki("ca.pem"),
                clientCertificatePath: pki("client.pem"), clientKeyPath: pki("client.key")))
            try await waitUntil("nginx to proxy /healthz to larsmo with mutual TLS", timeout: .seconds(10), poll: .milliseconds(50)) {
                guard child.isRunning else {
                    throw LabError("nginx exited: \(child.logTail())\n\(self.errorLogTail())")
                }
                return try await probe.send(.get, "https://127.0.0.1:\(self.nginxPort)/healthz").status.code == 200
            }
        }

        /// SIGTERM to nginx's master (it stops its workers) and waits for it.
        func stopNginx() async {
            if let child = lock.withLock({ nginxProcess }) { await child.stop() }
        }

        /// Starts jakobstad with `tls`, waits until its link to larsmo backs
        /// off with an error, checks the record did not arrive, stops it, and
        /// returns the link's lastError.
        func refusedLink(variant: String, tls: [(String, String)], recordID: String) async throws -> String {
            try writeConfig(node: "jakobstad", port: jakobstadPort, data: "jakobstad-\(variant)", peers: [larsmoThroughNginx], tls: tls)
            let jakobstad = try await startDaemon("jakobstad", port: jakobstadPort)
            var lastError = ""
            try await waitUntil("jakobstad's link to larsmo to back off (\(variant))", timeout: .seconds(15)) {
                guard let link = try await self.peerStatus("larsmo", port: self.jakobstadPort),
                      link["state"]?.stringValue == "backing off", let error = link["lastError"]?.stringValue else { return false }
                lastError = error
                return true
            }
            // A few more failed rounds: the record must not arrive any other way.
            try await expectAbsent(recordID, port: jakobstadPort, for: .milliseconds(1500), "with \(variant)")
            note("\(variant): link backing off, lastError: \(lastError)")
            await stop(jakobstad)
            return lastError
        }

        func stopAll() async {
            let running = lock.withLock { children }
            // In reverse order of start: nginx goes after the daemon behind it.
            for child in running.reversed() where child.isRunning { await child.stop() }
        }

        /// Synchronous last resort: SIGKILL everything still running (with nginx's workers).
        func killAll() {
            for child in lock.withLock({ children }) { child.kill() }
        }

        /// Removes the directory, or on failure prints the logs (and keeps it
        /// with KOTOSYNC_KEEP_REGION set).
        func finish(failed: Bool) {
            let keep = ProcessInfo.processInfo.environment["KOTOSYNC_KEEP_REGION"] != nil
            if failed {
                var report = keep ? "kept at \(directory)" : "failed (set KOTOSYNC_KEEP_REGION=1 to keep \(directory))"
                for child in lock.withLock({ children }) { report += "\n--- \(child.name) log tail:\n\(child.logTail(lines: 12))" }
                report += "\n--- nginx error.log tail:\n\(errorLogTail())"
                note(report)
            }
            if !keep { try? FileManager.default.removeItem(atPath: directory) }
        }

        func errorLogTail() -> String {
            guard let data = FileManager.default.contents(atPath: errorLogPath) else { return "(no error.log)" }
            return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(12).joined(separator: "\n")
        }

        /// Pulls nginx answered with 200 so far (its access log, default format).
        func successfulPullsThroughNginx() -> Int {
            guard let data = FileManager.default.contents(atPath: accessLogPath) else { return 0 }
            return String(decoding: data, as: UTF8.self).split(separator: "\n")
                .filter { $0.contains("\"POST /v1/sync/pull HTTP/1.1\" 200 ") }.count
        }

        // MARK: API

        func get(_ path: String, port: Int, token: String? = nil) async throws -> HTTPResponse {
            try await client.send(.get, "http://127.0.0.1:\(port)\(path)", headers: token.map { ["Authorization": "Bearer \($0)"] } ?? [:])
        }

        /// A service at a node (read with the office token), nil while it answers 404.
        func service(_ id: String, port: Int) async throws -> JSONValue? {
            let response = try await get("/v1/services/\(id)", port: port, token: officeToken)
            switch response.status.code {
            case 200: return try JSONValue.parse(response.body)
            case 404: return nil
            default: throw LabError("GET /v1/services/\(id) answered \(response.status.code) \(response.bodyText.prefix(200))")
            }
        }

        /// The peer links in a node's status.
        func peers(port: Int) async throws -> [JSONValue] {
            let response = try await get("/v1/status", port: port, token: adminToken)
            guard response.status.code == 200 else { throw LabError("GET /v1/status answered \(response.status.code)") }
            return try JSONValue.parse(response.body)["peers"]?.arrayValue ?? []
        }

        func peerStatus(_ peer: String, port: Int) async throws -> JSONValue? {
            try await peers(port: port).first { $0["node"]?.stringValue == peer }
        }

        /// Fails if the service shows up at the node within `duration`.
        func expectAbsent(_ id: String, port: Int, for duration: Duration, _ when: String) async throws {
            let deadline = ContinuousClock.now + duration
            while ContinuousClock.now < deadline {
                if try await service(id, port: port) != nil {
                    throw LabError("service \(id) reached jakobstad \(when): it has a route to larsmo that bypasses nginx's checks")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        /// Creates a synthetic service at a node, retrying while it still
        /// answers 503 (catching up with its peers right after start).
        func createService(id: String, at node: String, port: Int) async throws {
            let code = Double(MunicipalityRegistry.ostrobothnianCoast.municipality(slug: node)?.code ?? 598)
            let record: JSONValue = .object([
                ("id", .string(id)),
                ("nameFi", .string("Testipalvelu TLS")),
                ("nameSv", .string("Testtjänst TLS")),
                ("providerName", .string("Provider \(node)")),
                ("providerType", .string("municipality")),
                ("category", .string("language_course")),
                ("municipalities", .array([.number(code)])),
                ("studyPath", .string("basic")),
                ("capacity", .number(20)),
                ("status", .string("active")),
            ])
            var last = ""
            try await waitUntil("\(node) to take a write", timeout: .seconds(15)) {
                let response = try await self.client.send(
                    .post, "http://127.0.0.1:\(port)/v1/services",
                    headers: ["Authorization": "Bearer \(self.officeToken)", "Content-Type": "application/json"],
                    body: record.serializedBytes)
                last = "HTTP \(response.status.code) \(response.bodyText.prefix(200))"
                if response.status.code == 201 { return true }
                guard response.status.code == 503 else { throw LabError("create at \(node): \(last)") }
                return false
            }
            note("service \(id) created at \(node)")
        }

        /// Polls `condition` until it holds; a thrown LabError ends the wait, other errors count as "not yet".
        func waitUntil(_ what: String, timeout: Duration, poll: Duration = .milliseconds(100),
                       _ condition: () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + timeout
            var lastError: (any Error)?
            while true {
                do {
                    if try await condition() { return }
                } catch let error as LabError {
                    throw error
                } catch {
                    lastError = error
                }
                if ContinuousClock.now >= deadline { break }
                try await Task.sleep(for: poll)
            }
            throw LabError("timed out after \(timeout) waiting for \(what)" + (lastError.map { " (last error: \($0))" } ?? ""))
        }
    }
}
