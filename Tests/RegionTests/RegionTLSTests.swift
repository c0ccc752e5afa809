import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Testing

// Two offices through a real nginx with mutual TLS: jakobstad pulls larsmo
// through nginx running deploy/nginx/kotosync-tls.conf.template, with a
// throwaway region CA made by the `openssl` CLI. jakobstad's only route to
// larsmo is nginx, and larsmo never contacts jakobstad (passive), so a
// record written at larsmo can reach jakobstad only through the proxy.
//
// Its own processes, ports, configs and files, on RegionHarness's helpers
// (daemons as `RegionNode`s, nginx and openssl as `ChildProcess`es); nested
// in `Region`, so it never runs alongside another region's daemons.
// Blocking work stays off Swift's cooperative pool: HTTP goes through
// `AsyncHTTPClient`, waits for child processes poll with `Task.sleep`.

extension Region {
    @Suite("Region: mutual TLS through nginx")
    struct RegionTLSTests {
        @Test("jakobstad pulls larsmo through nginx with mutual TLS; a missing client certificate, a client certificate of another CA and a wrong CA bundle are refused",
              .timeLimit(.minutes(2)))
        func pullThroughNginxWithMutualTLS() async throws {
            let lab = try Lab()
            try await withCleanup(lab) { try await run(lab) }
        }

        private func run(_ lab: Lab) async throws {
            try await lab.makePKI()
            let (jakobstad, larsmo) = (lab.jakobstad, lab.larsmo)

            // larsmo: jakobstad is passive, so larsmo never contacts it.
            try lab.writeConfig(larsmo, data: "larsmo",
                                peers: [.object([("node", .string("jakobstad")), ("mode", .string("passive"))])], tls: nil)
            try await larsmo.start(binary: lab.daemon)
            let first = newID()
            try await lab.createService(id: first, at: larsmo)
            #expect(try await larsmo.peers().map { $0["mode"]?.stringValue } == ["passive"],
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
            try lab.writeConfig(jakobstad, data: "jakobstad", peers: [lab.larsmoThroughNginx],
                                tls: [("caBundle", lab.pki("ca.pem")), ("clientCertificate", lab.pki("client.pem")),
                                      ("clientKey", lab.pki("client.key"))])
            try await jakobstad.start(binary: lab.daemon)
            let links = try await jakobstad.peers()
            #expect(links.map { $0["url"]?.stringValue } == ["https://127.0.0.1:\(lab.nginxPort)"], "jakobstad's only peer must be nginx")
            try await waitUntil("larsmo's record at jakobstad", timeout: .seconds(20), failFast: true) {
                try await jakobstad.record(.service, first, role: .office) != nil
            }
            #expect(try await jakobstad.record(.service, first, role: .office)?["id"]?.stringValue == first)
            try await waitUntil("jakobstad's link to larsmo to be ok", timeout: .seconds(10), failFast: true) {
                try await jakobstad.peerStatus("larsmo")?["state"]?.stringValue == "ok"
            }
            #expect(try await jakobstad.peerStatus("larsmo")?["lastError"] == .null)
            let pulls = lab.successfulPullsThroughNginx()
            #expect(pulls > 0, "no pull answered 200 in nginx's access log")
            note("tls: record \(first) reached jakobstad through nginx (\(pulls) pulls answered 200 by nginx)")

            // Without nginx nothing arrives; with it back, the next record does.
            await lab.stopNginx()
            try await waitUntil("jakobstad's link to back off without nginx", timeout: .seconds(10), failFast: true) {
                try await jakobstad.peerStatus("larsmo")?["state"]?.stringValue == "backing off"
            }
            let second = newID()
            try await lab.createService(id: second, at: larsmo)
            try await lab.expectAbsent(second, at: jakobstad, for: .milliseconds(1500), "while nginx is down")
            try await lab.startNginx()
            try await waitUntil("the second record at jakobstad once nginx is back", timeout: .seconds(20), failFast: true) {
                try await jakobstad.record(.service, second, role: .office) != nil
            }
            #expect(lab.successfulPullsThroughNginx() > pulls)
            note("tls: record \(second) waited for nginx and arrived once it was back")
            await jakobstad.stop()
            await larsmo.stop()
        }
    }
}

// MARK: - The lab: files, ports, child processes

extension Region.RegionTLSTests {
    final class Lab: RegionLab, @unchecked Sendable {
        let directory: String
        let daemon: String
        let nginx: String
        let openssl: String
        let jakobstad: RegionNode
        let larsmo: RegionNode
        let nginxPort: Int
        private let lock = NSLock()
        private var nginxProcess: ChildProcess?

        var accessLogPath: String { "\(directory)/nginx/access.log" }
        var errorLogPath: String { "\(directory)/nginx/error.log" }
        func pki(_ file: String) -> String { "\(directory)/pki/\(file)" }

