public import Foundation

public enum ChangeKind: UInt8, Hashable, Sendable, CaseIterable {
    /// Writes some fields (create, update, restore).
    case upsert = 1
    /// Writes `deleted = true`; merges like any field write.
    case delete = 2
    /// Absorbing: clears the row's fields and purges its history's payloads.
    case erase = 3
}

/// One replicated write. `fields` holds only the fields written; `rowClock`
/// is the row's clock as the origin saw it just after writing (its entry
/// for the origin is exactly `dot.seq`).
///
/// Integrity (see "Identity and integrity" in the design brief): each
/// origin's changes form a hash chain, `chainHash = SHA-256(previous link ||
/// header || payload digest)` (bytes defined by `ChainFormat`), and the
/// origin signs the link that ends each of its local transactions. An erase
/// purges the payload of a row's earlier changes but keeps its digest, so a
/// purged change still verifies.
public struct Change: Hashable, Sendable {
    public let dot: Dot
    public let hlc: HLC
    public let record: RecordKind
    public let rowID: UUID
    public let kind: ChangeKind
    public let fields: FieldMap
    public let rowClock: RowClock
    /// Set once an erase purged this change's payload: the SHA-256 of the
    /// payload it had (`ChainFormat.payload`), so its link still verifies.
    public var purgedPayloadDigest: [UInt8]?
    /// This change's link in its origin's chain; empty until a store computed it.
    public var chainHash: [UInt8]
    /// The origin's Ed25519 signature over `ChainFormat.signedMessage(chainHash)`,
    /// on the change that ended a local transaction (and every 256th inside one).
    public var signature: [UInt8]?

    public init(dot: Dot, hlc: HLC, record: RecordKind, rowID: UUID, kind: ChangeKind, fields: FieldMap, rowClock: RowClock,
                purgedPayloadDigest: [UInt8]? = nil, chainHash: [UInt8] = [], signature: [UInt8]? = nil) {
        self.dot = dot
        self.hlc = hlc
        self.record = record
        self.rowID = rowID
        self.kind = kind
        self.fields = fields
        self.rowClock = rowClock
        self.purgedPayloadDigest = purgedPayloadDigest
        self.chainHash = chainHash
        self.signature = signature
    }

    /// True when an erase purged the payload: the change writes nothing.
    public var isPurged: Bool { purgedPayloadDigest != nil }

    /// The same change with its payload purged (after the row was erased):
    /// the entry stays in the log, with its digest, so relaying keeps its
    /// order and the chain still verifies. Erase entries have no payload to purge.
    public func purged(payloadDigest: [UInt8]) -> Change {
        guard kind != .erase else { return self }
        return Change(dot: dot, hlc: hlc, record: record, rowID: rowID, kind: kind, fields: [:], rowClock: rowClock,
                      purgedPayloadDigest: payloadDigest, chainHash: chainHash, signature: signature)
    }

    /// The same change with its link and signature.
    public func linked(chainHash: [UInt8], signature: [UInt8]?) -> Change {
        var copy = self
        copy.chainHash = chainHash
        copy.signature = signature
        return copy
    }
}

extension UUID {
    /// Lowercase canonical form: how ids are stored and compared.
    public var lowercased: String {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        return withUnsafeBytes(of: uuid) { raw in
            String(unsafeUninitializedCapacity: 36) { buffer in
                var out = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        buffer[out] = UInt8(ascii: "-")
                        out += 1
                    }
                    buffer[out] = hex[Int(raw[index] >> 4)]
                    buffer[out + 1] = hex[Int(raw[index] & 0x0f)]
                    out += 2
                }
                return out
            }
        }
    }
}
