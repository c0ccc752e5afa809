import Foundation
import KotoCore
import KotoTestSupport
import Testing

private func randomDigest(_ rng: inout SeededGenerator) -> [UInt8] {
    (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
}

@Suite struct StateDigestTests {
    @Test func addingThenSubtractingARowDigestIsTheIdentity() {
        var rng = SeededGenerator(state: 31)
        for _ in 0..<500 {
            let start = StateDigest(bytes: randomDigest(&rng))
            let row = randomDigest(&rng)
            var digest = start
            digest.add(row)
            #expect(digest != start || row == [UInt8](repeating: 0, count: 32))
            digest.subtract(row)
            #expect(digest == start)
            digest.subtract(row)
            digest.add(row)
            #expect(digest == start)
        }
    }

    @Test func theSumDoesNotDependOnTheOrder() {
        var rng = SeededGenerator(state: 77)
        for _ in 0..<50 {
            let rows = (0..<Int.random(in: 1...40, using: &rng)).map { _ in randomDigest(&rng) }
            var forward = StateDigest.zero
            for row in rows { forward.add(row) }
            var shuffled = StateDigest.zero
            for row in rows.shuffled(using: &rng) { shuffled.add(row) }
            #expect(forward == shuffled)
            // Maintained incrementally: a row rewritten (old out, new in) equals the sum built afresh.
            let index = Int.random(in: rows.indices, using: &rng)
            let replacement = randomDigest(&rng)
            var incremental = forward
            incremental.subtract(rows[index])
            incremental.add(replacement)
            var fresh = StateDigest.zero
            var rewritten = rows
            rewritten[index] = replacement
            for row in rewritten.shuffled(using: &rng) { fresh.add(row) }
            #expect(incremental == fresh)
            // Taking every row out again, in yet another order, leaves zero.
            for row in rows.shuffled(using: &rng) { forward.subtract(row) }
            #expect(forward == .zero)
        }
    }

    @Test func arithmeticIsModulo2To256BigEndian() {
        let one = [UInt8](repeating: 0, count: 31) + [1]
        var digest = StateDigest(bytes: [UInt8](repeating: 0xff, count: 32))
        digest.add(one)
        #expect(digest == .zero, "carries out of the top byte are dropped")
        digest.subtract(one)
        #expect(digest.bytes == [UInt8](repeating: 0xff, count: 32), "borrows wrap around")

        var carry = StateDigest(bytes: [UInt8](repeating: 0, count: 30) + [0x00, 0xff])
        carry.add(one)
        #expect(carry.bytes == [UInt8](repeating: 0, count: 30) + [0x01, 0x00])
        carry.subtract(one)
        #expect(carry.bytes == [UInt8](repeating: 0, count: 30) + [0x00, 0xff])

        var top = StateDigest.zero
        top.add([0x80] + [UInt8](repeating: 0, count: 31))
        top.add([0x80] + [UInt8](repeating: 0, count: 31))
        #expect(top == .zero)
        #expect(StateDigest.zero.bytes == [UInt8](repeating: 0, count: 32))
    }

    @Test func hexRoundTrips() throws {
        var rng = SeededGenerator(state: 5)
        for _ in 0..<200 {
            let digest = StateDigest(bytes: randomDigest(&rng))
            let hex = digest.hex
            #expect(hex.utf8.count == 64)
            #expect(hex == hex.lowercased())
            #expect(StateDigest(hex: hex) == digest)
            #expect(StateDigest(hex: hex.uppercased()) == digest)
            #expect(digest.description == hex)
            #expect(bytes(fromHex: hex) == digest.bytes)
        }
        #expect(StateDigest.zero.hex == String(repeating: "0", count: 64))
        #expect(hexString([0x00, 0xab, 0x0f, 0xf0]) == "00ab0ff0")
        #expect(bytes(fromHex: "00AB0ff0") == [0x00, 0xab, 0x0f, 0xf0])
        #expect(bytes(fromHex: "") == [])
    }

    @Test func malformedHexIsRefused() {
        let valid = String(repeating: "ab", count: 32)
        #expect(StateDigest(hex: valid) != nil)
        #expect(StateDigest(hex: String(valid.dropLast())) == nil, "odd length")
        #expect(StateDigest(hex: String(valid.dropLast(2))) == nil, "31 bytes")
        #expect(StateDigest(hex: valid + "00") == nil, "33 bytes")
        #expect(StateDigest(hex: "zz" + valid.dropFirst(2)) == nil)
        #expect(StateDigest(hex: "") == nil)
        #expect(bytes(fromHex: "abc") == nil)
        #expect(bytes(fromHex: "0g") == nil)
        #expect(bytes(fromHex: "ab cd") == nil)
        #expect(bytes(fromHex: "é0") == nil)
    }

    @Test func chainHeadDescribesItselfBySeqAndAShortHash() {
        let head = ChainHead(seq: 42, hash: [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03] + [UInt8](repeating: 0, count: 25))
        #expect(head.description == "42:deadbeef0102")
    }
}

@Suite struct RowDigestFormatTests {
    static let id = Fixture.serviceID
    static func stamp(_ origin: String, _ seq: UInt64, _ wall: UInt64) -> FieldStamp {
        FieldStamp(hlc: HLC(wallMillis: wall), dot: Dot(origin: origin, seq: seq))
    }

    /// A row with values, stamps and two conflicts on one field, built by
    /// inserting entries in the given order.
    static func state(reversed: Bool, conflictsReversed: Bool) -> RowState {
        var entries: [(String, FieldValue, FieldStamp)] = [
            ("status", .text("full"), stamp("larsmo", 3, 300)),
            ("capacity", .integer(12), stamp("jakobstad", 1, 100)),
            ("contact", .null, stamp("kronoby", 2, 200)),
            ("nameFi", .text("Testikurssi"), stamp("jakobstad", 1, 100)),
        ]
        if reversed { entries.reverse() }
        var fields: FieldMap = [:], stamps: [String: FieldStamp] = [:]
        for (name, value, stamp) in entries {
            fields[name] = value
            stamps[name] = stamp
        }
        var losers = [FrontierEntry(stamp: stamp("kronoby", 1, 250), value: .text("paused")),
                      FrontierEntry(stamp: stamp("nykarleby", 4, 250), value: .text("active")),
                      FrontierEntry(stamp: stamp("pedersore", 2, 120), value: .text("draft"))]
        if conflictsReversed { losers.reverse() }
        var conflicts: [String: [FrontierEntry]] = [:]
        if reversed {
            conflicts["capacity"] = [FrontierEntry(stamp: stamp("larsmo", 1, 90), value: .integer(3))]
            conflicts["status"] = losers
        } else {
            conflicts["status"] = losers
            conflicts["capacity"] = [FrontierEntry(stamp: stamp("larsmo", 1, 90), value: .integer(3))]
        }
        return RowState(fields: fields, stamps: stamps, rowClock: VersionVector(["jakobstad": 1, "larsmo": 3, "kronoby": 2]),
                        conflicts: conflicts)
    }

    static func bytes(_ state: RowState, kind: RecordKind = .service, id: UUID = id) -> [UInt8] {
        RowDigestFormat.bytes(kind, id: id, state: state)
    }

    @Test func equalStatesGiveEqualBytesWhateverTheInsertionOrder() {
        let reference = Self.bytes(Self.state(reversed: false, conflictsReversed: false))
        for reversed in [false, true] {
            for conflictsReversed in [false, true] {
                #expect(Self.bytes(Self.state(reversed: reversed, conflictsReversed: conflictsReversed)) == reference)
            }
        }
    }

    /// Replicas that merged the same writes in different orders hold their
    /// conflicts in different array orders; the bytes are the same.
    @Test func mergeOrderDoesNotChangeTheBytes() throws {
        func write(_ origin: String, _ wall: UInt64, _ fields: FieldMap) -> Change {
            Change(dot: Dot(origin: origin, seq: 1), hlc: HLC(wallMillis: wall), record: .service, rowID: Self.id, kind: .upsert,
                   fields: fields, rowClock: VersionVector([origin: 1]))
        }
        let writes = [write("jakobstad", 300, ["status": .text("active"), "capacity": .integer(1)]),
                      write("larsmo", 300, ["status": .text("full")]),
                      write("kronoby", 100, ["status": .text("paused"), "capacity": .integer(3)]),
                      write("nykarleby", 200, ["status": .text("draft"), "contact": .text("x")])]
        var seen: Set<[UInt8]> = [], conflictOrders: Set<[Dot]> = []
        for order in permutations(writes) {
            var row = RowState.empty
            for change in order { row.apply(change) }
            seen.insert(Self.bytes(row))
            conflictOrders.insert(row.conflicts["status"]?.map(\.stamp.dot) ?? [])
        }
        #expect(seen.count == 1)
        #expect(conflictOrders.count > 1, "the merge orders did leave the conflicts in different orders")
    }

    @Test func aDifferentWinnerFrontierOrErasedFlagGivesDifferentBytes() {
        let base = Self.state(reversed: false, conflictsReversed: false)
        let reference = Self.bytes(base)
        var variants: [(String, RowState)] = []

        var value = base
        value.fields["capacity"] = .integer(13)
        variants.append(("winner's value", value))
        var nulled = base
        nulled.fields["capacity"] = .null
        variants.append(("winner's value null", nulled))
        var winnerStamp = base
        winnerStamp.stamps["capacity"] = Self.stamp("jakobstad", 2, 100)
        variants.append(("winner's dot", winnerStamp))
        var winnerHLC = base
        winnerHLC.stamps["capacity"] = Self.stamp("jakobstad", 1, 101)
        variants.append(("winner's hlc", winnerHLC))
        var winnerOrigin = base
        winnerOrigin.stamps["capacity"] = Self.stamp("larsmo", 1, 100)
        variants.append(("winner's origin", winnerOrigin))
        var unwritten = base
        unwritten.fields["contact"] = nil
        unwritten.stamps["contact"] = nil
        variants.append(("a field never written instead of written null", unwritten))
        var extraLoser = base
        extraLoser.conflicts["contact"] = [FrontierEntry(stamp: Self.stamp("larsmo", 2, 150), value: .text("y"))]
        variants.append(("another frontier entry", extraLoser))
        var fewerLosers = base
        fewerLosers.conflicts["status"]?.removeLast()
        variants.append(("one frontier entry fewer", fewerLosers))
        var noConflicts = base
        noConflicts.conflicts = [:]
        variants.append(("no conflicts", noConflicts))
        var loserValue = base
        loserValue.conflicts["capacity"] = [FrontierEntry(stamp: Self.stamp("larsmo", 1, 90), value: .integer(4))]
        variants.append(("a loser's value", loserValue))
        var loserStamp = base
        loserStamp.conflicts["capacity"] = [FrontierEntry(stamp: Self.stamp("larsmo", 5, 90), value: .integer(3))]
        variants.append(("a loser's dot", loserStamp))
        var swapped = base
        swapped.conflicts["capacity"] = nil
        swapped.conflicts["contact"] = [FrontierEntry(stamp: Self.stamp("larsmo", 1, 90), value: .integer(3))]
        variants.append(("a loser moved to another field", swapped))
        var erased = base
        erased.erased = true
        variants.append(("erased", erased))
        var deleted = base
        deleted.fields[deletedFieldName] = .bool(true)
        deleted.stamps[deletedFieldName] = Self.stamp("kronoby", 3, 400)
        variants.append(("deleted", deleted))

        var all: Set<[UInt8]> = [reference]
        for (name, variant) in variants {
            let bytes = Self.bytes(variant)
            #expect(bytes != reference, "\(name)")
            all.insert(bytes)
        }
        #expect(all.count == variants.count + 1, "every variant differs from every other")
        #expect(Self.bytes(base, id: Fixture.clientID) != reference, "another row")
        #expect(Self.bytes(RowState(erased: true), kind: .client) != Self.bytes(RowState(erased: true), kind: .service), "another kind")
    }

    /// What only this replica knows stays out: the row clock, and whether a
    /// purged entry waits for its erase. An erased row is just its identity.
    @Test func localFactsStayOut() {
        let base = Self.state(reversed: false, conflictsReversed: false)
        var otherClock = base
        otherClock.rowClock = VersionVector(["jakobstad": 9, "pedersore": 1])
        #expect(Self.bytes(otherClock) == Self.bytes(base))
        var awaiting = base
        awaiting.awaitingErase = true
        #expect(Self.bytes(awaiting) == Self.bytes(base))
        var erased = base
        erased.erased = true
        var cleared = RowState(rowClock: VersionVector(["larsmo": 1]), erased: true)
        #expect(Self.bytes(erased) == Self.bytes(cleared))
        cleared.rowClock = VersionVector()
        #expect(Self.bytes(erased) == Self.bytes(cleared))
    }
}

@Suite struct ChainFormatTests {
    static let change = Change(dot: Dot(origin: "larsmo", seq: 4), hlc: HLC(wallMillis: 9, counter: 1), record: .client,
                               rowID: Fixture.clientID, kind: .upsert, fields: ["givenName": .text("Testi"), "status": .text("new")],
                               rowClock: VersionVector(["larsmo": 4, "kronoby": 2]))

    static func rebuilt(dot: Dot? = nil, hlc: HLC? = nil, record: RecordKind? = nil, rowID: UUID? = nil, kind: ChangeKind? = nil,
                        fields: FieldMap? = nil, rowClock: RowClock? = nil) -> Change {
        Change(dot: dot ?? change.dot, hlc: hlc ?? change.hlc, record: record ?? change.record, rowID: rowID ?? change.rowID,
               kind: kind ?? change.kind, fields: fields ?? change.fields, rowClock: rowClock ?? change.rowClock)
    }

    /// The header covers dot, HLC, table, row, kind and row clock: changing
    /// any of them changes the link.
    @Test func theHeaderCoversEveryPartButThePayload() {
        let header = ChainFormat.header(Self.change)
        #expect(Array(header.prefix(5)) == Array("KSCH".utf8) + [1])
        let variants: [(String, Change)] = [
            ("origin", Self.rebuilt(dot: Dot(origin: "kronoby", seq: 4))),
            ("seq", Self.rebuilt(dot: Dot(origin: "larsmo", seq: 5))),
            ("hlc", Self.rebuilt(hlc: HLC(wallMillis: 9, counter: 2))),
            ("record", Self.rebuilt(record: .service)),
            ("row", Self.rebuilt(rowID: Fixture.familyID)),
            ("kind", Self.rebuilt(kind: .delete)),
            ("row clock", Self.rebuilt(rowClock: VersionVector(["larsmo": 4, "kronoby": 3]))),
            ("row clock entry", Self.rebuilt(rowClock: VersionVector(["larsmo": 4]))),
        ]
        for (name, variant) in variants {
            #expect(ChainFormat.header(variant) != header, "\(name)")
        }
        // The payload, link, signature and purge are not in the header: a purged change keeps its header.
        #expect(ChainFormat.header(Self.rebuilt(fields: ["status": .text("new")])) == header)
        let purged = Self.change.linked(chainHash: [UInt8](repeating: 1, count: 32), signature: [UInt8](repeating: 2, count: 64))
            .purged(payloadDigest: [UInt8](repeating: 3, count: 32))
        #expect(ChainFormat.header(purged) == header)
    }

    @Test func thePayloadIsTheFieldEncodingInSchemaOrder() {
        #expect(ChainFormat.payload(Self.change) == WireFormat.encodeFields(Self.change.fields, record: .client))
        var backward: FieldMap = [:]
        for (name, value) in Self.change.fields.sorted(by: { $0.key > $1.key }) { backward[name] = value }
        #expect(ChainFormat.payload(Self.rebuilt(fields: backward)) == ChainFormat.payload(Self.change))
        #expect(ChainFormat.payload(Self.rebuilt(fields: ["status": .text("old")])) != ChainFormat.payload(Self.change))
    }

    @Test func theSignedMessageIsDomainSeparated() {
        let link = [UInt8](repeating: 0xab, count: 32)
        #expect(ChainFormat.signedMessage(link) == Array("kotosync-chain-v1".utf8) + [0] + link)
        #expect(ChainFormat.genesis == [UInt8](repeating: 0, count: 32))
        #expect(ChainFormat.maxUnsignedRun == 256)
    }
}
