import Foundation
import KotoCore
import KotoTestSupport
import Testing

/// Writes wire bytes by hand (independently of the encoder) to craft input,
/// in the version-3 layout: node ids once in the batch's origin table, seqs
/// and HLCs as steps, field indexes, row clocks without the own entry.
private struct Bytes {
    var bytes: [UInt8] = []
    /// The origin table written by `header`; changes name origins by their index in it.
    var origins: [String] = []
    var lastSeq: [String: UInt64] = [:]
    var lastHLC: UInt64 = 0

    mutating func uint(_ value: UInt64) {
        var value = value
        repeat {
            let low = UInt8(value & 0x7f)
            value >>= 7
            bytes.append(value == 0 ? low : low | 0x80)
        } while value != 0
    }

    /// `to − from`, wrapping, zigzag encoded.
    mutating func step(from previous: UInt64, to value: UInt64) {
        let difference = Int64(bitPattern: value &- previous)
        uint(UInt64(bitPattern: (difference << 1) ^ (difference >> 63)))
    }

    mutating func string(_ text: String) { raw(Array(text.utf8), length: true) }

    mutating func raw(_ data: [UInt8], length: Bool = false) {
        if length { uint(UInt64(data.count)) }
        bytes += data
    }

    /// The index of `origin` in the table; an origin not in it gets an index past its end.
    func index(_ origin: String) -> UInt64 { UInt64(origins.firstIndex(of: origin) ?? origins.count + 7) }

    static let digest: [UInt8] = (0..<32).map { UInt8($0) }
    static let link: [UInt8] = [UInt8](repeating: 0xcc, count: 32)
    static let signature: [UInt8] = [UInt8](repeating: 0x5a, count: 64)
    static let defaultOrigins = ["jakobstad", "larsmo"]

    /// Magic, version, incarnation, next position, sender clock, state
    /// digest, provisional flag, origin table, chain heads and change count.
    static func header(count: UInt64, version: UInt8 = WireFormat.version, provisional: UInt8 = 0,
                       heads: [(String, UInt64, [UInt8])] = [], headCount: UInt64? = nil,
                       origins: [String]? = nil) -> Bytes {
        var out = Bytes()
        out.raw(Array("KSYB".utf8))
        out.raw([version])
        out.string("inc-1")
        out.uint(77)
        out.uint(1_795_000_000_000)
        out.raw(digest)
        out.raw([provisional])
        var table = origins ?? defaultOrigins
        for (origin, _, _) in heads where !table.contains(origin) { table.append(origin) }
        out.origins = table
        out.uint(UInt64(table.count))
        for origin in table { out.string(origin) }
        out.uint(headCount ?? UInt64(heads.count))
        for (origin, seq, hash) in heads {
            out.uint(out.index(origin))
            out.uint(seq)
            out.raw(hash)
        }
        out.uint(count)
        return out
    }

    /// Where the parts of the last change written begin.
    struct Offsets {
        var flags = 0, payload = 0, clock = 0
    }

    /// One change; `fields` values are given as already encoded value bytes, and
    /// names outside `record`'s schema get an index past its end. `clock` lists the
    /// row clock's entries other than the change's own. `flags` defaults to what
    /// `payloadDigest` and `signature` imply; it goes in the kind byte's high nibble.
    @discardableResult
    mutating func change(origin: String = "jakobstad", seq: UInt64 = 1, hlc: UInt64 = 1 << 16, record: UInt8 = 1,
                         kind: UInt8 = 1, flags: UInt8? = nil, payloadDigest: [UInt8]? = nil,
                         fields: [(String, [UInt8])] = [("capacity", [2, 40])],
                         clock: [(String, UInt64)] = [], chainHash: [UInt8] = Bytes.link,
                         signature: [UInt8]? = nil) -> Offsets {
        var offsets = Offsets()
        uint(index(origin))
        step(from: lastSeq[origin] ?? 0, to: seq)
        lastSeq[origin] = seq
        step(from: lastHLC, to: hlc)
        lastHLC = hlc
        raw([record])
        raw(Array(0..<16))
        offsets.flags = bytes.count
        raw([kind | (flags ?? ((payloadDigest != nil ? 1 : 0) | (signature != nil ? 2 : 0))) << 4])
        offsets.payload = bytes.count
        if let payloadDigest {
            raw(payloadDigest)
        } else {
            let specs = RecordKind(wireTag: record)?.fields ?? []
            uint(UInt64(fields.count))
            for (name, value) in fields {
                uint(UInt64(specs.firstIndex { $0.name == name } ?? specs.count + 200))
                raw(value)
            }
        }
        offsets.clock = bytes.count
        uint(UInt64(clock.count))
        for (origin, seq) in clock {
            uint(index(origin))
            uint(seq)
        }
        raw(chainHash)
        if let signature { raw(signature) }
        return offsets
    }

