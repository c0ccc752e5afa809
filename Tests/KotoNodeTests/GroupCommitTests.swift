import Foundation
import Synchronization
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// Group commit of local writes (`Replica+GroupCommit`): concurrent writes
/// share a transaction, a failing write fails alone, nothing is answered
/// before the commit holding it, and the chain and node state a peer
/// verifies stay whole when writes of a group roll back.
@Suite struct GroupCommitTests {
    /// Holds the first group's commit for a moment, so every write sent meanwhile queues behind it.
    /// Holds the first group commit: for `hold`, and, when `arrivals` is
    /// set, until that many writes have been started (then `hold` more, for
    /// their hop onto the actor), so a loaded machine cannot split a group.
    final class FirstCommitGate: Sendable {
        private let calls = Mutex(0)
        private let started = Mutex(0)
        let hold: Duration
        let arrivals: Int

        init(hold: Duration = .milliseconds(300), arrivals: Int = 0) {
            self.hold = hold
            self.arrivals = arrivals
        }

        func pass() {
            let first = calls.withLock { count -> Bool in
                count += 1
                return count == 1
            }
            guard first else { return }
            let deadline = Date().addingTimeInterval(30)
            while started.withLock({ $0 }) < arrivals, Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
            Thread.sleep(forTimeInterval: Double(hold.components.seconds) + Double(hold.components.attoseconds) / 1e18)
        }

        /// A write is about to be started.
        func arrive() { started.withLock { $0 += 1 } }

        var count: Int { calls.withLock { $0 } }
    }

    static func clientFields(_ number: Int) -> FieldMap {
        ["clientNumber": .text("G-\(number)"), "ownerMunicipality": .integer(598), "givenName": .text("Testi"),
         "familyName": .text("Ryhmä"), "birthDate": .text("1990-01-01"), "integrationLanguage": .text("fi"),
         "planStatus": .text("none"), "status": .text("new")]
    }

