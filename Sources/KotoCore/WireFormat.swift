import Foundation

/// A batch of changes as one peer sends it to another: the entries in the
/// sender's log order, the sender's log position just after the last entry
/// it scanned (the puller's next `since`), and what the receiver checks the
/// sender by: its chain heads (which also give its version vector), its
/// wall clock and its state digest.
public struct ChangeBatch: Hashable, Sendable {
    /// Identifies one incarnation of the sender's log; positions mean
    /// something only within it.
    public let incarnation: String
    public let nextPosition: UInt64
    public let changes: [Change]
    /// The sender's chain head per origin it holds (its version vector, with the link at each entry).
    public let heads: [String: ChainHead]
    /// The sender's wall clock (Unix ms) when it made the batch.
    public let senderClockMillis: UInt64
    /// The sender's state digest when it made the batch, and whether it was provisional.
    public let stateDigest: StateDigest
    public let digestProvisional: Bool

    public init(incarnation: String, nextPosition: UInt64, changes: [Change], heads: [String: ChainHead] = [:],
                senderClockMillis: UInt64 = 0, stateDigest: StateDigest = .zero, digestProvisional: Bool = false) {
        self.incarnation = incarnation
        self.nextPosition = nextPosition
        self.changes = changes
        self.heads = heads
        self.senderClockMillis = senderClockMillis
        self.stateDigest = stateDigest
        self.digestProvisional = digestProvisional
    }

    /// The sender's version vector, as its heads describe it.
    public var senderVersionVector: VersionVector {
        VersionVector(heads.mapValues(\.seq))
    }
}

/// Why bytes could not be decoded; says where, never what the bytes held.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public let reason: String
    public let offset: Int

    public init(_ reason: String, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "malformed batch at byte \(offset): \(reason)" }
}

/// The versioned binary encoding of a batch, and of the field and clock
/// payloads the change log stores. Layout (integers are unsigned LEB128;
/// a step is a zigzag LEB128 difference, wrapping):
///
///     "KSYB" version=3 incarnation:str nextPosition:uint clock:uint digest:32 provisional:u8
///            originCount:uint origin:str*                 every node id the batch names, once each
///            headCount:uint (origin:uint seq:uint hash:32)* count:uint change*
///     change = origin:uint seqStep hlcStep record:u8 rowID:16 kindFlags:u8
///              (fieldCount:uint (field:uint value)* | payloadDigest:32 if purged)
///              clockCount:uint (origin:uint seq:uint)* chainHash:32 (signature:64 if signed)
///     origin    = an index into the batch's origin table
///     seqStep   = seq − the previous change's seq of the same origin in this batch (0 before its first)
///     hlcStep   = hlc − the previous change's hlc in this batch (0 before the first)
///     kindFlags = kind | flags << 4; flags = 1 purged | 2 signed
///     field     = the field's index in its record's schema (`RecordKind.fields`)
///     row clock = every entry but the change's own, which is always (origin, seq)
///     value     = 0 | 1 str | 2 zigzag-uint | 3 | 4      (null, text, integer, false, true)
///
/// Version 3 sends what version 2 spelt out as indexes and steps: node ids
/// once per batch, field indexes instead of names, small seq and HLC steps,
/// no row-clock entry the dot already says (measured by `kotosync-bench wire`).
/// The stored payloads (`encodeFields`, `encodeClock`) and the chain's bytes
/// (`ChainFormat`) keep names: they are what origins hash and sign.
///
/// The decoder checks every length against what remains, field indexes against
/// the schema and value types against each field's storage, every origin index
/// against the table, that a row clock does not name its own origin (the dot
/// gives that entry), that an erase writes no field and any other change at
/// least one unless purged.
public enum WireFormat {
    public static let magic: [UInt8] = Array("KSYB".utf8)
    public static let version: UInt8 = 3
    /// Largest batch a decoder accepts, whatever the count field claims.
    public static let maxChanges = 1_000_000
    /// Most origins a batch's heads or a row clock may name.
    public static let maxOrigins = 10_000
    static let maxString = 1 << 20

