/// Compact encodings the replica store keeps beside each row: the winning
/// stamp of every field (most fields of a row share a few stamps, so the
/// distinct stamps are listed once and fields refer to them), and single
/// field values of open conflicts.
extension WireFormat {
    public static func encodeStamps(_ stamps: [String: FieldStamp], record: RecordKind) -> [UInt8] {
        encodeStamps(ordered: record.fields.map { stamps[$0.name] })
    }

    /// The same bytes from the stamps in schema order (nil: a field never written).
    public static func encodeStamps(ordered stamps: [FieldStamp?]) -> [UInt8] {
        var writer = WireWriter()
        writer.bytes.reserveCapacity(32 + 2 * stamps.count)
        var distinct: [FieldStamp] = []
        var pairs: [(field: Int, stamp: Int)] = []
        pairs.reserveCapacity(stamps.count)
        for (fieldIndex, stamp) in stamps.enumerated() {
            guard let stamp else { continue }
            // Rows hold few distinct stamps: a linear scan beats hashing origins.
            if let known = distinct.firstIndex(of: stamp) {
                pairs.append((fieldIndex, known))
            } else {
                pairs.append((fieldIndex, distinct.count))
                distinct.append(stamp)
            }
        }
        writer.uint(UInt64(distinct.count))
        for stamp in distinct {
            writer.uint(stamp.hlc.rawValue)
            writer.string(stamp.dot.origin)
            writer.uint(stamp.dot.seq)
        }
        writer.uint(UInt64(pairs.count))
        for pair in pairs {
            writer.uint(UInt64(pair.field))
            writer.uint(UInt64(pair.stamp))
        }
        return writer.bytes
    }

    public static func decodeStamps(_ bytes: some Collection<UInt8>, record: RecordKind) throws(WireError) -> [String: FieldStamp] {
        let ordered = try decodeStamps(ordered: bytes, record: record)
        var stamps: [String: FieldStamp] = [:]
        for (spec, stamp) in zip(record.fields, ordered) where stamp != nil { stamps[spec.name] = stamp }
        return stamps
    }

    /// The stamps in schema order (nil: a field never written), as `encodeStamps(ordered:)` takes them.
    public static func decodeStamps(ordered bytes: some Collection<UInt8>, record: RecordKind) throws(WireError) -> [FieldStamp?] {
        var reader = WireReader(Array(bytes))
        let specs = record.fields
        let distinctCount = try reader.uint()
        guard distinctCount <= UInt64(specs.count) else { throw WireError("too many stamps", offset: 0) }
        var distinct: [FieldStamp] = []
        distinct.reserveCapacity(Int(distinctCount))
        for _ in 0..<distinctCount {
            let hlc = HLC(rawValue: try reader.uint())
            let origin = try reader.nodeID()
            let seq = try reader.uint()
            distinct.append(FieldStamp(hlc: hlc, dot: Dot(origin: origin, seq: seq)))
        }
        let pairCount = try reader.uint()
        guard pairCount <= UInt64(specs.count) else { throw WireError("too many stamped fields", offset: reader.offset) }
        var stamps = [FieldStamp?](repeating: nil, count: specs.count)
        for _ in 0..<pairCount {
            let offset = reader.offset
            let fieldIndex = try reader.uint(), stampIndex = try reader.uint()
            guard fieldIndex < UInt64(specs.count), stampIndex < UInt64(distinct.count) else {
                throw WireError("stamp refers outside the schema", offset: offset)
            }
            stamps[Int(fieldIndex)] = distinct[Int(stampIndex)]
        }
        guard reader.remaining == 0 else { throw WireError("trailing bytes after stamps", offset: reader.offset) }
        return stamps
    }

    public static func encodeValue(_ value: FieldValue) -> [UInt8] {
        var writer = WireWriter()
        writer.value(value)
        return writer.bytes
    }

    public static func decodeValue(_ bytes: some Collection<UInt8>, for spec: FieldSpec) throws(WireError) -> FieldValue {
        var reader = WireReader(Array(bytes))
        let value = try reader.value(for: spec)
        guard reader.remaining == 0 else { throw WireError("trailing bytes after value", offset: reader.offset) }
        return value
    }
}
