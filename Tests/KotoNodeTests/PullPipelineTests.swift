import Foundation
import Synchronization
import KotoCore
import KotoHTTP
@testable import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// Coalesced notify pulls and the pull/apply pipeline of `PeerLink`,
/// against a real peer node (larsmo, served in-process) behind a fake HTTP
/// server that counts, slows or inspects each pull it forwards.
@Suite struct PullPipelineTests {
    /// The pull requests the fake peer forwarded, in arrival order, with what was true when each arrived.
    final class Pulls: Sendable {
        struct Seen: Sendable {
            let since: UInt64
            /// How many entries the puller had begun to apply when this request arrived.
            let entriesApplying: Int
        }

        let seen = Mutex<[Seen]>([])
        var count: Int { seen.withLock { $0.count } }
    }

    /// Entries the puller's store began to apply (counted by its test hook).
    final class Counter: Sendable {
        private let value = Mutex(0)
        var current: Int { value.withLock { $0 } }
        /// Adds one; returns the new count.
        func next() -> Int { value.withLock { $0 += 1; return $0 } }
    }

    /// larsmo with `records` clients of its own, and jakobstad pulling from it through a fake peer that
    /// forwards every pull to larsmo's router, the first one after `firstDelay`.
    static func pair(records: Int, batchSize: Int, firstDelay: Duration = .zero, applying: Counter? = nil) async throws
        -> (larsmo: TestNode, jakobstad: TestNode, fake: FakePeer, link: PeerLink, pulls: Pulls) {
        let larsmo = try TestNode(node: "larsmo", peers: [PeerConfig(node: "jakobstad", url: nil, mode: .passive)])
        for number in 0..<records {
            let id = UUID()
            var fields = GroupCommitTests.clientFields(number)
            fields["ownerMunicipality"] = .integer(440)
            _ = try await larsmo.replica.write(.client, id: id, .create(fields, id: id))
        }
        let jakobstad = try TestNode()
        let pulls = Pulls()
        let router = larsmo.router
        let fake = try FakePeer { request in
            let since = (try? JSONValue.parse(request.body))?["since"]?.int64Value ?? -1
            let first = pulls.seen.withLock { seen in
                seen.append(Pulls.Seen(since: UInt64(max(0, since)), entriesApplying: applying?.current ?? 0))
                return seen.count == 1
            }
            if first, firstDelay > .zero { try? await Task.sleep(for: firstDelay) }
            return await router.handle(request)
        }
        var config = jakobstad.config
        config.batchSize = batchSize
        config.syncInterval = .seconds(3600)
        config.connectTimeout = .seconds(10)
        config.requestTimeout = .seconds(30)
        let link = try PeerLink(peer: PeerConfig(node: "larsmo", url: fake.url, mode: .pull), config: config,
                                replica: jakobstad.replica, secrets: testSecrets(for: "jakobstad"), onApplied: { _ in })
        return (larsmo, jakobstad, fake, link, pulls)
    }

    static func wait(until condition: () async -> Bool, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while await !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("timed out"); return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func aBurstOfHintsDuringAPullMakesOneMorePull() async throws {
        let (larsmo, jakobstad, fake, link, pulls) = try await Self.pair(records: 5, batchSize: 1000, firstDelay: .milliseconds(600))
        defer { _ = larsmo }
        let running = Task { await link.run() }
        try await Self.wait { pulls.count >= 1 }
        // Fifty notifies while the first pull is in flight (what SyncAPI.notify does for each).
        for _ in 0..<50 { link.signal.wake() }
        #expect(pulls.count == 1, "the hints arrived while the first pull was in flight")
        try await Self.wait { pulls.count >= 2 }
        try await Self.wait { await jakobstad.replica.syncState().versionVector["larsmo"] == 5 }
        // Time for any further pull the hints might have caused.
        try await Task.sleep(for: .milliseconds(800))
        #expect(pulls.count == 2, "\(pulls.count) pulls for one in-flight pull and 50 hints")
        // Hints after the round are not lost: one more wake, one more pull.
        link.signal.wake()
        try await Self.wait { pulls.count >= 3 }
        try await Task.sleep(for: .milliseconds(300))
        #expect(pulls.count == 3)
        running.cancel()
        _ = await running.value
        await fake.stop()
    }

    @Test func theNextBatchIsFetchedWhileThisOneApplies() async throws {
        let applying = Counter()
        let (larsmo, jakobstad, fake, link, pulls) = try await Self.pair(records: 10, batchSize: 3, applying: applying)
        defer { _ = larsmo }
        try await jakobstad.replica.withStore { store in
            store.beforeApplyingEntry = { _ in
                // The first batch's first entry takes a while: the next pull must arrive meanwhile.
                if applying.next() == 1 { Thread.sleep(forTimeInterval: 0.4) }
            }
        }
        let divergence = try await link.pullUntilCaughtUp()
        #expect(divergence == nil)
        let seen = pulls.seen.withLock { $0 }
        #expect(seen.count == 4)
        // Sent while the first batch's first entry was still being applied.
        #expect(seen.count > 1 && seen[1].entriesApplying < 3, "second pull arrived after \(seen.count > 1 ? seen[1].entriesApplying : -1) entries")
        // Batches in the peer's log order, each from just after the one before.
        #expect(seen.map(\.since) == seen.map(\.since).sorted())
        #expect(Set(seen.map(\.since)).count == seen.count)
        #expect(await jakobstad.replica.syncState().versionVector["larsmo"] == 10)
        let larsmoEnd = await larsmo.replica.syncState().logPosition
        #expect(try await jakobstad.replica.peerCursor("larsmo")?.position == larsmoEnd)
        #expect(await jakobstad.replica.digest.digest == (await larsmo.replica.digest.digest))
        await fake.stop()
    }

    @Test func aRefusedBatchStopsThePipeline() async throws {
        let applying = Counter()
        let (larsmo, jakobstad, fake, link, _) = try await Self.pair(records: 9, batchSize: 3, applying: applying)
        defer { _ = larsmo }
        try await jakobstad.replica.withStore { store in
            store.beforeApplyingEntry = { _ in
                // The second batch's first entry is refused: the batch whole, and nothing after it.
                if applying.next() == 4 { throw ReplicaStoreError.batchRefused("test refusal") }
            }
        }
        await #expect(throws: SyncRefusal.self) { _ = try await link.pullUntilCaughtUp() }
        #expect(await jakobstad.replica.syncState().versionVector["larsmo"] == 3)
        let firstBatchEnd = try await larsmo.replica.readLog(after: 0, notCoveredBy: VersionVector(), limit: 3).nextPosition
        #expect(try await jakobstad.replica.peerCursor("larsmo")?.position == firstBatchEnd)
        // The next round starts where the applied batch ended and catches up.
        try await jakobstad.replica.withStore { $0.beforeApplyingEntry = nil }
        _ = try await link.pullUntilCaughtUp()
        #expect(await jakobstad.replica.syncState().versionVector["larsmo"] == 9)
        #expect(await jakobstad.replica.digest.digest == (await larsmo.replica.digest.digest))
        await fake.stop()
    }
}
