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
/// is the row's clock as the origin saw it just after writing (it covers `dot`).
public struct Change: Hashable, Sendable {
    public let dot: Dot
    public let hlc: HLC
    public let record: RecordKind
    public let rowID: UUID
    public let kind: ChangeKind
    public let fields: FieldMap
    public let rowClock: RowClock

    public init(dot: Dot, hlc: HLC, record: RecordKind, rowID: UUID, kind: ChangeKind, fields: FieldMap, rowClock: RowClock) {
        self.dot = dot
        self.hlc = hlc
        self.record = record
        self.rowID = rowID
        self.kind = kind
        self.fields = fields
        self.rowClock = rowClock
    }

    /// The same change with its payload purged (after the row was erased):
    /// the entry stays in the log so relaying keeps its order.
    public var purged: Change {
        Change(dot: dot, hlc: hlc, record: record, rowID: rowID, kind: kind, fields: [:], rowClock: rowClock)
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
