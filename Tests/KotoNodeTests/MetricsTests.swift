import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// `GET /metrics`: who may scrape, and that the counters and gauges follow
/// what the node really did (requests, a pull over a socket, refused
/// batches, conflicts, forks, clock skew).
@Suite struct MetricsTests {
    static func scrape(_ node: TestNode, as caller: TestCaller = .scrape) async throws -> Scrape {
        let response = try await node.send(.get, "/metrics", as: caller)
        try #require(response.status == .ok)
        #expect(response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8")
        return try Scrape(response.bodyText)
    }

    /// A test node answering over a loopback socket, so another node's link pulls from it for real.
    final class ServedNode {
        let node: TestNode
        let server: HTTPServer
        private let running: Task<Void, any Error>
        var url: String { "http://127.0.0.1:\(server.port)" }

        init(_ node: TestNode) throws {
            self.node = node
            let server = try HTTPServer(host: "127.0.0.1", port: 0, router: node.router)
            self.server = server
            running = Task { try await server.run() }
        }

        func stop() async {
            server.shutdown(gracePeriod: .milliseconds(100))
            _ = try? await running.value
        }
    }

    static func nowSeconds() -> Double { Date().timeIntervalSince1970 }

    @Test func theScrapeRoleOpensMetricsOnly() async throws {
        let node = try TestNode()
        _ = try await Self.scrape(node, as: .scrape)
        _ = try await Self.scrape(node, as: .admin)
        for caller in [TestCaller.office, .coordinator, .peer] {
            #expect(try await node.send(.get, "/metrics", as: caller).status == .forbidden, "\(caller)")
        }
        #expect(try await node.send(.get, "/metrics", as: .none).status == .unauthorized)
        let id = try await node.create(.client, SampleJSON.client())
        for target in ["/v1/status", "/v1/conflicts", "/v1/clients", "/v1/clients/\(id.lowercased)", "/v1/sync/state?node=larsmo"] {
            let response = try await node.send(.get, target, as: .scrape)
            #expect(response.status == .forbidden, "\(target)")
            #expect(response.errorMessage?.contains("scrape") == true, "\(target)")
        }
        #expect(try await node.send(.post, "/v1/clients", as: .scrape, json: SampleJSON.client(number: 2)).status == .forbidden)
        #expect(try await node.send(.post, "/v1/sync/pull", as: .scrape, json: node.pullBody()).status == .forbidden)
    }

