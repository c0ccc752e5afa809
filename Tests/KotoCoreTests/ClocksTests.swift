import KotoCore
import KotoTestSupport
import Testing

@Suite struct HLCTests {
    @Test func packsWallMillisAndCounter() {
        let hlc = HLC(wallMillis: 1_700_000_000_123, counter: 7)
        #expect(hlc.wallMillis == 1_700_000_000_123)
        #expect(hlc.counter == 7)
        #expect(hlc.rawValue == 1_700_000_000_123 << 16 | 7)
        #expect(HLC(rawValue: hlc.rawValue) == hlc)
        #expect(HLC(wallMillis: 5).counter == 0)
        #expect(hlc.description == "1700000000123.7")
    }

    @Test func orderIsWallMillisThenCounter() {
        #expect(HLC(wallMillis: 10, counter: 9) < HLC(wallMillis: 11, counter: 0))
        #expect(HLC(wallMillis: 10, counter: 1) < HLC(wallMillis: 10, counter: 2))
        #expect(HLC.zero < HLC(wallMillis: 0, counter: 1))
    }

    @Test func successorCarriesTheCounterIntoWallMillis() {
        #expect(HLC(wallMillis: 10, counter: 3).successor == HLC(wallMillis: 10, counter: 4))
        let full = HLC(wallMillis: 10, counter: .max)
        #expect(full.successor == HLC(wallMillis: 11, counter: 0))
        #expect(full < full.successor)
    }
}

@Suite struct HybridClockTests {
    @Test func tickFollowsTheWallClockWhenItAdvances() {
        var clock = HybridClock()
        #expect(clock.tick(nowMillis: 1000) == HLC(wallMillis: 1000))
        #expect(clock.tick(nowMillis: 2000) == HLC(wallMillis: 2000))
        #expect(clock.last == HLC(wallMillis: 2000))
    }

    @Test func tickIsStrictlyIncreasingWhenTheWallClockStandsStillOrGoesBack() {
        var clock = HybridClock()
        let first = clock.tick(nowMillis: 5000)
        let same = clock.tick(nowMillis: 5000)
        let back = clock.tick(nowMillis: 1000)
        let wayBack = clock.tick(nowMillis: 0)
        #expect(first < same && same < back && back < wayBack)
        #expect(wayBack == HLC(wallMillis: 5000, counter: 3))
        // Once the wall clock passes the logical time again, it takes over.
        #expect(clock.tick(nowMillis: 5001) == HLC(wallMillis: 5001))
    }

    @Test func tickIsStrictlyIncreasingOverARandomWallClock() {
        var rng = SeededGenerator(state: 42)
        var clock = HybridClock()
        var previous = HLC.zero
        var now: UInt64 = 1_000_000
        for _ in 0..<10_000 {
            now = UInt64(Int64(now) + Int64.random(in: -50...50, using: &rng))
            let next = clock.tick(nowMillis: now)
            #expect(next > previous)
            #expect(next >= HLC(wallMillis: now))
            previous = next
        }
    }

    @Test func observeRaisesButNeverLowers() {
        var clock = HybridClock(last: HLC(wallMillis: 100))
        clock.observe(HLC(wallMillis: 500, counter: 2))
        #expect(clock.last == HLC(wallMillis: 500, counter: 2))
        clock.observe(HLC(wallMillis: 50))
        #expect(clock.last == HLC(wallMillis: 500, counter: 2))
        // A write after observing is later than what was observed, even with a slow wall clock.
        #expect(clock.tick(nowMillis: 10) == HLC(wallMillis: 500, counter: 3))
    }

    @Test func resumesFromAPersistedLast() {
        var clock = HybridClock(last: HLC(wallMillis: 9000, counter: 4))
        #expect(clock.tick(nowMillis: 8000) == HLC(wallMillis: 9000, counter: 5))
    }
}

@Suite struct NodeIDTests {
    @Test func acceptsSlugs() {
        for id in ["jakobstad", "a", "node-2", "x_y", String(repeating: "z", count: 64)] {
            #expect(NodeID.isValid(id))
        }
    }

    @Test func rejectsEverythingElse() {
        for id in ["", "Jakobstad", "node 2", "pedersöre", "a/b", "a:b", "a.b", String(repeating: "z", count: 65)] {
            #expect(!NodeID.isValid(id))
        }
    }

    @Test func dotDescribesOriginAndSeq() {
        #expect(Dot(origin: "larsmo", seq: 12).description == "larsmo:12")
        #expect(Dot(origin: "larsmo", seq: 12) != Dot(origin: "larsmo", seq: 13))
    }
}
