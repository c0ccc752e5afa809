import Foundation
import Testing
@testable import KotoCore

/// The merge's schema-ordered view of a row (`OrderedRow`) and the encodings
/// that read it by field index: the row digest's bytes and the stamps' bytes
/// are pinned here byte for byte, independently of the encoders, so reading
/// by index can never change what replicas hash and store.
@Suite struct OrderedRowTests {
    static func stamp(_ origin: String, _ seq: UInt64, _ wall: UInt64) -> FieldStamp {
        FieldStamp(hlc: HLC(wallMillis: wall), dot: Dot(origin: origin, seq: seq))
    }

    /// LEB128, as the wire writes unsigned integers.
    static func uint(_ value: UInt64) -> [UInt8] {
        var value = value, out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        return out + [UInt8(value)]
    }

    static func string(_ text: String) -> [UInt8] { uint(UInt64(text.utf8.count)) + Array(text.utf8) }
    static func encoded(_ stamp: FieldStamp) -> [UInt8] { uint(stamp.hlc.rawValue) + string(stamp.dot.origin) + uint(stamp.dot.seq) }
    static func index(_ name: String) -> Int { RecordKind.service.fields.firstIndex { $0.name == name }! }

    /// A service row: capacity 12 and status "full" (with one losing write), contact written as null.
    static let winner = stamp("larsmo", 3, 300)
    static let older = stamp("jakobstad", 1, 100)
    static let loser = stamp("kronoby", 2, 250)
    static var state: RowState {
        RowState(fields: ["capacity": .integer(12), "status": .text("full"), "contact": .null],
                 stamps: ["capacity": older, "status": winner, "contact": older],
                 rowClock: VersionVector(["jakobstad": 1, "larsmo": 3, "kronoby": 2]),
                 conflicts: ["status": [FrontierEntry(stamp: loser, value: .text("paused"))]])
    }

    @Test func theOrderedRowHoldsEachFieldAtItsSchemaIndex() {
        let ordered = OrderedRow(Self.state, kind: .service)
        #expect(ordered.values.count == RecordKind.service.fields.count)
        #expect(ordered.stamps.count == RecordKind.service.fields.count)
        for (index, spec) in RecordKind.service.fields.enumerated() {
            #expect(ordered.values[index] == (Self.state.fields[spec.name] ?? .null))
            #expect(ordered.stamps[index] == Self.state.stamps[spec.name])
        }
        #expect(OrderedRow(RowState(), kind: .service).stamps.allSatisfy { $0 == nil })
    }

    @Test func theRowDigestBytesAreExactlyTheFormat() {
        let id = UUID()
        // "KSRD" 1, kind tag, the 16 id bytes, not erased; then per stamped field in schema order:
        // index, winner's value, winner's stamp, the losers sorted by (hlc, origin, seq) with their values.
        var expected = Array("KSRD".utf8) + [1, RecordKind.service.wireTag]
        withUnsafeBytes(of: id.uuid) { expected += $0 }
        expected.append(0)
        let perField: [(String, [UInt8], FieldStamp, [UInt8])] = [
            ("capacity", [2] + Self.uint(24), Self.older, Self.uint(0)),  // 12 zigzag-encoded
            ("contact", [0], Self.older, Self.uint(0)),
            ("status", [1] + Self.string("full"), Self.winner, Self.uint(1) + [1] + Self.string("paused") + Self.encoded(Self.loser)),
        ].sorted { Self.index($0.0) < Self.index($1.0) }
        for (name, value, stamp, losers) in perField {
            expected += Self.uint(UInt64(Self.index(name))) + value + Self.encoded(stamp) + losers
        }
        let state = Self.state
        #expect(RowDigestFormat.bytes(.service, id: id, state: state) == expected)
        #expect(RowDigestFormat.bytes(.service, id: id, ordered: OrderedRow(state, kind: .service), conflicts: state.conflicts,
                                      erased: false) == expected)
        // Erased: the header and the flag only.
        #expect(RowDigestFormat.bytes(.service, id: id, ordered: OrderedRow(RowState(), kind: .service), conflicts: [:], erased: true)
            == Array(expected.prefix(22)) + [1])
    }

    @Test func theStampBytesAreExactlyTheFormat() throws {
        // Distinct stamps in order of first use (schema order), then (field index, stamp index) pairs.
        let fields = ["capacity", "contact", "status"].sorted { Self.index($0) < Self.index($1) }
        var distinct: [FieldStamp] = [], pairs: [UInt8] = []
        for name in fields {
            let stamp = Self.state.stamps[name]!
            if !distinct.contains(stamp) { distinct.append(stamp) }
            pairs += Self.uint(UInt64(Self.index(name))) + Self.uint(UInt64(distinct.firstIndex(of: stamp)!))
        }
        let expected = Self.uint(UInt64(distinct.count)) + distinct.flatMap(Self.encoded) + Self.uint(UInt64(fields.count)) + pairs
        #expect(WireFormat.encodeStamps(Self.state.stamps, record: .service) == expected)
        #expect(WireFormat.encodeStamps(ordered: OrderedRow(Self.state, kind: .service).stamps) == expected)
        #expect(try WireFormat.decodeStamps(expected, record: .service) == Self.state.stamps)
    }
}
