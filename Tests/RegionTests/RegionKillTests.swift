import Foundation
import Glibc
import KotoCore
import KotoHTTP
import KotoTestSupport
import Synchronization
import Testing

// SIGKILL at random moments: while a node applies large batches (a peer
// holds a backlog it has not pulled) and while it takes local writes from
// concurrent API clients. The schedule comes from a printed seed, so a
// failing run can be replayed with KOTOSYNC_KILL_SEED=<seed>.

/// The seed of a fault schedule: `variable` from the environment when set
/// (to replay a failure), else a fresh one; printed either way.
enum FaultSeed {
    static func from(_ variable: String, what: String) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment[variable].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        note("\(what): seed \(seed) (replay with \(variable)=\(seed))")
        return seed
    }
}

/// What API clients were told about services' `capacity`, per id: the last
/// value answered 2xx, and the values of writes whose answer never came
/// (the connection died with the node) after it, any of which may have
/// committed. A write answered with an HTTP error did not happen.
struct CapacityLedger: Sendable {
    /// id -> capacity of the last acknowledged write.
    var acknowledged: [String: Int] = [:]
    /// id -> capacities of writes after the last acknowledged one whose outcome is unknown.
    var unknown: [String: Set<Int>] = [:]
    /// Every id a create was sent for.
    var attempted: Set<String> = []
    var answeredErrors = 0

    mutating func acknowledge(_ id: String, _ capacity: Int) {
        acknowledged[id] = capacity
        unknown[id] = nil
    }

    mutating func lost(_ id: String, _ capacity: Int) { unknown[id, default: []].insert(capacity) }

    mutating func merge(_ other: CapacityLedger) {
        acknowledged.merge(other.acknowledged) { $1 }
        unknown.merge(other.unknown) { $0.union($1) }
        attempted.formUnion(other.attempted)
        answeredErrors += other.answeredErrors
    }

    /// What is wrong with `services` (id -> capacity, as one node lists
    /// them) against the ledger; names ids only.
    func problems(in services: [String: Int], at node: String) -> [String] {
        var problems: [String] = []
        let missing = acknowledged.keys.filter { services[$0] == nil }
        if !missing.isEmpty { problems.append("\(node) lacks \(missing.count) acknowledged services, e.g. \(missing.sorted()[0])") }
        let wrong = acknowledged.filter { id, capacity in
            guard let held = services[id] else { return false }
            return held != capacity && !(unknown[id]?.contains(held) ?? false)
        }
        if !wrong.isEmpty {
            problems.append("\(node) holds \(wrong.count) services with a capacity that is not their last acknowledged one, e.g. \(wrong.keys.sorted()[0])")
        }
        let strangers = services.keys.filter { !attempted.contains($0) }
        if !strangers.isEmpty { problems.append("\(node) holds \(strangers.count) services nobody wrote, e.g. \(strangers.sorted()[0])") }
        return problems
    }
}

extension RegionNode {
    /// `POST /v1/import/services` of `services` (JSON), all in one local transaction.
    func importServices(_ services: [JSONValue]) async throws -> APIResult {
        try await send(.post, "/v1/import/services", json: .array(services))
    }

    /// id -> capacity of every service this node lists.
    func serviceCapacities() async throws -> [String: Int] {
        var capacities: [String: Int] = [:]
        for item in try await list(.service) {
            guard let id = item["id"]?.stringValue else { continue }
            capacities[id] = item["fields"]?["capacity"]?.int64Value.map { Int($0) } ?? -1
        }
        return capacities
    }
}

/// Writes services at `node` over `streams` connections until `stop`: each
/// stream creates services and updates the capacity of those it created
/// (ids are never shared between streams, so "last acknowledged" is well
/// defined), riding through the node's deaths.
func writeCapacities(at node: RegionNode, streams: Int, seed: UInt64, stop: StopFlag) async throws -> CapacityLedger {
    try await withThrowingTaskGroup(of: CapacityLedger.self) { group in
        for stream in 0..<streams {
            group.addTask {
                var random = SeededGenerator(seed: seed &+ UInt64(stream) &* 7919)
                let client = try RegionNode.makeClient()
                var ledger = CapacityLedger()
                var mine: [String] = []
                var index = 0
                while !stop.isStopped {
                    index += 1
                    let capacity = Int.random(in: 1...100_000, using: &random)
                    let update = !mine.isEmpty && Int.random(in: 0..<10, using: &random) < 6
                    let id = update ? mine[Int.random(in: 0..<mine.count, using: &random)] : newID()
                    do {
                        let result: APIResult
                        if update {
                            result = try await node.send(.patch, "/v1/services/\(id)", json: .fields(["capacity": .number(Double(capacity))]),
                                                         client: client)
                        } else {
                            ledger.attempted.insert(id)
                            var record = Fixture.service(id: id, office: node.name, label: "kill-\(stream)-\(index)").objectMembers ?? []
                            record = record.map { $0.0 == "capacity" ? ("capacity", .number(Double(capacity))) : $0 }
                            result = try await node.create(.service, .object(record), client: client)
                        }
                        if (200..<300).contains(result.status) {
                            ledger.acknowledge(id, capacity)
                            if !update { mine.append(id) }
                            continue
                        }
                        ledger.answeredErrors += 1
                    } catch {
                        // No answer: the node died with the request in flight; it may or may not have committed.
                        ledger.lost(id, capacity)
                        if !update { mine.append(id) }
                    }
                    try await Task.sleep(for: .milliseconds(25))
                }
                return ledger
            }
        }
        var total = CapacityLedger()
        for try await ledger in group { total.merge(ledger) }
        return total
    }
}

