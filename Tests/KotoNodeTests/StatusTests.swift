import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// `GET /v1/status`: the replica's clocks, conflict count and each peer
/// link's health; and a whole `Node` serving it over a socket.
@Suite struct StatusTests {
    static let peers = [PeerConfig(node: "larsmo", url: nil, mode: .passive),
                        PeerConfig(node: "nykarleby", url: "http://127.0.0.1:9", mode: .pull)]

    static func status(_ node: TestNode, as caller: TestCaller = .admin) async throws -> JSONValue {
        let response = try await node.send(.get, "/v1/status", as: caller)
        try #require(response.status == .ok)
        #expect(response.headers["Content-Type"] == "application/json")
        return try response.json
    }

    static func peer(_ status: JSONValue, _ node: String) -> JSONValue? {
        status["peers"]?.arrayValue?.first { $0["node"]?.stringValue == node }
    }

    static func clientFields(number: Int) -> FieldMap {
        ["clientNumber": .text("T-\(number)"), "ownerMunicipality": .integer(440), "givenName": .text("Testi"),
         "familyName": .text("Henkilö"), "birthDate": .text("1990-01-01"), "integrationLanguage": .text("sv"),
         "planStatus": .text("none"), "status": .text("new")]
    }

    @Test func freshNodeStatus() async throws {
        let node = try TestNode(peers: Self.peers)
        let status = try await Self.status(node)
        #expect(status["node"] == .string("jakobstad"))
        #expect(status["versionVector"] == .object([]))
        #expect(status["logPosition"] == .number(0))
        #expect(status["seq"] == .number(0))
        #expect(status["incarnation"]?.stringValue?.isEmpty == false)
        #expect(status["schemaVersion"] == .number(Double(ReplicaStore.schemaVersion)))
        #expect(status["protocolVersion"] == .number(Double(SyncProtocol.version)))
        #expect(status["conflicts"] == .number(0))
        #expect(status["catchingUp"] == .bool(false))

        let peers = try #require(status["peers"]?.arrayValue)
        #expect(peers.map { $0["node"]?.stringValue } == ["larsmo", "nykarleby"])
        for peer in peers {
            for key in ["node", "url", "mode", "state", "lastSuccess", "lastError", "consecutiveFailures", "lag"] {
                #expect(peer[key] != nil, "peer member \(key)")
            }
            #expect(peer["lastSuccess"] == .null)
            #expect(peer["lastError"] == .null)
            #expect(peer["lag"] == .number(0))
            #expect(peer["consecutiveFailures"] == .number(0))
        }
        let larsmo = try #require(Self.peer(status, "larsmo"))
        #expect(larsmo["url"] == .null)
        #expect(larsmo["mode"] == .string("passive"))
        #expect(larsmo["state"] == .string("passive"))
        let nykarleby = try #require(Self.peer(status, "nykarleby"))
        #expect(nykarleby["url"] == .string("http://127.0.0.1:9"))
        #expect(nykarleby["mode"] == .string("pull"))
        #expect(nykarleby["state"] == .string("idle"))
        // The coordinator sees the same.
        #expect(try await Self.status(node, as: .coordinator)["node"] == .string("jakobstad"))
    }

    @Test func statusFollowsWritesAndPushes() async throws {
        let node = try TestNode(peers: Self.peers)
        try await node.create(.client, SampleJSON.client(number: 1))
        try await node.create(.client, SampleJSON.client(number: 2))
        var status = try await Self.status(node)
        #expect(status["versionVector"] == .object([("jakobstad", .number(2))]))
        #expect(status["logPosition"] == .number(2))
        #expect(status["seq"] == .number(2))

        let larsmo = try PeerStore(node: "larsmo")
        for number in 1...3 { try larsmo.store.create(.client, fields: Self.clientFields(number: 10 + number)) }
        // larsmo reports a log end beyond what it sent: 5 - 3 = 2 behind.
        let before = Date()
        #expect(try await node.push(from: larsmo.store, logPosition: 5).status == .ok)
        status = try await Self.status(node)
        #expect(status["versionVector"] == .object([("jakobstad", .number(2)), ("larsmo", .number(3))]))
        #expect(status["logPosition"] == .number(5))
        #expect(status["seq"] == .number(2))
        let peer = try #require(Self.peer(status, "larsmo"))
        #expect(peer["lag"] == .number(2))
        #expect(peer["lastError"] == .null)
        let lastSuccess = try #require(peer["lastSuccess"]?.stringValue)
        let date = try #require(ISO8601DateFormatter().date(from: lastSuccess))
        #expect(date.timeIntervalSince(before) > -2 && date.timeIntervalSinceNow < 2)
    }

