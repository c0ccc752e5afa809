public import Foundation

/// The head of one origin's chain as a snapshot carries it: the link at the
/// sender's version vector entry for that origin and the origin's signature
/// over it, so a receiver verifies the head with the region manifest's keys
/// instead of believing the sender.
public struct SignedChainHead: Hashable, Sendable {
    public let seq: UInt64
    public let hash: [UInt8]
    public let signature: [UInt8]

    public init(seq: UInt64, hash: [UInt8], signature: [UInt8]) {
        self.seq = seq
        self.hash = hash
        self.signature = signature
    }

    public var head: ChainHead { ChainHead(seq: seq, hash: hash) }
}

/// What a snapshot says about its sender's replica as a whole.
public struct SnapshotHeader: Hashable, Sendable {
    /// The store schema the rows were written under; a receiver of another refuses.
    public let schemaVersion: Int
    public let sender: String
    /// The sender's wall clock (Unix ms) when it began the snapshot.
    public let createdMillis: UInt64
    /// The sender's HLC: the receiver's clock never goes below it.
    public let hlc: HLC
    public let versionVector: VersionVector
    /// One per origin of the version vector, at exactly its seq.
    public let heads: [String: SignedChainHead]
    /// The sender's state digest over the rows that follow, and whether it was provisional.
    public let stateDigest: StateDigest
    public let digestProvisional: Bool
    /// How many rows follow (the end frame repeats it).
    public let rowCount: UInt64

    public init(schemaVersion: Int, sender: String, createdMillis: UInt64, hlc: HLC, versionVector: VersionVector,
                heads: [String: SignedChainHead], stateDigest: StateDigest, digestProvisional: Bool, rowCount: UInt64) {
        self.schemaVersion = schemaVersion
        self.sender = sender
        self.createdMillis = createdMillis
        self.hlc = hlc
        self.versionVector = versionVector
        self.heads = heads
        self.stateDigest = stateDigest
        self.digestProvisional = digestProvisional
        self.rowCount = rowCount
    }
}

/// One row of a snapshot: its whole merged state (winning values and
/// stamps, every field's frontier, the row clock, erased, awaiting an erase).
public struct SnapshotRow: Equatable, Sendable {
    public let kind: RecordKind
    public let id: UUID
    public let state: RowState

    public init(kind: RecordKind, id: UUID, state: RowState) {
        self.kind = kind
        self.id = id
        self.state = state
    }
}

/// One snapshot row in schema order (`OrderedRow`): what the writer reads
/// from its table and the import binds to its columns, with no field looked
/// up by name except those with open conflicts.
public struct OrderedSnapshotRow: Equatable, Sendable {
    public let kind: RecordKind
    public let id: UUID
    public var row: OrderedRow
    /// Non-winning frontier entries of the fields that have any, by name.
    public var conflicts: [String: [FrontierEntry]]
    public var rowClock: RowClock
    public var erased: Bool
    public var awaitingErase: Bool

    public init(kind: RecordKind, id: UUID, row: OrderedRow, conflicts: [String: [FrontierEntry]] = [:], rowClock: RowClock,
                erased: Bool, awaitingErase: Bool) {
        self.kind = kind
        self.id = id
        self.row = row
        self.conflicts = conflicts
        self.rowClock = rowClock
        self.erased = erased
        self.awaitingErase = awaitingErase
    }

    public init(kind: RecordKind, id: UUID, state: RowState) {
        self.init(kind: kind, id: id, row: OrderedRow(state, kind: kind), conflicts: state.conflicts, rowClock: state.rowClock,
                  erased: state.erased, awaitingErase: state.awaitingErase)
    }

    /// The row as the merge holds it, keyed by field name.
    public var state: RowState {
        var state = RowState(rowClock: rowClock, erased: erased, conflicts: conflicts, awaitingErase: awaitingErase)
        let specs = kind.fields
        for index in specs.indices {
            guard let stamp = row.stamps[index] else { continue }
            state.stamps[specs[index].name] = stamp
            if row.values[index] != .null { state.fields[specs[index].name] = row.values[index] }
        }
        return state
    }

    /// The canonical bytes the state digest hashes for this row (`RowDigestFormat`).
    public var digestBytes: [UInt8] {
        RowDigestFormat.bytes(kind, id: id, ordered: row, conflicts: conflicts, erased: erased)
    }
}