    static func batch(origins: [String]? = nil, _ build: (inout Bytes) -> Void) -> [UInt8] {
        var out = header(count: 1, origins: origins)
        build(&out)
        return out.bytes
    }
}

private func expectRejected(_ bytes: [UInt8], _ reason: String? = nil, at offset: Int? = nil,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try WireFormat.decode(bytes)
        Issue.record("decoded malformed input", sourceLocation: sourceLocation)
    } catch {
        #expect((0...bytes.count).contains(error.offset), sourceLocation: sourceLocation)
        if let reason {
            #expect(error.reason.contains(reason), "got: \(error.reason)", sourceLocation: sourceLocation)
        }
        if let offset {
            #expect(error.offset == offset, "got: \(error.reason) at \(error.offset)", sourceLocation: sourceLocation)
        }
    }
}

/// 32 (or `count`) bytes derived from a seed: links, digests and signatures for the samples.
private func filler(_ seed: UInt8, count: Int = 32) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
}

@Suite struct WireFormatTests {
    static let rowIDs = (1...4).map { UUID(uuidString: "00000000-0000-4000-8000-00000000000\($0)")! }

    /// Every record kind, change kind and value type, with edge-case integers
    /// and unicode text; purged and signed changes; heads, clock, digest and
    /// the provisional flag.
    static let sampleBatch = ChangeBatch(incarnation: "2f6c-incarnation-ä", nextPosition: 1 << 40, changes: [
        Change(dot: Dot(origin: "jakobstad", seq: 1), hlc: HLC(wallMillis: 1_700_000_000_000, counter: 3), record: .service,
               rowID: rowIDs[0], kind: .upsert,
               fields: Fixture.with(Fixture.service, ["contact": .null, "capacity": .integer(0), "deleted": .bool(false)]),
               rowClock: VersionVector(["jakobstad": 1]), chainHash: filler(1)),
        Change(dot: Dot(origin: "larsmo", seq: 42), hlc: HLC(rawValue: .max), record: .client, rowID: rowIDs[1],
               kind: .upsert,
               fields: Fixture.with(Fixture.client, [
                   "givenName": .text("Tëst 🇫🇮 漢字 \u{0}"), "ownerMunicipality": .integer(.max),
                   "jobseeker": .bool(false), "familyId": .null,
               ]),
               rowClock: VersionVector(["larsmo": 42, "jakobstad": 7, "nykarleby": .max]), chainHash: filler(2),
               signature: filler(3, count: 64)),
        Change(dot: Dot(origin: "kronoby", seq: .max), hlc: HLC(rawValue: 0), record: .placement, rowID: rowIDs[2],
               kind: .delete, fields: ["deleted": .bool(true), "municipality": .integer(.min)],
               rowClock: VersionVector(["kronoby": .max]), chainHash: filler(4)),
        Change(dot: Dot(origin: "pedersore", seq: 3), hlc: HLC(wallMillis: 5), record: .placement, rowID: rowIDs[3],
               kind: .erase, fields: [:], rowClock: VersionVector(["pedersore": 3]), chainHash: filler(5),
               signature: filler(6, count: 64)),
        Change(dot: Dot(origin: "nykarleby", seq: 9), hlc: HLC(wallMillis: 6), record: .service, rowID: rowIDs[0],
               kind: .upsert, fields: ["capacity": .integer(-1), "nameSv": .text("")],
               rowClock: VersionVector(["nykarleby": 9, "jakobstad": 1]), chainHash: filler(7)),
        // Purged by an erase: no fields, the payload's digest instead; one signed, one not.
        Change(dot: Dot(origin: "pedersore", seq: 2), hlc: HLC(wallMillis: 4), record: .placement, rowID: rowIDs[3],
               kind: .upsert, fields: [:], rowClock: VersionVector(["pedersore": 2, "larsmo": 1]),
               purgedPayloadDigest: filler(8), chainHash: filler(9)),
        Change(dot: Dot(origin: "pedersore", seq: 1), hlc: HLC(wallMillis: 3), record: .placement, rowID: rowIDs[3],
               kind: .delete, fields: [:], rowClock: VersionVector(["pedersore": 1]),
               purgedPayloadDigest: filler(10), chainHash: filler(11), signature: filler(12, count: 64)),
    ], heads: [
        "jakobstad": ChainHead(seq: 7, hash: filler(13)),
        "larsmo": ChainHead(seq: .max, hash: filler(14)),
        "pedersore": ChainHead(seq: 3, hash: filler(5)),
    ], senderClockMillis: 1_795_000_000_123, stateDigest: StateDigest(bytes: filler(15)), digestProvisional: true)

