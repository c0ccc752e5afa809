import Foundation
import KotoCore
import KotoTestSupport
import Testing

/// Builds a change to the one row these tests use. `saw` is the row clock the
/// writer had before writing; the change's row clock is that plus its own dot.
private func write(_ origin: String, _ seq: UInt64, at wall: UInt64, counter: UInt16 = 0,
                   _ fields: FieldMap, saw: [String: UInt64] = [:], kind: ChangeKind = .upsert) -> Change {
    let dot = Dot(origin: origin, seq: seq)
    var clock = VersionVector(saw)
    clock.advance(to: dot)
    return Change(dot: dot, hlc: HLC(wallMillis: wall, counter: counter), record: .service, rowID: Fixture.serviceID,
                  kind: kind, fields: fields, rowClock: clock)
}

/// Stands in for the digest of a purged payload: the merge never reads it.
private let purgedDigest = [UInt8](repeating: 0x42, count: 32)

private func applying(_ changes: [Change], to start: RowState = .empty) -> RowState {
    var state = start
    for change in changes { state.apply(change) }
    return state
}

/// A row state with conflicts as sets, so that replicas that applied the same
/// changes in different orders compare equal.
struct NormalizedRow: Equatable, CustomStringConvertible {
    var fields: FieldMap
    var stamps: [String: FieldStamp]
    var rowClock: RowClock
    var erased: Bool
    var conflicts: [String: Set<FrontierEntry>]

    init(_ state: RowState) {
        fields = state.fields
        stamps = state.stamps
        rowClock = state.rowClock
        erased = state.erased
        conflicts = state.conflicts.mapValues { Set($0) }
    }

    init(fields: FieldMap, stamps: [String: FieldStamp], rowClock: RowClock, erased: Bool,
         conflicts: [String: Set<FrontierEntry>]) {
        self.fields = fields
        self.stamps = stamps
        self.rowClock = rowClock
        self.erased = erased
        self.conflicts = conflicts
    }

    var description: String {
        "row(fields: \(fields.keys.sorted()), clock: \(rowClock), erased: \(erased), conflicts: \(conflicts.mapValues(\.count)))"
    }
}

/// Every permutation of `items`.
func permutations<T>(_ items: [T]) -> [[T]] {
    guard items.count > 1 else { return [items] }
    return items.indices.flatMap { index in
        var rest = items
        let first = rest.remove(at: index)
        return permutations(rest).map { [first] + $0 }
    }
}

/// True when every change comes after all the changes its row clock covers.
func isCausal(_ order: [Change]) -> Bool {
    for (index, change) in order.enumerated() {
        if order[index...].contains(where: { $0.dot != change.dot && change.rowClock.covers($0.dot) }) { return false }
    }
    return true
}

@Suite struct MergeTests {
    @Test func firstWriteSetsValueAndStamp() {
        var row = RowState.empty
        let change = write("jakobstad", 1, at: 100, ["status": .text("draft"), "capacity": .integer(10)])
        let effect = row.apply(change)
        #expect(row.fields == ["status": .text("draft"), "capacity": .integer(10)])
        #expect(row.stamps["status"] == FieldStamp(hlc: change.hlc, dot: change.dot))
        #expect(row.rowClock == VersionVector(["jakobstad": 1]))
        #expect(row.conflicts.isEmpty)
        #expect(effect.changedFields == ["status", "capacity"])
        #expect(effect.conflictFields.isEmpty)
    }

    @Test func aWriteThatSawTheValueReplacesItWithoutConflict() {
        let first = write("jakobstad", 1, at: 100, ["status": .text("draft"), "capacity": .integer(10)])
        let second = write("larsmo", 1, at: 200, ["status": .text("active")], saw: ["jakobstad": 1])
        let row = applying([first, second])
        #expect(row.fields == ["status": .text("active"), "capacity": .integer(10)])
        #expect(row.stamps["status"]?.dot == second.dot)
        #expect(row.stamps["capacity"]?.dot == first.dot)
        #expect(row.conflicts.isEmpty)
        #expect(row.rowClock == VersionVector(["jakobstad": 1, "larsmo": 1]))
    }