    public static func encode(_ batch: ChangeBatch) -> [UInt8] {
        var writer = WireWriter()
        writer.bytes.reserveCapacity(64 + batch.changes.count * 120)
        writer.bytes += magic
        writer.bytes.append(version)
        writer.string(batch.incarnation)
        writer.uint(batch.nextPosition)
        writer.uint(batch.senderClockMillis)
        writer.bytes += batch.stateDigest.bytes
        writer.bytes.append(batch.digestProvisional ? 1 : 0)
        var table = OriginTable()
        for origin in batch.heads.keys { table.insert(origin) }
        for change in batch.changes {
            table.insert(change.dot.origin)
            for origin in change.rowClock.entries.keys { table.insert(origin) }
        }
        let names = table.names
        let indexes = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.element, UInt64($0.offset)) })
        writer.uint(UInt64(names.count))
        for name in names { writer.string(name) }
        writer.uint(UInt64(batch.heads.count))
        for (origin, head) in batch.heads.sorted(by: { $0.key < $1.key }) {
            writer.uint(indexes[origin]!)
            writer.uint(head.seq)
            writer.hash(head.hash)
        }
        writer.uint(UInt64(batch.changes.count))
        var steps = StepState(origins: names.count)
        for change in batch.changes {
            writer.change(change, indexes: indexes, steps: &steps)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(WireError) -> ChangeBatch {
        var reader = WireReader(Array(bytes))
        let head = try reader.take(4)
        guard Array(head) == magic else { throw WireError("not a kotosync batch", offset: 0) }
        let version = try reader.byte()
        guard version == Self.version else {
            throw WireError("unsupported format version \(version) (this node speaks \(Self.version))", offset: 4)
        }
        let incarnation = try reader.string()
        let nextPosition = try reader.uint()
        let clock = try reader.uint()
        let digest = StateDigest(bytes: Array(try reader.take(32)))
        let provisionalOffset = reader.offset
        let provisional = try reader.byte()
        guard provisional <= 1 else { throw WireError("invalid provisional flag", offset: provisionalOffset) }
        let tableOffset = reader.offset
        let originCount = try reader.uint()
        guard originCount <= UInt64(maxOrigins), originCount <= UInt64(reader.remaining / 2 + 1) else {
            throw WireError("too many origins", offset: tableOffset)
        }
        var origins: [String] = []
        origins.reserveCapacity(Int(originCount))
        var seen: Set<String> = []
        for _ in 0..<originCount {
            let entryOffset = reader.offset
            let origin = try reader.nodeID()
            guard seen.insert(origin).inserted else { throw WireError("origin \(origin) twice in the origin table", offset: entryOffset) }
            origins.append(origin)
        }
        reader.origins = origins
        let headsOffset = reader.offset
        let headCount = try reader.uint()
        guard headCount <= UInt64(maxOrigins), headCount <= UInt64(reader.remaining / 34 + 1) else {
            throw WireError("too many chain heads", offset: headsOffset)
        }
        var heads: [String: ChainHead] = [:]
        for _ in 0..<headCount {
            let entryOffset = reader.offset
            let origin = try reader.origin()
            let seq = try reader.uint()
            let hash = Array(try reader.take(32))
            guard seq > 0, heads[origin] == nil else { throw WireError("invalid chain head", offset: entryOffset) }
            heads[origin] = ChainHead(seq: seq, hash: hash)
        }
        let count = try reader.uint()
        // Each change needs well over 50 bytes; a count beyond that is a lie.
        guard count <= UInt64(maxChanges), count <= UInt64(reader.remaining / 50 + 1) else {
            throw WireError("change count \(count) exceeds what the batch holds", offset: reader.offset)
        }
        var changes: [Change] = []
        changes.reserveCapacity(Int(count))
        var steps = StepState(origins: origins.count)
        for _ in 0..<count {
            changes.append(try reader.change(steps: &steps))
        }
        guard reader.remaining == 0 else { throw WireError("trailing bytes after the last change", offset: reader.offset) }
        return ChangeBatch(incarnation: incarnation, nextPosition: nextPosition, changes: changes, heads: heads,
                           senderClockMillis: clock, stateDigest: digest, digestProvisional: provisional == 1)
    }

    /// The payload the change log stores for a change's written fields.
    public static func encodeFields(_ fields: FieldMap, record: RecordKind) -> [UInt8] {
        var writer = WireWriter()
        writer.fields(fields, record: record)
        return writer.bytes
    }

    public static func decodeFields(_ bytes: some Collection<UInt8>, record: RecordKind) throws(WireError) -> FieldMap {
        var reader = WireReader(Array(bytes))
        let fields = try reader.fields(record: record)
        guard reader.remaining == 0 else { throw WireError("trailing bytes after fields", offset: reader.offset) }
        return fields
    }

    public static func encodeClock(_ clock: VersionVector) -> [UInt8] {
        var writer = WireWriter()
        writer.clock(clock)
        return writer.bytes
    }

    public static func decodeClock(_ bytes: some Collection<UInt8>) throws(WireError) -> VersionVector {
        var reader = WireReader(Array(bytes))
        let clock = try reader.clock()
        guard reader.remaining == 0 else { throw WireError("trailing bytes after clock", offset: reader.offset) }
        return clock
    }
}

