import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Testing

extension Region {
    @Suite("Region: crashes and shutdown")
    struct Crashes {
        /// Per node: how many times each service id is listed.
        static func serviceCounts(at node: RegionNode) async throws -> [String: Int] {
            var counts: [String: Int] = [:]
            for item in try await node.list(.service) {
                if let id = item["id"]?.stringValue { counts[id, default: 0] += 1 }
            }
            return counts
        }

        @Test("a node SIGKILLed while pulling a backlog of 2000 writes catches up; every acknowledged write is held exactly once everywhere; integrity_check is ok")
        func killDuringSync() async throws {
            var options = RegionOptions()
            options.batchSize = 25  // many small batches, so the kill lands between (or inside) them
            try await withRegion(options, start: false) { region in
                let source = "jakobstad", victim = "nykarleby"
                _ = try RegionPaths.sqliteShell()  // fail early and clearly when the shell is missing
                for name in region.names where name != victim { try await region.start(name) }

                // The backlog: 2000 acknowledged writes the victim has not seen yet.
                let backlog = try await writeServices(at: region[source], count: 2000, streams: 4, label: "backlog")
                try #require(backlog.acknowledged.count == 2000, "backlog writes: \(backlog.failures) failed, last: \(backlog.lastFailure ?? "-")")

                // The victim starts pulling it; meanwhile it takes writes of its own.
                try await region.start(victim)
                let stop = StopFlag()
                let victimNode = region[victim]
                let victimWrites = Task { try await writeServices(at: victimNode, count: 0, streams: 2, label: "victim", stop: stop) }
                var heldAtKill: Int64 = 0
                try await waitUntil("\(victim) to be part-way through the backlog", timeout: .seconds(60), poll: .milliseconds(5)) {
                    heldAtKill = try await region[victim].holds(of: source)
                    return heldAtKill > 0
                }
                try await region.kill(victim)
                #expect(heldAtKill < 2000, "the kill should land during the pull (held \(heldAtKill) of 2000)")
                #expect(region[victim].log.contains("event=sync.pulled"), "\(victim) was pulling when killed")

                // More writes at the source while the victim is down, then it restarts and catches up.
                let more = try await writeServices(at: region[source], count: 100, streams: 2, label: "more")
                try await region.start(victim)
                try await Task.sleep(for: .milliseconds(500))
                stop.stop()
                let victimLedger = try await victimWrites.value
                #expect(victimLedger.acknowledged.count > 0, "the victim acknowledged writes of its own")
                try await region.waitConverged(timeout: .seconds(90))

                let acknowledged = backlog.acknowledged + more.acknowledged + victimLedger.acknowledged
                let attempted = Set(backlog.attempted + more.attempted + victimLedger.attempted)
                for node in region.all {
                    let counts = try await Self.serviceCounts(at: node)
                    let missing = acknowledged.filter { counts[$0] == nil }
                    #expect(missing.isEmpty, "\(node.name) lacks \(missing.count) acknowledged writes, e.g. \(missing.first ?? "")")
                    let duplicated = counts.filter { $0.value != 1 }
                    #expect(duplicated.isEmpty, "\(node.name) lists \(duplicated.count) services more than once")
                    let unknown = counts.keys.filter { !attempted.contains($0) }
                    #expect(unknown.isEmpty, "\(node.name) holds \(unknown.count) services nobody wrote")
                }

                await region.stopAll()
                for name in region.names {
                    let result = try await region.integrityCheck(name)
                    #expect(result == "ok", "PRAGMA integrity_check on \(name): \(result)")
                }
            }
        }

        @Test("SIGTERM exits 0 within a few seconds and writes acknowledged just before are there after restart")
        func gracefulShutdownKeepsAcknowledgedWrites() async throws {
            var options = RegionOptions(nodes: ["jakobstad", "nykarleby"])
            options.durability = "full"
            try await withRegion(options) { region in
                let node = region["jakobstad"]
                let first = newID()
                let created = try expectCreated(try await node.create(.service, Fixture.service(id: first, office: node.name, label: "before")),
                                                "write before SIGTERM")
                // A burst of writes still arriving while SIGTERM does.
                let stop = StopFlag()
                let burst = Task { try await writeServices(at: node, count: 0, streams: 3, label: "burst", stop: stop) }
                try await Task.sleep(for: .milliseconds(150))
                let (status, signalled, elapsed) = try await region.stop(node.name)
                stop.stop()
                let ledger = try await burst.value
                #expect(!signalled && status == 0, "exit status \(status)\(signalled ? " (signal)" : "")")
                #expect(elapsed < .seconds(5), "SIGTERM to exit took \(elapsed)")
                #expect(node.log.contains("event=node.stopped"))
                #expect(!node.log.contains("shutdown_deadline_passed") && !node.log.contains("forced_exit"))

                try await region.start(node.name)
                let record = try #require(try await node.record(.service, first), "the write acknowledged before SIGTERM")
                #expect(record["fields"] == created["fields"])
                let counts = try await Self.serviceCounts(at: node)
                let lost = ledger.acknowledged.filter { counts[$0] == nil }
                #expect(lost.isEmpty, "\(lost.count) of \(ledger.acknowledged.count) writes acknowledged around SIGTERM are gone")
                try await region.waitConverged()
            }
        }
    }
}