    @Test func concurrentWritesConflictIdenticallyInBothOrders() {
        let base = write("jakobstad", 1, at: 100, ["status": .text("draft")])
        let low = write("larsmo", 1, at: 200, ["status": .text("active")], saw: ["jakobstad": 1])
        let high = write("kronoby", 1, at: 300, ["status": .text("paused")], saw: ["jakobstad": 1])
        let one = applying([base, low, high])
        let other = applying([base, high, low])
        #expect(one == other)
        #expect(one.fields["status"] == .text("paused"))
        #expect(one.stamps["status"]?.dot == high.dot)
        // The frontier holds both writes: the winner and one open conflict.
        #expect(one.conflicts["status"] == [FrontierEntry(stamp: FieldStamp(hlc: low.hlc, dot: low.dot), value: .text("active"))])

        var row = applying([base, low])
        let effect = row.apply(high)
        #expect(effect.changedFields == ["status"])
        #expect(effect.conflictFields == ["status"])
    }

    @Test func equalTimestampsAreDecidedByOrigin() {
        let a = write("jakobstad", 1, at: 500, ["contact": .text("a")])
        let b = write("nykarleby", 4, at: 500, ["contact": .text("b")])
        for order in [[a, b], [b, a]] {
            let row = applying(order)
            #expect(row.fields["contact"] == .text("b"), "nykarleby > jakobstad")
            #expect(row.conflicts["contact"]?.map(\.stamp.dot) == [a.dot])
        }
        #expect(FieldStamp(hlc: b.hlc, dot: b.dot).wins(over: FieldStamp(hlc: a.hlc, dot: a.dot)))
        #expect(!FieldStamp(hlc: a.hlc, dot: a.dot).wins(over: FieldStamp(hlc: b.hlc, dot: b.dot)))
        // The timestamp decides before the origin does.
        let later = FieldStamp(hlc: HLC(wallMillis: 500, counter: 1), dot: Dot(origin: "a", seq: 1))
        #expect(later.wins(over: FieldStamp(hlc: b.hlc, dot: b.dot)))
    }

    @Test func aWriteCoveringTheWholeFrontierResolvesTheConflict() {
        let a = write("jakobstad", 1, at: 100, ["capacity": .integer(10)])
        let b = write("larsmo", 1, at: 200, ["capacity": .integer(12)])
        // The coordinator saw both and picks a value, with a slow wall clock:
        // its HLC is still above both because it observed them.
        var clock = HybridClock()
        clock.observe(a.hlc)
        clock.observe(b.hlc)
        let hlc = clock.tick(nowMillis: 50)
        let resolution = Change(dot: Dot(origin: "kronoby", seq: 1), hlc: hlc, record: .service, rowID: Fixture.serviceID,
                                kind: .upsert, fields: ["capacity": .integer(11)],
                                rowClock: VersionVector(["jakobstad": 1, "larsmo": 1, "kronoby": 1]))
        var row = applying([a, b])
        #expect(row.conflicts["capacity"]?.count == 1)
        let effect = row.apply(resolution)
        #expect(row.fields["capacity"] == .integer(11))
        #expect(row.conflicts.isEmpty)
        #expect(effect.conflictFields == ["capacity"])
        #expect(applying([b, a, resolution]) == row)
    }

    @Test func aWriteCoveringPartOfTheFrontierLeavesTheRestOpen() {
        let a = write("jakobstad", 1, at: 100, ["capacity": .integer(10)])
        let b = write("larsmo", 1, at: 200, ["capacity": .integer(12)])
        let c = write("kronoby", 1, at: 150, ["capacity": .integer(11)], saw: ["jakobstad": 1])
        for order in permutations([a, b, c]) where isCausal(order) {
            let row = applying(order)
            #expect(row.fields["capacity"] == .integer(12))
            #expect(row.conflicts["capacity"]?.map(\.stamp.dot) == [c.dot], "a was seen by c: no conflict")
        }
    }