struct WireWriter {
    var bytes: [UInt8] = []

    mutating func uint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func string(_ value: String) {
        let utf8 = value.utf8
        uint(UInt64(utf8.count))
        bytes += utf8
    }

    mutating func value(_ value: FieldValue) {
        switch value {
        case .null: bytes.append(0)
        case .text(let text): bytes.append(1); string(text)
        case .integer(let number):
            bytes.append(2)
            uint(UInt64(bitPattern: (number << 1) ^ (number >> 63)))
        case .bool(let flag): bytes.append(flag ? 4 : 3)
        }
    }

    /// Fields in the schema's order, so equal maps encode to equal bytes.
    /// Names outside the schema cannot occur: decoding and validation refuse them.
    mutating func fields(_ fields: FieldMap, record: RecordKind) {
        uint(UInt64(fields.count))
        if fields.count == 1, let (name, fieldValue) = fields.first {
            string(name)
            value(fieldValue)
            return
        }
        var written = 0
        for spec in record.fields {
            guard let fieldValue = fields[spec.name] else { continue }
            string(spec.name)
            value(fieldValue)
            written += 1
        }
        precondition(written == fields.count, "a change names a field outside its record's schema")
    }

    mutating func clock(_ clock: VersionVector) {
        let entries = clock.sorted
        uint(UInt64(entries.count))
        for entry in entries {
            string(entry.origin)
            uint(entry.seq)
        }
    }

    /// One change in the version-3 layout: origins as indexes into the batch's table, seq and HLC as steps.
    mutating func change(_ change: Change, indexes: [String: UInt64], steps: inout StepState) {
        let origin = indexes[change.dot.origin]!
        uint(origin)
        step(from: steps.seqs[Int(origin)], to: change.dot.seq)
        steps.seqs[Int(origin)] = change.dot.seq
        step(from: steps.hlc, to: change.hlc.rawValue)
        steps.hlc = change.hlc.rawValue
        bytes.append(change.record.wireTag)
        withUnsafeBytes(of: change.rowID.uuid) { bytes += $0 }
        let flags: UInt8 = (change.isPurged ? 1 : 0) | (change.signature != nil ? 2 : 0)
        bytes.append(change.kind.rawValue | flags << 4)
        if let digest = change.purgedPayloadDigest {
            hash(digest)
        } else {
            indexedFields(change.fields, record: change.record)
        }
        let others = change.rowClock.sorted.filter { $0.origin != change.dot.origin }
        uint(UInt64(others.count))
        for entry in others {
            uint(indexes[entry.origin]!)
            uint(entry.seq)
        }
        hash(change.chainHash)
        if let signature = change.signature {
            precondition(signature.count == ChainFormat.signatureByteCount, "an Ed25519 signature is 64 bytes")
            bytes += signature
        }
    }

    /// `to − from` as a zigzag varint, wrapping (any two values round-trip).
    mutating func step(from previous: UInt64, to value: UInt64) {
        let difference = Int64(bitPattern: value &- previous)
        uint(UInt64(bitPattern: (difference << 1) ^ (difference >> 63)))
    }

    /// Fields as (schema index, value), in schema order.
    mutating func indexedFields(_ fields: FieldMap, record: RecordKind) {
        uint(UInt64(fields.count))
        let specs = record.fields
        if fields.count == 1, let (name, fieldValue) = fields.first, let index = specs.firstIndex(where: { $0.name == name }) {
            uint(UInt64(index))
            value(fieldValue)
            return
        }
        var written = 0
        for (index, spec) in specs.enumerated() {
            guard let fieldValue = fields[spec.name] else { continue }
            uint(UInt64(index))
            value(fieldValue)
            written += 1
        }
        precondition(written == fields.count, "a change names a field outside its record's schema")
    }