    @Test func batchRoundTrips() throws {
        let bytes = WireFormat.encode(Self.sampleBatch)
        #expect(Array(bytes.prefix(5)) == Array("KSYB".utf8) + [3] && WireFormat.version == 3)
        let decoded = try WireFormat.decode(bytes)
        #expect(decoded == Self.sampleBatch)
        // What the receiver checks the sender by survives the trip.
        #expect(decoded.heads == Self.sampleBatch.heads && decoded.heads.count == 3)
        #expect(decoded.senderVersionVector == VersionVector(["jakobstad": 7, "larsmo": .max, "pedersore": 3]))
        #expect(decoded.senderClockMillis == 1_795_000_000_123)
        #expect(decoded.stateDigest == Self.sampleBatch.stateDigest && decoded.digestProvisional)
        #expect(decoded.changes.map(\.isPurged) == [false, false, false, false, false, true, true])
        #expect(decoded.changes.map { $0.signature != nil } == [false, true, false, true, false, false, true])
        #expect(decoded.changes[5].purgedPayloadDigest == filler(8) && decoded.changes[5].fields.isEmpty)
        #expect(decoded.changes[6].kind == .delete && decoded.changes[6].signature == filler(12, count: 64))
        #expect(decoded.changes.map(\.chainHash) == Self.sampleBatch.changes.map(\.chainHash))
        #expect(WireFormat.encode(decoded) == bytes)
        // Any collection of bytes will do.
        #expect(try WireFormat.decode(Data(bytes)) == Self.sampleBatch)
        #expect(try WireFormat.decode(bytes[...]) == Self.sampleBatch)
    }

    @Test func integersRoundTripAtTheEdges() throws {
        for number: Int64 in [0, 1, -1, 63, -64, 64, -65, 1_000_000, -1_000_000, .max, .min, .max - 1, .min + 1] {
            let batch = ChangeBatch(incarnation: "x", nextPosition: 0, changes: [
                Change(dot: Dot(origin: "a", seq: 1), hlc: .zero, record: .service, rowID: Self.rowIDs[0], kind: .upsert,
                       fields: ["capacity": .integer(number)], rowClock: VersionVector(["a": 1]), chainHash: filler(0)),
            ])
            #expect(try WireFormat.decode(WireFormat.encode(batch)) == batch)
        }
        for number: UInt64 in [0, 1, 127, 128, 1 << 32, .max - 1, .max] {
            let batch = ChangeBatch(incarnation: "x", nextPosition: number, changes: [],
                                    heads: ["a": ChainHead(seq: max(1, number), hash: filler(1))], senderClockMillis: number)
            #expect(try WireFormat.decode(WireFormat.encode(batch)) == batch)
        }
    }

