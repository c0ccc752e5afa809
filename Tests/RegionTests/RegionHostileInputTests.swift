import Foundation
import KotoCore
import KotoCrypto
import KotoHTTP
import KotoTestSupport
import Testing

extension Region {
    /// One real `kotosyncd` (jakobstad, with the demo's records) against a
    /// catalogue of malformed and hostile requests sent over raw sockets:
    /// each gets exactly the status and error code the table says, the
    /// daemon still answers `/healthz`, and its database is unchanged.
    @Suite("Region: hostile input")
    struct HostileInput {
        /// What one case must get back.
        enum Expected: Sendable, CustomStringConvertible {
            /// This status with a JSON error body carrying this code; the server closes the connection after it when `closes`.
            case error(Int, String, closes: Bool = false)
            /// The server closes the connection without answering.
            case closedWithoutResponse

            var description: String {
                switch self {
                case .error(let status, let code, let closes): "\(status) \(code)\(closes ? " and close" : "")"
                case .closedWithoutResponse: "connection closed without a response"
                }
            }
        }

        enum Action: Sendable {
            case raw(RawSending)
            /// Holds `held` silent connections open, then sends `request` on one more.
            case flood(held: Int, request: [UInt8])
        }

        struct Case: Sendable {
            let name: String
            let action: Action
            let expected: Expected

            init(_ name: String, _ action: Action, _ expected: Expected) {
                self.name = name
                self.action = action
                self.expected = expected
            }

            init(_ name: String, _ bytes: [UInt8], _ expected: Expected) {
                self.init(name, .raw(.whole(bytes)), expected)
            }
        }

        /// Short server limits so timeouts and the connection cap are reached in seconds.
        static let limits: [(String, JSONValue)] = [
            ("readTimeoutSeconds", .number(2)), ("idleTimeoutSeconds", .number(2)), ("maxConnections", .number(24)),
        ]

        @Test("a catalogue of malformed and hostile requests: exact status and code, /healthz answers after each, database unchanged")
        func catalogue() async throws {
            let region = try RegionCluster(RegionOptions(nodes: ["jakobstad"]))
            try await withCleanup(region) {
                let node = region["jakobstad"]
                // Jakobstad alone, with its demo records; no peers, so nothing but these requests can touch its database.
                let config = try region.writeConfig("jakobstad", peers: [], demoSeed: 2026)
                let written = try JSONValue.parse(Array(try #require(FileManager.default.contents(atPath: config))))
                try writeFile(JSONValue.object((written.objectMembers ?? []) + [("limits", .object(Self.limits))]).serialized, to: config)
                try await region.start("jakobstad", timeout: .seconds(60))

                let fixture = try await Fixtures(region: region, node: node)
                let cases = try fixture.cases()
                #expect(cases.count >= 60, "the catalogue has only \(cases.count) cases")
                #expect(Set(cases.map(\.name)).count == cases.count, "two cases share a name")

                // The connection cap counts every open connection: let pooled ones from startup time out first.
                try await Task.sleep(for: .milliseconds(2500))
                let started = ContinuousClock.now
                var before = try await fixture.fingerprint()
                for item in cases {
                    let caseStarted = ContinuousClock.now
                    let failure = await Self.run(item, on: node)
                    if let failure { Issue.record("case '\(item.name)': \(failure)") }
                    var healthy = try? await RawHTTP.exchange(port: node.port, .whole(RawHTTP.request("GET", "/healthz")))
                    if case .flood = item.action {
                        // The held connections were just closed; the server frees their slots as it sees each close,
                        // so a loaded machine may still count some of them for a moment (503 too_many_connections).
                        let deadline = ContinuousClock.now + .seconds(3)
                        while healthy?.response?.status == 503, ContinuousClock.now < deadline {
                            try await Task.sleep(for: .milliseconds(100))
                            healthy = try? await RawHTTP.exchange(port: node.port, .whole(RawHTTP.request("GET", "/healthz")))
                        }
                    }
                    guard healthy?.response?.status == 200 else {
                        Issue.record("case '\(item.name)': /healthz does not answer 200 afterwards (running: \(node.isRunning)); log:\n\(node.logTail())")
                        return
                    }
                    let after = try await fixture.fingerprint()
                    for difference in before.differences(from: after) {
                        Issue.record("case '\(item.name)' changed the database: \(difference)")
                    }
                    before = after
                    let elapsed = ContinuousClock.now - caseStarted
                    if elapsed > .seconds(5) { note("hostile: case '\(item.name)' took \(elapsed)") }
                }
                #expect(node.isRunning, "the daemon exited")
                // No request became a 500: the router logs each as http.internal_error.
                #expect(!node.log.contains("http.internal_error"), "the daemon logged an internal error; log:\n\(node.logTail())")
                note("hostile: \(cases.count) cases in \(ContinuousClock.now - started)")
            }
        }

        /// Runs one case; nil when the answer is the expected one, else what was wrong.
        static func run(_ item: Case, on node: RegionNode) async -> String? {
            let answer: RawAnswer
            do {
                switch item.action {
                case .raw(let sending):
                    answer = try await RawHTTP.exchange(port: node.port, sending)
                case .flood(let held, let request):
                    answer = try await RawHTTP.holding(held, port: node.port) {
                        // Let the server admit (or turn away) every held connection first.
                        try await Task.sleep(for: .milliseconds(300))
                        return try await RawHTTP.exchange(port: node.port, .whole(request))
                    }
                }
            } catch {
                return "the exchange failed: \(error)"
            }
            switch item.expected {
            case .closedWithoutResponse:
                if let response = answer.response { return "expected \(item.expected), got HTTP \(response.status)" }
                if !answer.closed { return "expected \(item.expected), but the connection stayed open" }
                return nil
            case .error(let status, let code, let closes):
                guard let response = answer.response else {
                    return "expected \(item.expected), got no response (\(answer.closed ? "closed" : "still open"))"
                }
                let body = response.error
                var problems: [String] = []
                if response.status != status { problems.append("status \(response.status), expected \(status)") }
                if body?.code != code { problems.append("error code \(body?.code ?? "none"), expected \(code)") }
                if body?.message?.isEmpty != false { problems.append("the body is not {\"error\":{\"code\",\"message\"}}") }
                if code == "validation_failed" && body?.problems.isEmpty != false { problems.append("a validation failure that names no field") }
                if response.header("Content-Type")?.hasPrefix("application/json") != true {
                    problems.append("Content-Type \(response.header("Content-Type") ?? "none")")
                }
                if closes && !answer.closed { problems.append("the connection stayed open after the response") }
                if answer.trailingBytes > 0 { problems.append("\(answer.trailingBytes) more bytes followed the response (a second answer?)") }
                if problems.isEmpty { return nil }
                return problems.joined(separator: "; ") + " (message: \(body?.message ?? "none"))"
            }
        }
    }
}

// MARK: - The database's fingerprint

extension Region.HostileInput {
    /// What must not change: the status's version vector, log position,
    /// seq, incarnation, state digest and conflict count, and a digest of a
    /// read-only dump of every data table (records, change log, conflicts,
    /// version vector, node state). Peer cursors are left out: they record
    /// a refused peer's failure, which is the point of refusing it.
    struct Fingerprint: Sendable {
        var status: [String: JSONValue]
        var dumpDigest: String
        var dumpBytes: Int

