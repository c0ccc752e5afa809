import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

// MARK: - Bulk writes

/// A flag one task sets and others poll.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func stop() { flag.store(true, ordering: .relaxed) }
    var isStopped: Bool { flag.load(ordering: .relaxed) }
}

/// What a run of writes achieved: the ids answered 201, and every id tried.
struct WriteLedger: Sendable {
    var acknowledged: [String] = []
    var attempted: [String] = []
    var failures = 0
    var lastFailure: String?

    mutating func merge(_ other: WriteLedger) {
        acknowledged += other.acknowledged
        attempted += other.attempted
        failures += other.failures
        lastFailure = other.lastFailure ?? lastFailure
    }
}

/// Creates `count` services at `node` over `streams` parallel connections.
/// With `stop`, each stream keeps going past failures (node down) until
/// the flag is set instead of stopping at `count`.
func writeServices(at node: RegionNode, count: Int, streams: Int, label: String, stop: StopFlag? = nil) async throws -> WriteLedger {
    try await withThrowingTaskGroup(of: WriteLedger.self) { group in
        for stream in 0..<streams {
            let share = count / streams + (stream < count % streams ? 1 : 0)
            group.addTask {
                let client = try RegionNode.makeClient()
                var ledger = WriteLedger()
                var index = 0
                while stop.map({ !$0.isStopped }) ?? (index < share) {
                    index += 1
                    let id = newID()
                    ledger.attempted.append(id)
                    do {
                        let result = try await node.create(.service, Fixture.service(id: id, office: node.name, label: "\(label)-\(stream)-\(index)"),
                                                           client: client)
                        if result.status == 201 {
                            ledger.acknowledged.append(id)
                            continue
                        }
                        ledger.lastFailure = "HTTP \(result.status) \(result.errorCode ?? "")"
                    } catch {
                        ledger.lastFailure = "\(error)"
                    }
                    ledger.failures += 1
                    if stop != nil { try await Task.sleep(for: .milliseconds(20)) }
                }
                return ledger
            }
        }
        var total = WriteLedger()
        for try await ledger in group { total.merge(ledger) }
        return total
    }
}
