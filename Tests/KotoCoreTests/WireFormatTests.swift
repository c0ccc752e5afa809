import Foundation
import KotoCore
import Testing

/// Writes wire bytes by hand (independently of the encoder) to craft input.
private struct Bytes {
    var bytes: [UInt8] = []

    mutating func uint(_ value: UInt64) {
        var value = value
        repeat {
            let low = UInt8(value & 0x7f)
            value >>= 7
            bytes.append(value == 0 ? low : low | 0x80)
        } while value != 0
    }

    mutating func string(_ text: String) { raw(Array(text.utf8), length: true) }

    mutating func raw(_ data: [UInt8], length: Bool = false) {
        if length { uint(UInt64(data.count)) }
        bytes += data
    }

    /// Magic, version, incarnation, next position and change count.
    static func header(count: UInt64, version: UInt8 = 1) -> Bytes {
        var out = Bytes()
        out.raw(Array("KSYB".utf8))
        out.raw([version])
        out.string("inc-1")
        out.uint(77)
        out.uint(count)
        return out
    }

    /// One change; `fields` values are given as already encoded value bytes.
    mutating func change(origin: String = "jakobstad", seq: UInt64 = 1, hlc: UInt64 = 1 << 16, record: UInt8 = 1,
                         kind: UInt8 = 1, fields: [(String, [UInt8])] = [("capacity", [2, 40])],
                         clock: [(String, UInt64)] = [("jakobstad", 1)]) {
        string(origin)
        uint(seq)
        uint(hlc)
        raw([record])
        raw(Array(0..<16))
        raw([kind])
        uint(UInt64(fields.count))
        for (name, value) in fields {
            string(name)
            raw(value)
        }
        uint(UInt64(clock.count))
        for (origin, seq) in clock {
            string(origin)
            uint(seq)
        }
    }

    static func batch(_ build: (inout Bytes) -> Void) -> [UInt8] {
        var out = header(count: 1)
        build(&out)
        return out.bytes
    }
}

private func expectRejected(_ bytes: [UInt8], _ reason: String? = nil,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try WireFormat.decode(bytes)
        Issue.record("decoded malformed input", sourceLocation: sourceLocation)
    } catch {
        #expect((0...bytes.count).contains(error.offset), sourceLocation: sourceLocation)
        if let reason {
            #expect(error.reason.contains(reason), "got: \(error.reason)", sourceLocation: sourceLocation)
        }
    }
}

@Suite struct WireFormatTests {
    static let rowIDs = (1...4).map { UUID(uuidString: "00000000-0000-4000-8000-00000000000\($0)")! }

    /// Every record kind, change kind and value type, with edge-case integers and unicode text.
    static let sampleBatch = ChangeBatch(incarnation: "2f6c-incarnation-ä", nextPosition: 1 << 40, changes: [
        Change(dot: Dot(origin: "jakobstad", seq: 1), hlc: HLC(wallMillis: 1_700_000_000_000, counter: 3), record: .service,
               rowID: rowIDs[0], kind: .upsert,
               fields: Fixture.with(Fixture.service, ["contact": .null, "capacity": .integer(0), "deleted": .bool(false)]),
               rowClock: VersionVector(["jakobstad": 1])),
        Change(dot: Dot(origin: "larsmo", seq: 42), hlc: HLC(rawValue: .max), record: .client, rowID: rowIDs[1],
               kind: .upsert,
               fields: Fixture.with(Fixture.client, [
                   "givenName": .text("Tëst 🇫🇮 漢字 \u{0}"), "ownerMunicipality": .integer(.max),
                   "jobseeker": .bool(false), "familyId": .null,
               ]),
               rowClock: VersionVector(["larsmo": 42, "jakobstad": 7, "nykarleby": .max])),
        Change(dot: Dot(origin: "kronoby", seq: .max), hlc: HLC(rawValue: 0), record: .placement, rowID: rowIDs[2],
               kind: .delete, fields: ["deleted": .bool(true), "municipality": .integer(.min)],
               rowClock: VersionVector(["kronoby": .max])),
        Change(dot: Dot(origin: "pedersore", seq: 3), hlc: HLC(wallMillis: 5), record: .placement, rowID: rowIDs[3],
               kind: .erase, fields: [:], rowClock: VersionVector(["pedersore": 3])),
        Change(dot: Dot(origin: "nykarleby", seq: 9), hlc: HLC(wallMillis: 6), record: .service, rowID: rowIDs[0],
               kind: .upsert, fields: ["capacity": .integer(-1), "nameSv": .text("")],
               rowClock: VersionVector(["nykarleby": 9, "jakobstad": 1])),
    ])