        /// jakobstad's only peer: larsmo, at nginx's port.
        var larsmoThroughNginx: JSONValue {
            .object([("node", .string("larsmo")), ("url", .string("https://127.0.0.1:\(nginxPort)")), ("mode", .string("pull"))])
        }

        init() throws {
            daemon = try RegionPaths.daemonBinary()
            nginx = try Self.tool("nginx", preferred: [ProcessInfo.processInfo.environment["NGINX"], "/usr/sbin/nginx"])
            openssl = try Self.tool("openssl", preferred: [ProcessInfo.processInfo.environment["OPENSSL"], "/usr/bin/openssl",
                                                            "/usr/local/bin/openssl"])
            directory = try RegionPaths.makeTemporaryDirectory(prefix: "kotosync-tls")
            for sub in ["pki", "data", "nginx", "nginx/temp"] {
                try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
            }
            let ports = try RegionCluster.freePorts(3)
            nginxPort = ports[2]
            let tokens = try Tokens.installDemoIdentity(into: directory)
            jakobstad = try RegionNode(name: "jakobstad", port: ports[0], directory: directory, tokens: tokens)
            larsmo = try RegionNode(name: "larsmo", port: ports[1], directory: directory, tokens: tokens)
        }

        deinit { killAll() }

        static func tool(_ name: String, preferred: [String?]) throws -> String {
            try RegionPaths.tool(name, preferred: preferred, missing:
                "`\(name)` is not installed: the TLS region test runs a real nginx with certificates made by openssl; "
                + "deploy/test.sh installs the Debian packages nginx and openssl")
        }

        // MARK: Files

