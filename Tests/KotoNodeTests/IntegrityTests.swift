import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// "Nobody is believed on their word": pulls carry heads and clock, forks
/// and divergence are loud, clocks and positions are checked against peers.
@Suite struct IntegrityTests {
    static func status(_ node: TestNode) async throws -> JSONValue {
        try await node.send(.get, "/v1/status", as: .admin).json
    }

    static func peer(_ status: JSONValue, _ node: String) -> JSONValue? {
        status["peers"]?.arrayValue?.first { $0["node"]?.stringValue == node }
    }

    /// Two stores of larsmo (one key) that wrote different changes under larsmo:1.
    static func forkedLarsmo() throws -> (honest: PeerStore, forked: PeerStore) {
        let honest = try PeerStore(node: "larsmo"), forked = try PeerStore(node: "larsmo")
        try honest.store.create(.client, fields: StatusTests.clientFields(number: 1))
        try forked.store.create(.client, fields: StatusTests.clientFields(number: 2))
        return (honest, forked)
    }

    // MARK: Status fields

    @Test func statusShowsTheStateDigestAndNoForkOrSkew() async throws {
        let node = try TestNode()
        let fresh = try await Self.status(node)
        #expect(fresh["stateDigest"]?.stringValue == StateDigest.zero.hex)
        #expect(fresh["stateDigestProvisional"] == .bool(false))
        #expect(fresh["ownFork"] == .null)
        #expect(fresh["clockSkew"] == .null)
        #expect(fresh["protocolVersion"]?.int64Value == Int64(SyncProtocol.version))
        try await node.create(.client, SampleJSON.client())
        let after = try await Self.status(node)
        let digest = await node.replica.digest.digest
        #expect(after["stateDigest"]?.stringValue == digest.hex)
        #expect(after["stateDigest"]?.stringValue != StateDigest.zero.hex)
    }

    // MARK: Pull request shape

    static func body(replacing member: String, with value: JSONValue?) -> String {
        var members: [(String, JSONValue)] = SyncAPITests.validPull.filter { $0.0 != member }
        members += [("heads", .object([])), ("clock", .number(1))].filter { $0.0 != member }
        if let value { members.append((member, value)) }
        return JSONValue.object(members).serialized
    }

    static let goodHash = String(repeating: "ab", count: 32)