    /// A 32-byte digest; a change not yet linked (tests) writes zeros.
    mutating func hash(_ digest: [UInt8]) {
        if digest.isEmpty {
            bytes += ChainFormat.genesis
        } else {
            precondition(digest.count == ChainFormat.hashByteCount, "a SHA-256 digest is 32 bytes")
            bytes += digest
        }
    }
}

struct WireReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func byte() throws(WireError) -> UInt8 {
        guard offset < bytes.count else { throw WireError("unexpected end", offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func take(_ count: Int) throws(WireError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw WireError("unexpected end", offset: offset) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func uint() throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = offset
        while true {
            let next = try byte()
            if shift == 63 && next > 1 { throw WireError("integer overflows 64 bits", offset: start) }
            result |= UInt64(next & 0x7f) << shift
            if next & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw WireError("integer overflows 64 bits", offset: start) }
        }
    }

    mutating func string() throws(WireError) -> String {
        let start = offset
        let length = try uint()
        guard length <= UInt64(WireFormat.maxString) else { throw WireError("string too long", offset: start) }
        let slice = try take(Int(length))
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw WireError("string is not valid UTF-8", offset: start)
        }
        return text
    }

    mutating func nodeID() throws(WireError) -> String {
        let start = offset
        let id = try string()
        guard NodeID.isValid(id) else { throw WireError("invalid node id", offset: start) }
        return id
    }