    /// The design's divergence scenario: c saw a but not b, and c's wall clock is
    /// slow. LWW by (hlc, origin) lets b win; the conflict is b against c only.
    @Test func threeWritesWhereOnlySomeSawEachOtherConvergeInEveryCausalOrder() throws {
        var clockA = HybridClock(), clockB = HybridClock(), clockC = HybridClock()
        let a = write("jakobstad", 1, at: clockA.tick(nowMillis: 1000).wallMillis, ["status": .text("active")])
        let b = write("larsmo", 1, at: clockB.tick(nowMillis: 3000).wallMillis, ["status": .text("full")])
        clockC.observe(a.hlc)
        let cHLC = clockC.tick(nowMillis: 500)
        #expect(cHLC > a.hlc && cHLC < b.hlc)
        let c = write("kronoby", 1, at: cHLC.wallMillis, counter: cHLC.counter, ["status": .text("paused")],
                      saw: ["jakobstad": 1])

        let orders = permutations([a, b, c])
        #expect(orders.count == 6)
        let causal = orders.filter(isCausal)
        #expect(causal.count == 3)
        let states = causal.map { NormalizedRow(applying($0)) }
        let first = try #require(states.first)
        #expect(states.allSatisfy { $0 == first })
        #expect(first.fields["status"] == .text("full"))
        #expect(first.conflicts["status"] == [FrontierEntry(stamp: FieldStamp(hlc: c.hlc, dot: c.dot), value: .text("paused"))])
    }

