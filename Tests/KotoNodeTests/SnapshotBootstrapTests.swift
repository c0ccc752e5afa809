import Foundation
import KotoCore
import KotoHTTP
import KotoTestSupport
import Testing
@testable import KotoNode
@testable import KotoStore

/// `GET /v1/sync/snapshot` (peer credential only, streamed) and
/// `SnapshotBootstrap`: a new node builds itself from a peer's snapshot, a
/// node every peer answers 410 does too when nothing local would be lost,
/// and the digest is compared with a second peer afterwards. In-process
/// nodes over `InProcessTransport`.
@Suite struct SnapshotBootstrapTests {
    static func peerHeaders(_ node: String = "larsmo", schema: Int = ReplicaStore.schemaVersion) -> HTTPHeaders {
        [SyncProtocol.Header.node: node, SyncProtocol.Header.protocolVersion: String(SyncProtocol.version),
         SyncProtocol.Header.schemaVersion: String(schema)]
    }

    /// Writes `count` clients at `node` in one batch.
    static func seed(_ node: TestNode, count: Int, seed: UInt64) async throws {
        try await node.replica.writeBatch { store in
            var rng = SeededGenerator(seed: seed)
            for number in 0..<count { try store.create(.client, fields: Sample.client(&rng, number: number)) }
        }
    }

