import Foundation

/// A batch of changes as one peer sends it to another: the entries in the
/// sender's log order, and the sender's log position just after the last
/// entry it scanned (the puller's next `since`).
public struct ChangeBatch: Hashable, Sendable {
    /// Identifies one incarnation of the sender's log; positions mean
    /// something only within it.
    public let incarnation: String
    public let nextPosition: UInt64
    public let changes: [Change]

    public init(incarnation: String, nextPosition: UInt64, changes: [Change]) {
        self.incarnation = incarnation
        self.nextPosition = nextPosition
        self.changes = changes
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
/// payloads the change log stores. Layout (integers are unsigned LEB128):
///
///     "KSYB" version=1 incarnation:str nextPosition:uint count:uint change*
///     change = origin:str seq:uint hlc:uint record:u8 rowID:16 kind:u8
///              fieldCount:uint (name:str value)* clockCount:uint (origin:str seq:uint)*
///     value  = 0 | 1 str | 2 zigzag-uint | 3 | 4      (null, text, integer, false, true)
///
/// The decoder checks every length against what remains, field names against
/// the schema and value types against each field's storage, and that a row
/// clock covers its own change.
public enum WireFormat {
    public static let magic: [UInt8] = Array("KSYB".utf8)
    public static let version: UInt8 = 1
    /// Largest batch a decoder accepts, whatever the count field claims.
    public static let maxChanges = 1_000_000
    static let maxString = 1 << 20

    public static func encode(_ batch: ChangeBatch) -> [UInt8] {
        var writer = WireWriter()
        writer.bytes.reserveCapacity(64 + batch.changes.count * 200)
        writer.bytes += magic
        writer.bytes.append(version)
        writer.string(batch.incarnation)
        writer.uint(batch.nextPosition)
        writer.uint(UInt64(batch.changes.count))
        for change in batch.changes {
            writer.change(change)
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
        let count = try reader.uint()
        // Each change needs well over 20 bytes; a count beyond that is a lie.
        guard count <= UInt64(maxChanges), count <= UInt64(reader.remaining / 20 + 1) else {
            throw WireError("change count \(count) exceeds what the batch holds", offset: reader.offset)
        }
        var changes: [Change] = []
        changes.reserveCapacity(Int(count))
        for _ in 0..<count {
            changes.append(try reader.change())
        }
        guard reader.remaining == 0 else { throw WireError("trailing bytes after the last change", offset: reader.offset) }
        return ChangeBatch(incarnation: incarnation, nextPosition: nextPosition, changes: changes)
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

    mutating func change(_ change: Change) {
        string(change.dot.origin)
        uint(change.dot.seq)
        uint(change.hlc.rawValue)
        bytes.append(change.record.wireTag)
        withUnsafeBytes(of: change.rowID.uuid) { bytes += $0 }
        bytes.append(change.kind.rawValue)
        fields(change.fields, record: change.record)
        clock(change.rowClock)
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
        guard count <= 10_000, count <= UInt64(remaining) else { throw WireError("clock too large", offset: start) }
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

    mutating func change() throws(WireError) -> Change {
        let start = offset
        let origin = try nodeID()
        let seq = try uint()
        guard seq > 0 else { throw WireError("seq must be positive", offset: start) }
        let hlc = HLC(rawValue: try uint())
        let tagOffset = offset
        guard let record = RecordKind(wireTag: try byte()) else { throw WireError("unknown record kind", offset: tagOffset) }
        let idBytes = Array(try take(16))
        let rowID = UUID(uuid: (idBytes[0], idBytes[1], idBytes[2], idBytes[3], idBytes[4], idBytes[5], idBytes[6], idBytes[7],
                                idBytes[8], idBytes[9], idBytes[10], idBytes[11], idBytes[12], idBytes[13], idBytes[14], idBytes[15]))
        let kindOffset = offset
        guard let kind = ChangeKind(rawValue: try byte()) else { throw WireError("unknown change kind", offset: kindOffset) }
        let fields = try fields(record: record)
        let clock = try clock()
        let dot = Dot(origin: origin, seq: seq)
        guard clock.covers(dot) else { throw WireError("row clock does not cover its own change", offset: start) }
        return Change(dot: dot, hlc: hlc, record: record, rowID: rowID, kind: kind, fields: fields, rowClock: clock)
    }
}