        func differences(from other: Fingerprint) -> [String] {
            var differences: [String] = []
            for key in status.keys.sorted() where status[key] != other.status[key] {
                differences.append("status \(key) was \(status[key]?.serialized ?? "absent"), now \(other.status[key]?.serialized ?? "absent")")
            }
            // Only digests and sizes: the dump holds (fictional) personal data.
            if dumpDigest != other.dumpDigest { differences.append("the table dump differs (\(dumpBytes) bytes before, \(other.dumpBytes) after)") }
            return differences
        }
    }

    static let dumpedTables = ["node_state", "version_vector", "log_floor", "change_log", "conflicts", "services", "clients", "placements"]
    static let statusKeys = ["versionVector", "logPosition", "seq", "incarnation", "stateDigest", "conflicts"]
}

// MARK: - The catalogue

extension Region.HostileInput {
    /// The node, its credentials and what the cases are built from.
    struct Fixtures: Sendable {
        let region: RegionCluster
        let node: RegionNode
        let office: String
        let coordinator: String
        let admin: String
        let peer: String
        let schema: Int64
        let kronobyKey: SigningKey
        /// The id of one of jakobstad's own demo services, for updates that must not land.
        let serviceID: String

        init(region: RegionCluster, node: RegionNode) async throws {
            self.region = region
            self.node = node
            office = try #require(node.tokens.office(of: "jakobstad"))
            coordinator = node.tokens.coordinator
            admin = node.tokens.admin
            peer = try #require(node.tokens.peers["kronoby"])
            let status = try await node.status()
            schema = try #require(status["schemaVersion"]?.int64Value)
            kronobyKey = try SigningKey.load(path: "\(region.directory)/keys/kronoby.key")
            let services = try await node.send(.get, "/v1/services?limit=1", role: .coordinator)
            serviceID = try #require(services.json?["items"]?.arrayValue?.first?["id"]?.stringValue, "the demo seed gave jakobstad no service")
        }

