/// One field's value as the merge, the wire and the store see it: the typed
/// records convert to and from this so that replication stays schema-driven.
public enum FieldValue: Hashable, Sendable {
    case null
    case text(String)
    case integer(Int64)
    case bool(Bool)

    public var isNull: Bool { self == .null }

    public var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }
}

/// The fields a change writes or a row holds, by wire name.
public typealias FieldMap = [String: FieldValue]

extension FieldValue: CustomStringConvertible {
    /// Deliberately value-free: field values may be personal data and must
    /// never reach a log line through string interpolation.
    public var description: String {
        switch self {
        case .null: "null"
        case .text: "text(…)"
        case .integer: "integer(…)"
        case .bool: "bool(…)"
        }
    }
}
