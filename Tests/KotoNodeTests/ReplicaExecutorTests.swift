import Foundation
import Synchronization
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// The replica's store runs on a thread of its own, so a long apply stalls
/// neither request handling nor reads (which have their own connection and
/// thread): served over a real socket while a 100k-change batch applies.
@Suite struct ReplicaExecutorTests {
    static let changes = 100_000

    @Test func readsAreAnsweredWhileAHundredThousandChangeBatchApplies() async throws {
        // The peer's 100k changes: a hundred new clients, then updates of
        // one field each (the cheapest change to make), in one batch.
        let origin = try PeerStore(node: "larsmo")
        var rng = SeededGenerator(seed: 9)
        let generation = ContinuousClock.now
        try origin.store.batch {
            let ids = (0..<100).map { _ in UUID() }
            for (number, id) in ids.enumerated() {
                _ = try origin.store.create(.client, id: id, fields: Sample.client(&rng, number: number))
            }
            for number in ids.count..<Self.changes {
                _ = try origin.store.update(.client, id: ids[number % ids.count], fields: ["jobseeker": .bool(number / ids.count % 2 == 0)])
            }
        }
        print("ReplicaExecutorTests: made \(Self.changes) changes in \(ContinuousClock.now - generation)")
        let batch = try origin.store.readLog(after: 0, notCoveredBy: VersionVector(), limit: Self.changes)
        try #require(batch.changes.count == Self.changes)

        let node = try TestNode(separateReader: true)
        let existing = try await node.create(.client, SampleJSON.client())
        let server = try HTTPServer(host: "127.0.0.1", port: 0, router: node.router)
        let running = Task { try await server.run() }
        defer { server.shutdown(gracePeriod: .milliseconds(100)) }
        let base = "http://127.0.0.1:\(server.port)"
        let client = try AsyncHTTPClient(configuration: HTTPClient.Configuration(connectTimeout: .seconds(20), totalTimeout: .seconds(60)))
        let coordinator = try #require(TestCaller.coordinator.authorization)
        // The server answers before the apply starts.
        #expect(try await client.send(.get, "\(base)/healthz").status == .ok)

        let applyStart = ContinuousClock.now
        let started = Atomic<Bool>(false)
        let applied = Atomic<Bool>(false)
        let onStoreThread = Atomic<Bool>(false)
        let apply = Task.detached { [replica = node.replica] in
            try await replica.withStore { store in
                onStoreThread.store(replica.storeThread.isCurrent, ordering: .sequentiallyConsistent)
                started.store(true, ordering: .sequentiallyConsistent)
                defer { applied.store(true, ordering: .sequentiallyConsistent) }
                return try store.apply(batch, from: "larsmo").applied
            }
        }
        while !started.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(5)) }

        // Each answered while the apply still ran: ordering, not speed.
        let health = try await client.send(.get, "\(base)/healthz")
        let healthFirst = !applied.load(ordering: .sequentiallyConsistent)
        let list = try await client.send(.get, "\(base)/v1/clients", headers: ["Authorization": coordinator])
        let listFirst = !applied.load(ordering: .sequentiallyConsistent)
        let single = try await client.send(.get, "\(base)/v1/clients/\(existing.lowercased)", headers: ["Authorization": coordinator])
        let singleFirst = !applied.load(ordering: .sequentiallyConsistent)
        let count = try await apply.value
        print("ReplicaExecutorTests: applied them in \(ContinuousClock.now - applyStart)")
        let ranOnStoreThread = onStoreThread.load(ordering: .sequentiallyConsistent)

        #expect(ranOnStoreThread, "the store must run on the replica's own thread")
        #expect(health.status == .ok)
        #expect(list.status == .ok)
        #expect(single.status == .ok)
        #expect(try list.json.itemIDs == [existing.lowercased], "the list reads the last committed state, without the batch")
        #expect(healthFirst, "/healthz waited for the apply")
        #expect(listFirst, "the list waited for the apply")
        #expect(singleFirst, "the single read waited for the apply")
        #expect(count == Self.changes)
        #expect(await node.syncState.versionVector["larsmo"] == UInt64(Self.changes))
        server.shutdown(gracePeriod: .milliseconds(100))
        _ = try? await running.value
    }
}
