import Foundation
import KotoCore
import KotoHTTP
import Testing

// A node whose wall clock runs an hour ahead, through the daemon's test-only
// clock offset (KOTOSYNC_TEST_CLOCK_OFFSET_MS, honoured with
// KOTOSYNC_TEST_HOOKS=1 only). Four nodes, so that each honest node's peers
// have an honest median (with three, an honest node's two peers split).

extension Region {
    @Suite("Region: clock skew")
    struct ClockSkew {
        static let hour: Int64 = 3_600_000
        static let nodes = ["jakobstad", "nykarleby", "kronoby", "pedersore"]

        static func skewed(_ offsetMillis: Int64) -> [String: String] {
            ["KOTOSYNC_TEST_HOOKS": "1", "KOTOSYNC_TEST_CLOCK_OFFSET_MS": String(offsetMillis)]
        }

        static func seconds(_ value: JSONValue?) -> Double? { value?.doubleValue }

        /// Writes one service at `node`; returns the answer.
        static func tryWrite(_ node: RegionNode, label: String) async throws -> (id: String, result: APIResult) {
            let id = newID()
            return (id, try await node.create(.service, Fixture.service(id: id, office: node.name, label: label)))
        }

        @Test("an hour ahead: the node refuses its own writes as soon as it sees its peers' clocks, both sides' status says so, sync goes on undamaged; restarted with the clock fixed it writes again and the region converges")
        func hourAheadRefusesWritesUntilFixed() async throws {
            try await withRegion(RegionOptions(nodes: Self.nodes)) { region in
                let wrong = "jakobstad", honest = "kronoby"
                let before = try expectCreated(try await region[honest].create(.service, Fixture.service(office: honest, label: "before")), "before")
                try await region.waitConverged()

                try await region.stop(wrong)
                try await region.start(wrong, environment: Self.skewed(Self.hour), untilWritable: false)
                #expect(region[wrong].log.contains("event=node.test_clock_offset"), "the daemon logs that its clock is moved")
                // Every write is refused: first while it asks its peers (catching_up), then for its clock.
                var answers: [String] = []
                try await waitUntil("\(wrong) to refuse writes for its clock", timeout: .seconds(20)) {
                    let (_, result) = try await Self.tryWrite(region[wrong], label: "skewed")
                    answers.append("\(result.status) \(result.errorCode ?? "")")
                    return result.errorCode == "clock_skew"
                }
                #expect(answers.allSatisfy { $0.hasPrefix("503") }, "writes answered while the clock is wrong: \(answers)")
                let (_, refused) = try await Self.tryWrite(region[wrong], label: "skewed")
                #expect(refused.status == 503 && refused.errorCode == "clock_skew")
                #expect(refused.errorMessage?.contains("ahead of the median of its 3 peers") == true, "\(refused.errorMessage ?? "")")

                // Its status explains it...
                let status = try await region[wrong].status()
                #expect(status["acceptingWrites"] == .bool(false))
                let offset = try #require(Self.seconds(status["clockSkew"]?["offsetSeconds"]), "clockSkew in \(wrong)'s status")
                #expect(offset > 3590 && offset < 3610, "clockSkew.offsetSeconds \(offset)")
                #expect(status["clockSkew"]?["peers"]?.int64Value == 3)
                for peer in try await region[wrong].peers() {
                    let seen = Self.seconds(peer["clockOffsetSeconds"]) ?? 0
                    #expect(seen < -3590 && seen > -3610, "\(wrong) sees \(peer["node"]?.stringValue ?? "?")'s clock \(seen) s off")
                }
                // ...and so does each peer's link to it, while the peers themselves write on.
                for name in Self.nodes where name != wrong {
                    try await waitUntil("\(name) to see \(wrong)'s clock", timeout: .seconds(20)) {
                        (Self.seconds(try await region[name].peerStatus(wrong)?["clockOffsetSeconds"]) ?? 0) > 3590
                    }
                    let peerStatus = try await region[name].status()
                    #expect(peerStatus["clockSkew"] == .null, "\(name) thinks its own clock is off")
                    #expect(peerStatus["acceptingWrites"] == .bool(true))
                }
                // Nobody's data is damaged: the honest nodes' writes reach everyone, the wrong clock stamped nothing.
                let during = try expectCreated(try await region[honest].create(.service, Fixture.service(office: honest, label: "during")), "during")
                try await region.waitConverged(timeout: .seconds(30))
                let ownSeq = try await region[wrong].holds(of: wrong), heldByPeer = try await region[honest].holds(of: wrong)
                #expect(ownSeq == heldByPeer, "the peers hold all of \(wrong)'s changes")
                for node in region.all {
                    for record in [before, during] {
                        #expect(try await node.record(.service, record["id"]!.stringValue!)?["fields"] == record["fields"], "\(node.name)")
                    }
                }

                // The clock is fixed: writes are taken again and the region converges.
                try await region.restart(wrong)
                let fixed = try await region[wrong].status()
                #expect(fixed["clockSkew"] == .null && fixed["stampsAheadSeconds"] == .null)
                let after = try expectCreated(try await region[wrong].create(.service, Fixture.service(office: wrong, label: "after")), "after the fix")
                try await region.waitConverged(timeout: .seconds(30))
                for node in region.all {
                    #expect(try await node.record(.service, after["id"]!.stringValue!) != nil, "\(node.name) lacks the write after the fix")
                    if node.name != wrong {
                        let seen = Self.seconds(try await node.peerStatus(wrong)?["clockOffsetSeconds"]) ?? 9999
                        #expect(abs(seen) < 60, "\(node.name) still sees \(wrong)'s clock \(seen) s off")
                    }
                }
            }
        }