    @Test func versionMismatchOfAConfiguredPeerShowsInStatus() async throws {
        let node = try TestNode(peers: Self.peers)
        let refused = try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(peer: "larsmo", schemaVersion: 99))
        #expect(refused.status == .conflict)
        let message = try #require(refused.errorMessage)
        let status = try await Self.status(node)
        let peer = try #require(Self.peer(status, "larsmo"))
        #expect(peer["lastError"] == .string(message))
        #expect(peer["consecutiveFailures"] == .number(1))
        #expect(peer["lastError"]?.stringValue?.contains("larsmo 99") == true)
        // The other peer is untouched.
        #expect(Self.peer(status, "nykarleby")?["lastError"] == .null)
    }

    /// A passive peer that only pulls (it has nothing to push) never clears
    /// the error a refused pull left: the status keeps showing the old
    /// version mismatch after the peer was upgraded and pulls fine again.
    @Test func successfulPullClearsAnEarlierRefusal() async throws {
        let node = try TestNode(peers: Self.peers)
        #expect(try await node.send(.post, "/v1/sync/pull", as: .peer,
                                    json: node.pullBody(peer: "larsmo", schemaVersion: 99)).status == .conflict)
        #expect(try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(peer: "larsmo")).status == .ok)
        let peer = try #require(Self.peer(try await Self.status(node), "larsmo"))
        #expect(peer["lastError"] == .null)
        #expect(peer["consecutiveFailures"] == .number(0))
    }

    @Test func mergedConcurrentWritesShowOneConflictUntilResolved() async throws {
        let node = try TestNode(peers: Self.peers)
        let id = try await node.create(.client, SampleJSON.client())
        let larsmo = try PeerStore(node: "larsmo")
        try await node.pull(into: larsmo.store)
        #expect(try larsmo.store.record(.client, id: id) != nil)

        // Both offices change the status without seeing each other's write.
        #expect(try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office,
                                    json: #"{"status":"assessed"}"#).status == .ok)
        let theirs = try larsmo.store.update(.client, id: id, fields: ["status": .text("closed")])
        #expect(try await node.push(from: larsmo.store).status == .ok)

        let status = try await Self.status(node)
        #expect(status["conflicts"] == .number(1))
        #expect(status["versionVector"] == .object([("jakobstad", .number(2)), ("larsmo", .number(1))]))

        let conflicts = try await node.send(.get, "/v1/conflicts", as: .coordinator).json["items"]?.arrayValue ?? []
        #expect(conflicts.count == 1)
        let conflict = try #require(conflicts.first)
        #expect(conflict["kind"] == .string("client"))
        #expect(conflict["id"] == .string("clients:\(id.lowercased):status"))
        #expect(conflict["rowId"] == .string(id.lowercased))
        #expect(conflict["field"] == .string("status"))
        #expect(conflict["firstSeen"]?.stringValue != nil)
        let winner = try #require(conflict["winner"])
        let loser = try #require(conflict["dot"])
        // One write wins on both replicas; the other is the open conflict.
        let dots: Set<String> = ["jakobstad:2", "larsmo:\(theirs.dot.seq)"]
        func text(_ dot: JSONValue) -> String { "\(dot["origin"]?.stringValue ?? "?"):\(dot["seq"]?.int64Value ?? -1)" }
        #expect(Set([text(winner), text(loser)]) == dots)
        let record = try await node.send(.get, "/v1/clients/\(id.lowercased)", as: .office).json
        #expect(record["openConflicts"] == .number(1))
        #expect(record["conflicts"]?.arrayValue?.count == 1)
        let winningValue = record["fields"]?["status"]?.stringValue
        #expect(conflict["value"]?.stringValue != winningValue)
        #expect(Set([conflict["value"]?.stringValue, winningValue]) == ["assessed", "closed"])
        #expect(try await node.send(.get, "/v1/clients?conflicted=true", as: .office).json.itemIDs == [id.lowercased])
        #expect(try await node.send(.get, "/v1/conflicts?kind=services", as: .office).json["items"] == .array([]))

        // larsmo, pulling the other write, sees the same conflict.
        try await node.pull(into: larsmo.store)
        #expect(try larsmo.store.openConflictCount() == 1)

        // A write that saw both resolves it.
        #expect(try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office,
                                    json: #"{"status":"assessed"}"#).status == .ok)
        #expect(try await Self.status(node)["conflicts"] == .number(0))
        #expect(try await node.send(.get, "/v1/conflicts", as: .admin).json["items"] == .array([]))
    }

    // MARK: A whole node

    /// Starts a `Node` on an ephemeral port in a temporary directory, runs
    /// `body` with its base URL and a client, then shuts it down.
    static func withRunningNode(peers: [PeerConfig], settle: Duration = .zero,
                                _ body: (Node, String, AsyncHTTPClient) async throws -> Void) async throws {
        Log.isEnabled = false
        let directory = try TemporaryDirectory()
        var config = try TestRegion.writeNode("kronoby", in: directory)
        config.port = 0
        config.synchronous = .off
        config.shutdownGrace = .milliseconds(200)
        config.connectTimeout = .milliseconds(500)
        config.peers = peers
        let node = try Node(config: config, secrets: testSecrets(for: "kronoby"))
        #expect(node.port > 0)
        #expect(FileManager.default.fileExists(atPath: config.databasePath))
        #expect(node.replica.nodeID == "kronoby")
        let running = Task { try await node.run() }
        let client = try AsyncHTTPClient(configuration: HTTPClient.Configuration(connectTimeout: .seconds(2), totalTimeout: .seconds(5)))
        do {
            try await Task.sleep(for: settle)
            try await body(node, "http://127.0.0.1:\(node.port)", client)
        } catch {
            node.shutdown()
            _ = try? await running.value
            throw error
        }
        node.shutdown()
        try await running.value
    }

    static func exercise(_ base: String, _ client: AsyncHTTPClient) async throws {
        let health = try await client.send(.get, "\(base)/healthz")
        #expect(health.status == .ok)
        // Right after start, local writes wait (503 catching_up) until the
        // peers were asked whether this node was restored from a backup.
        var created = HTTPResponse(status: .serviceUnavailable)
        for _ in 0..<100 where created.status == .serviceUnavailable {
            created = try await client.send(.post, "\(base)/v1/clients",
                                            headers: ["Authorization": "Bearer \(Token.office(of: 288))", "Content-Type": "application/json"],
                                            body: Array(SampleJSON.client(owner: 288).utf8))
            if created.status == .serviceUnavailable {
                #expect((try? JSONValue.parse(created.body))?["error"]?["code"] == .string("catching_up"))
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(created.status == .created)
        let unauthorised = try await client.send(.get, "\(base)/v1/status")
        #expect(unauthorised.status == .unauthorized)
        #expect(unauthorised.headers["WWW-Authenticate"] == "Bearer")
        let status = try await client.send(.get, "\(base)/v1/status", headers: ["Authorization": "Bearer \(Token.admin)"])
        #expect(status.status == .ok)
        let json = try JSONValue.parse(status.body)
        #expect(json["node"] == .string("kronoby"))
        #expect(json["versionVector"] == .object([("kronoby", .number(1))]))
    }

    @Test func runningNodeServesOverASocket() async throws {
        // nykarleby is unreachable: its link keeps backing off meanwhile.
        try await Self.withRunningNode(peers: [PeerConfig(node: "larsmo", url: nil, mode: .passive),
                                               PeerConfig(node: "nykarleby", url: "http://127.0.0.1:9", mode: .pull)]) { _, base, client in
            try await Self.exercise(base, client)
        }
    }

    /// An office whose peers all reach it (passive links), or a node with no
    /// peers yet, must keep serving: its scheduler has nothing to run.
    @Test(arguments: [[], [PeerConfig(node: "larsmo", url: nil, mode: .passive)]] as [[PeerConfig]])
    func nodeWithNoPeerToContactKeepsServing(peers: [PeerConfig]) async throws {
        try await Self.withRunningNode(peers: peers, settle: .milliseconds(200)) { _, base, client in
            try await Self.exercise(base, client)
        }
    }
}