    @Test func headsEncodeInOriginOrderWhateverTheInsertionOrder() throws {
        var forward: [String: ChainHead] = [:], backward: [String: ChainHead] = [:]
        let origins = ["jakobstad", "kronoby", "larsmo", "nykarleby", "pedersore"]
        for (index, origin) in origins.enumerated() { forward[origin] = ChainHead(seq: UInt64(index + 1), hash: filler(UInt8(index))) }
        for (index, origin) in origins.enumerated().reversed() { backward[origin] = ChainHead(seq: UInt64(index + 1), hash: filler(UInt8(index))) }
        let one = WireFormat.encode(ChangeBatch(incarnation: "i", nextPosition: 1, changes: [], heads: forward))
        let other = WireFormat.encode(ChangeBatch(incarnation: "i", nextPosition: 1, changes: [], heads: backward))
        #expect(one == other)
        #expect(try WireFormat.decode(one).heads == forward)
    }

    /// A change no store has linked yet (tests, tools) goes out with a zero link.
    @Test func anUnlinkedChangeEncodesTheGenesisLink() throws {
        let unlinked = Change(dot: Dot(origin: "a", seq: 1), hlc: .zero, record: .service, rowID: Self.rowIDs[0], kind: .upsert,
                              fields: ["capacity": .integer(1)], rowClock: VersionVector(["a": 1]))
        let decoded = try WireFormat.decode(WireFormat.encode(ChangeBatch(incarnation: "i", nextPosition: 0, changes: [unlinked])))
        #expect(decoded.changes.first?.chainHash == ChainFormat.genesis)
        #expect(decoded.changes.first?.signature == nil)
    }

    @Test func emptyBatchRoundTrips() throws {
        let empty = ChangeBatch(incarnation: "", nextPosition: 0, changes: [])
        let bytes = WireFormat.encode(empty)
        // Version, incarnation, position, clock, zero digest, not provisional, no origins, no heads, no changes.
        #expect(bytes == Array("KSYB".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 32) + [0, 0, 0, 0])
        let decoded = try WireFormat.decode(bytes)
        #expect(decoded == empty)
        #expect(decoded.stateDigest == .zero && !decoded.digestProvisional && decoded.heads.isEmpty)
    }

    /// Pins the layout byte by byte, so an accidental format change fails here.
    @Test func encodingIsTheDocumentedLayout() throws {
        let link = [UInt8](repeating: 0xdd, count: 32), signature = [UInt8](repeating: 0x55, count: 64)
        let head = [UInt8](repeating: 0xee, count: 32)
        let batch = ChangeBatch(incarnation: "i", nextPosition: 300, changes: [
            Change(dot: Dot(origin: "a", seq: 1), hlc: HLC(rawValue: 2), record: .service, rowID: Self.rowIDs[0],
                   kind: .delete, fields: ["capacity": .integer(-1), "deleted": .bool(true)], rowClock: VersionVector(["a": 1]),
                   chainHash: link, signature: signature),
        ], heads: ["a": ChainHead(seq: 1, hash: head)], senderClockMillis: 5, stateDigest: StateDigest(bytes: Bytes.digest),
           digestProvisional: true)
        let capacity = UInt8(RecordKind.service.fields.firstIndex { $0.name == "capacity" }!)
        let deleted = UInt8(RecordKind.service.fields.firstIndex { $0.name == "deleted" }!)
        var expected: [UInt8] = Array("KSYB".utf8) + [3, 1, UInt8(ascii: "i"), 0xAC, 0x02, 5] + Bytes.digest + [1]
        expected += [1, 1, UInt8(ascii: "a")] // the origin table: "a"
        expected += [1, 0, 1] + head // one head: origin 0 at seq 1
        expected += [1]
        expected += [0, 2, 4, 1] // origin 0, seq step +1, HLC step +2 (zigzag), service
        expected += [0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1]
        expected += [0x22] // kind delete, flags signed << 4
        expected += [2, capacity, 2, 1, deleted, 4] // two fields by schema index
        expected += [0] // no row clock entry but its own
        expected += link + signature
        #expect(WireFormat.encode(batch) == expected)
        #expect(try WireFormat.decode(expected) == batch)
        #expect(try WireFormat.decode(Bytes.batch { $0.change() }).changes.first?.fields == ["capacity": .integer(20)])
    }

