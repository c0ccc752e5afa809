public import Foundation
public import KotoCore
public import KotoStore

/// What replicas must agree on about an open conflict: everything but the
/// node-local `firstSeenMillis`, less what `Parts` leaves out. Its
/// description never shows the value (values are personal data).
public struct ConflictFacts: Hashable, Sendable, CustomStringConvertible {
    /// The optional parts a comparison includes.
    public struct Parts: OptionSet, Hashable, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let hlc = Parts(rawValue: 1)
        public static let value = Parts(rawValue: 2)
        public static let all: Parts = [.hlc, .value]
    }

    public let record: RecordKind
    public let rowID: UUID
    public let field: String
    public let dot: Dot
    public let winner: Dot
    public let hlc: HLC?
    public let value: FieldValue?

    public init(record: RecordKind, rowID: UUID, field: String, dot: Dot, winner: Dot, hlc: HLC? = nil, value: FieldValue? = nil) {
        self.record = record
        self.rowID = rowID
        self.field = field
        self.dot = dot
        self.winner = winner
        self.hlc = hlc
        self.value = value
    }

    /// Every part of `conflict` but its `firstSeenMillis`.
    public init(_ conflict: OpenConflict) { self.init(conflict, including: .all) }

    /// `conflict` without its `firstSeenMillis` and without what `parts` leaves out.
    public init(_ conflict: OpenConflict, including parts: Parts) {
        self.init(record: conflict.record, rowID: conflict.rowID, field: conflict.field, dot: conflict.dot, winner: conflict.winner,
                  hlc: parts.contains(.hlc) ? conflict.hlc : nil, value: parts.contains(.value) ? conflict.value : nil)
    }

    public var description: String { "\(record.table)/\(rowID.lowercased).\(field) \(dot) (winner \(winner))" }
}