    @Test func threeConcurrentWritesConvergeInAllSixOrders() throws {
        let a = write("jakobstad", 1, at: 300, ["status": .text("active"), "capacity": .integer(1)])
        let b = write("larsmo", 1, at: 300, ["status": .text("full")])
        let c = write("kronoby", 1, at: 100, ["status": .text("paused"), "capacity": .integer(3)])
        let states = permutations([a, b, c]).map { NormalizedRow(applying($0)) }
        #expect(states.count == 6)
        let first = try #require(states.first)
        #expect(states.allSatisfy { $0 == first })
        #expect(first.fields == ["status": .text("full"), "capacity": .integer(1)])
        #expect(first.conflicts["status"]?.map(\.stamp.dot).sorted { $0.origin < $1.origin }
            == [a.dot, c.dot])
        #expect(first.conflicts["capacity"]?.map(\.stamp.dot) == [c.dot])
    }

    @Test func applyingAChangeTwiceChangesNothing() {
        let a = write("jakobstad", 1, at: 100, ["status": .text("active")])
        let b = write("larsmo", 1, at: 200, ["status": .text("full")])
        let once = applying([a, b])
        var twice = once
        let effect = twice.apply(b)
        twice.apply(a)
        #expect(twice == once)
        #expect(effect.changedFields.isEmpty)
    }

    @Test func deleteIsTheDeletedField() {
        let create = write("jakobstad", 1, at: 100, ["status": .text("active"), "deleted": .bool(false)])
        let delete = write("jakobstad", 2, at: 200, ["deleted": .bool(true)], saw: ["jakobstad": 1], kind: .delete)
        var row = applying([create, delete])
        #expect(row.isDeleted)
        #expect(row.fields["status"] == .text("active"), "a delete hides the row, it does not clear it")

        // A concurrent edit of another field does not bring the row back.
        let edit = write("larsmo", 1, at: 300, ["status": .text("paused")], saw: ["jakobstad": 1])
        row.apply(edit)
        #expect(row.isDeleted)

        // Only a later write of deleted = false restores it.
        let restore = write("kronoby", 1, at: 400, ["deleted": .bool(false)], saw: ["jakobstad": 2, "larsmo": 1])
        row.apply(restore)
        #expect(!row.isDeleted)
        #expect(row.fields["status"] == .text("paused"))
    }

    @Test func concurrentDeleteAndRestoreConflictLikeAnyField() {
        let create = write("jakobstad", 1, at: 100, ["status": .text("active")])
        let delete = write("larsmo", 1, at: 300, ["deleted": .bool(true)], saw: ["jakobstad": 1], kind: .delete)
        let undelete = write("kronoby", 1, at: 200, ["deleted": .bool(false)], saw: ["jakobstad": 1])
        let one = applying([create, delete, undelete]), other = applying([create, undelete, delete])
        #expect(one == other)
        #expect(one.isDeleted)
        #expect(one.conflicts["deleted"]?.map(\.value) == [.bool(false)])
    }

    @Test func eraseIsAbsorbing() {
        let create = write("jakobstad", 1, at: 100, ["status": .text("active"), "contact": .text("Testi")])
        let concurrent = write("larsmo", 1, at: 150, ["contact": .text("Testinen")])
        let erase = write("jakobstad", 2, at: 200, [:], saw: ["jakobstad": 1], kind: .erase)
        var row = applying([create, concurrent])
        #expect(!row.conflicts.isEmpty)

        let effect = row.apply(erase)
        #expect(effect.erasedNow)
        #expect(effect.changedFields == ["status", "contact"])
        #expect(effect.conflictFields == ["contact"])
        #expect(row.erased && row.fields.isEmpty && row.stamps.isEmpty && row.conflicts.isEmpty)
        #expect(!row.isDeleted)

        // Later and concurrent writes change no value but advance the row clock.
        let later = write("kronoby", 1, at: 300, ["status": .text("paused")], saw: ["jakobstad": 2, "larsmo": 1])
        let alsoConcurrent = write("nykarleby", 1, at: 120, ["status": .text("draft")])
        for change in [later, alsoConcurrent] {
            let before = row
            let absorbed = row.apply(change)
            #expect(absorbed.absorbedByErase)
            #expect(absorbed.changedFields.isEmpty && absorbed.conflictFields.isEmpty)
            #expect(row.fields.isEmpty && row.stamps.isEmpty && row.conflicts.isEmpty && row.erased)
            #expect(row.rowClock.covers(change.dot) && !before.rowClock.covers(change.dot))
        }
        // A second erase is absorbed too.
        #expect(row.apply(write("larsmo", 2, at: 400, [:], saw: ["larsmo": 1], kind: .erase)).absorbedByErase)

        // The order of arrival does not matter.
        let changes = [create, concurrent, erase, later, alsoConcurrent]
        let reference = NormalizedRow(applying(changes))
        for order in permutations(changes) where isCausal(order) {
            #expect(NormalizedRow(applying(order)) == reference)
        }
    }

    // MARK: Purged entries

    /// A purged change (an erase somewhere stripped its payload) writes
    /// nothing: it advances the row clock, marks the row as awaiting its
    /// erase, and leaves every value, stamp and conflict as it was.
    @Test func aPurgedChangeWritesNothingAndAwaitsItsErase() {
        let create = write("jakobstad", 1, at: 100, ["status": .text("active"), "contact": .text("a")])
        let concurrent = write("larsmo", 1, at: 150, ["contact": .text("b")])
        let edit = write("kronoby", 1, at: 160, ["status": .text("full")], saw: ["jakobstad": 1])
        var row = applying([create, concurrent])
        #expect(!row.conflicts.isEmpty && !row.awaitingErase)
        let before = row

        let effect = row.apply(edit.purged(payloadDigest: purgedDigest))
        #expect(effect.awaitingEraseChanged)
        #expect(effect.changedFields.isEmpty && effect.conflictFields.isEmpty && !effect.erasedNow && !effect.absorbedByErase)
        #expect(row.awaitingErase && !row.erased)
        #expect(row.fields == before.fields && row.stamps == before.stamps && row.conflicts == before.conflicts)
        #expect(row.rowClock == VersionVector(["jakobstad": 1, "larsmo": 1, "kronoby": 1]))

        // A second purged change keeps waiting; the flag does not flip again.
        let another = write("nykarleby", 1, at: 170, ["status": .text("draft")], saw: ["jakobstad": 1])
        let again = row.apply(another.purged(payloadDigest: purgedDigest))
        #expect(!again.awaitingEraseChanged && row.awaitingErase)
        #expect(row.fields == before.fields && row.stamps == before.stamps && row.conflicts == before.conflicts)

        // The erase clears everything, and the wait.
        let erase = write("jakobstad", 2, at: 200, [:], saw: ["jakobstad": 1, "larsmo": 1, "kronoby": 1, "nykarleby": 1], kind: .erase)
        let erased = row.apply(erase)
        #expect(erased.erasedNow && erased.awaitingEraseChanged)
        #expect(row.erased && !row.awaitingErase && row.fields.isEmpty && row.stamps.isEmpty && row.conflicts.isEmpty)
    }

    @Test func aPurgedChangeNeverErasesTheRowOnItsOwn() {
        let create = write("jakobstad", 1, at: 100, ["status": .text("active")])
        for kind in [ChangeKind.upsert, .delete] {
            let stripped = write("larsmo", 1, at: 200, kind == .delete ? ["deleted": .bool(true)] : ["status": .text("full")],
                                 saw: ["jakobstad": 1], kind: kind).purged(payloadDigest: purgedDigest)
            #expect(stripped.isPurged && stripped.fields.isEmpty)
            let row = applying([create, stripped])
            #expect(!row.erased && row.awaitingErase)
            #expect(row.fields == ["status": .text("active")] && !row.isDeleted)
            #expect(row.stamps["status"]?.dot == create.dot)
            // Arriving first, on a row nothing else touched, it writes nothing either.
            let alone = applying([stripped])
            #expect(!alone.erased && alone.awaitingErase && alone.fields.isEmpty && alone.stamps.isEmpty)
            #expect(alone.rowClock == VersionVector(["jakobstad": 1, "larsmo": 1]))
            let thenCreate = applying([stripped, create])
            #expect(thenCreate.fields == ["status": .text("active")] && thenCreate.awaitingErase)
        }
    }

    /// A purged change that arrives after its erase is absorbed like any
    /// other write: no wait is left behind.
    @Test func aPurgedChangeAfterTheEraseIsAbsorbed() {
        let create = write("jakobstad", 1, at: 100, ["status": .text("active")])
        let erase = write("jakobstad", 2, at: 200, [:], saw: ["jakobstad": 1], kind: .erase)
        let concurrent = write("larsmo", 1, at: 150, ["status": .text("full")], saw: ["jakobstad": 1])
        var row = applying([create, erase])
        let effect = row.apply(concurrent.purged(payloadDigest: purgedDigest))
        #expect(effect.absorbedByErase && !effect.awaitingEraseChanged)
        #expect(row.erased && !row.awaitingErase && row.rowClock.covers(concurrent.dot))
        // An erase when nothing was awaited does not report the flag flipping.
        var fresh = applying([create])
        #expect(!fresh.apply(erase).awaitingEraseChanged)
    }

    /// Only a purged change writes nothing. A change with no fields that is
    /// not marked purged (a relay that stripped the payload) can no longer
    /// reach the merge from the wire, and if built by hand it still erases nothing.
    @Test func aChangeWithoutFieldsIsNoErase() throws {
        let create = write("jakobstad", 1, at: 100, ["status": .text("active")])
        let empty = write("larsmo", 1, at: 200, [:], saw: ["jakobstad": 1])
        let batch = ChangeBatch(incarnation: "i", nextPosition: 1, changes: [empty])
        #expect(throws: WireError.self) { try WireFormat.decode(WireFormat.encode(batch)) }
        let deleteBatch = ChangeBatch(incarnation: "i", nextPosition: 1,
                                      changes: [write("larsmo", 1, at: 200, [:], saw: ["jakobstad": 1], kind: .delete)])
        #expect(throws: WireError.self) { try WireFormat.decode(WireFormat.encode(deleteBatch)) }
        // The purged form of the same change is what travels.
        let purged = empty.purged(payloadDigest: purgedDigest)
        let decoded = try WireFormat.decode(WireFormat.encode(ChangeBatch(incarnation: "i", nextPosition: 1, changes: [purged])))
        #expect(decoded.changes.first?.isPurged == true)

        let row = applying([create, empty])
        #expect(!row.erased && !row.awaitingErase)
        #expect(row.fields == ["status": .text("active")])
    }

    /// The brief's scenario: a replica that pulls from a node already
    /// holding the erase receives the row's earlier changes purged, before
    /// the erase. Until the erase arrives they write nothing; once it has,
    /// the row is exactly what a replica that got every payload holds, in
    /// every causal order and whichever entries came purged.
    @Test func purgedEntriesBeforeTheirEraseConvergeWithPayloadsInEveryOrder() throws {
        let create = write("jakobstad", 1, at: 100, ["status": .text("active"), "capacity": .integer(3), "contact": .text("a")])
        let concurrent = write("larsmo", 1, at: 150, ["contact": .text("b")], saw: ["jakobstad": 1])
        let edit = write("kronoby", 1, at: 160, ["status": .text("full"), "contact": .text("c")], saw: ["jakobstad": 1])
        let erase = write("jakobstad", 2, at: 200, [:], saw: ["jakobstad": 1, "larsmo": 1], kind: .erase)
        let concurrentWithErase = write("nykarleby", 1, at: 300, ["capacity": .integer(9)], saw: ["jakobstad": 1])
        let changes = [create, concurrent, edit, erase, concurrentWithErase]
        let writes = changes.filter { $0.kind != .erase }
        let reference = applying(changes)
        #expect(reference.erased && !reference.awaitingErase && reference.fields.isEmpty)

        let causalOrders = permutations(changes).filter(isCausal)
        #expect(causalOrders.count == 12)
        var checkedOrders = 0, sawAwaiting = 0
        for mask in 0..<(1 << writes.count) {
            let purgedDots = Set(writes.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element.dot))
            for order in causalOrders {
                var row = RowState.empty
                var payloadOnly = RowState.empty
                var eraseArrived = false, purgedArrived = false
                for change in order {
                    let delivered = purgedDots.contains(change.dot) ? change.purged(payloadDigest: purgedDigest) : change
                    row.apply(delivered)
                    if !delivered.isPurged { payloadOnly.apply(delivered) } else { purgedArrived = true }
                    if change.kind == .erase { eraseArrived = true }
                    if !eraseArrived {
                        // Before the erase, the purged entries wrote nothing.
                        #expect(row.fields == payloadOnly.fields && row.stamps == payloadOnly.stamps,
                                "mask \(mask), order \(order.map(\.dot))")
                        #expect(NormalizedRow(row).conflicts == NormalizedRow(payloadOnly).conflicts)
                        #expect(!row.erased)
                        #expect(row.awaitingErase == purgedArrived)
                        if row.awaitingErase { sawAwaiting += 1 }
                    }
                }
                #expect(row == reference, "mask \(mask), order \(order.map(\.dot))")
                checkedOrders += 1
            }
        }
        #expect(checkedOrders == 16 * 12)
        #expect(sawAwaiting > 0)
    }

    @Test(arguments: 0..<200)
    func randomSchedulesConvergeToTheFrontierOfTheHeldWrites(seed: UInt64) throws {
        var simulation = Simulation(seed: seed)
        simulation.run(steps: 60)
        let changes = simulation.allChanges
        let expected = Simulation.expectedRow(changes)

        // Two fresh replicas apply everything in independent random causal orders.
        for _ in 0..<2 {
            let order = simulation.randomCausalOrder(changes)
            #expect(isCausalByDots(order))
            #expect(NormalizedRow(applying(order)) == expected)
        }
        // The simulated nodes themselves converge once they have exchanged everything.
        simulation.exchangeEverything()
        for node in simulation.nodes {
            #expect(NormalizedRow(node.state) == expected, "node \(node.id)")
        }
    }

    /// Guards the test above against passing vacuously: across the seeds the
    /// simulation produces open conflicts, resolved ones, timestamp ties, deletes and erases.
    @Test func simulationsExerciseConflictsTiesDeletesAndErases() {
        var withConflicts = 0, withResolutions = 0, withTies = 0, withDeletes = 0, withErases = 0
        for seed: UInt64 in 0..<200 {
            var simulation = Simulation(seed: seed)
            simulation.run(steps: 60)
            let changes = simulation.allChanges
            var row = RowState.empty, opened = false, resolved = false
            for change in simulation.randomCausalOrder(changes) {
                row.apply(change)
                if !row.conflicts.isEmpty { opened = true } else if opened && !row.erased { resolved = true }
            }
            if !row.conflicts.isEmpty { withConflicts += 1 }
            if resolved { withResolutions += 1 }
            if Set(changes.map(\.hlc)).count < changes.count { withTies += 1 }
            if changes.contains(where: { $0.kind == .delete }) { withDeletes += 1 }
            if row.erased { withErases += 1 }
        }
        #expect(withConflicts >= 100)
        #expect(withResolutions >= 30)
        #expect(withTies >= 50)
        #expect(withDeletes >= 100)
        #expect(withErases >= 10)
    }
}