    @Test func batchRoundTrips() throws {
        let bytes = WireFormat.encode(Self.sampleBatch)
        #expect(Array(bytes.prefix(5)) == Array("KSYB".utf8) + [1])
        let decoded = try WireFormat.decode(bytes)
        #expect(decoded == Self.sampleBatch)
        #expect(WireFormat.encode(decoded) == bytes)
        // Any collection of bytes will do.
        #expect(try WireFormat.decode(Data(bytes)) == Self.sampleBatch)
        #expect(try WireFormat.decode(bytes[...]) == Self.sampleBatch)
    }

    @Test func integersRoundTripAtTheEdges() throws {
        for number: Int64 in [0, 1, -1, 63, -64, 64, -65, 1_000_000, -1_000_000, .max, .min, .max - 1, .min + 1] {
            let batch = ChangeBatch(incarnation: "x", nextPosition: 0, changes: [
                Change(dot: Dot(origin: "a", seq: 1), hlc: .zero, record: .service, rowID: Self.rowIDs[0], kind: .upsert,
                       fields: ["capacity": .integer(number)], rowClock: VersionVector(["a": 1])),
            ])
            #expect(try WireFormat.decode(WireFormat.encode(batch)) == batch)
        }
    }

    @Test func emptyBatchRoundTrips() throws {
        let empty = ChangeBatch(incarnation: "", nextPosition: 0, changes: [])
        let bytes = WireFormat.encode(empty)
        #expect(bytes == Array("KSYB".utf8) + [1, 0, 0, 0])
        #expect(try WireFormat.decode(bytes) == empty)
    }

    /// Pins the layout byte by byte, so an accidental format change fails here.
    @Test func encodingIsTheDocumentedLayout() throws {
        let batch = ChangeBatch(incarnation: "i", nextPosition: 300, changes: [
            Change(dot: Dot(origin: "a", seq: 1), hlc: HLC(rawValue: 2), record: .service, rowID: Self.rowIDs[0],
                   kind: .delete, fields: ["capacity": .integer(-1), "deleted": .bool(true)], rowClock: VersionVector(["a": 1])),
        ])
        var expected: [UInt8] = Array("KSYB".utf8) + [1, 1, UInt8(ascii: "i"), 0xAC, 0x02, 1]
        expected += [1, UInt8(ascii: "a"), 1, 2, 1]
        expected += [0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1]
        expected += [2, 2] + [8] + Array("capacity".utf8) + [2, 1] + [7] + Array("deleted".utf8) + [4]
        expected += [1, 1, UInt8(ascii: "a"), 1]
        #expect(WireFormat.encode(batch) == expected)
        #expect(try WireFormat.decode(expected) == batch)
        #expect(try WireFormat.decode(Bytes.batch { $0.change() }).changes.first?.fields == ["capacity": .integer(20)])
    }

    @Test func fieldEncodingDoesNotDependOnInsertionOrder() throws {
        var forward: FieldMap = [:], backward: FieldMap = [:]
        let entries = Fixture.client.sorted { $0.key < $1.key }
        for (name, value) in entries { forward[name] = value }
        for (name, value) in entries.reversed() { backward[name] = value }
        #expect(WireFormat.encodeFields(forward, record: .client) == WireFormat.encodeFields(backward, record: .client))
    }

    @Test(arguments: [
        (Fixture.service, RecordKind.service), (Fixture.client, .client), (Fixture.enrolment, .placement),
        (["deleted": .null], .placement), ([:], .client),
    ] as [(FieldMap, RecordKind)])
    func fieldPayloadRoundTrips(fields: FieldMap, kind: RecordKind) throws {
        #expect(try WireFormat.decodeFields(WireFormat.encodeFields(fields, record: kind), record: kind) == fields)
    }

    @Test func fieldPayloadIsCheckedAgainstTheKind() {
        let clientFields = WireFormat.encodeFields(["givenName": .text("Testi")], record: .client)
        #expect(throws: WireError.self) { try WireFormat.decodeFields(clientFields, record: .service) }
        // A client's text field "clientNumber" has no place in a service, and a text value no place in "capacity".
        let wrongType: [UInt8] = [1, 8] + Array("capacity".utf8) + [1, 2] + Array("20".utf8)
        #expect(throws: WireError.self) { try WireFormat.decodeFields(wrongType, record: .service) }
        #expect(throws: WireError.self) { try WireFormat.decodeFields(clientFields + [0], record: .client) }
        #expect(throws: WireError.self) { try WireFormat.decodeFields(clientFields.dropLast(), record: .client) }
    }