/// The versioned, streamable encoding of a replica's snapshot
/// (`GET /v1/sync/snapshot`). A stream is a magic, then frames, each
/// `tag:u8 length:u32be payload`, so a reader needs only one frame in memory:
///
///     stream  = "KSNP" version=1 header-frame row-frame* end-frame
///     header  = 'H' schema:uint sender:str created:uint hlc:uint
///               vvCount:uint (origin:str seq:uint)* (sorted)
///               headCount:uint (origin:str seq:uint hash:32 signature:64)* (sorted)
///               digest:32 provisional:u8 rowCount:uint
///     row     = 'R' record:u8 rowID:16 flags:u8 rowClock
///               (if not erased) fieldCount:uint (index:uint value stamp losers:uint (value stamp)*)*
///     end     = 'E' rowCount:uint sha256:32
///     flags   = 1 erased | 2 awaiting an erase
///     stamp   = hlc:uint origin:str seq:uint
///
/// Integers, strings, values and clocks are encoded as in `WireFormat`.
/// The end frame's SHA-256 covers every byte before the end frame, so a
/// stream cut off anywhere (or altered in transit) is refused whole. Core
/// defines the bytes; the store hashes them.
public enum SnapshotFormat {
    public static let magic: [UInt8] = Array("KSNP".utf8)
    public static let version: UInt8 = 1
    /// The bytes before the first frame.
    public static var preamble: [UInt8] { magic + [version] }
    public static let headerTag = UInt8(ascii: "H")
    public static let rowTag = UInt8(ascii: "R")
    public static let endTag = UInt8(ascii: "E")
    /// Bytes of a frame's tag and length.
    public static let frameHeadByteCount = 5
    /// Largest frame a reader accepts, whatever its length field claims.
    public static let maxFrameBytes = 16 << 20
    /// The media type of a snapshot stream.
    public static let contentType = "application/vnd.kotosync.snapshot"

    /// Checks the preamble (magic and version).
    public static func checkPreamble(_ bytes: some Collection<UInt8>) throws(WireError) {
        let bytes = Array(bytes)
        guard bytes.count == 5, Array(bytes.prefix(4)) == magic else { throw WireError("not a kotosync snapshot", offset: 0) }
        guard bytes[4] == version else {
            throw WireError("unsupported snapshot format version \(bytes[4]) (this node reads \(version))", offset: 4)
        }
    }

    /// Appends a frame of `tag` whose payload `write` produces.
    static func appendFrame(_ tag: UInt8, to out: inout [UInt8], _ write: (inout WireWriter) -> Void) {
        var writer = WireWriter()
        write(&writer)
        let length = UInt32(writer.bytes.count)
        out.append(tag)
        out.append(UInt8(truncatingIfNeeded: length >> 24))
        out.append(UInt8(truncatingIfNeeded: length >> 16))
        out.append(UInt8(truncatingIfNeeded: length >> 8))
        out.append(UInt8(truncatingIfNeeded: length))
        out += writer.bytes
    }

    /// The tag and payload length of a frame head (`frameHeadByteCount` bytes).
    public static func frameHead(_ bytes: some Collection<UInt8>, offset: Int) throws(WireError) -> (tag: UInt8, length: Int) {
        let head = Array(bytes)
        guard head.count == frameHeadByteCount else { throw WireError("snapshot cut off inside a frame head", offset: offset) }
        let length = Int(head[1]) << 24 | Int(head[2]) << 16 | Int(head[3]) << 8 | Int(head[4])
        guard [headerTag, rowTag, endTag].contains(head[0]) else { throw WireError("unknown snapshot frame \(head[0])", offset: offset) }
        guard length <= maxFrameBytes else { throw WireError("snapshot frame of \(length) bytes is too large", offset: offset) }
        return (head[0], length)
    }

    // MARK: Header