/// Causality check that scales (the permutation helper above is for tiny cases).
private func isCausalByDots(_ order: [Change]) -> Bool {
    var applied = VersionVector()
    for change in order {
        var needed = change.rowClock.entries
        needed[change.dot.origin] = change.dot.seq - 1
        if !applied.covers(VersionVector(needed)) { return false }
        applied.advance(to: change.dot)
    }
    return true
}

/// Several nodes writing one row with skewed, jittery wall clocks and syncing
/// by partial pulls, as the daemon does: each node's log is a causal order.
struct Simulation {
    struct Node {
        let id: String
        let skew: Int64
        var clock = HybridClock()
        var seq: UInt64 = 0
        var state = RowState.empty
        var log: [Change] = []
        var held: Set<Dot> = []
    }

    var rng: SeededGenerator
    var nodes: [Node]
    var time: Int64 = 1_000_000
    let eraseChance: Double

    init(seed: UInt64) {
        rng = SeededGenerator(state: seed)
        let count = Int.random(in: 2...5, using: &rng)
        var nodes: [Node] = []
        for index in 0..<count {
            nodes.append(Node(id: "node-\(index)", skew: Int64.random(in: -40...40, using: &rng)))
        }
        self.nodes = nodes
        eraseChance = seed % 4 == 0 ? 0.02 : 0
    }

