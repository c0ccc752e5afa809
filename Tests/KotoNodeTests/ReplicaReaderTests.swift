import Foundation
import Synchronization
import KotoCore
import KotoHTTP
import Testing
@testable import KotoNode

/// Merged-view reads use their own connection, so they do not wait while
/// the writer is busy (a large batch being applied).
@Suite(.serialized) struct ReplicaReaderTests {
    /// Occupies the writer actor for `duration` and runs a list query meanwhile; answers whether the
    /// query finished while the writer was still busy. Ordering, not elapsed time: a loaded machine
    /// may be slow to notice the writer started, but cannot finish a queued read before the writer ends.
    static func listWhileWriterBusy(_ node: TestNode, busy duration: Duration) async throws -> (finishedFirst: Bool, HTTPResponse) {
        let started = Atomic<Bool>(false)
        let writerDone = Atomic<Bool>(false)
        let writer = Task.detached { [replica = node.replica] in
            try await replica.withStore { _ in
                started.store(true, ordering: .sequentiallyConsistent)
                Thread.sleep(forTimeInterval: Double(duration.components.seconds))
                writerDone.store(true, ordering: .sequentiallyConsistent)
            }
        }
        while !started.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(10)) }
        let response = try await node.send(.get, "/v1/clients", as: .coordinator)
        let finishedFirst = !writerDone.load(ordering: .sequentiallyConsistent)
        try await writer.value
        return (finishedFirst, response)
    }

    @Test func readsDoNotWaitForABusyWriter() async throws {
        let node = try TestNode(separateReader: true)
        let id = try await node.create(.client, SampleJSON.client())
        let (finishedFirst, response) = try await Self.listWhileWriterBusy(node, busy: .seconds(4))
        #expect(response.status == .ok)
        #expect(try response.json.itemIDs == [id.lowercased])
        #expect(finishedFirst, "the list waited for the busy writer")
    }

    @Test func withoutTheReaderReadsQueueBehindTheWriter() async throws {
        // The contrast that shows the test above can fail.
        let node = try TestNode(separateReader: false)
        _ = try await node.create(.client, SampleJSON.client())
        let (finishedFirst, response) = try await Self.listWhileWriterBusy(node, busy: .seconds(2))
        #expect(response.status == .ok)
        #expect(!finishedFirst, "without its own connection the list must queue behind the writer")
    }
}