    public static func appendHeader(_ header: SnapshotHeader, to out: inout [UInt8]) {
        appendFrame(headerTag, to: &out) { writer in
            writer.uint(UInt64(header.schemaVersion))
            writer.string(header.sender)
            writer.uint(header.createdMillis)
            writer.uint(header.hlc.rawValue)
            writer.clock(header.versionVector)
            writer.uint(UInt64(header.heads.count))
            for (origin, head) in header.heads.sorted(by: { $0.key < $1.key }) {
                precondition(head.hash.count == ChainFormat.hashByteCount && head.signature.count == ChainFormat.signatureByteCount,
                             "a signed chain head is a 32-byte link and a 64-byte signature")
                writer.string(origin)
                writer.uint(head.seq)
                writer.bytes += head.hash
                writer.bytes += head.signature
            }
            writer.bytes += header.stateDigest.bytes
            writer.bytes.append(header.digestProvisional ? 1 : 0)
            writer.uint(header.rowCount)
        }
    }

    public static func decodeHeader(_ payload: [UInt8]) throws(WireError) -> SnapshotHeader {
        var reader = WireReader(payload)
        let schemaOffset = reader.offset
        let schema = try reader.uint()
        guard schema <= UInt64(Int32.max) else { throw WireError("invalid schema version", offset: schemaOffset) }
        let sender = try reader.nodeID()
        let created = try reader.uint()
        let hlc = HLC(rawValue: try reader.uint())
        let vector = try reader.clock()
        let headsOffset = reader.offset
        let headCount = try reader.uint()
        guard headCount <= UInt64(WireFormat.maxOrigins), headCount <= UInt64(reader.remaining / 97 + 1) else {
            throw WireError("too many chain heads", offset: headsOffset)
        }
        var heads: [String: SignedChainHead] = [:]
        for _ in 0..<headCount {
            let entryOffset = reader.offset
            let origin = try reader.nodeID()
            let seq = try reader.uint()
            let hash = Array(try reader.take(ChainFormat.hashByteCount))
            let signature = Array(try reader.take(ChainFormat.signatureByteCount))
            guard seq > 0, heads[origin] == nil else { throw WireError("invalid chain head", offset: entryOffset) }
            heads[origin] = SignedChainHead(seq: seq, hash: hash, signature: signature)
        }
        let digest = StateDigest(bytes: Array(try reader.take(32)))
        let flagOffset = reader.offset
        let provisional = try reader.byte()
        guard provisional <= 1 else { throw WireError("invalid provisional flag", offset: flagOffset) }
        let rowCount = try reader.uint()
        guard reader.remaining == 0 else { throw WireError("trailing bytes after the snapshot header", offset: reader.offset) }
        return SnapshotHeader(schemaVersion: Int(schema), sender: sender, createdMillis: created, hlc: hlc, versionVector: vector,
                              heads: heads, stateDigest: digest, digestProvisional: provisional == 1, rowCount: rowCount)
    }

    // MARK: Rows

    public static func appendRow(_ kind: RecordKind, id: UUID, state: RowState, to out: inout [UInt8]) {
        appendRow(OrderedSnapshotRow(kind: kind, id: id, state: state), to: &out)
    }

    /// The same bytes from a row in schema order (as the writer reads it from its table).
    public static func appendRow(_ row: OrderedSnapshotRow, to out: inout [UInt8]) {
        appendFrame(rowTag, to: &out) { writer in
            writer.bytes.append(row.kind.wireTag)
            withUnsafeBytes(of: row.id.uuid) { writer.bytes += $0 }
            writer.bytes.append((row.erased ? 1 : 0) | (row.awaitingErase ? 2 : 0))
            writer.clock(row.rowClock)
            guard !row.erased else { return }
            let stamps = row.row.stamps
            var count = 0
            for stamp in stamps where stamp != nil { count += 1 }
            writer.uint(UInt64(count))
            let specs = row.kind.fields
            for index in stamps.indices {
                guard let stamp = stamps[index] else { continue }
                writer.uint(UInt64(index))
                writer.value(row.row.values[index])
                writer.stamp(stamp)
                let losers = row.conflicts.isEmpty ? [] : row.conflicts[specs[index].name] ?? []
                writer.uint(UInt64(losers.count))
                for entry in losers {
                    writer.value(entry.value)
                    writer.stamp(entry.stamp)
                }
            }
        }
    }

    public static func decodeRow(_ payload: [UInt8]) throws(WireError) -> SnapshotRow {
        let row = try decodeOrderedRow(payload)
        return SnapshotRow(kind: row.kind, id: row.id, state: row.state)
    }