    static let fieldNames = ["status", "capacity", "contact", deletedFieldName]

    mutating func randomValue(for name: String) -> FieldValue {
        switch name {
        case deletedFieldName: .bool(Bool.random(using: &rng))
        case "capacity": Int.random(in: 0..<4, using: &rng) == 0 ? .null : .integer(Int64.random(in: -3...3, using: &rng))
        default: .text(["draft", "active", "full", "äö ✓"].randomElement(using: &rng)!)
        }
    }

    mutating func write(at index: Int) {
        guard !nodes[index].state.erased else { return } // a local write to an erased row is refused
        time += Int64.random(in: 0...3, using: &rng)
        let jitter = Int64.random(in: -30...30, using: &rng)
        let now = UInt64(time + nodes[index].skew + jitter)
        nodes[index].seq += 1
        let dot = Dot(origin: nodes[index].id, seq: nodes[index].seq)
        let hlc = nodes[index].clock.tick(nowMillis: now)
        var clock = nodes[index].state.rowClock
        clock.advance(to: dot)
        let kind: ChangeKind
        var fields: FieldMap = [:]
        if Double.random(in: 0..<1, using: &rng) < eraseChance {
            kind = .erase
        } else if Int.random(in: 0..<8, using: &rng) == 0 {
            kind = .delete
            fields[deletedFieldName] = .bool(true)
        } else {
            kind = .upsert
            for name in Self.fieldNames where Bool.random(using: &rng) { fields[name] = randomValue(for: name) }
            if fields.isEmpty { fields["status"] = randomValue(for: "status") }
        }
        let change = Change(dot: dot, hlc: hlc, record: .service, rowID: Fixture.serviceID, kind: kind,
                            fields: fields, rowClock: clock)
        receive(change, at: index)
    }