        func fingerprint() async throws -> Fingerprint {
            let answer = try await RawHTTP.exchange(port: node.port, .whole(RawHTTP.request("GET", "/v1/status",
                                                                                          headers: [("Authorization", "Bearer \(admin)")])))
            guard let response = answer.response, response.status == 200, let json = try? JSONValue.parse(response.body) else {
                throw RegionError("GET /v1/status answered \(answer.response?.status ?? 0)")
            }
            var status: [String: JSONValue] = [:]
            for key in Region.HostileInput.statusKeys { status[key] = json[key] ?? .null }
            let shell = try RegionPaths.sqliteShell()
            let output = "\(region.directory)/hostile-dump.sql"
            try? FileManager.default.removeItem(atPath: output)
            let exit = try await ChildProcess.run(shell, ["-readonly", node.databasePath,
                                                          ".dump " + Region.HostileInput.dumpedTables.joined(separator: " ")],
                                                  logPath: output, timeout: .seconds(30))
            let dump = FileManager.default.contents(atPath: output).map { [UInt8]($0) } ?? []
            guard exit == 0, dump.count > 1000 else { throw RegionError("sqlite3 .dump exited \(exit) with \(dump.count) bytes") }
            return Fingerprint(status: status, dumpDigest: SHA256.hex(SHA256.hash(dump)), dumpBytes: dump.count)
        }

        // MARK: Request builders

        func api(_ method: String, _ path: String, token: String?, body: [UInt8] = [], json: Bool = true,
                 headers: [(String, String)] = []) -> [UInt8] {
            var all = headers
            if let token { all.append(("Authorization", "Bearer \(token)")) }
            if json && !body.isEmpty { all.append(("Content-Type", "application/json")) }
            return RawHTTP.request(method, path, headers: all, body: body)
        }

        func officeWrite(_ method: String, _ path: String, _ body: String) -> [UInt8] {
            api(method, path, token: office, body: Array(body.utf8))
        }

        func officeWrite(_ method: String, _ path: String, bytes: [UInt8]) -> [UInt8] {
            api(method, path, token: office, body: bytes)
        }

        /// A new jakobstad service (valid as it stands) with member `name` set to the raw JSON text `value` (nil: removed).
        func service(_ name: String, _ value: String?) -> String {
            var members = (Fixture.service(office: "jakobstad", label: "hostile").objectMembers ?? []).map { ($0.0, $0.1.serialized) }
            if let index = members.firstIndex(where: { $0.0 == name }) {
                if let value { members[index].1 = value } else { members.remove(at: index) }
            } else if let value {
                members.append((name, value))
            }
            return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        }

        /// A new jakobstad client with member `name` set to the raw JSON text `value`.
        func client(_ name: String, _ value: String) -> String {
            var members = (Fixture.client(office: "jakobstad", number: "H-1").objectMembers ?? []).map { ($0.0, $0.1.serialized) }
            if let index = members.firstIndex(where: { $0.0 == name }) { members[index].1 = value } else { members.append((name, value)) }
            return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        }

        var nowMillis: UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

        /// A pull body from kronoby, valid as it stands (protocol 3, `SyncProtocol.version`), with member `name` set to raw JSON text (nil: removed).
        func pull(_ name: String? = nil, _ value: String? = nil) -> [UInt8] {
            var members: [(String, String)] = [
                ("node", "\"kronoby\""), ("protocol", String(3)), ("schema", String(schema)), ("versionVector", "{}"),
                ("since", "0"), ("limit", "10"), ("heads", "{}"), ("clock", String(nowMillis)),
            ]
            if let name, let index = members.firstIndex(where: { $0.0 == name }) {
                if let value { members[index].1 = value } else { members.remove(at: index) }
            } else if let name, let value {
                members.append((name, value))
            }
            let body = "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
            return api("POST", "/v1/sync/pull", token: peer, body: Array(body.utf8))
        }

        /// A push of `body` from kronoby with the protocol's headers; `overrides` replace or (nil) drop them.
        func push(_ body: [UInt8], overrides: [String: String?] = [:]) -> [UInt8] {
            var headers: [(String, String?)] = [
                ("Authorization", "Bearer \(peer)"), ("Content-Type", "application/x-kotosync-batch"), ("Kotosync-Node", "kronoby"),
                ("Kotosync-Protocol", "3"), ("Kotosync-Schema", String(schema)), ("Kotosync-Log-Position", "100"),
            ]
            for (name, value) in overrides {
                if let index = headers.firstIndex(where: { $0.0 == name }) { headers[index].1 = value } else { headers.append((name, value)) }
            }
            return RawHTTP.request("POST", "/v1/sync/push", headers: headers.compactMap { name, value in value.map { (name, $0) } }, body: body)
        }

