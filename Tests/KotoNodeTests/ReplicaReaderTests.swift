import Foundation
import Synchronization
import KotoCore
import KotoHTTP
import Testing
@testable import KotoNode

/// Merged-view reads use their own connection, so they do not wait while
/// the writer is busy (a large batch being applied).
@Suite(.serialized) struct ReplicaReaderTests {
    /// Occupies the writer actor for `duration`, then answers how long a list query took meanwhile.
    static func listWhileWriterBusy(_ node: TestNode, busy duration: Duration) async throws -> (Duration, HTTPResponse) {
        let started = Atomic<Bool>(false)
        let writer = Task.detached { [replica = node.replica] in
            try await replica.withStore { _ in
                started.store(true, ordering: .sequentiallyConsistent)
                Thread.sleep(forTimeInterval: Double(duration.components.seconds))
            }
        }
        while !started.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(10)) }
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await node.send(.get, "/v1/clients", as: .coordinator)
        let elapsed = clock.now - start
        try await writer.value
        return (elapsed, response)
    }

    @Test func readsDoNotWaitForABusyWriter() async throws {
        let node = try TestNode(separateReader: true)
        let id = try await node.create(.client, SampleJSON.client())
        let (elapsed, response) = try await Self.listWhileWriterBusy(node, busy: .seconds(2))
        #expect(response.status == .ok)
        #expect(try response.json.itemIDs == [id.lowercased])
        #expect(elapsed < .seconds(1), "the list took \(elapsed) while the writer was busy")
    }

    @Test func withoutTheReaderReadsQueueBehindTheWriter() async throws {
        // The contrast that shows the test above can fail.
        let node = try TestNode(separateReader: false)
        _ = try await node.create(.client, SampleJSON.client())
        let (elapsed, response) = try await Self.listWhileWriterBusy(node, busy: .seconds(2))
        #expect(response.status == .ok)
        #expect(elapsed >= .seconds(1))
    }
}