        func writeConfig(_ node: RegionNode, data: String, peers: [JSONValue], tls: [(String, String)]?) throws {
            var members: [(String, JSONValue)] = [
                ("node", .string(node.name)),
                ("listen", .object([("host", .string("127.0.0.1")), ("port", .number(Double(node.port)))])),
                ("dataDirectory", .string("\(directory)/data/\(data)")),
                ("secretsFile", .string("\(directory)/secrets/\(node.name).json")),
                ("regionManifest", .string("\(directory)/region.json")),
                ("keyFile", .string("\(directory)/keys/\(node.name).key")),
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
            try writeFile(JSONValue.object(members).serialized, to: node.configPath)
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
            try writeFile(caConfig, to: pki("ca.cnf"))
            try writeFile(extensions("serverAuth", altNames: "IP:127.0.0.1, DNS:localhost"), to: pki("server.ext"))
            try writeFile(extensions("clientAuth"), to: pki("client.ext"))
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

            for ca in ["ca", "other-ca"] {
                try await runTool(openssl, ["req", "-x509", "-new"] + ec + ["-config", pki("ca.cnf"), "-keyout", pki("\(ca).key"),
                                                                             "-out", pki("\(ca).pem"), "-days", "2"])
            }
            for (name, ca, commonName, ext) in [("server", "ca", "127.0.0.1", "server.ext"), ("client", "ca", "jakobstad", "client.ext"),
                                                ("foreign-client", "other-ca", "jakobstad", "client.ext")] {
                try writeFile(leafConfig(commonName), to: pki("\(name).cnf"))
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
            let status = try await ChildProcess.run(executable, arguments, logPath: logPath, directory: "\(directory)/pki",
                                                    timeout: .seconds(30))
            guard status == 0 else {
                throw RegionError("\(executable) \(arguments.joined(separator: " ")) exited with \(status):\n\(tail(ofFile: logPath, lines: 15))")
            }
        }

        // MARK: Processes

        /// Renders the deploy template into a test nginx.conf (every path
        /// under the lab directory, running as the current user) and starts
        /// nginx in front of larsmo; ready once it proxies /healthz.
        func startNginx() async throws {
            let templatePath = RegionPaths.packageRoot.appendingPathComponent("deploy/nginx/kotosync-tls.conf.template").path
            guard let data = FileManager.default.contents(atPath: templatePath) else { throw RegionError("cannot read \(templatePath)") }
            var site = String(decoding: data, as: UTF8.self)
            let values = [
                "LISTEN": "127.0.0.1:\(nginxPort)", "SERVER_NAME": "localhost",
                "SERVER_CERTIFICATE": pki("server.pem"), "SERVER_KEY": pki("server.key"),
                "REGION_CA": pki("ca.pem"), "KOTOSYNCD_PORT": String(larsmo.port),
            ]
            for (name, value) in values {
                guard site.contains("{{\(name)}}") else { throw RegionError("\(templatePath) has no {{\(name)}} placeholder") }
                site = site.replacingOccurrences(of: "{{\(name)}}", with: value)
            }
            let directives = site.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
            if let unfilled = directives.first(where: { $0.contains("{{") }) {
                throw RegionError("\(templatePath) has a placeholder the test does not fill: \(unfilled)")
            }
            let root = "\(directory)/nginx"
            try writeFile(site, to: "\(root)/kotosync-tls.conf")
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
            try writeFile(main, to: "\(root)/nginx.conf")
            let child = try ChildProcess(name: "nginx", executable: nginx,
                                         arguments: ["-p", "\(root)/", "-c", "\(root)/nginx.conf", "-e", errorLogPath,
                                                     "-g", "daemon off; pid \(root)/nginx.pid; error_log \(errorLogPath) info;"],
                                         logPath: "\(root)/stdout.log", atExit: SIGTERM)
            lock.withLock { nginxProcess = child }
            // Ready once a client with the region's certificate reaches larsmo through it.
            let probe = try AsyncHTTPClient(configuration: HTTPClient.Configuration(
                connectTimeout: .seconds(2), totalTimeout: .seconds(5), caBundlePath: pki("ca.pem"),
                clientCertificatePath: pki("client.pem"), clientKeyPath: pki("client.key")))
            try await waitUntil("nginx to proxy /healthz to larsmo with mutual TLS", timeout: .seconds(10), poll: .milliseconds(50),
                                failFast: true) {
                guard child.isRunning else {
                    throw RegionError("nginx exited: \(tail(ofFile: child.logPath, lines: 15))\n\(self.errorLogTail())")
                }
                return try await probe.send(.get, "https://127.0.0.1:\(self.nginxPort)/healthz").status.code == 200
            }
        }

        /// SIGTERM to nginx's master (it stops its workers) and waits for it.
        func stopNginx() async {
            await lock.withLock({ nginxProcess })?.stop()
        }

        /// Starts jakobstad with `tls`, waits until its link to larsmo backs
        /// off with an error, checks the record did not arrive, stops it, and
        /// returns the link's lastError.
        func refusedLink(variant: String, tls: [(String, String)], recordID: String) async throws -> String {
            try writeConfig(jakobstad, data: "jakobstad-\(variant)", peers: [larsmoThroughNginx], tls: tls)
            try await jakobstad.start(binary: daemon)
            var lastError = ""
            try await waitUntil("jakobstad's link to larsmo to back off (\(variant))", timeout: .seconds(15), failFast: true) {
                guard let link = try await self.jakobstad.peerStatus("larsmo"),
                      link["state"]?.stringValue == "backing off", let error = link["lastError"]?.stringValue else { return false }
                lastError = error
                return true
            }
            // A few more failed rounds: the record must not arrive any other way.
            try await expectAbsent(recordID, at: jakobstad, for: .milliseconds(1500), "with \(variant)")
            note("tls: \(variant): link backing off, lastError: \(lastError)")
            await jakobstad.stop()
            return lastError
        }

        /// In reverse order of start: jakobstad, nginx, then larsmo behind it.
        func stopAll() async {
            await jakobstad.stop()
            await stopNginx()
            await larsmo.stop()
        }

        /// Synchronous last resort: SIGKILL everything still running (with nginx's workers).
        func killAll() {
            jakobstad.kill()
            lock.withLock { nginxProcess }?.kill()
            larsmo.kill()
        }

        func failureLogs() -> String {
            var report = [larsmo, jakobstad].map { "\n--- \($0.name) log tail:\n\($0.logTail(lines: 12))" }.joined()
            if let nginx = lock.withLock({ nginxProcess }) {
                report += "\n--- nginx log tail:\n\(tail(ofFile: nginx.logPath, lines: 12))"
            }
            return report + "\n--- nginx error.log tail:\n\(errorLogTail())"
        }

        func errorLogTail() -> String { tail(ofFile: errorLogPath, lines: 12, missing: "(no error.log)") }

        /// Pulls nginx answered with 200 so far (its access log, default format).
        func successfulPullsThroughNginx() -> Int {
            guard let data = FileManager.default.contents(atPath: accessLogPath) else { return 0 }
            return String(decoding: data, as: UTF8.self).split(separator: "\n")
                .filter { $0.contains("\"POST /v1/sync/pull HTTP/1.1\" 200 ") }.count
        }

        // MARK: API

        /// Fails if the service shows up at the node within `duration`.
        func expectAbsent(_ id: String, at node: RegionNode, for duration: Duration, _ when: String) async throws {
            let deadline = ContinuousClock.now + duration
            while ContinuousClock.now < deadline {
                if try await node.record(.service, id, role: .office) != nil {
                    throw RegionError("service \(id) reached \(node.name) \(when): it has a route to larsmo that bypasses nginx's checks")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        /// Creates a synthetic service at a node, retrying while it still
        /// answers 503 (catching up with its peers right after start).
        func createService(id: String, at node: RegionNode) async throws {
            try await waitUntil("\(node.name) to take a write", timeout: .seconds(15), failFast: true) {
                let result = try await node.create(.service, Fixture.service(id: id, office: node.name, label: "TLS"))
                if result.status == 201 { return true }
                guard result.status == 503 else {
                    throw RegionError("create at \(node.name): HTTP \(result.status) \(result.errorCode ?? "") \(result.errorMessage ?? "")")
                }
                return false
            }
            note("tls: service \(id) created at \(node.name)")
        }
    }
}