extension Region {
    @Suite("Region: SIGKILL rounds")
    struct KillRounds {
        @Test("20 SIGKILLs at random moments while a node pulls large batches and takes concurrent writes: identical records everywhere, every acknowledged write held with its last acknowledged value, integrity_check ok")
        func killRounds() async throws {
            let seed = FaultSeed.from("KOTOSYNC_KILL_SEED", what: "kill rounds")
            var random = SeededGenerator(seed: seed)
            var options = RegionOptions(nodes: ["jakobstad", "nykarleby", "kronoby"])
            options.batchSize = 250  // a backlog of hundreds arrives as batches of hundreds, each one transaction
            options.backoffMaxSeconds = 1
            let rounds = ProcessInfo.processInfo.environment["KOTOSYNC_KILL_ROUNDS"].flatMap(Int.init) ?? 20
            try await withRegion(options, start: false) { region in
                let source = "jakobstad", victim = "nykarleby"
                _ = try RegionPaths.sqliteShell()  // fail early and clearly when the shell is missing
                for name in region.names where name != victim { try await region.start(name) }
                try await region.start(victim)

                var ledger = CapacityLedger()
                let stop = StopFlag()
                let victimNode = region[victim]
                let writers = Task { try await writeCapacities(at: victimNode, streams: 3, seed: seed, stop: stop) }
                var killedMidPull = 0
                var killedWhileWriting = 0
                var sourceSeq = try await region[source].holds(of: source)
                var spent: [String: Duration] = [:]
                func timed<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
                    let started = ContinuousClock.now
                    defer { spent[what, default: .zero] += ContinuousClock.now - started }
                    return try await body()
                }
                for round in 1...rounds {
                    // Kill after a random moment: mid-pull, mid-write, or both.
                    let writesBefore = (try? await region[victim].holds(of: victim)) ?? 0
                    // Every other round soon after the restart, while the backlog is surely still arriving.
                    let wait = round.isMultiple(of: 2) ? Int.random(in: 0...40, using: &random) : Int.random(in: 0...600, using: &random)
                    try await Task.sleep(for: .milliseconds(wait))
                    let held = (try? await region[victim].holds(of: source)) ?? 0
                    let writesAfter = (try? await region[victim].holds(of: victim)) ?? writesBefore
                    try await timed("kill") { try await region.kill(victim) }
                    if held < sourceSeq { killedMidPull += 1 }
                    if writesAfter > writesBefore { killedWhileWriting += 1 }
                    let check = try await timed("integrity") { try await region.integrityCheck(victim) }
                    try #require(check == "ok", "round \(round): PRAGMA integrity_check on \(victim) after SIGKILL: \(check)")

                    // A backlog the victim has not seen: one import, one transaction at the source.
                    let size = Int.random(in: 150...400, using: &random)
                    var backlog: [JSONValue] = []
                    for index in 0..<size {
                        let id = newID()
                        ledger.attempted.insert(id)
                        backlog.append(Fixture.service(id: id, office: source, label: "backlog-\(round)-\(index)"))
                    }
                    let imported = try await timed("import") { try await region[source].importServices(backlog) }
                    try #require((200..<300).contains(imported.status),
                                 "round \(round): import at \(source) answered \(imported.status) \(imported.errorCode ?? "")")
                    for item in backlog { ledger.acknowledge(item["id"]!.stringValue!, 20) }
                    sourceSeq = try await region[source].holds(of: source)
                    try await timed("start") { try await region[victim].start(binary: region.binary) }
                }
                note("kill rounds: time spent " + spent.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                note("kill rounds: \(rounds) kills, \(killedMidPull) before the victim held the whole backlog, "
                     + "\(killedWhileWriting) after it had taken local writes")
                #expect(killedMidPull > 0, "no kill landed while the victim was behind the source (seed \(seed))")
                #expect(killedWhileWriting > 0, "no kill landed after the victim took local writes (seed \(seed))")

                try await region.waitWritable(victim, deadline: ContinuousClock.now + .seconds(20))
                try await Task.sleep(for: .milliseconds(300))
                stop.stop()
                let written = try await writers.value
                ledger.merge(written)
                note("kill rounds: \(written.acknowledged.count) services written at \(victim) acknowledged, "
                     + "\(written.unknown.count) with a write whose answer was lost, \(written.answeredErrors) answered with an error")
                #expect(!written.acknowledged.isEmpty, "the victim acknowledged writes of its own")
                let converging = ContinuousClock.now
                // Version vectors first (a status poll), then one comparison of every record (several
                // seconds per thousand records in a debug build), repeated only if it finds a difference.
                try await region.waitVersionVectorsAgree(timeout: .seconds(90))
                let delivered = ContinuousClock.now
                if try await !region.differences().isEmpty { try await region.waitConverged(timeout: .seconds(30)) }
                note("kill rounds: version vectors agreed \(delivered - converging) after the last restart, records compared in \(ContinuousClock.now - delivered)")
                for node in region.all {
                    let problems = ledger.problems(in: try await node.serviceCapacities(), at: node.name)
                    #expect(problems.isEmpty, "seed \(seed): \(problems.joined(separator: "; "))")
                }
                await region.stopAll()
                for name in region.names {
                    let result = try await region.integrityCheck(name)
                    #expect(result == "ok", "PRAGMA integrity_check on \(name): \(result)")
                }
            }
        }
    }
}