    /// A purged change carries its payload's digest where the fields were.
    @Test func aPurgedChangeIsTheDocumentedLayout() throws {
        let digest = [UInt8](repeating: 0x77, count: 32), link = [UInt8](repeating: 0xdd, count: 32)
        let purged = Change(dot: Dot(origin: "a", seq: 2), hlc: HLC(rawValue: 3), record: .client, rowID: Self.rowIDs[0],
                            kind: .upsert, fields: ["givenName": .text("Testi")], rowClock: VersionVector(["a": 2]),
                            chainHash: link).purged(payloadDigest: digest)
        let batch = ChangeBatch(incarnation: "", nextPosition: 0, changes: [purged])
        var expected: [UInt8] = Array("KSYB".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 32) + [0]
        expected += [1, 1, UInt8(ascii: "a"), 0, 1] // origins ["a"], no heads, one change
        expected += [0, 4, 6, RecordKind.client.wireTag] // origin 0, seq step +2, HLC step +3
        expected += [0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1]
        expected += [0x11] // kind upsert, flags purged << 4
        expected += digest
        expected += [0]
        expected += link
        #expect(WireFormat.encode(batch) == expected)
        let decoded = try WireFormat.decode(expected)
        #expect(decoded == batch)
        #expect(decoded.changes.first?.isPurged == true && decoded.changes.first?.fields.isEmpty == true)
        // Purged and signed: flags 3, the signature after the link.
        var signed = purged
        signed.signature = [UInt8](repeating: 0x55, count: 64)
        let signedBytes = WireFormat.encode(ChangeBatch(incarnation: "", nextPosition: 0, changes: [signed]))
        #expect(signedBytes.count == expected.count + 64)
        #expect(signedBytes[expected.count - 32 - 1 - 32 - 1] == 0x31)
        #expect(expected[expected.count - 32 - 1 - 32 - 1] == 0x11)
        #expect(try WireFormat.decode(signedBytes).changes == [signed])
    }