    @Test func theEndpointStreamsASnapshotToAPeerOnly() async throws {
        let node = try TestNode()
        try await Self.seed(node, count: 25, seed: 1)
        let target = "/v1/sync/snapshot?node=larsmo"
        #expect(try await node.send(.get, target, as: .none, headers: Self.peerHeaders()).status == .unauthorized)
        for caller in [TestCaller.office, .coordinator, .admin, .scrape] {
            let response = try await node.send(.get, target, as: caller, headers: Self.peerHeaders())
            #expect(response.status == .forbidden, "\(caller)")
            #expect(response.stream == nil)
        }
        let mismatch = try await node.send(.get, target, as: .peerOf("kronoby"), headers: Self.peerHeaders())
        #expect(mismatch.status == .forbidden)
        #expect(mismatch.errorCode == "credential_mismatch")
        #expect(try await node.send(.get, "/v1/sync/snapshot", as: .peer, headers: Self.peerHeaders()).status == .badRequest)
        let otherSchema = try await node.send(.get, target, as: .peer, headers: Self.peerHeaders(schema: 99))
        #expect(otherSchema.status == .conflict)
        #expect(otherSchema.errorCode == "version_mismatch")

        let response = try await node.send(.get, target, as: .peer, headers: Self.peerHeaders())
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == SnapshotFormat.contentType)
        #expect(response.body.isEmpty, "the body is streamed, not built")
        let stream = try #require(response.stream)
        let bytes = try stream.collect()
        // What it streamed builds an equal replica.
        let directory = try TemporaryDirectory()
        let store = try ReplicaStore(path: directory.path("larsmo.sqlite"), nodeID: "larsmo", identity: TestKeys.identity("larsmo"))
        var offset = 0
        let summary = try store.importSnapshot { count in
            defer { offset = min(bytes.count, offset + count) }
            return Array(bytes[offset..<min(bytes.count, offset + count)])
        }
        #expect(summary.rows == 25)
        let (digest, vector) = try await node.replica.withStore { ($0.stateDigest, $0.versionVector) }
        #expect(store.stateDigest == digest)
        #expect(store.versionVector == vector)
    }

    /// jakobstad and larsmo hold the same 40 clients; kronoby is new.
    struct Region {
        let jakobstad: TestNode
        let larsmo: TestNode
        let kronoby: TestNode
        let scheduler: SyncScheduler
        /// kronoby's API over `scheduler` (its status shows the bootstrap).
        let api: API

        init(kronobyHolds: Int = 0, configure: (inout NodeConfig) -> Void = { $0.snapshotMinChanges = 1 }) async throws {
            jakobstad = try TestNode(node: "jakobstad", peers: [])
            larsmo = try TestNode(node: "larsmo", peers: [])
            kronoby = try TestNode(node: "kronoby", peers: [])
            // Four transactions, so a pull of ten ends on a signed change.
            for part in 0..<4 { try await SnapshotBootstrapTests.seed(jakobstad, count: 10, seed: 2 + UInt64(part)) }
            let transport = InProcessTransport(routers: ["jakobstad": jakobstad.router, "larsmo": larsmo.router, "kronoby": kronoby.router])
            var larsmoConfig = larsmo.config
            larsmoConfig.peers = [PeerConfig(node: "jakobstad", url: InProcessTransport.url("jakobstad"), mode: .pull)]
            let larsmoLink = try PeerLink(peer: larsmoConfig.peers[0], config: larsmoConfig, replica: larsmo.replica,
                                          secrets: testSecrets(for: "larsmo"), transport: transport, onApplied: { _ in })
            _ = await larsmoLink.syncRound()
            if kronobyHolds > 0 {
                let batch = try await jakobstad.replica.readLog(after: 0, notCoveredBy: VersionVector(), limit: kronobyHolds)
                _ = try await kronoby.replica.apply(batch, from: "jakobstad")
            }
            var config = kronoby.config
            config.peers = ["jakobstad", "larsmo"].map { PeerConfig(node: $0, url: InProcessTransport.url($0), mode: .pull) }
            configure(&config)
            scheduler = try SyncScheduler(config: config, replica: kronoby.replica, secrets: testSecrets(for: "kronoby"), transport: transport)
            api = API(config: config, replica: kronoby.replica, scheduler: scheduler, secrets: testSecrets(for: "kronoby"),
                      manifest: kronoby.manifest, access: kronoby.access)
        }

        func digest(_ node: TestNode) async throws -> (StateDigest, VersionVector, UInt64) {
            try await node.replica.withStore { ($0.stateDigest, $0.versionVector, $0.logPosition) }
        }
    }

    @Test func aNewNodeBootstrapsFromASnapshotAndComparesWithASecondPeer() async throws {
        let region = try await Region()
        await region.scheduler.bootstrap.bootstrapIfEmpty()
        let status = await region.scheduler.bootstrap.status
        #expect(status.state == .bootstrapped)
        #expect(status.rows == 40)
        let source = try #require(status.peer)
        let (digest, vector, position) = try await region.digest(region.kronoby)
        let (expected, expectedVector, _) = try await region.digest(region.jakobstad)
        #expect(digest == expected)
        #expect(vector == expectedVector)
        #expect(position == 0, "nothing was pulled as a log")
        #expect(!FileManager.default.fileExists(atPath: region.kronoby.config.dataDirectory + "/snapshot.partial"))

        // Then it pulls incrementally: a new write at jakobstad arrives as one log entry.
        try await SnapshotBootstrapTests.seed(region.jakobstad, count: 1, seed: 30)
        for link in region.scheduler.links.values { _ = await link.syncRound() }
        let (after, afterVector, afterPosition) = try await region.digest(region.kronoby)
        let (jakobstadAfter, jakobstadVector, _) = try await region.digest(region.jakobstad)
        #expect(afterPosition == 1)
        #expect(after == jakobstadAfter && afterVector == jakobstadVector)
        // larsmo is behind now; one more round of its own makes the VVs equal, and the second peer's digest is compared.
        let larsmoLink = try PeerLink(peer: PeerConfig(node: "jakobstad", url: InProcessTransport.url("jakobstad"), mode: .pull),
                                      config: region.larsmo.config, replica: region.larsmo.replica, secrets: testSecrets(for: "larsmo"),
                                      transport: InProcessTransport(routers: ["jakobstad": region.jakobstad.router]), onApplied: { _ in })
        _ = await larsmoLink.syncRound()
        for link in region.scheduler.links.values { _ = await link.syncRound() }
        await region.scheduler.bootstrap.check()
        let compared = await region.scheduler.bootstrap.status
        #expect(compared.comparedWith != nil && compared.comparedWith != source, "compared with the other peer")
        #expect(compared.digestMatches == true)
        // The status endpoint shows it.
        let json = try await region.api.status().json["snapshot"]
        #expect(json?["state"]?.stringValue == "bootstrapped")
        #expect(json?["rows"]?.int64Value == 40)
        #expect(json?["digestMatches"] == .bool(true))
    }

    @Test func aNewNodeWithFewChangesToCatchUpOnPullsTheLog() async throws {
        let region = try await Region { $0.snapshotMinChanges = 1000 }
        await region.scheduler.bootstrap.bootstrapIfEmpty()
        #expect(await region.scheduler.bootstrap.status.state == .none)
        #expect(try await region.kronoby.replica.withStore { $0.isEmptyReplica })
    }

    /// Raises a node's floor to its version vector, as compaction would (the log no longer serves older changes).
    static func raiseFloor(_ node: TestNode) async throws {
        try await node.replica.withStore { store in store.state.floor = store.versionVector }
    }

    @Test func whenEveryPeerAnswers410TheNodeBootstrapsIfNothingLocalIsLost() async throws {
        let region = try await Region(kronobyHolds: 10)
        try await Self.raiseFloor(region.jakobstad)
        try await Self.raiseFloor(region.larsmo)
        for link in region.scheduler.links.values { _ = await link.syncRound() }
        for link in region.scheduler.links.values {
            let detail = await link.detail ?? "-"
            let state = await link.state
            #expect(await link.snapshotRequired, "\(state) \(detail)")
            #expect(await link.state == .refused)
        }
        await region.scheduler.bootstrap.check()
        #expect(await region.scheduler.bootstrap.status.state == .bootstrapped)
        let (digest, vector, _) = try await region.digest(region.kronoby)
        let (expected, expectedVector, _) = try await region.digest(region.jakobstad)
        #expect(digest == expected && vector == expectedVector)
        for link in region.scheduler.links.values {
            _ = await link.syncRound()
            #expect(await !link.snapshotRequired)
            #expect(await link.state == .ok)
        }
    }

    @Test func aNodeHoldingChangesNoPeerHasKeepsThemAndShowsSnapshotRequired() async throws {
        let region = try await Region(kronobyHolds: 10)
        try await Self.seed(region.kronoby, count: 1, seed: 4)
        try await Self.raiseFloor(region.jakobstad)
        try await Self.raiseFloor(region.larsmo)
        for link in region.scheduler.links.values { _ = await link.syncRound() }
        let before = try await region.digest(region.kronoby)
        await region.scheduler.bootstrap.check()
        let status = await region.scheduler.bootstrap.status
        #expect(status.state == .required)
        #expect(status.detail?.contains("no peer holds every change this node holds") == true)
        let after = try await region.digest(region.kronoby)
        #expect(after == before, "its own change is kept")
        let json = try await region.api.status().json["snapshot"]
        #expect(json?["state"]?.stringValue == "snapshot required")
    }
}