    @Test(arguments: [
        ("heads", nil), ("heads", .array([])), ("heads", .object([("larsmo", .number(1))])),
        ("heads", .object([("larsmo", .object([("seq", .number(1)), ("hash", .string("abcd"))]))])),
        ("heads", .object([("larsmo", .object([("seq", .number(0)), ("hash", .string(goodHash))]))])),
        ("heads", .object([("larsmo", .object([("seq", .number(1)), ("hash", .string(String(repeating: "zz", count: 32)))]))])),
        ("heads", .object([("Lars Mo", .object([("seq", .number(1)), ("hash", .string(goodHash))]))])),
        ("clock", nil), ("clock", .number(-5)), ("clock", .string("now")),
    ] as [(String, JSONValue?)])
    func malformedHeadsOrClockIs400NamingTheField(field: String, value: JSONValue?) async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer, json: Self.body(replacing: field, with: value))
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_request")
        #expect(response.problemFields == [field])
        // The same body with a good value is fine.
        let good: JSONValue = field == "heads" ? .object([]) : .number(1)
        #expect(try await node.send(.post, "/v1/sync/pull", as: .peer, json: Self.body(replacing: field, with: good)).status == .ok)
    }

    @Test func protocolVersion1PullWithoutHeadsIs409() async throws {
        let node = try TestNode()
        let v1 = JSONValue.object(SyncAPITests.validPull.filter { $0.0 != "protocol" } + [("protocol", .number(1))]).serialized
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer, json: v1)
        #expect(response.status == .conflict)
        #expect(response.errorCode == "version_mismatch")
        #expect(response.errorMessage?.contains("jakobstad speaks \(SyncProtocol.version), larsmo 1") == true)
    }

    @Test(arguments: ["versionVector", "heads"])
    func pullNamingANonMemberIs403NamingTheField(field: String) async throws {
        let node = try TestNode()
        let value: JSONValue = field == "heads"
            ? .object([("stranger", .object([("seq", .number(1)), ("hash", .string(Self.goodHash))]))])
            : .object([("stranger", .number(1))])
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer, json: Self.body(replacing: field, with: value))
        #expect(response.status == .forbidden)
        #expect(response.errorCode == "not_a_member")
        #expect(response.problemFields == [field])
        #expect(response.errorMessage?.contains("stranger") == true)
    }

    // MARK: Forks, serving side

    @Test func pullWithForkedHeadsIs409AndShownUntilTheHeadsAgree() async throws {
        let node = try TestNode()
        let (honest, forked) = try Self.forkedLarsmo()
        #expect(try await node.push(from: honest.store).status == .ok)
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer,
                                           json: node.pullBody(vector: forked.store.versionVector, heads: forked.store.chainHeads))
        #expect(response.status == .conflict)
        #expect(response.errorCode == "fork")
        #expect(response.errorMessage?.hasPrefix("fork at larsmo:1: ") == true)
        var status = try await Self.status(node)
        #expect(Self.peer(status, "larsmo")?["state"]?.stringValue == "forked")
        #expect(Self.peer(status, "larsmo")?["fork"] == .object([("origin", .string("larsmo")), ("seq", .number(1))]))
        // Not this node's own history: it still writes.
        #expect(status["ownFork"] == .null)
        try await node.create(.client, SampleJSON.client(number: 7))
        // The honest heads agree again: the fork clears.
        let agreed = try await node.send(.post, "/v1/sync/pull", as: .peer,
                                         json: node.pullBody(vector: honest.store.versionVector, heads: honest.store.chainHeads))
        #expect(agreed.status == .ok)
        status = try await Self.status(node)
        #expect(Self.peer(status, "larsmo")?["fork"] == .null)
        #expect(Self.peer(status, "larsmo")?["state"]?.stringValue != "forked")
    }

    @Test func forkOfThisNodesOwnHistoryStopsLocalWrites() async throws {
        let node = try TestNode()
        try await node.create(.client, SampleJSON.client())
        // Another change signed with jakobstad's key under jakobstad:1 (a restored copy that reused the seq).
        let twin = try PeerStore(node: "jakobstad")
        try twin.store.create(.client, fields: StatusTests.clientFields(number: 3))
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer,
                                           json: node.pullBody(vector: twin.store.versionVector, heads: twin.store.chainHeads))
        #expect(response.status == .conflict)
        #expect(response.errorCode == "fork")
        let status = try await Self.status(node)
        #expect(status["ownFork"]?.stringValue == "fork at jakobstad:1 (seen by larsmo)")
        #expect(status["acceptingWrites"] == .bool(false))
        let write = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(number: 2))
        #expect(write.status == .serviceUnavailable)
        #expect(write.errorCode == "forked")
        #expect(write.errorMessage?.contains("kotosyncd repair-fork") == true)
    }

    @Test func pushWithForkedHeadsIs409AndAppliesNothing() async throws {
        let node = try TestNode()
        let (honest, forked) = try Self.forkedLarsmo()
        #expect(try await node.push(from: honest.store).status == .ok)
        let logBefore = await node.syncState.logPosition
        let response = try await node.push(from: forked.store)
        #expect(response.status == .conflict)
        #expect(response.errorCode == "fork")
        #expect(response.errorMessage?.hasPrefix("fork at larsmo:1: ") == true)
        #expect(await node.syncState.logPosition == logBefore)
        #expect(await node.syncState.versionVector == VersionVector(["larsmo": 1]))
        #expect(Self.peer(try await Self.status(node), "larsmo")?["state"]?.stringValue == "forked")
    }

    @Test func stateAnswerCarriesHeadsAndClock() async throws {
        let node = try TestNode()
        try await node.create(.client, SampleJSON.client())
        let response = try await node.send(.get, "/v1/sync/state?node=larsmo", as: .peer)
        let state = try #require(PeerState.parse(try response.json))
        #expect(state.heads == (await node.replica.chainHeads))
        #expect(state.heads["jakobstad"]?.seq == 1)
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        #expect(state.clock > now - 60_000 && state.clock < now + 60_000)
    }

    // MARK: Forks, divergence and positions, pulling side

    /// The node's own heads and digest in an empty batch, as a caught-up peer would answer.
    static func caughtUpBatch(_ node: TestNode, digest: StateDigest? = nil, heads: [String: ChainHead]? = nil,
                              clock: UInt64? = nil, nextPosition: UInt64 = 0) async -> ChangeBatch {
        let ownHeads = await node.replica.chainHeads
        let ownDigest = await node.replica.digest.digest
        return ChangeBatch(incarnation: "fake-incarnation", nextPosition: nextPosition, changes: [], heads: heads ?? ownHeads,
                           senderClockMillis: clock ?? UInt64(Date().timeIntervalSince1970 * 1000), stateDigest: digest ?? ownDigest)
    }

    @Test func pulledHeadsThatForkThisNodesHistoryMakeTheLinkForkedAndStopWrites() async throws {
        let node = try TestNode()
        try await node.create(.client, SampleJSON.client())
        let fakeHeads = ["jakobstad": ChainHead(seq: 1, hash: [UInt8](repeating: 7, count: 32))]
        let batch = await Self.caughtUpBatch(node, heads: fakeHeads)
        let fake = try FakePeer { _ in FakePeer.pullAnswer(batch, logPosition: 0) }
        let link = try node.link(to: fake)
        _ = await link.syncRound()
        await fake.stop()
        #expect(await link.state == .forked)
        #expect(await link.detail?.contains("fork at jakobstad:1") == true)
        #expect(await node.replica.ownFork == "fork at jakobstad:1 (seen by larsmo)")
        let write = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(number: 2))
        #expect(write.errorCode == "forked")
    }

    @Test func forkAnswerMakesTheLinkForkedAndAgreeingHeadsClearIt() async throws {
        let node = try TestNode()
        let answerFork = Flag()
        let batch = await Self.caughtUpBatch(node)
        let fake = try FakePeer { _ in
            answerFork.value
                ? HTTPError(.conflict, code: "fork", message: "fork at kronoby:4: larsmo holds another change under kronoby:4").response
                : FakePeer.pullAnswer(batch, logPosition: 0)
        }
        let link = try node.link(to: fake)
        answerFork.value = true
        #expect(await link.syncRound() == node.config.backoffMax)
        #expect(await link.state == .forked)
        #expect(await node.replica.peerForks["larsmo"] == Dot(origin: "kronoby", seq: 4))
        #expect(await node.replica.ownFork == nil)
        answerFork.value = false
        _ = await link.syncRound()
        await fake.stop()
        #expect(await link.state == .ok)
        #expect(await node.replica.peerForks["larsmo"] == nil)
    }

    @Test func equalVersionVectorsWithAnotherDigestShowDiverged() async throws {
        let node = try TestNode()
        try await node.create(.client, SampleJSON.client())
        let other = StateDigest(bytes: [UInt8](repeating: 0x5a, count: 32))
        let lying = Flag()
        lying.value = true
        let honest = await Self.caughtUpBatch(node), diverged = await Self.caughtUpBatch(node, digest: other)
        let fake = try FakePeer { _ in FakePeer.pullAnswer(lying.value ? diverged : honest, logPosition: 0) }
        let link = try node.link(to: fake)
        _ = await link.syncRound()
        #expect(await link.state == .diverged)
        let ours = await node.replica.digest.digest.hex
        let detail = try #require(await link.detail)
        #expect(detail.contains(String(ours.prefix(12))))
        #expect(detail.contains(String(other.hex.prefix(12))))
        let status = try await Self.status(node)
        _ = status
        lying.value = false
        _ = await link.syncRound()
        await fake.stop()
        #expect(await link.state == .ok)
    }

    @Test func pullAnswerPastItsOwnLogEndIsRefusedAndAppliesNothing() async throws {
        let node = try TestNode()
        let peer = try PeerStore(node: "larsmo")
        try peer.store.create(.client, fields: StatusTests.clientFields(number: 1))
        let real = try peer.store.readLog(after: 0, notCoveredBy: VersionVector(), limit: 10)
        let inflated = ChangeBatch(incarnation: real.incarnation, nextPosition: 1_000_000, changes: real.changes, heads: real.heads,
                                   senderClockMillis: real.senderClockMillis, stateDigest: real.stateDigest)
        let fake = try FakePeer { _ in FakePeer.pullAnswer(inflated, logPosition: 1) }
        let link = try node.link(to: fake)
        _ = await link.syncRound()
        await fake.stop()
        #expect(await link.state == .refused)
        #expect(await link.detail?.contains("invalid_position") == true)
        #expect(await node.syncState.versionVector.isEmpty)
        #expect(try await node.replica.peerCursor("larsmo")?.position ?? 0 == 0)
    }

    // MARK: Positions, push side

    @Test func emptyPushWithAHugeNextPositionIs400AndMovesNothing() async throws {
        let node = try TestNode()
        let peer = try PeerStore(node: "larsmo")
        try peer.store.create(.client, fields: StatusTests.clientFields(number: 1))
        #expect(try await node.push(from: peer.store).status == .ok)
        let before = try #require(try await node.replica.peerCursor("larsmo"))
        let attack = ChangeBatch(incarnation: peer.store.incarnation, nextPosition: 1_000_000_000, changes: [])
        let response = try await node.send(.post, "/v1/sync/push", as: .peer, body: WireFormat.encode(attack),
                                           headers: node.pushHeaders(peer: "larsmo", logPosition: 1))
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_position")
        #expect(try await node.replica.peerCursor("larsmo")?.position == before.position)
        // Backwards within the same incarnation.
        let back = ChangeBatch(incarnation: peer.store.incarnation, nextPosition: 0, changes: [])
        let backwards = try await node.send(.post, "/v1/sync/push", as: .peer, body: WireFormat.encode(back),
                                            headers: node.pushHeaders(peer: "larsmo", logPosition: 1))
        #expect(backwards.errorCode == "invalid_position")
        #expect(try await node.replica.peerCursor("larsmo")?.position == before.position)
        // Without the header the push is refused too.
        let bare = try await node.send(.post, "/v1/sync/push", as: .peer, body: WireFormat.encode(attack),
                                       headers: node.pushHeaders(peer: "larsmo", logPosition: nil))
        #expect(bare.status == .badRequest)
        #expect(try await node.replica.peerCursor("larsmo")?.position == before.position)
        // The honest push still works.
        try peer.store.create(.client, fields: StatusTests.clientFields(number: 2))
        #expect(try await node.push(from: peer.store).status == .ok)
        #expect(await node.syncState.versionVector == VersionVector(["larsmo": 2]))
    }

    // MARK: Clocks

    @Test func nodeWhoseClockRunsAheadOfItsPeersStopsWritingUntilFixed() async throws {
        let node = try TestNode(clockAhead: .seconds(900)) { $0.maxClockAhead = .seconds(300) }
        let realNow = UInt64(Date().timeIntervalSince1970 * 1000)
        #expect(try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(clock: realNow)).status == .ok)
        let write = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client())
        #expect(write.status == .serviceUnavailable)
        #expect(write.errorCode == "clock_skew")
        let message = try #require(write.errorMessage)
        #expect(message.contains("ahead of the median of its 1 peer"))
        #expect(message.contains("HLC bound of 300 s"))
        let skew = try #require(try await Self.status(node)["clockSkew"])
        let offset = try #require(skew["offsetSeconds"]?.doubleValue)
        #expect(offset > 890 && offset < 910)
        #expect(skew["peers"]?.int64Value == 1)
        // The peer's clock now agrees (as after fixing this node's): writes resume.
        let nodeNow = node.replica.nowMillis
        #expect(try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(clock: nodeNow)).status == .ok)
        #expect(try await Self.status(node)["clockSkew"] == .null)
        try await node.create(.client, SampleJSON.client())
    }

    @Test func peerAnswerFromAClockFarAheadMakesThisNodeBehind() async throws {
        let node = try TestNode { $0.maxClockAhead = .seconds(60) }
        let batch = await Self.caughtUpBatch(node, clock: UInt64(Date().timeIntervalSince1970 * 1000) + 600_000)
        let fake = try FakePeer { _ in FakePeer.pullAnswer(batch, logPosition: 0) }
        _ = await (try node.link(to: fake)).syncRound()
        await fake.stop()
        let write = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client())
        #expect(write.errorCode == "clock_skew")
        #expect(write.errorMessage?.contains("behind the median") == true)
    }
}