    mutating func value(for spec: FieldSpec) throws(WireError) -> FieldValue {
        let start = offset
        let tag = try byte()
        let value: FieldValue
        switch tag {
        case 0: value = .null
        case 1: value = .text(try string())
        case 2:
            let raw = try uint()
            value = .integer(Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1))))
        case 3: value = .bool(false)
        case 4: value = .bool(true)
        default: throw WireError("unknown value tag \(tag)", offset: start)
        }
        let fits: Bool
        switch (value, spec.type.storage) {
        case (.null, _), (.text, .text), (.integer, .integer), (.bool, .bool): fits = true
        default: fits = false
        }
        guard fits else { throw WireError("field \(spec.name) has the wrong value type", offset: start) }
        return value
    }

    mutating func fields(record: RecordKind) throws(WireError) -> FieldMap {
        let start = offset
        let count = try uint()
        guard count <= UInt64(record.fields.count) else { throw WireError("too many fields", offset: start) }
        var fields: FieldMap = [:]
        fields.reserveCapacity(Int(count))
        for _ in 0..<count {
            let nameOffset = offset
            let name = try string()
            guard let spec = record.field(named: name) else {
                throw WireError("unknown field \(name.prefix(64)) for \(record.rawValue)", offset: nameOffset)
            }
            guard fields[name] == nil else { throw WireError("field \(name) twice", offset: nameOffset) }
            fields[name] = try value(for: spec)
        }
        return fields
    }

    mutating func clock() throws(WireError) -> VersionVector {
        let start = offset
        let count = try uint()
        guard count <= UInt64(WireFormat.maxOrigins), count <= UInt64(remaining) else { throw WireError("clock too large", offset: start) }
        var entries: [String: UInt64] = [:]
        for _ in 0..<count {
            let entryOffset = offset
            let origin = try nodeID()
            let seq = try uint()
            guard seq > 0, entries[origin] == nil else { throw WireError("invalid clock entry", offset: entryOffset) }
            entries[origin] = seq
        }
        return VersionVector(entries)
    }

    /// The batch's origin table, read before its heads and changes.
    var origins: [String] = []

    /// An index into the origin table.
    mutating func origin() throws(WireError) -> String {
        let start = offset
        let index = try uint()
        guard index < UInt64(origins.count) else { throw WireError("origin index \(index) outside the batch's \(origins.count) origins", offset: start) }
        return origins[Int(index)]
    }

    mutating func step(from previous: UInt64) throws(WireError) -> UInt64 {
        let raw = try uint()
        let difference = Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        return previous &+ UInt64(bitPattern: difference)
    }

    mutating func indexedFields(record: RecordKind) throws(WireError) -> FieldMap {
        let start = offset
        let specs = record.fields
        let count = try uint()
        guard count <= UInt64(specs.count) else { throw WireError("too many fields", offset: start) }
        var fields: FieldMap = [:]
        fields.reserveCapacity(Int(count))
        for _ in 0..<count {
            let indexOffset = offset
            let index = try uint()
            guard index < UInt64(specs.count) else {
                throw WireError("unknown field \(index) for \(record.rawValue)", offset: indexOffset)
            }
            let spec = specs[Int(index)]
            guard fields[spec.name] == nil else { throw WireError("field \(spec.name) twice", offset: indexOffset) }
            fields[spec.name] = try value(for: spec)
        }
        return fields
    }

    /// One change in the version-3 layout (see `WireFormat`).
    mutating func change(steps: inout StepState) throws(WireError) -> Change {
        let start = offset
        let originIndex = try uint()
        guard originIndex < UInt64(origins.count) else {
            throw WireError("origin index \(originIndex) outside the batch's \(origins.count) origins", offset: start)
        }
        let origin = origins[Int(originIndex)]
        let seqOffset = offset
        let seq = try step(from: steps.seqs[Int(originIndex)])
        guard seq > 0 else { throw WireError("seq must be positive", offset: seqOffset) }
        steps.seqs[Int(originIndex)] = seq
        let hlc = HLC(rawValue: try step(from: steps.hlc))
        steps.hlc = hlc.rawValue
        let tagOffset = offset
        guard let record = RecordKind(wireTag: try byte()) else { throw WireError("unknown record kind", offset: tagOffset) }
        let idBytes = Array(try take(16))
        let rowID = UUID(uuid: (idBytes[0], idBytes[1], idBytes[2], idBytes[3], idBytes[4], idBytes[5], idBytes[6], idBytes[7],
                                idBytes[8], idBytes[9], idBytes[10], idBytes[11], idBytes[12], idBytes[13], idBytes[14], idBytes[15]))
        let kindOffset = offset
        let kindFlags = try byte()
        guard let kind = ChangeKind(rawValue: kindFlags & 0x0f) else { throw WireError("unknown change kind", offset: kindOffset) }
        let flags = kindFlags >> 4
        guard flags & ~3 == 0 else { throw WireError("unknown change flags", offset: kindOffset) }
        let purged = flags & 1 != 0
        var fields: FieldMap = [:]
        var purgedDigest: [UInt8]?
        let payloadOffset = offset
        if purged {
            guard kind != .erase else { throw WireError("an erase has no payload to purge", offset: kindOffset) }
            purgedDigest = Array(try take(32))
        } else {
            fields = try indexedFields(record: record)
            switch kind {
            case .erase:
                guard fields.isEmpty else { throw WireError("an erase writes no field", offset: payloadOffset) }
            case .upsert, .delete:
                // Only a purged change writes nothing; an empty one is no erase.
                guard !fields.isEmpty else { throw WireError("a change that is not purged writes at least one field", offset: payloadOffset) }
            }
        }
        let clockOffset = offset
        let clockCount = try uint()
        guard clockCount <= UInt64(origins.count), clockCount <= UInt64(remaining) else {
            throw WireError("clock too large", offset: clockOffset)
        }
        var entries: [String: UInt64] = [origin: seq]
        for _ in 0..<clockCount {
            let entryOffset = offset
            let other = try self.origin()
            let otherSeq = try uint()
            guard other != origin else {
                throw WireError("row clock names the change's own origin, which its dot gives", offset: entryOffset)
            }
            guard otherSeq > 0, entries[other] == nil else { throw WireError("invalid clock entry", offset: entryOffset) }
            entries[other] = otherSeq
        }
        let chainHash = Array(try take(32))
        let signature = flags & 2 != 0 ? Array(try take(64)) : nil
        return Change(dot: Dot(origin: origin, seq: seq), hlc: hlc, record: record, rowID: rowID, kind: kind, fields: fields,
                      rowClock: VersionVector(entries), purgedPayloadDigest: purgedDigest, chainHash: chainHash, signature: signature)
    }
}

/// The node ids a batch names, each once, sorted: the table indexes point into.
struct OriginTable {
    private var members: Set<String> = []

    mutating func insert(_ origin: String) { members.insert(origin) }

    var names: [String] { members.sorted() }
}

/// What the steps of the next change count from: each origin's last seq and the last HLC.
struct StepState {
    var seqs: [UInt64]
    var hlc: UInt64 = 0

    init(origins: Int) { seqs = [UInt64](repeating: 0, count: origins) }
}