    @Test func clockPayloadRoundTrips() throws {
        for clock in [VersionVector(), VersionVector(["jakobstad": 1]),
                      VersionVector(["jakobstad": 10, "larsmo": .max, "node_2": 300])] {
            #expect(try WireFormat.decodeClock(WireFormat.encodeClock(clock)) == clock)
        }
        var duplicate = Bytes()
        duplicate.uint(2)
        duplicate.string("a"); duplicate.uint(1)
        duplicate.string("a"); duplicate.uint(2)
        #expect(throws: WireError.self) { try WireFormat.decodeClock(duplicate.bytes) }
        #expect(throws: WireError.self) { try WireFormat.decodeClock(WireFormat.encodeClock(VersionVector(["a": 1])) + [9]) }
    }

    // MARK: Malformed input

    @Test func wrongMagicIsRejected() {
        var bytes = WireFormat.encode(Self.sampleBatch)
        bytes[0] = UInt8(ascii: "X")
        expectRejected(bytes, "not a kotosync batch")
        expectRejected(Array("{\"changes\":[]}".utf8), "not a kotosync batch")
        expectRejected([], "unexpected end")
    }

    @Test func wrongVersionIsRejected() {
        for version: UInt8 in [0, 2, 255] {
            var bytes = WireFormat.encode(Self.sampleBatch)
            bytes[4] = version
            expectRejected(bytes, "unsupported format version")
        }
    }

    @Test func everyTruncationIsRejected() {
        let bytes = WireFormat.encode(Self.sampleBatch)
        for length in 0..<bytes.count {
            expectRejected(Array(bytes.prefix(length)))
        }
    }

    @Test func trailingBytesAreRejected() {
        expectRejected(WireFormat.encode(Self.sampleBatch) + [0], "trailing bytes")
        expectRejected(WireFormat.encode(ChangeBatch(incarnation: "", nextPosition: 0, changes: [])) + [1, 2], "trailing bytes")
    }

    @Test func countLargerThanTheDataIsRejected() {
        expectRejected(Bytes.header(count: 1_000).bytes, "change count")
        expectRejected(Bytes.header(count: .max).bytes, "change count")
        expectRejected(Bytes.header(count: 1).bytes, "unexpected end")
        var two = Bytes.header(count: 2)
        two.change()
        expectRejected(two.bytes, "unexpected end")
    }

    @Test func unknownFieldNameIsRejected() {
        expectRejected(Bytes.batch { $0.change(fields: [("colour", [1, 1, 65])]) }, "unknown field")
        // A field of another record kind is unknown too.
        expectRejected(Bytes.batch { $0.change(record: 1, fields: [("givenName", [0])]) }, "unknown field")
        expectRejected(Bytes.batch { $0.change(fields: [("capacity", [0]), ("capacity", [0])]) }, "twice")
    }

    @Test func wrongValueTypeIsRejected() {
        expectRejected(Bytes.batch { $0.change(fields: [("capacity", [1, 2, 0x32, 0x30])]) }, "wrong value type")
        expectRejected(Bytes.batch { $0.change(fields: [("nameFi", [2, 4])]) }, "wrong value type")
        expectRejected(Bytes.batch { $0.change(fields: [("deleted", [1, 0])]) }, "wrong value type")
        expectRejected(Bytes.batch { $0.change(fields: [("status", [4])]) }, "wrong value type")
        expectRejected(Bytes.batch { $0.change(fields: [("status", [5])]) }, "unknown value tag")
    }

    @Test func invalidNodeIDIsRejected() {
        for origin in ["", "Jakobstad", "bad node", "ö", String(repeating: "a", count: 65)] {
            expectRejected(Bytes.batch { $0.change(origin: origin, clock: [(origin, 1)]) }, "invalid node id")
        }
        expectRejected(Bytes.batch { $0.change(clock: [("jakobstad", 1), ("Other", 1)]) }, "invalid node id")
    }

    @Test func zeroSeqIsRejected() {
        expectRejected(Bytes.batch { $0.change(seq: 0, clock: [("jakobstad", 1)]) }, "seq must be positive")
        expectRejected(Bytes.batch { $0.change(clock: [("jakobstad", 1), ("larsmo", 0)]) }, "invalid clock entry")
    }