        /// kronoby's first `count` changes, chained from genesis and signed with kronoby's own (demo) key: valid one by one.
        func kronobyChain(_ count: Int) throws -> [Change] {
            var previous = ChainFormat.genesis
            var changes: [Change] = []
            for seq in 1...UInt64(count) {
                let fields: FieldMap = ["nameFi": .text("Testipalvelu hostile \(seq)"), "providerName": .text("Provider kronoby"),
                                        "providerType": .text("municipality"), "category": .text("language_course"),
                                        "municipalities": .text("288"), "studyPath": .text("basic"), "status": .text("active")]
                let unlinked = Change(dot: Dot(origin: "kronoby", seq: seq), hlc: HLC(wallMillis: nowMillis), record: .service,
                                      rowID: UUID(), kind: .upsert, fields: fields, rowClock: RowClock(["kronoby": seq]))
                let link = SHA256.hash(parts: [previous, ChainFormat.header(unlinked), SHA256.hash(ChainFormat.payload(unlinked))])
                changes.append(unlinked.linked(chainHash: link, signature: try kronobyKey.sign(ChainFormat.signedMessage(link))))
                previous = link
            }
            return changes
        }

        /// A batch of `changes` from kronoby whose heads name the last one.
        func batch(_ changes: [Change], heads: [String: ChainHead]? = nil, nextPosition: UInt64 = 1) -> [UInt8] {
            let last = changes.max { $0.dot.seq < $1.dot.seq }
            let defaultHeads = last.map { ["kronoby": ChainHead(seq: $0.dot.seq, hash: $0.chainHash)] } ?? [:]
            return WireFormat.encode(ChangeBatch(incarnation: "hostile", nextPosition: nextPosition, changes: changes,
                                                 heads: heads ?? defaultHeads, senderClockMillis: nowMillis))
        }

        // MARK: Cases

        func cases() throws -> [Case] {
            try httpCases() + authCases() + recordCases() + queryCases() + syncCases()
        }

