import KotoCore
import KotoTestSupport
import Testing

@Suite struct VersionVectorTests {
    @Test func coversDot() {
        let vv = VersionVector(["a": 3, "b": 1])
        #expect(vv.covers(Dot(origin: "a", seq: 1)))
        #expect(vv.covers(Dot(origin: "a", seq: 3)))
        #expect(!vv.covers(Dot(origin: "a", seq: 4)))
        #expect(vv.covers(Dot(origin: "b", seq: 1)))
        #expect(!vv.covers(Dot(origin: "c", seq: 1)))
        #expect(vv["c"] == 0)
    }

    @Test func coversVector() {
        let vv = VersionVector(["a": 3, "b": 1])
        #expect(vv.covers(VersionVector()))
        #expect(vv.covers(vv))
        #expect(vv.covers(VersionVector(["a": 2])))
        #expect(vv.covers(VersionVector(["a": 3, "b": 1])))
        #expect(!vv.covers(VersionVector(["a": 4])))
        #expect(!vv.covers(VersionVector(["c": 1])))
        #expect(!VersionVector().covers(vv))
        // Concurrent vectors cover neither way.
        let other = VersionVector(["a": 1, "b": 2])
        #expect(!vv.covers(other) && !other.covers(vv))
    }

    @Test func advanceRaisesButNeverLowers() {
        var vv = VersionVector()
        vv.advance(to: Dot(origin: "a", seq: 5))
        #expect(vv == VersionVector(["a": 5]))
        vv.advance(to: Dot(origin: "a", seq: 2))
        #expect(vv["a"] == 5)
        vv.advance(to: Dot(origin: "b", seq: 1))
        #expect(vv == VersionVector(["a": 5, "b": 1]))
        vv.advance(to: Dot(origin: "c", seq: 0))
        #expect(vv.entries.keys.sorted() == ["a", "b"])
    }

    @Test func unionIsPointwiseMaximum() {
        let x = VersionVector(["a": 3, "b": 1])
        let y = VersionVector(["b": 4, "c": 2])
        #expect(x.union(y) == VersionVector(["a": 3, "b": 4, "c": 2]))
    }

    @Test func formUnionIsCommutativeAssociativeAndIdempotent() {
        var rng = SeededGenerator(state: 7)
        func random() -> VersionVector {
            var entries: [String: UInt64] = [:]
            for origin in ["a", "b", "c", "d"] where Bool.random(using: &rng) {
                entries[origin] = UInt64.random(in: 0...5, using: &rng)
            }
            return VersionVector(entries)
        }
        for _ in 0..<500 {
            let (x, y, z) = (random(), random(), random())
            #expect(x.union(y) == y.union(x))
            #expect(x.union(x) == x)
            #expect(x.union(y).union(z) == x.union(y.union(z)))
            #expect(x.union(y).covers(x) && x.union(y).covers(y))
            var formed = x
            formed.formUnion(y)
            formed.formUnion(y)
            #expect(formed == x.union(y))
        }
    }

    @Test func zeroEntriesAreDropped() {
        let vv = VersionVector(["a": 0, "b": 2])
        #expect(vv.entries == ["b": 2])
        #expect(vv == VersionVector(["b": 2]))
        #expect(VersionVector(["a": 0]).isEmpty)
        #expect(VersionVector(["a": 0]) == VersionVector())
        // Minimum over disjoint or zero entries leaves nothing behind either.
        let floor = VersionVector(["a": 3, "b": 5]).intersection(VersionVector(["b": 2, "c": 9]))
        #expect(floor == VersionVector(["b": 2]))
        #expect(floor.entries.keys.sorted() == ["b"])
    }

    @Test func sortedAndDescriptionAreCanonical() {
        let vv = VersionVector(["nykarleby": 2, "jakobstad": 10, "kronoby": 1])
        #expect(vv.sorted.map(\.origin) == ["jakobstad", "kronoby", "nykarleby"])
        #expect(vv.sorted.map(\.seq) == [10, 1, 2])
        #expect(vv.description == "{jakobstad:10,kronoby:1,nykarleby:2}")
    }
}