    /// A peer that applies this node's whole log verifies every chain link
    /// and signature, and must reach the same state digest.
    static func expectPeerVerifies(_ node: TestNode) async throws {
        let (batch, digest) = try await node.replica.withStore { store in
            (try store.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100_000), store.stateDigest)
        }
        let directory = try TemporaryDirectory()
        let peer = try ReplicaStore(path: directory.path("larsmo.sqlite"), nodeID: "larsmo", identity: TestKeys.identity("larsmo"),
                                    options: { var options = StoreOptions(); options.synchronous = .off; return options }())
        let result = try peer.apply(batch, from: node.nodeID)
        #expect(result.applied == batch.changes.count)
        #expect(peer.stateDigest == digest)
        #expect(peer.versionVector == (try await node.replica.withStore { $0.versionVector }))
    }

    @Test func concurrentWritesShareTransactions() async throws {
        let node = try TestNode()
        let writes = 64
        let gate = FirstCommitGate(arrivals: writes)
        await node.replica.setBeforeGroupCommit { gate.pass() }
        let ids = (0..<writes).map { _ in UUID() }
        let replica = node.replica
        let changes = try await withThrowingTaskGroup(of: Change.self) { group in
            for (number, id) in ids.enumerated() {
                group.addTask {
                    gate.arrive()
                    return try await replica.write(.client, id: id, .create(Self.clientFields(number), id: id))
                }
            }
            var changes: [Change] = []
            for try await change in group { changes.append(change) }
            return changes
        }
        let commits = await node.replica.localCommits
        #expect(await node.replica.localWritesCommitted == writes)
        // The first commit waits until all 64 have started, then 300 ms: the rest queue behind it and share few transactions.
        #expect(commits < writes / 4, "\(commits) transactions for \(writes) writes")
        #expect(commits == gate.count)
        #expect(Set(changes.map(\.dot.seq)) == Set(1...UInt64(writes)))
        for id in ids { #expect(try await node.replica.withStore { try $0.record(.client, id: id) } != nil) }
        try await Self.expectPeerVerifies(node)
    }

    @Test func aFailingWriteFailsAloneInItsGroup() async throws {
        let node = try TestNode()
        let erased = UUID()
        _ = try await node.replica.write(.client, id: erased, .create(Self.clientFields(100), id: erased))
        _ = try await node.replica.write(.client, id: erased, .erase)
        let gate = FirstCommitGate(arrivals: 6)
        await node.replica.setBeforeGroupCommit { gate.pass() }
        let good = (0..<3).map { _ in UUID() }
        let missing = UUID()
        var invalid = Self.clientFields(200)
        invalid["birthDate"] = .text("not a date")
        // The blocker holds the first group; the six writes after it land in the second, together.
        let blocker = UUID()
        let replica = node.replica
        let first = Task { try await replica.write(.client, id: blocker, .create(Self.clientFields(0), id: blocker)) }
        // The blocker's commit has begun (and waits for the six) before any of them starts.
        while gate.count == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let a = Task { gate.arrive(); return try await replica.write(.client, id: good[0], .create(Self.clientFields(1), id: good[0])) }
        let notFound = Task { gate.arrive(); return try await replica.write(.client, id: missing, .update(["status": .text("active")])) }
        let b = Task { gate.arrive(); return try await replica.write(.client, id: good[1], .create(Self.clientFields(2), id: good[1])) }
        let refused = Task { gate.arrive(); let id = UUID(); return try await replica.write(.client, id: id, .create(invalid, id: id)) }
        let erasedAgain = Task { gate.arrive(); return try await replica.write(.client, id: erased, .update(["status": .text("active")])) }
        let c = Task { gate.arrive(); return try await replica.write(.client, id: good[2], .create(Self.clientFields(3), id: good[2])) }
        var committed: [Change] = []
        for task in [first, a, b, c] { committed.append(try await task.value) }
        await #expect(throws: ReplicaStoreError.notFound(.client, missing)) { try await notFound.value }
        await #expect { try await refused.value } throws: { error in
            guard case ReplicaStoreError.invalid(let problems) = error else { return false }
            return problems.map(\.field) == ["birthDate"]
        }
        await #expect(throws: ReplicaStoreError.erased(.client, erased)) { try await erasedAgain.value }
        // Two writes before, the blocker's group, and one group for the six.
        #expect(await node.replica.localCommits == 4)
        #expect(committed[0].dot.seq == 3)
        #expect(Set(committed.dropFirst().map(\.dot.seq)) == [4, 5, 6])
        let seq = try await node.replica.withStore { $0.seq }
        #expect(seq == 6)
        for id in good { #expect(try await node.replica.withStore { try $0.record(.client, id: id) } != nil) }
        try await Self.expectPeerVerifies(node)
    }

    struct CommitFailed: Error, Equatable {}

    @Test func nothingIsAcknowledgedBeforeItsCommit() async throws {
        let node = try TestNode()
        let before = UUID()
        _ = try await node.replica.write(.client, id: before, .create(Self.clientFields(0), id: before))
        let fail = Mutex(true)
        await node.replica.setBeforeGroupCommit {
            Thread.sleep(forTimeInterval: 0.2)  // the writes below all queue behind this group
            if fail.withLock({ $0 }) { throw CommitFailed() }
        }
        let ids = (1...8).map { _ in UUID() }
        let replica = node.replica
        let outcomes = await withTaskGroup(of: Result<Change, any Error>.self) { group in
            for (number, id) in ids.enumerated() {
                group.addTask {
                    do { return .success(try await replica.write(.client, id: id, .create(Self.clientFields(number + 1), id: id))) }
                    catch { return .failure(error) }
                }
            }
            var outcomes: [Result<Change, any Error>] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        // The commit failed: every write of it got the error, none was acknowledged, none is visible.
        for outcome in outcomes {
            #expect(throws: CommitFailed.self) { try outcome.get() }
        }
        for id in ids { #expect(try await node.replica.withStore { try $0.record(.client, id: id) } == nil) }
        #expect(try await node.replica.withStore { $0.seq } == 1)
        // The node state went back with the rollback: the next write takes seq 2 and the chain verifies.
        fail.withLock { $0 = false }
        let after = UUID()
        let change = try await node.replica.write(.client, id: after, .create(Self.clientFields(9), id: after))
        #expect(change.dot.seq == 2)
        try await Self.expectPeerVerifies(node)
    }

    @Test func writesRefusedWhileTheNodeMayNotWriteAnswerAtOnce() async throws {
        let node = try TestNode()
        await node.replica.beginStartupCheck()
        let id = UUID()
        await #expect(throws: CatchUpRequired.self) {
            try await node.replica.write(.client, id: id, .create(Self.clientFields(1), id: id))
        }
        #expect(await node.replica.localCommits == 0)
    }

    @Test func oneSyncWakePerGroup() async throws {
        let node = try TestNode()
        let wakes = Mutex(0)
        node.replica.localCommitObserver.withLock { $0 = { wakes.withLock { $0 += 1 } } }
        let gate = FirstCommitGate(arrivals: 32)
        await node.replica.setBeforeGroupCommit { gate.pass() }
        let replica = node.replica
        try await withThrowingTaskGroup(of: Void.self) { group in
            for number in 0..<32 {
                group.addTask {
                    gate.arrive()
                    let id = UUID()
                    _ = try await replica.write(.client, id: id, .create(Self.clientFields(number), id: id))
                }
            }
            try await group.waitForAll()
        }
        let commits = await node.replica.localCommits
        #expect(wakes.withLock { $0 } == commits)
        #expect(commits < 32)
    }

    @Test func accessLogEntriesOfConcurrentRequestsShareTransactions() async throws {
        let node = try TestNode(persistentAccessLog: true)
        let log = try #require(node.accessLog)
        let router = node.router
        let responses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
            for number in 0..<24 {
                group.addTask {
                    let request = try HTTPRequest(method: .post, target: "/v1/clients",
                                                  headers: ["Authorization": "Bearer \(Token.office)", "Content-Type": "application/json"],
                                                  body: Array(SampleJSON.client(number: number).utf8))
                    return await router.handle(request).status
                }
            }
            var statuses: [HTTPStatus] = []
            for try await status in group { statuses.append(status) }
            return statuses
        }
        #expect(responses.allSatisfy { $0 == .created })
        let entries = try await log.entries(from: LocalDate(year: 2000, month: 1, day: 1)!, to: LocalDate(year: 2100, month: 1, day: 1)!)
        // Each create records its write and its read of the record shown.
        #expect(entries.filter { $0.action == "write" }.count == 24)
        #expect(entries.filter { $0.action == "read" }.count == 24)
        // However they were grouped, the chain of entries and the signed head verify.
        let verification = try await log.verify()
        #expect(verification.ok)
        #expect(verification.entries == 48)
        #expect(await log.appendCommits >= 1)
    }
}
