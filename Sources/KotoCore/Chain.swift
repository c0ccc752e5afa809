public import Foundation

/// The bytes that are hashed and signed to chain each origin's changes
/// (see "Identity and integrity" in the design brief). Core defines the
/// bytes; the store hashes and signs them with libcrypto.
///
///     link(n)   = SHA-256(link(n-1) || header(n) || SHA-256(payload(n)))
///     link(0)   = 32 zero bytes (before an origin's first change)
///     header    = "KSCH" 1 origin:str seq:uint hlc:uint record:u8 rowID:16 kind:u8 rowClock
///     payload   = the written fields in the wire encoding (schema order)
///     signature = Ed25519 over "kotosync-chain-v1" 0x00 link(n)
public enum ChainFormat {
    /// The link before an origin's first change.
    public static let genesis = [UInt8](repeating: 0, count: 32)
    public static let hashByteCount = 32
    public static let signatureByteCount = 64
    /// Signed every this many changes inside one long local transaction.
    public static let maxUnsignedRun = 256
    static let headerTag: [UInt8] = Array("KSCH".utf8) + [1]
    static let signatureDomain: [UInt8] = Array("kotosync-chain-v1".utf8) + [0]

    /// Canonical encoding of everything but the payload: dot, HLC, table,
    /// row, kind and row clock (origins sorted).
    public static func header(_ change: Change) -> [UInt8] {
        var writer = WireWriter()
        writer.bytes.reserveCapacity(64 + change.rowClock.entries.count * 12)
        writer.bytes += headerTag
        writer.string(change.dot.origin)
        writer.uint(change.dot.seq)
        writer.uint(change.hlc.rawValue)
        writer.bytes.append(change.record.wireTag)
        withUnsafeBytes(of: change.rowID.uuid) { writer.bytes += $0 }
        writer.bytes.append(change.kind.rawValue)
        writer.clock(change.rowClock)
        return writer.bytes
    }

    /// The payload whose digest enters the link (meaningless for a purged change).
    public static func payload(_ change: Change) -> [UInt8] {
        WireFormat.encodeFields(change.fields, record: change.record)
    }

    /// The message an origin signs for a link.
    public static func signedMessage(_ chainHash: [UInt8]) -> [UInt8] {
        signatureDomain + chainHash
    }
}

/// The last link of one origin's chain that a node holds: at its version
/// vector's entry for that origin. Pulls carry these so forks are seen.
public struct ChainHead: Hashable, Sendable, CustomStringConvertible {
    public let seq: UInt64
    public let hash: [UInt8]

    public init(seq: UInt64, hash: [UInt8]) {
        self.seq = seq
        self.hash = hash
    }

    public var description: String { "\(seq):" + hexString(hash.prefix(6)) }
}

/// An order-independent digest of the merged state: the sum, modulo
/// 2^256, of every row's SHA-256 (`RowDigestFormat`), so a write subtracts
/// the row's old digest and adds its new one. Big-endian 32 bytes.
public struct StateDigest: Hashable, Sendable, CustomStringConvertible {
    public private(set) var bytes: [UInt8]

    public static let zero = StateDigest(bytes: [UInt8](repeating: 0, count: 32))

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a state digest is 32 bytes")
        self.bytes = bytes
    }

    public init?(hex: String) {
        guard let bytes = KotoCore.bytes(fromHex: hex), bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    public var hex: String { hexString(bytes) }

    public var description: String { hex }

    /// Adds a row digest (mod 2^256).
    public mutating func add(_ rowDigest: [UInt8]) {
        precondition(rowDigest.count == 32)
        var carry: UInt16 = 0
        for index in stride(from: 31, through: 0, by: -1) {
            let sum = UInt16(bytes[index]) + UInt16(rowDigest[index]) + carry
            bytes[index] = UInt8(truncatingIfNeeded: sum)
            carry = sum >> 8
        }
    }

    /// Subtracts a row digest (mod 2^256).
    public mutating func subtract(_ rowDigest: [UInt8]) {
        precondition(rowDigest.count == 32)
        var borrow: Int16 = 0
        for index in stride(from: 31, through: 0, by: -1) {
            var difference = Int16(bytes[index]) - Int16(rowDigest[index]) - borrow
            borrow = 0
            if difference < 0 {
                difference += 256
                borrow = 1
            }
            bytes[index] = UInt8(difference)
        }
    }
}

/// The canonical bytes of one row's merged state that the state digest
/// hashes: kind, id, erased, and per field (schema order) the winner's
/// value and stamp and the rest of the frontier, sorted. Local-only facts
/// (when a conflict was first seen, the row clock) stay out: two replicas
/// holding the same changes produce the same bytes.
public enum RowDigestFormat {
    static let tag: [UInt8] = Array("KSRD".utf8) + [1]

    public static func bytes(_ kind: RecordKind, id: UUID, state: RowState) -> [UInt8] {
        bytes(kind, id: id, ordered: OrderedRow(state, kind: kind), conflicts: state.conflicts, erased: state.erased)
    }

    /// The same bytes from the row in schema order (the store's merge has it
    /// so already): no lookup by field name except for fields with open conflicts.
    public static func bytes(_ kind: RecordKind, id: UUID, ordered row: OrderedRow, conflicts: [String: [FrontierEntry]],
                             erased: Bool) -> [UInt8] {
        var writer = WireWriter()
        writer.bytes.reserveCapacity(640)
        writer.bytes += tag
        writer.bytes.append(kind.wireTag)
        withUnsafeBytes(of: id.uuid) { writer.bytes += $0 }
        writer.bytes.append(erased ? 1 : 0)
        guard !erased else { return writer.bytes }
        let specs = kind.fields
        for index in specs.indices {
            guard let stamp = row.stamps[index] else { continue }
            writer.uint(UInt64(index))
            writer.value(row.values[index])
            writer.stamp(stamp)
            guard !conflicts.isEmpty, let entries = conflicts[specs[index].name], !entries.isEmpty else {
                writer.uint(0)
                continue
            }
            let losers = entries.sorted {
                ($0.stamp.hlc, $0.stamp.dot.origin, $0.stamp.dot.seq) < ($1.stamp.hlc, $1.stamp.dot.origin, $1.stamp.dot.seq)
            }
            writer.uint(UInt64(losers.count))
            for entry in losers {
                writer.value(entry.value)
                writer.stamp(entry.stamp)
            }
        }
        return writer.bytes
    }
}

extension WireWriter {
    mutating func stamp(_ stamp: FieldStamp) {
        uint(stamp.hlc.rawValue)
        string(stamp.dot.origin)
        uint(stamp.dot.seq)
    }
}

/// Lowercase hex of some bytes (digests in status answers and messages).
public func hexString(_ bytes: some Collection<UInt8>) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// The bytes of a lowercase or uppercase hex string, nil if it is not one.
public func bytes(fromHex hex: String) -> [UInt8]? {
    let utf8 = Array(hex.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    func nibble(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    var out: [UInt8] = []
    out.reserveCapacity(utf8.count / 2)
    for index in stride(from: 0, to: utf8.count, by: 2) {
        guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
        out.append(high << 4 | low)
    }
    return out
}