        /// Framing, parsing and connection handling, before any handler runs.
        func httpCases() -> [Case] {
            let healthz = RawHTTP.request("GET", "/healthz")
            // Every byte value but the line ends, in a scrambled order, then an empty line.
            let garbage = (0..<512).map { UInt8(($0 * 167 + 13) % 256) }.filter { $0 != 0x0a && $0 != 0x0d } + Array("\r\n\r\n".utf8)
            func head(_ text: String) -> [UInt8] { Array(text.utf8) }
            let manyHeaders = (0..<150).map { "X-Filler-\($0): \($0)\r\n" }.joined()
            let chunkedBody = head("5\r\nhello\r\n0\r\n\r\n")
            return [
                Case("HTTP: binary garbage", garbage, .error(400, "bad_request", closes: true)),
                Case("HTTP: a line of text that is no request line", head("hello there\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: request line with four parts", head("GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: method with a character outside tchar", head("G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: HTTP/0.9 request line without a version", head("GET /healthz\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: version HTTP/2.0 in an HTTP/1 request line", head("GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n"),
                     .error(505, "http_version_not_supported", closes: true)),
                Case("HTTP: HTTP/2 connection preface", head("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), .error(505, "http_version_not_supported", closes: true)),
                Case("HTTP: version with two digits HTTP/1.10", head("GET /healthz HTTP/1.10\r\nHost: x\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: HTTP/1.1 without Host", head("GET /healthz HTTP/1.1\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: two Host headers", head("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: header line without a colon", head("GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: whitespace between header name and colon", head("GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: obsolete line folding", head("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: bare CR inside a header value", head("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: NUL byte inside a header value", head("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: raw non-ASCII bytes in the request target", head("GET /h\u{e4}lsa HTTP/1.1\r\nHost: x\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: request target that is not a path", head("GET healthz HTTP/1.1\r\nHost: x\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: asterisk-form target on GET", head("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: CONNECT with an authority target", head("CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: invalid percent-encoding in the path", head("GET /v1/services/%zz HTTP/1.1\r\nHost: x\r\n\r\n"), .error(400, "bad_request", closes: true)),
                Case("HTTP: percent-encoded overlong UTF-8 dots in the path", head("GET /%c0%ae%c0%ae/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: unknown method on /healthz", head("BREW /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                     .error(405, "method_not_allowed")),
                Case("HTTP: one header line larger than the head limit", head("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n"),
                     .error(431, "headers_too_large", closes: true)),
                Case("HTTP: head that never ends, past the limit", head("GET /healthz HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-A: b\r\n", count: 4000)),
                     .error(431, "headers_too_large", closes: true)),
                Case("HTTP: 150 header fields", head("GET /healthz HTTP/1.1\r\nHost: x\r\n\(manyHeaders)\r\n"), .error(431, "headers_too_large", closes: true)),
                Case("HTTP: negative Content-Length", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: Content-Length with a plus sign", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: Content-Length that is not a number", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: Content-Length in hexadecimal", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 0x2\r\n\r\n{}"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: two Content-Length headers that differ", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: Content-Length list with two values", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 3\r\n\r\n{}x"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: empty Content-Length", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: Content-Length with a trailing comma", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 2,\r\n\r\n{}"),
                     .error(400, "bad_request", closes: true)),
                Case("HTTP: Content-Length of 30 digits", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999999999999999999999\r\n\r\n"),
                     .error(413, "body_too_large", closes: true)),
                Case("HTTP: Content-Length over the body limit", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"),
                     .error(413, "body_too_large", closes: true)),
                Case("HTTP: Transfer-Encoding chunked", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") + chunkedBody,
                     .error(411, "length_required", closes: true)),
                Case("HTTP: smuggling, Content-Length and Transfer-Encoding together (CL.TE)",
                     head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"),
                     .error(411, "length_required", closes: true)),
                Case("HTTP: smuggling, Transfer-Encoding before Content-Length (TE.CL)",
                     head("POST /v1/services HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n0\r\n\r\n"),
                     .error(411, "length_required", closes: true)),
                Case("HTTP: smuggling, obfuscated Transfer-Encoding value", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: xchunked\r\n\r\n{}"),
                     .error(411, "length_required", closes: true)),
                Case("HTTP: smuggling, Transfer-Encoding after a tab", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding:\tchunked\r\n\r\n{}"),
                     .error(411, "length_required", closes: true)),
                Case("HTTP: smuggling, Transfer-Encoding with whitespace before the colon",
                     head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding : chunked\r\n\r\n{}"), .error(400, "bad_request", closes: true)),
                Case("HTTP: smuggling, two Transfer-Encoding headers", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                     .error(411, "length_required", closes: true)),
                Case("HTTP: unsupported Expect", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}"),
                     .error(417, "expectation_failed", closes: true)),
                Case("HTTP: head cut off, then the client closes", .raw(.thenHalfClose(head("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Cut"))), .closedWithoutResponse),
                Case("HTTP: body shorter than Content-Length, then the client closes",
                     .raw(.thenHalfClose(head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\":"))), .closedWithoutResponse),
                Case("HTTP: body shorter than Content-Length, client waits", head("POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\":"),
                     .error(408, "request_timeout", closes: true)),
                Case("HTTP: slow trickle of a head, one byte every 100 ms",
                     .raw(.trickle(head("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + String(repeating: "s", count: 200) + "\r\n\r\n"), interval: .milliseconds(100))),
                     .error(408, "request_timeout", closes: true)),
                Case("HTTP: a connection that never sends a byte", .raw(.silence), .closedWithoutResponse),
                Case("HTTP: more connections than the server's cap", .flood(held: 30, request: healthz), .error(503, "too_many_connections", closes: true)),
            ]
        }

        /// Credentials: missing, made up, or of a role that may not use the route.
        func authCases() -> [Case] {
            [
                Case("auth: no credential on a record list", api("GET", "/v1/clients", token: nil), .error(401, "unauthorized")),
                Case("auth: made-up bearer token", api("GET", "/v1/clients", token: "not-a-real-token"), .error(401, "unauthorized")),
                Case("auth: empty bearer token", RawHTTP.request("GET", "/v1/clients", headers: [("Authorization", "Bearer ")]), .error(401, "unauthorized")),
                Case("auth: Basic instead of Bearer", RawHTTP.request("GET", "/v1/clients", headers: [("Authorization", "Basic YWRtaW46YWRtaW4=")]),
                     .error(401, "unauthorized")),
                Case("auth: 8 KB token", api("GET", "/v1/clients", token: String(repeating: "t", count: 8000)), .error(401, "unauthorized")),
                Case("auth: peer credential on a record write", api("POST", "/v1/services", token: peer, body: Array(service("id", nil).utf8)),
                     .error(403, "forbidden")),
                Case("auth: office credential on the sync push", push(batch([]), overrides: ["Authorization": "Bearer \(office)"]), .error(403, "forbidden")),
                Case("auth: coordinator credential on a record write", api("POST", "/v1/services", token: coordinator, body: Array(service("id", nil).utf8)),
                     .error(403, "forbidden")),
            ]
        }

        /// Record writes whose bodies are not what the schema allows.
        func recordCases() -> [Case] {
            let services = "/v1/services", clients = "/v1/clients"
            let existing = "/v1/services/\(serviceID)"
            let hugeArray = "[" + Array(repeating: "598", count: 200_000).joined(separator: ",") + "]"
            return [
                Case("JSON: empty body", officeWrite("POST", services, ""), .error(400, "invalid_json")),
                Case("JSON: truncated object", officeWrite("POST", services, "{\"nameFi\": \"Kurs"), .error(400, "invalid_json")),
                Case("JSON: trailing garbage after the object", officeWrite("POST", services, service("id", nil) + " x"), .error(400, "invalid_json")),
                Case("JSON: single-quoted strings", officeWrite("POST", services, "{'nameFi': 'x'}"), .error(400, "invalid_json")),
                Case("JSON: duplicate key", officeWrite("POST", services, "{\"nameFi\":\"a\",\"nameFi\":\"b\"}"), .error(400, "invalid_json")),
                Case("JSON: invalid UTF-8 inside a string", officeWrite("POST", services, bytes: Array("{\"nameFi\":\"".utf8) + [0xC3, 0x28, 0xFF] + Array("\"}".utf8)),
                     .error(400, "invalid_json")),
                Case("JSON: lone high surrogate \\ud800", officeWrite("POST", services, service("nameFi", "\"a\\ud800b\"")), .error(400, "invalid_json")),
                Case("JSON: lone low surrogate \\udc00", officeWrite("POST", services, service("nameFi", "\"\\udc00\"")), .error(400, "invalid_json")),
                Case("JSON: NUL byte raw inside a string", officeWrite("POST", services, bytes: Array("{\"nameFi\":\"a".utf8) + [0] + Array("\"}".utf8)),
                     .error(400, "invalid_json")),
                Case("JSON: 100,000 nested arrays", officeWrite("POST", services, String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)),
                     .error(400, "invalid_json")),
                Case("JSON: 10,000 nested objects in a field", officeWrite("POST", services, service("nameFi", String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000))),
                     .error(400, "invalid_json")),
                Case("JSON: number beyond double range", officeWrite("POST", services, service("capacity", "1e400")), .error(400, "invalid_json")),
                Case("JSON: number with a leading zero", officeWrite("POST", services, service("capacity", "012")), .error(400, "invalid_json")),
                Case("record: body is an array, not an object", officeWrite("POST", services, "[1,2,3]"), .error(422, "validation_failed")),
                Case("record: body is a bare string", officeWrite("POST", services, "\"service\""), .error(422, "validation_failed")),
                Case("record: wrong type, capacity as a string", officeWrite("POST", services, service("capacity", "\"twenty\"")), .error(422, "validation_failed")),
                Case("record: wrong type, name as an object", officeWrite("POST", services, service("nameFi", "{\"fi\":\"x\"}")), .error(422, "validation_failed")),
                Case("record: wrong type, municipalities as a number", officeWrite("POST", services, service("municipalities", "598")), .error(422, "validation_failed")),
                Case("record: unknown field", officeWrite("POST", services, service("isAdmin", "true")), .error(422, "validation_failed")),
                Case("record: SQL-looking field name", officeWrite("POST", services, service("name; DROP TABLE services; --", "1")), .error(422, "validation_failed")),
                Case("record: invalid enum value for status", officeWrite("POST", services, service("status", "\"exploded\"")), .error(422, "validation_failed")),
                Case("record: invalid enum value for category", officeWrite("POST", services, service("category", "\"'; DELETE FROM services; --\"")),
                     .error(422, "validation_failed")),
                Case("record: capacity out of range (negative)", officeWrite("POST", services, service("capacity", "-5")), .error(422, "validation_failed")),
                Case("record: capacity a fraction", officeWrite("POST", services, service("capacity", "2.5")), .error(422, "validation_failed")),
                Case("record: capacity beyond 2^53", officeWrite("POST", services, service("capacity", "1e300")), .error(422, "validation_failed")),
                Case("record: municipality code that does not exist", officeWrite("POST", services, service("municipalities", "[99999]")), .error(422, "validation_failed")),
                Case("record: 200,000 municipality codes", officeWrite("POST", services, service("municipalities", hugeArray)), .error(422, "validation_failed")),
                Case("record: 3 MB name", officeWrite("POST", services, service("nameFi", "\"" + String(repeating: "n", count: 3_000_000) + "\"")),
                     .error(422, "validation_failed")),
                Case("record: id that is not a UUID", officeWrite("POST", services, service("id", "\"../../etc/passwd\"")), .error(422, "validation_failed")),
                Case("record: impossible date 2023-02-30", officeWrite("POST", clients, client("birthDate", "\"2023-02-30\"")), .error(422, "validation_failed")),
                Case("record: date with month 13", officeWrite("POST", clients, client("birthDate", "\"1990-13-01\"")), .error(422, "validation_failed")),
                Case("record: date in another format", officeWrite("POST", clients, client("birthDate", "\"17.05.1990\"")), .error(422, "validation_failed")),
                Case("record: date year 0", officeWrite("POST", clients, client("birthDate", "\"0000-01-01\"")), .error(422, "validation_failed")),
                Case("record: date as a number", officeWrite("POST", clients, client("birthDate", "19900517")), .error(422, "validation_failed")),
                Case("record: owner municipality of another office", officeWrite("POST", clients, client("ownerMunicipality", "440")), .error(403, "forbidden_scope")),
                Case("record: update naming no field", officeWrite("PATCH", existing, "{}"), .error(422, "validation_failed")),
                Case("record: update with a wrong type", officeWrite("PATCH", existing, "{\"capacity\":\"many\"}"), .error(422, "validation_failed")),
                Case("record: update of a record that does not exist", officeWrite("PATCH", "/v1/services/\(newID())", "{\"capacity\":3}"), .error(404, "not_found")),
                Case("record: path traversal as the id", officeWrite("PATCH", "/v1/services/..%2F..%2Fnode_state", "{\"capacity\":3}"), .error(404, "not_found")),
                Case("record: SQL-looking id", api("DELETE", "/v1/services/1'%20OR%20'1'%3D'1", token: office), .error(404, "not_found")),
                Case("record: percent-encoded NUL in the id", api("GET", "/v1/services/%00", token: coordinator), .error(404, "not_found")),
                Case("record: delete of a record that does not exist", api("DELETE", "/v1/services/\(newID())", token: office), .error(404, "not_found")),
                Case("record: path traversal out of the API", api("GET", "/v1/../../etc/passwd", token: coordinator), .error(404, "not_found")),
            ]
        }

        /// List filters that name nothing or hold impossible values.
        func queryCases() -> [Case] {
            func list(_ query: String) -> [UInt8] { api("GET", "/v1/services?\(query)", token: coordinator) }
            return [
                Case("query: unknown filter", list("colour=blue"), .error(400, "invalid_query")),
                Case("query: SQL-looking filter name", list("status%3D'active'%20OR%201%3D1--=x"), .error(400, "invalid_query")),
                Case("query: SQL-looking filter value", list("status='%20OR%20'1'%3D'1"), .error(400, "invalid_query")),
                Case("query: limit 0", list("limit=0"), .error(400, "invalid_query")),
                Case("query: limit of 25 digits", list("limit=9999999999999999999999999"), .error(400, "invalid_query")),
                Case("query: after that is not an id", list("after=../../x"), .error(400, "invalid_query")),
                Case("query: includeDeleted neither true nor false", list("includeDeleted=yes"), .error(400, "invalid_query")),
                Case("query: invalid percent-encoding", list("status=%E0%A4%A"), .error(400, "bad_request")),
            ]
        }

        /// The sync protocol: malformed pulls, forged or broken batches, strangers.
        func syncCases() throws -> [Case] {
            let chain = try kronobyChain(3)
            var unsigned = chain[1]
            unsigned.signature = nil
            var badSignature = chain[1]
            badSignature.signature = [UInt8](repeating: 0x5A, count: 64)
            let otherFirst = try kronobyChain(1)[0]
            let valid = batch([chain[0]])
            let strangers = Dictionary(uniqueKeysWithValues: (0..<2000).map { ("stranger-\($0)", "1") })
            let oversizedVector = "{" + strangers.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
            var manyHeads = wireBatchPrefix(incarnation: "hostile", headCount: 10_001)
            manyHeads += [UInt8](repeating: 0, count: 64)
            var lyingCount = wireBatchPrefix(incarnation: "hostile", headCount: 0)
            lyingCount += [0xFF, 0xFF, 0xFF, 0x0F]  // 33 million changes
            var badVersion = valid
            badVersion[4] = 9
            let mallory = Change(dot: Dot(origin: "mallory", seq: 1), hlc: HLC(wallMillis: nowMillis), record: .service, rowID: UUID(),
                                 kind: .upsert, fields: chain[0].fields, rowClock: RowClock(["mallory": 1]))
            return [
                Case("pull: body not JSON", api("POST", "/v1/sync/pull", token: peer, body: Array("node=kronoby".utf8)), .error(400, "invalid_json")),
                Case("pull: missing node", pull("node", nil), .error(400, "invalid_request")),
                Case("pull: node of the wrong type", pull("node", "42"), .error(400, "invalid_request")),
                Case("pull: node id with path traversal", pull("node", "\"../jakobstad\""), .error(400, "invalid_request")),
                Case("pull: node that is not a member", pull("node", "\"mallory\""), .error(403, "not_a_member")),
                Case("pull: another member's node id with kronoby's credential", pull("node", "\"larsmo\""), .error(403, "credential_mismatch")),
                Case("pull: version vector naming a non-member", pull("versionVector", "{\"mallory\":5}"), .error(403, "not_a_member")),
                Case("pull: oversized version vector of 2,000 strangers", pull("versionVector", oversizedVector), .error(403, "not_a_member")),
                Case("pull: version vector with a negative seq", pull("versionVector", "{\"kronoby\":-1}"), .error(400, "invalid_request")),
                Case("pull: version vector seq beyond 2^53", pull("versionVector", "{\"kronoby\":1e300}"), .error(400, "invalid_request")),
                Case("pull: since negative", pull("since", "-1"), .error(400, "invalid_request")),
                Case("pull: limit 0", pull("limit", "0"), .error(400, "invalid_request")),
                Case("pull: limit one million", pull("limit", "1000000"), .error(400, "invalid_request")),
                Case("pull: heads with a short hash", pull("heads", "{\"kronoby\":{\"seq\":1,\"hash\":\"abcd\"}}"), .error(400, "invalid_request")),
                Case("pull: heads naming a non-member", pull("heads", "{\"mallory\":{\"seq\":1,\"hash\":\"\(String(repeating: "0", count: 64))\"}}"),
                     .error(403, "not_a_member")),
                Case("pull: clock negative", pull("clock", "-5"), .error(400, "invalid_request")),
                Case("pull: another protocol version", pull("protocol", "99"), .error(409, "version_mismatch")),
                Case("push: body that is no batch", push(Array("GET / HTTP/1.1".utf8)), .error(400, "invalid_batch")),
                Case("push: empty body", push([]), .error(400, "invalid_batch")),
                Case("push: batch cut off in its last change", push(Array(valid.dropLast(40))), .error(400, "invalid_batch")),
                Case("push: batch with trailing bytes", push(valid + [0, 0]), .error(400, "invalid_batch")),
                Case("push: unknown wire format version", push(badVersion), .error(400, "invalid_batch")),
                Case("push: 10,001 chain heads", push(manyHeads), .error(400, "invalid_batch")),
                Case("push: change count larger than the batch", push(lyingCount), .error(400, "invalid_batch")),
                Case("push: change of a node that is not a member", push(batch([mallory], heads: [:])), .error(409, "batch_refused")),
                Case("push: missing Kotosync-Node header", push(valid, overrides: ["Kotosync-Node": nil]), .error(400, "invalid_header")),
                Case("push: Kotosync-Node naming a non-member", push(valid, overrides: ["Kotosync-Node": "mallory"]), .error(403, "not_a_member")),
                Case("push: Kotosync-Node of another member with kronoby's credential", push(valid, overrides: ["Kotosync-Node": "larsmo"]),
                     .error(403, "credential_mismatch")),
                Case("push: missing log position header", push(valid, overrides: ["Kotosync-Log-Position": nil]), .error(400, "invalid_header")),
                Case("push: log position that is not a number", push(valid, overrides: ["Kotosync-Log-Position": "-1"]), .error(400, "invalid_header")),
                Case("push: nextPosition past the sender's log end", push(batch([chain[0]], nextPosition: 1_000_000), overrides: ["Kotosync-Log-Position": "5"]),
                     .error(400, "invalid_position")),
                Case("push: another schema version", push(valid, overrides: ["Kotosync-Schema": "999"]), .error(409, "version_mismatch")),
                Case("push: heads naming a non-member", push(batch([chain[0]], heads: ["mallory": ChainHead(seq: 1, hash: chain[0].chainHash)])),
                     .error(403, "not_a_member")),
                Case("push: gap, kronoby:2 without kronoby:1", push(batch([chain[1]])), .error(409, "batch_refused")),
                Case("push: reordered dots, kronoby:2 before kronoby:1", push(batch([chain[1], chain[0]])), .error(409, "batch_refused")),
                // The same change twice is only skipped the second time (the store's choice): these two must still land nothing.
                Case("push: duplicated dot, kronoby:1 twice with different content", push(batch([chain[0], otherFirst])), .error(409, "fork")),
                Case("push: duplicated dot, kronoby:1 twice, then a gap to kronoby:3", push(batch([chain[0], chain[0], chain[2]])),
                     .error(409, "batch_refused")),
                Case("push: valid kronoby:1 then kronoby:2 without a signature", push(batch([chain[0], unsigned])), .error(409, "batch_refused")),
                Case("push: valid kronoby:1 then kronoby:2 with a forged signature", push(batch([chain[0], badSignature])), .error(409, "batch_refused")),
                Case("push: gap inside a batch, kronoby:1 then kronoby:3", push(batch([chain[0], chain[2]])), .error(409, "batch_refused")),
                Case("notify: body not JSON", api("POST", "/v1/sync/notify", token: peer, body: Array("{".utf8)), .error(400, "invalid_request")),
                Case("notify: node that is not a member", api("POST", "/v1/sync/notify", token: peer, body: Array("{\"node\":\"mallory\"}".utf8)),
                     .error(403, "not_a_member")),
                Case("state: no node parameter", api("GET", "/v1/sync/state", token: peer), .error(400, "invalid_query")),
                Case("state: node parameter with SQL", api("GET", "/v1/sync/state?node=kronoby'%20OR%201%3D1", token: peer), .error(400, "invalid_query")),
            ]
        }
    }
}

/// The start of a batch in the wire format, up to its head count (an empty origin table before it), for hand-made broken batches.
func wireBatchPrefix(incarnation: String, headCount: UInt64) -> [UInt8] {
    func uint(_ value: UInt64) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        return bytes + [UInt8(value)]
    }
    return WireFormat.magic + [WireFormat.version] + uint(UInt64(incarnation.utf8.count)) + Array(incarnation.utf8)
        + uint(1) + uint(0) + [UInt8](repeating: 0, count: 32) + [0] + uint(0) + uint(headCount)
}