/// A value tests flip while a fake peer reads it.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = false
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// A peer that only reaches this node (a passive one) tells it, in its pull,
/// how many of this node's own changes it holds: a node whose database lost
/// them stops writing until it has them back, so no seq is handed out twice.
@Suite struct PassivePeerRestoreTests {
    @Test func aPullShowingMoreOfOurOwnChangesStopsLocalWrites() async throws {
        // jakobstad's earlier life: two changes, held by larsmo.
        let earlier = try PeerStore(node: "jakobstad")
        try earlier.store.create(.service, fields: Sample.fixedService(number: 1))
        try earlier.store.create(.service, fields: Sample.fixedService(number: 2))
        let larsmo = try PeerStore(node: "larsmo")
        try larsmo.store.apply(try earlier.store.readLog(after: 0, notCoveredBy: VersionVector(), limit: 10), from: "jakobstad")

        // jakobstad now runs on an empty database; larsmo (passive) pulls from it.
        let node = try TestNode(node: "jakobstad")
        let before = try await node.send(.get, "/v1/status", as: .admin)
        #expect(try before.json["acceptingWrites"] == .bool(true))
        try await node.pull(into: larsmo.store)
        let refused = try await node.send(.post, "/v1/services", as: .office, json: SampleJSON.service(number: 3))
        #expect(refused.status == .serviceUnavailable)
        #expect(refused.errorCode == "catching_up")
        let status = try await node.send(.get, "/v1/status", as: .admin).json
        #expect(status["catchingUp"] == .number(2), "the target is the two changes larsmo holds")
    }
}