    /// The fuzz harness's committed seeds (Tests/Fuzz/make_seeds.py) are in this
    /// format: a seed the decoder refuses would leave the fuzzer exploring error paths only.
    @Test func theFuzzCorpusWireSeedsDecode() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fuzz/corpus/wire").standardizedFileURL
        let seeds = ["empty", "one-change", "two-signed", "erase"]
        for seed in seeds {
            let bytes = try [UInt8](Data(contentsOf: corpus.appendingPathComponent(seed)))
            let batch = try WireFormat.decode(bytes)
            #expect(WireFormat.encode(batch) == bytes, "seed \(seed) is not in the encoder's canonical form")
        }
        let twoSigned = try WireFormat.decode(try [UInt8](Data(contentsOf: corpus.appendingPathComponent("two-signed"))))
        #expect(twoSigned.changes.map(\.dot) == [Dot(origin: "larsmo", seq: 1), Dot(origin: "larsmo", seq: 2)])
        #expect(twoSigned.changes.allSatisfy { $0.signature != nil } && twoSigned.heads.count == 2)
        let clock = try [UInt8](Data(contentsOf: corpus.appendingPathComponent("clock")))
        #expect(try WireFormat.decodeClock(clock) == VersionVector(["jakobstad": 5, "kronoby": 1]))
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
        for version: UInt8 in [0, 1, 2, 4, 255] {
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
            expectRejected(Bytes.batch(origins: [origin]) { $0.change(origin: origin) }, "invalid node id")
        }
        expectRejected(Bytes.batch(origins: ["jakobstad", "Other"]) { $0.change(clock: [("Other", 1)]) }, "invalid node id")
    }

    /// Every node id once in the table, and every index within it.
    @Test func anInvalidOriginTableOrIndexIsRejected() {
        expectRejected(Bytes.batch(origins: ["jakobstad", "larsmo", "jakobstad"]) { $0.change() }, "twice in the origin table")
        expectRejected(Bytes.batch(origins: []) { $0.change() }, "outside the batch's 0 origins")
        expectRejected(Bytes.batch { $0.change(origin: "kronoby") }, "outside the batch's 2 origins")
        expectRejected(Bytes.batch { $0.change(clock: [("kronoby", 3)]) }, "outside the batch's 2 origins")
        var tooMany = Bytes.header(count: 0, origins: [])
        tooMany.bytes.removeLast(3)
        tooMany.uint(UInt64(WireFormat.maxOrigins) + 1)
        expectRejected(tooMany.bytes, "too many origins")
        // Two changes of one origin: the second's seq and HLC are steps from the first.
        var out = Bytes.header(count: 2)
        out.change(seq: 7, hlc: 100 << 16)
        out.change(seq: 8, hlc: 99 << 16)
        let decoded = try? WireFormat.decode(out.bytes)
        #expect(decoded?.changes.map(\.dot.seq) == [7, 8])
        #expect(decoded?.changes.map(\.hlc.rawValue) == [100 << 16, 99 << 16])
    }

    @Test func zeroSeqIsRejected() {
        expectRejected(Bytes.batch { $0.change(seq: 0) }, "seq must be positive")
        expectRejected(Bytes.batch { $0.change(clock: [("larsmo", 0)]) }, "invalid clock entry")
        // A step back to zero.
        var out = Bytes.header(count: 2)
        out.change(seq: 3)
        out.change(seq: 0)
        expectRejected(out.bytes, "seq must be positive")
    }

    /// The row clock names its own origin at exactly the change's seq: the dot
    /// gives that entry, so a batch that lists it (at any seq, inflated or not) is refused.
    @Test func aRowClockListingItsOwnOriginIsRejected() throws {
        var out = Bytes.header(count: 1)
        let offsets = out.change(seq: 5, clock: [("jakobstad", 6)])
        expectRejected(out.bytes, "row clock names the change's own origin", at: offsets.clock + 1)
        expectRejected(Bytes.batch(origins: ["jakobstad", "kronoby", "larsmo"]) { $0.change(seq: 5, clock: [("larsmo", 2), ("jakobstad", 5)]) },
                       "own origin")
        expectRejected(Bytes.batch { $0.change(seq: 5, clock: [("jakobstad", .max)]) }, "own origin")
        // More entries than the table has origins.
        expectRejected(Bytes.batch { $0.change(clock: [("larsmo", 1), ("larsmo", 2), ("larsmo", 3)]) }, "clock too large")
        let decoded = try WireFormat.decode(Bytes.batch { $0.change(seq: 5, clock: [("larsmo", 9)]) })
        #expect(decoded.changes.first?.rowClock == VersionVector(["jakobstad": 5, "larsmo": 9]))
        #expect(try WireFormat.decode(Bytes.batch { $0.change(seq: 5) }).changes.first?.rowClock == VersionVector(["jakobstad": 5]))
    }

    @Test func anEraseWithFieldsIsRejected() {
        var out = Bytes.header(count: 1)
        let offsets = out.change(kind: 3, fields: [("capacity", [2, 40])])
        expectRejected(out.bytes, "an erase writes no field", at: offsets.payload)
        expectRejected(Bytes.batch { $0.change(kind: 3, fields: [("deleted", [4])]) }, "an erase writes no field")
        #expect(throws: Never.self) { try WireFormat.decode(Bytes.batch { $0.change(kind: 3, fields: []) }) }
    }

    /// Only a purged change writes nothing: an upsert or delete stripped of
    /// its fields without being marked purged is no erase, and is refused.
    @Test func aChangeWithoutFieldsThatIsNotPurgedIsRejected() {
        for kind: UInt8 in [1, 2] {
            var out = Bytes.header(count: 1)
            let offsets = out.change(kind: kind, fields: [])
            expectRejected(out.bytes, "a change that is not purged writes at least one field", at: offsets.payload)
        }
        for kind: UInt8 in [1, 2] {
            #expect(throws: Never.self) {
                try WireFormat.decode(Bytes.batch { $0.change(kind: kind, payloadDigest: Bytes.digest) })
            }
        }
    }

    @Test func aPurgedEraseIsRejected() {
        var out = Bytes.header(count: 1)
        let offsets = out.change(kind: 3, payloadDigest: Bytes.digest)
        expectRejected(out.bytes, "an erase has no payload to purge", at: offsets.flags)
        expectRejected(Bytes.batch { $0.change(kind: 3, payloadDigest: Bytes.digest, signature: Bytes.signature) },
                       "an erase has no payload to purge")
    }

    @Test func unknownChangeFlagsAreRejected() {
        for flags: UInt8 in [4, 5, 7, 8, 12, 15] {
            var out = Bytes.header(count: 1)
            let offsets = out.change(flags: flags)
            expectRejected(out.bytes, "unknown change flags", at: offsets.flags)
        }
    }

    /// The flags say what follows: a signed flag without a signature, or a
    /// purged flag over a field list, never decodes as something else.
    @Test func flagsThatDisagreeWithTheBytesAreRejected() {
        expectRejected(Bytes.batch { $0.change(flags: 2) }, "unexpected end")
        expectRejected(Bytes.batch { $0.change(flags: 0, signature: Bytes.signature) }, "trailing bytes")
        expectRejected(Bytes.batch { $0.change(flags: 1) })
        expectRejected(Bytes.batch { $0.change(chainHash: Array(Bytes.link.prefix(31))) }, "unexpected end")
    }

    @Test func invalidBatchHeaderFieldsAreRejected() throws {
        // The provisional flag is 0 or 1.
        for flag: UInt8 in [2, 0x80, 0xff] {
            var out = Bytes.header(count: 0, provisional: flag)
            expectRejected(out.bytes, "invalid provisional flag")
            out = Bytes.header(count: 0, provisional: 1)
            #expect(throws: Never.self) { try WireFormat.decode(out.bytes) }
        }
        // Chain heads: valid node ids, positive seqs, each origin once, no more than the bytes hold.
        expectRejected(Bytes.header(count: 0, heads: [("jakobstad", 0, Bytes.link)]).bytes, "invalid chain head")
        expectRejected(Bytes.header(count: 0, heads: [("jakobstad", 1, Bytes.link), ("jakobstad", 2, Bytes.link)]).bytes,
                       "invalid chain head")
        expectRejected(Bytes.header(count: 0, heads: [("Jakobstad", 1, Bytes.link)]).bytes, "invalid node id")
        expectRejected(Bytes.header(count: 0, heads: [("jakobstad", 1, Bytes.link)], headCount: 1_000).bytes, "too many chain heads")
        expectRejected(Bytes.header(count: 0, headCount: UInt64(WireFormat.maxOrigins) + 1).bytes, "too many chain heads")
        expectRejected(Bytes.header(count: 0, heads: [("jakobstad", 1, Array(Bytes.link.prefix(10)))]).bytes, "unexpected end")
        let two = Bytes.header(count: 0, heads: [("larsmo", 3, Bytes.link), ("jakobstad", 1, filler(1))])
        #expect(try WireFormat.decode(two.bytes).heads == ["larsmo": ChainHead(seq: 3, hash: Bytes.link),
                                                           "jakobstad": ChainHead(seq: 1, hash: filler(1))])
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
        expectRejected(Bytes.batch { $0.change(hlc: .max); $0.raw([0]) }, "trailing bytes")
        #expect(throws: Never.self) { try WireFormat.decode(Bytes.batch { $0.change(hlc: .max) }) }
    }

    @Test func invalidUTF8IsRejected() {
        var bytes = Bytes()
        bytes.raw(Array("KSYB".utf8) + [WireFormat.version])
        bytes.raw([0xC3, 0x28], length: true) // bad continuation byte
        bytes.uint(0)
        bytes.uint(0)
        expectRejected(bytes.bytes, "UTF-8")
        expectRejected(Bytes.batch { $0.change(fields: [("nameFi", [1, 2, 0xED, 0xA0])]) }, "UTF-8")
        expectRejected(Bytes.batch { $0.change(fields: [("nameFi", [1, 1, 0xFF])]) }, "UTF-8")
    }

    @Test func hugeStringLengthIsRejectedWithoutAllocating() {
        var bytes = Bytes()
        bytes.raw(Array("KSYB".utf8) + [WireFormat.version])
        bytes.uint(.max)
        expectRejected(bytes.bytes, "string too long")
        var justTooLong = Bytes()
        justTooLong.raw(Array("KSYB".utf8) + [WireFormat.version])
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
        var rng = SeededGenerator(state: 2024)
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
        var rng = SeededGenerator(state: 99)
        for _ in 0..<2_000 {
            var bytes = Bytes.header(count: UInt64.random(in: 0...3, using: &rng))
            bytes.raw((0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            if let batch = try? WireFormat.decode(bytes.bytes) {
                #expect(try WireFormat.decode(WireFormat.encode(batch)) == batch)
            }
        }
    }
}
