import Foundation
import Glibc
import KotoNode
import Synchronization
import Testing

/// What the services did, in order.
final class Journal: Sendable {
    private let entries = Mutex<[String]>([])
    func append(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}

/// A service that records its life in a journal; `run` returns when asked to
/// stop, after `stopTakes` (or never, when `ignoresStop`), or throws after `failsAfter`.

final class RecordingService: Service {
    let name: String
    let journal: Journal
    private let stopped = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let asked = Atomic<Bool>(false)
    let stopTakes: Duration
    let ignoresStop: Bool
    let failsAfter: Duration?

    struct Failure: Error {}

    init(_ name: String, journal: Journal, stopTakes: Duration = .zero, ignoresStop: Bool = false, failsAfter: Duration? = nil) {
        self.name = name
        self.journal = journal
        self.stopTakes = stopTakes
        self.ignoresStop = ignoresStop
        self.failsAfter = failsAfter
    }

    func run() async throws {
        journal.append("run \(name)")
        if let failsAfter {
            try await Task.sleep(for: failsAfter)
            journal.append("fail \(name)")
            throw Failure()
        }
        await withCheckedContinuation { continuation in
            let resumeNow = stopped.withLock { slot -> Bool in
                if asked.load(ordering: .acquiring) { return true }
                slot = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        if ignoresStop { try await Task.sleep(for: .seconds(3600)) }
        try await Task.sleep(for: stopTakes)
        journal.append("end \(name)")
    }

    func shutdown() async {
        journal.append("stop \(name)")
        asked.store(true, ordering: .releasing)
        stopped.withLock { slot in
            slot?.resume()
            slot = nil
        }
    }
}

@Suite("ServiceGroup: graceful stop in reverse order, deadline and escalation")
struct ServiceGroupTests {
    static func services(_ journal: Journal, _ names: [String]) -> [RecordingService] {
        names.map { RecordingService($0, journal: journal, stopTakes: .milliseconds(20)) }
    }

    @Test("a stop request stops the services one by one in reverse order of start, each after the one above it returned")
    func reverseOrder() async throws {
        let journal = Journal()
        let (requests, sink) = AsyncStream.makeStream(of: StopRequest.self)
        let group = ServiceGroup(services: Self.services(journal, ["store", "sync", "api"]), deadline: .seconds(10))
        let running = Task { try await group.run(until: requests) }
        try await Task.sleep(for: .milliseconds(100))
        sink.yield(.signal(SIGTERM))
        #expect(try await running.value == .stopped)
        let stops = journal.all.filter { !$0.hasPrefix("run ") }
        #expect(stops == ["stop api", "end api", "stop sync", "end sync", "stop store", "end store"])
    }

    @Test("a repeated in-process shutdown changes nothing; a second signal ends the group at once")
    func secondSignalEscalates() async throws {
        let journal = Journal()
        let stubborn = RecordingService("api", journal: journal, ignoresStop: true)
        let (requests, sink) = AsyncStream.makeStream(of: StopRequest.self)
        let group = ServiceGroup(services: [RecordingService("store", journal: journal), stubborn], deadline: .seconds(60))
        let running = Task { try await group.run(until: requests) }
        try await Task.sleep(for: .milliseconds(50))
        sink.yield(.shutdown)
        sink.yield(.shutdown)
        try await Task.sleep(for: .milliseconds(100))
        let clock = ContinuousClock()
        let started = clock.now
        sink.yield(.signal(SIGINT))
        #expect(try await running.value == .forced(.secondSignal(SIGINT)))
        #expect(clock.now - started < .seconds(5))
        #expect(!journal.all.contains("stop store"), "the store was asked to stop before the API above it returned")
    }

    @Test("when the deadline passes the group returns forced without waiting for the services still running")
    func deadlineEscalates() async throws {
        let journal = Journal()
        let (requests, sink) = AsyncStream.makeStream(of: StopRequest.self)
        let group = ServiceGroup(services: [RecordingService("store", journal: journal),
                                            RecordingService("api", journal: journal, ignoresStop: true)],
                                 deadline: .milliseconds(300))
        let running = Task { try await group.run(until: requests) }
        try await Task.sleep(for: .milliseconds(50))
        sink.yield(.signal(SIGTERM))
        #expect(try await running.value == .forced(.deadlinePassed))
    }

    @Test("a service that fails stops the others in reverse order and its error is rethrown")
    func failureStopsTheRest() async throws {
        let journal = Journal()
        let (requests, _) = AsyncStream.makeStream(of: StopRequest.self)
        let group = ServiceGroup(services: [RecordingService("store", journal: journal),
                                            RecordingService("sync", journal: journal, failsAfter: .milliseconds(50)),
                                            RecordingService("api", journal: journal)],
                                 deadline: .seconds(10))
        await #expect(throws: RecordingService.Failure.self) { _ = try await group.run(until: requests) }
        let stops = journal.all.filter { $0.hasPrefix("stop ") || $0.hasPrefix("end ") }
        #expect(stops == ["stop api", "end api", "stop store", "end store"])
    }
}