    mutating func receive(_ change: Change, at index: Int) {
        guard !nodes[index].held.contains(change.dot) else { return }
        nodes[index].clock.observe(change.hlc)
        nodes[index].state.apply(change)
        nodes[index].log.append(change)
        nodes[index].held.insert(change.dot)
    }

    /// The puller takes a prefix (the batch limit) of what it lacks, in the peer's log order.
    mutating func pull(into puller: Int, from peer: Int, limit: Int) {
        let missing = nodes[peer].log.filter { !nodes[puller].held.contains($0.dot) }
        for change in missing.prefix(limit) { receive(change, at: puller) }
    }

    mutating func run(steps: Int) {
        for _ in 0..<steps {
            let index = Int.random(in: nodes.indices, using: &rng)
            if Int.random(in: 0..<10, using: &rng) < 6 {
                write(at: index)
            } else {
                var peer = Int.random(in: nodes.indices, using: &rng)
                if peer == index { peer = (peer + 1) % nodes.count }
                pull(into: index, from: peer, limit: Int.random(in: 1...6, using: &rng))
            }
        }
    }

    mutating func exchangeEverything() {
        for _ in 0..<2 {
            for puller in nodes.indices {
                for peer in nodes.indices where peer != puller {
                    pull(into: puller, from: peer, limit: .max)
                }
            }
        }
    }