    /// A row frame's payload in schema order: values and stamps by field
    /// index, so an import looks no field up by name.
    public static func decodeOrderedRow(_ payload: [UInt8]) throws(WireError) -> OrderedSnapshotRow {
        var reader = WireReader(payload)
        guard let kind = RecordKind(wireTag: try reader.byte()) else { throw WireError("unknown record kind", offset: 0) }
        let id = try reader.take(16).withUnsafeBytes { raw in UUID(uuid: raw.loadUnaligned(as: uuid_t.self)) }
        let flagsOffset = reader.offset
        let flags = try reader.byte()
        guard flags & ~3 == 0, flags != 3 else { throw WireError("invalid row flags", offset: flagsOffset) }
        let specs = kind.fields
        var row = OrderedSnapshotRow(kind: kind, id: id, row: OrderedRow(fieldCount: specs.count), rowClock: try reader.clock(),
                                     erased: flags & 1 != 0, awaitingErase: flags & 2 != 0)
        if !row.erased {
            let countOffset = reader.offset
            let count = try reader.uint()
            guard count <= UInt64(specs.count) else { throw WireError("too many fields", offset: countOffset) }
            var origins = OriginCache()
            var previous = -1
            for _ in 0..<count {
                let indexOffset = reader.offset
                let index = try reader.uint()
                guard index < UInt64(specs.count), Int(index) > previous else {
                    throw WireError("field index out of order or outside the schema", offset: indexOffset)
                }
                previous = Int(index)
                let spec = specs[Int(index)]
                row.row.values[Int(index)] = try reader.value(for: spec)
                row.row.stamps[Int(index)] = try reader.stamp(&origins)
                let losersOffset = reader.offset
                let losers = try reader.uint()
                guard losers <= UInt64(reader.remaining) else { throw WireError("too many conflict entries", offset: losersOffset) }
                if losers > 0 {
                    var entries: [FrontierEntry] = []
                    for _ in 0..<losers {
                        let value = try reader.value(for: spec)
                        entries.append(FrontierEntry(stamp: try reader.stamp(&origins), value: value))
                    }
                    row.conflicts[spec.name] = entries
                }
            }
        }
        guard reader.remaining == 0 else { throw WireError("trailing bytes after a snapshot row", offset: reader.offset) }
        return row
    }

    // MARK: End

    public static func appendEnd(rowCount: UInt64, sha256: [UInt8], to out: inout [UInt8]) {
        precondition(sha256.count == 32, "a SHA-256 digest is 32 bytes")
        appendFrame(endTag, to: &out) { writer in
            writer.uint(rowCount)
            writer.bytes += sha256
        }
    }

    public static func decodeEnd(_ payload: [UInt8]) throws(WireError) -> (rowCount: UInt64, sha256: [UInt8]) {
        var reader = WireReader(payload)
        let count = try reader.uint()
        let sha = Array(try reader.take(32))
        guard reader.remaining == 0 else { throw WireError("trailing bytes after the snapshot end", offset: reader.offset) }
        return (count, sha)
    }
}

/// The origin a row's stamps named last: most stamps of a row share one, so
/// its bytes are compared instead of decoding and validating the string again.
struct OriginCache {
    var bytes: ArraySlice<UInt8> = []
    var origin = ""
}

extension WireReader {
    mutating func stamp(_ cache: inout OriginCache) throws(WireError) -> FieldStamp {
        let hlc = HLC(rawValue: try uint())
        let start = offset
        let length = try uint()
        let origin: String
        if length > 0, length == UInt64(cache.bytes.count), length <= UInt64(remaining),
           bytes[offset..<offset + Int(length)].elementsEqual(cache.bytes) {
            offset += Int(length)
            origin = cache.origin
        } else {
            offset = start
            origin = try nodeID()
            cache = OriginCache(bytes: bytes[(offset - origin.utf8.count)..<offset], origin: origin)
        }
        let seqOffset = offset
        let seq = try uint()
        guard seq > 0 else { throw WireError("a stamp's seq must be positive", offset: seqOffset) }
        return FieldStamp(hlc: hlc, dot: Dot(origin: origin, seq: seq))
    }
}