    @Test func rowClockNotCoveringItsOwnChangeIsRejected() {
        expectRejected(Bytes.batch { $0.change(seq: 5, clock: [("jakobstad", 4)]) }, "does not cover")
        expectRejected(Bytes.batch { $0.change(clock: [("larsmo", 9)]) }, "does not cover")
        expectRejected(Bytes.batch { $0.change(clock: []) }, "does not cover")
    }

    @Test func unknownRecordOrChangeKindIsRejected() {
        expectRejected(Bytes.batch { $0.change(record: 0) }, "unknown record kind")
        expectRejected(Bytes.batch { $0.change(record: 4) }, "unknown record kind")
        expectRejected(Bytes.batch { $0.change(kind: 0) }, "unknown change kind")
        expectRejected(Bytes.batch { $0.change(kind: 4) }, "unknown change kind")
    }

    @Test func overlongVarintIsRejected() {
        // Eleven bytes, and a tenth byte carrying more than the 64th bit.
        var tooLong = Bytes.header(count: 0)
        tooLong.bytes.removeLast()
        tooLong.raw(Array(repeating: 0xff, count: 10) + [0x01])
        expectRejected(tooLong.bytes, "overflows")
        var tooWide = Bytes.header(count: 0)
        tooWide.bytes.removeLast()
        tooWide.raw(Array(repeating: 0x80, count: 9) + [0x02])
        expectRejected(tooWide.bytes, "overflows")
        // The largest value that fits still decodes.
        expectRejected(Bytes.batch { $0.change(hlc: .max, clock: [("jakobstad", 1)]); $0.raw([0]) }, "trailing bytes")
        #expect(throws: Never.self) { try WireFormat.decode(Bytes.batch { $0.change(hlc: .max) }) }
    }

    @Test func invalidUTF8IsRejected() {
        var bytes = Bytes()
        bytes.raw(Array("KSYB".utf8) + [1])
        bytes.raw([0xC3, 0x28], length: true) // bad continuation byte
        bytes.uint(0)
        bytes.uint(0)
        expectRejected(bytes.bytes, "UTF-8")
        expectRejected(Bytes.batch { $0.change(fields: [("nameFi", [1, 2, 0xED, 0xA0])]) }, "UTF-8")
        expectRejected(Bytes.batch { $0.change(fields: [("nameFi", [1, 1, 0xFF])]) }, "UTF-8")
    }

    @Test func hugeStringLengthIsRejectedWithoutAllocating() {
        var bytes = Bytes()
        bytes.raw(Array("KSYB".utf8) + [1])
        bytes.uint(.max)
        expectRejected(bytes.bytes, "string too long")
        var justTooLong = Bytes()
        justTooLong.raw(Array("KSYB".utf8) + [1])
        justTooLong.uint(1 << 19)
        expectRejected(justTooLong.bytes, "unexpected end")
    }

    @Test func errorsDoNotQuoteFieldValues() {
        let bytes = Bytes.batch { $0.change(fields: [("capacity", [1, 6] + Array("Testi!".utf8))]) }
        do {
            _ = try WireFormat.decode(bytes)
            Issue.record("decoded a text capacity")
        } catch {
            #expect(!error.description.contains("Testi"))
            #expect(error.description.contains("capacity"))
        }
    }

    /// Flipped bytes must never crash the decoder: it throws a `WireError` or
    /// returns a batch, and whatever it returns re-encodes to the same batch.
    @Test func randomByteFlipsNeverCrash() {
        var rng = SeededRNG(seed: 2024)
        let valid = WireFormat.encode(Self.sampleBatch)
        var decodedCount = 0, rejectedCount = 0
        for iteration in 0..<5_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: bytes.indices, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            if iteration % 5 == 0 { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng))) }
            do {
                let batch = try WireFormat.decode(bytes)
                decodedCount += 1
                #expect(try WireFormat.decode(WireFormat.encode(batch)) == batch)
            } catch {
                rejectedCount += 1
                #expect((0...bytes.count).contains(error.offset))
            }
        }
        #expect(rejectedCount > 0 && decodedCount + rejectedCount == 5_000)
    }

    @Test func randomGarbageNeverCrashes() throws {
        var rng = SeededRNG(seed: 99)
        for _ in 0..<2_000 {
            var bytes = Bytes.header(count: UInt64.random(in: 0...3, using: &rng))
            bytes.raw((0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            if let batch = try? WireFormat.decode(bytes.bytes) {
                #expect(try WireFormat.decode(WireFormat.encode(batch)) == batch)
            }
        }
    }
}