    var allChanges: [Change] {
        var seen: Set<Dot> = []
        return nodes.flatMap(\.log).filter { seen.insert($0.dot).inserted }
    }

    /// A random order in which every change comes after the changes it saw.
    mutating func randomCausalOrder(_ changes: [Change]) -> [Change] {
        var pending = changes
        var order: [Change] = []
        while !pending.isEmpty {
            let ready = pending.indices.filter { index in
                pending.allSatisfy { other in
                    other.dot == pending[index].dot || !pending[index].rowClock.covers(other.dot)
                }
            }
            let pick = ready.randomElement(using: &rng)!
            order.append(pending.remove(at: pick))
        }
        return order
    }

    /// What the design says a replica holding `changes` shows, computed from
    /// the set directly: per field, the frontier is the writes no other write
    /// to that field saw; the greatest (hlc, origin) wins, the rest are conflicts.
    static func expectedRow(_ changes: [Change]) -> NormalizedRow {
        let rowClock = changes.reduce(into: VersionVector()) { clock, change in
            clock.formUnion(change.rowClock)
            clock.advance(to: change.dot)
        }
        if changes.contains(where: { $0.kind == .erase }) {
            return NormalizedRow(fields: [:], stamps: [:], rowClock: rowClock, erased: true, conflicts: [:])
        }
        var fields: FieldMap = [:], stamps: [String: FieldStamp] = [:], conflicts: [String: Set<FrontierEntry>] = [:]
        let names = Set(changes.flatMap(\.fields.keys))
        for name in names {
            let writes = changes.filter { $0.fields[name] != nil }
            let frontier = writes.filter { write in
                !writes.contains { $0.dot != write.dot && $0.rowClock.covers(write.dot) }
            }.map { FrontierEntry(stamp: FieldStamp(hlc: $0.hlc, dot: $0.dot), value: $0.fields[name]!) }
            let winner = frontier.max { $1.stamp.wins(over: $0.stamp) }!
            fields[name] = winner.value
            stamps[name] = winner.stamp
            let rest = Set(frontier).subtracting([winner])
            if !rest.isEmpty { conflicts[name] = rest }
        }
        return NormalizedRow(fields: fields, stamps: stamps, rowClock: rowClock, erased: false, conflicts: conflicts)
    }
}