    @Test func requestsAndARealPullShowInTheCounters() async throws {
        let larsmo = try ServedNode(try TestNode(node: "larsmo", peers: [PeerConfig(node: "jakobstad", url: nil, mode: .passive)]))
        for number in 1...3 {
            let id = UUID()
            _ = try await larsmo.node.replica.write(.client, id: id, .create(StatusTests.clientFields(number: number), id: id))
        }
        let node = try TestNode(peers: [PeerConfig(node: "larsmo", url: larsmo.url, mode: .pull)]) {
            // Generous: the counters are checked, not the pull's speed (a loaded test run can starve the server for seconds).
            $0.connectTimeout = .seconds(10)
            $0.requestTimeout = .seconds(30)
        }
        let link = try #require(node.scheduler.links["larsmo"])

        let fresh = try await Self.scrape(node)
        #expect(fresh.value("kotosync_sync_pulls_total", ["peer": "larsmo", "result": "ok"]) == 0)
        #expect(fresh.value("kotosync_sync_pulls_total", ["peer": "larsmo", "result": "error"]) == 0)
        #expect(fresh.value("kotosync_changes_applied_total", ["peer": "larsmo"]) == 0)
        #expect(fresh.value("kotosync_batch_apply_duration_seconds_count") == 0)
        #expect(fresh.value("kotosync_peer_last_success_timestamp_seconds", ["peer": "larsmo"]) == 0)
        #expect(fresh.value("kotosync_peer_state", ["peer": "larsmo", "state": "idle"]) == 1)
        #expect(fresh.value("kotosync_peer_state", ["peer": "larsmo", "state": "ok"]) == 0)
        #expect(fresh.value("kotosync_node_info", ["node": "jakobstad", "region": "test-region", "municipality": "598"]) == 1)
        #expect(fresh.value("kotosync_build_info", ["version": BuildInfo.version,
                                                    "schema_version": String(node.config.advertisedSchemaVersion),
                                                    "protocol_version": String(SyncProtocol.version)]) == 1)
        #expect(fresh.value("kotosync_log_entries") == 0)
        #expect(fresh.value("kotosync_own_fork") == 0)
        #expect(fresh.value("kotosync_accepting_writes") == 1)
        #expect(fresh.all("kotosync_changes_held").isEmpty)
        let started = try #require(fresh.value("kotosync_node_start_time_seconds"))
        #expect(abs(started - Self.nowSeconds()) < 60)

        // Requests: counted by route pattern, never by path.
        let id = try await node.create(.client, SampleJSON.client())
        #expect(try await node.send(.get, "/v1/clients/\(id.lowercased)", as: .office).status == .ok)
        #expect(try await node.send(.get, "/v1/clients/\(UUID().lowercased)", as: .office).status == .notFound)
        #expect(try await node.send(.get, "/no/such/route", as: .office).status == .notFound)
        #expect(try await node.send(.get, "/v1/status", as: .office).status == .forbidden)

        let before = Self.nowSeconds()
        _ = await link.syncRound()
        let after = Self.nowSeconds()
        let synced = try await Self.scrape(node)
        #expect(synced.value("kotosync_sync_pulls_total", ["peer": "larsmo", "result": "ok"]) == 1)
        #expect(synced.value("kotosync_sync_pulls_total", ["peer": "larsmo", "result": "error"]) == 0)
        #expect(synced.value("kotosync_batches_applied_total", ["peer": "larsmo"]) == 1)
        #expect(synced.value("kotosync_changes_applied_total", ["peer": "larsmo"]) == 3)
        #expect(synced.value("kotosync_batches_refused_total", ["peer": "larsmo", "reason": "batch_refused"]) == 0)
        #expect(synced.value("kotosync_batch_apply_duration_seconds_count") == 1)
        #expect(synced.value("kotosync_batch_apply_duration_seconds_bucket", ["le": "+Inf"]) == 1)
        #expect((synced.value("kotosync_batch_apply_duration_seconds_sum") ?? -1) > 0)
        let lastSuccess = try #require(synced.value("kotosync_peer_last_success_timestamp_seconds", ["peer": "larsmo"]))
        #expect(lastSuccess >= before - 1 && lastSuccess <= after + 1)
        #expect(synced.value("kotosync_peer_lag_changes", ["peer": "larsmo"]) == 0)
        #expect(synced.value("kotosync_peer_lag_seconds", ["peer": "larsmo"]) == 0)
        #expect(synced.value("kotosync_peer_consecutive_failures", ["peer": "larsmo"]) == 0)
        #expect(synced.value("kotosync_peer_state", ["peer": "larsmo", "state": "ok"]) == 1)
        #expect(synced.value("kotosync_peer_state", ["peer": "larsmo", "state": "idle"]) == 0)
        #expect(synced.value("kotosync_changes_held", ["origin": "jakobstad"]) == 1)
        #expect(synced.value("kotosync_changes_held", ["origin": "larsmo"]) == 3)
        #expect(synced.value("kotosync_log_entries") == 4)
        #expect((synced.value("kotosync_database_bytes", ["file": "main"]) ?? 0) > 0)
        #expect(synced.value("kotosync_database_bytes", ["file": "wal"]) != nil)
        func requests(_ method: String, _ route: String, _ status: Int) -> Double? {
            synced.value("kotosync_http_requests_total", ["method": method, "route": route, "status": String(status)])
        }
        #expect(requests("POST", "/v1/clients", 201) == 1)
        #expect(requests("GET", "/v1/clients/{id}", 200) == 1)
        #expect(requests("GET", "/v1/clients/{id}", 404) == 1)
        #expect(requests("GET", "unmatched", 404) == 1)
        #expect(requests("GET", "/v1/status", 403) == 1)
        // The first scrape; this one counts once it is answered.
        #expect(requests("GET", "/metrics", 200) == 1)
        #expect(synced.value("kotosync_http_request_duration_seconds_count", ["method": "GET", "route": "/v1/clients/{id}"]) == 2)
        #expect(!synced.samples.contains { $0.labels.values.contains(id.lowercased) })

        // larsmo goes away: the next pull fails and the lag starts counting.
        await larsmo.stop()
        try await Task.sleep(for: .milliseconds(50))
        _ = await link.syncRound()
        let failing = try await Self.scrape(node)
        #expect(failing.value("kotosync_sync_pulls_total", ["peer": "larsmo", "result": "ok"]) == 1)
        #expect(failing.value("kotosync_sync_pulls_total", ["peer": "larsmo", "result": "error"]) == 1)
        #expect(failing.value("kotosync_peer_consecutive_failures", ["peer": "larsmo"]) == 1)
        #expect(failing.value("kotosync_peer_state", ["peer": "larsmo", "state": "backing off"]) == 1)
        #expect(failing.value("kotosync_peer_last_success_timestamp_seconds", ["peer": "larsmo"]) == lastSuccess)
        #expect((failing.value("kotosync_peer_lag_seconds", ["peer": "larsmo"]) ?? 0) >= 0.05)
        #expect(failing.value("kotosync_batches_applied_total", ["peer": "larsmo"]) == 1)
        #expect(failing.value("kotosync_http_requests_total", ["method": "GET", "route": "/metrics", "status": "200"]) == 2)
    }

    @Test func conflictsRefusedBatchesAndForksShow() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        let larsmo = try PeerStore(node: "larsmo")
        try await node.pull(into: larsmo.store)
        var scrape = try await Self.scrape(node)
        #expect(scrape.value("kotosync_conflicts_open") == 0)
        #expect(scrape.all("kotosync_conflict_oldest_first_seen_timestamp_seconds").isEmpty)
        #expect(scrape.types["kotosync_conflict_oldest_first_seen_timestamp_seconds"] == "gauge")

        // Concurrent writes to one field: an open conflict, first seen now.
        #expect(try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office, json: #"{"status":"assessed"}"#).status == .ok)
        _ = try larsmo.store.update(.client, id: id, fields: ["status": .text("closed")])
        let before = Self.nowSeconds()
        #expect(try await node.push(from: larsmo.store).status == .ok)
        let after = Self.nowSeconds()
        scrape = try await Self.scrape(node)
        #expect(scrape.value("kotosync_conflicts_open") == 1)
        let firstSeen = try #require(scrape.value("kotosync_conflict_oldest_first_seen_timestamp_seconds"))
        #expect(firstSeen >= before - 1 && firstSeen <= after + 1)
        #expect(scrape.value("kotosync_batches_applied_total", ["peer": "larsmo"]) == 1)
        #expect(scrape.value("kotosync_changes_applied_total", ["peer": "larsmo"]) == 1)
        #expect(scrape.value("kotosync_peer_forked", ["peer": "larsmo"]) == 0)

        // A batch too far ahead of this node's clock is refused whole.
        let ahead = try PeerStore(node: "nykarleby", clockAhead: .seconds(3600))
        try ahead.store.create(.client, fields: StatusTests.clientFields(number: 7))
        #expect(try await node.push(from: ahead.store).errorCode == "batch_refused")
        // Another change under larsmo:1 than the one held: a fork, refused.
        let twin = try PeerStore(node: "larsmo")
        try twin.store.create(.client, fields: StatusTests.clientFields(number: 8))
        #expect(try await node.push(from: twin.store).errorCode == "fork")
        scrape = try await Self.scrape(node)
        #expect(scrape.value("kotosync_batches_refused_total", ["peer": "nykarleby", "reason": "batch_refused"]) == 1)
        #expect(scrape.value("kotosync_batches_refused_total", ["peer": "larsmo", "reason": "fork"]) == 1)
        #expect(scrape.value("kotosync_batches_refused_total", ["peer": "larsmo", "reason": "batch_refused"]) == 0)
        #expect(scrape.value("kotosync_changes_applied_total", ["peer": "larsmo"]) == 1)
        #expect(scrape.value("kotosync_peer_forked", ["peer": "larsmo"]) == 1)
        #expect(scrape.value("kotosync_peer_state", ["peer": "larsmo", "state": "forked"]) == 1)
        #expect(scrape.value("kotosync_peer_state", ["peer": "larsmo", "state": "passive"]) == 0)
        #expect(scrape.value("kotosync_peer_diverged", ["peer": "larsmo"]) == 0)
        #expect(scrape.value("kotosync_own_fork") == 0)

        // A copy of this node that reused jakobstad:1: its own history forked.
        let copy = try PeerStore(node: "jakobstad")
        try copy.store.create(.client, fields: StatusTests.clientFields(number: 9))
        let pull = try await node.send(.post, "/v1/sync/pull", as: .peer,
                                       json: node.pullBody(vector: copy.store.versionVector, heads: copy.store.chainHeads))
        #expect(pull.errorCode == "fork")
        scrape = try await Self.scrape(node)
        #expect(scrape.value("kotosync_own_fork") == 1)
        #expect(scrape.value("kotosync_accepting_writes") == 0)
    }

    @Test func clockSkewShowsInSecondsAndWhenItStopsWrites() async throws {
        // This node's clock runs 15 minutes ahead; the bound is 5.
        let node = try TestNode(clockAhead: .seconds(900)) { $0.maxClockAhead = .seconds(300) }
        var scrape = try await Self.scrape(node)
        #expect(scrape.all("kotosync_clock_skew_seconds").isEmpty)
        #expect(scrape.value("kotosync_clock_skew_exceeded") == 0)
        let peerClock = UInt64(Date().timeIntervalSince1970 * 1000)
        #expect(try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(clock: peerClock)).status == .ok)
        scrape = try await Self.scrape(node)
        let skew = try #require(scrape.value("kotosync_clock_skew_seconds"))
        #expect(abs(skew - 900) < 30)
        #expect(scrape.value("kotosync_clock_skew_exceeded") == 1)
        #expect(scrape.value("kotosync_accepting_writes") == 0)
    }

    @Test func everyFamilyHasHelpAndTypeAndConventionalNames() async throws {
        let node = try TestNode(peers: StatusTests.peers)
        let scrape = try await Self.scrape(node)
        #expect(!scrape.samples.isEmpty)
        for (name, type) in scrape.types {
            #expect(name.hasPrefix("kotosync_"), "\(name)")
            #expect(scrape.helps[name]?.isEmpty == false, "\(name)")
            #expect((type == "counter") == name.hasSuffix("_total"), "\(name) is a \(type)")
        }
        for sample in scrape.samples {
            let family = scrape.types.keys.first { sample.name == $0 || (sample.name.hasPrefix($0)
                && ["_bucket", "_sum", "_count"].contains(String(sample.name.dropFirst($0.count)))) }
            #expect(family != nil, "\(sample.name) has no TYPE line")
        }
        // Every configured peer has its per-peer series, passive ones too.
        for peer in ["larsmo", "nykarleby"] {
            for name in ["kotosync_peer_lag_changes", "kotosync_peer_lag_seconds", "kotosync_peer_last_success_timestamp_seconds",
                         "kotosync_peer_consecutive_failures", "kotosync_peer_forked", "kotosync_peer_diverged"] {
                #expect(scrape.value(name, ["peer": peer]) != nil, "\(name) for \(peer)")
            }
            #expect(scrape.all("kotosync_peer_state").filter { $0.labels["peer"] == peer }.map(\.value).reduce(0, +) == 1)
        }
        // Pulls are counted for the link that pulls, not the passive one.
        #expect(scrape.value("kotosync_sync_pulls_total", ["peer": "nykarleby", "result": "ok"]) == 0)
        #expect(scrape.value("kotosync_sync_pulls_total", ["peer": "larsmo", "result": "ok"]) == nil)
    }
}