        @Test("changes stamped an hour ahead while cut off are refused by every peer (status says why on both sides), nobody's data is damaged, and the node takes no write that would be stamped after them, even once its clock is fixed")
        func changesStampedAheadAreRefused() async throws {
            try await withRegion(RegionOptions(nodes: Self.nodes)) { region in
                let wrong = "jakobstad", honest = "kronoby"
                try expectCreated(try await region[honest].create(.service, Fixture.service(office: honest, label: "before")), "before")
                try await region.waitConverged()
                let heldBefore = try await region[honest].holds(of: wrong)

                // Alone at boot (the others are down) with a clock an hour ahead: nothing to compare with, so it writes.
                for name in Self.nodes { try await region.stop(name) }
                try await region.start(wrong, environment: Self.skewed(Self.hour))
                let (stampedAhead, written) = try await Self.tryWrite(region[wrong], label: "ahead")
                try expectCreated(written, "a write while alone")
                try await region.stop(wrong)

                // Back in the region, clock still wrong: the peers refuse the batch holding it, it refuses writes.
                for name in Self.nodes where name != wrong { try await region.start(name) }
                try await region.start(wrong, environment: Self.skewed(Self.hour), untilWritable: false)
                for name in Self.nodes where name != wrong {
                    var link: JSONValue?
                    try await waitUntil("\(name) to refuse \(wrong)'s batch", timeout: .seconds(20)) {
                        link = try await region[name].peerStatus(wrong)
                        return link?["state"]?.stringValue == "refused"
                    }
                    let reason = link?["lastError"]?.stringValue ?? ""
                    #expect(reason.contains("ahead of this node's"), "\(name)'s link to \(wrong): \(reason)")
                    #expect((Self.seconds(link?["clockOffsetSeconds"]) ?? 0) > 3590)
                    #expect(try await region[name].record(.service, stampedAhead) == nil, "\(name) applied a change stamped an hour ahead")
                    #expect(try await region[name].holds(of: wrong) == heldBefore)
                }
                try await waitUntil("\(wrong) to refuse writes for its clock", timeout: .seconds(20)) {
                    try await Self.tryWrite(region[wrong], label: "skewed").result.errorCode == "clock_skew"
                }
                #expect(try await region[wrong].status()["clockSkew"] != .null)

                // The honest nodes go on: their writes reach each other and the wrong node.
                let during = try expectCreated(try await region[honest].create(.service, Fixture.service(office: honest, label: "during")), "during")
                try await region.waitConverged(among: Self.nodes.filter { $0 != wrong }, timeout: .seconds(30))
                try await waitUntil("\(wrong) to pull the honest write", timeout: .seconds(20)) {
                    try await region[wrong].record(.service, during["id"]!.stringValue!) != nil
                }

                // Clock fixed: its peers' clocks agree, but its newest stamp is still an hour ahead;
                // a write now would be stamped after it and refused everywhere, so it takes none.
                try await region.stop(wrong)
                try await region.start(wrong, untilWritable: false)
                var refusal: APIResult?
                try await waitUntil("\(wrong)'s startup check to end", timeout: .seconds(20)) {
                    refusal = try await Self.tryWrite(region[wrong], label: "fixed").result
                    return refusal?.errorCode != "catching_up"
                }
                #expect(refusal?.status == 503 && refusal?.errorCode == "clock_skew", "HTTP \(refusal?.status ?? 0) \(refusal?.errorCode ?? "")")
                #expect(refusal?.errorMessage?.contains("stamped") == true, "\(refusal?.errorMessage ?? "")")
                let status = try await region[wrong].status()
                #expect(status["clockSkew"] == .null, "its clock agrees with its peers' again")
                let ahead = Self.seconds(status["stampsAheadSeconds"]) ?? 0
                #expect(ahead > 3500 && ahead < 3610, "stampsAheadSeconds \(ahead)")
                #expect(status["acceptingWrites"] == .bool(false))
                // The peers still refuse only that batch, and still have everything else.
                for name in Self.nodes where name != wrong {
                    #expect(try await region[name].record(.service, stampedAhead) == nil)
                    #expect(try await region[name].peerStatus(wrong)?["state"]?.stringValue == "refused")
                }
            }
        }
    }
}
