/// A node's stable identity (its municipality slug) and the rules for it.
public enum NodeID {
    /// 1–64 characters of `a-z`, `0-9`, `-` and `_`: safe in URLs, logs and file names.
    public static func isValid(_ id: String) -> Bool {
        let bytes = id.utf8
        return (1...64).contains(bytes.count) && bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }
}

/// Names one change uniquely and forever: the node that wrote it and that
/// node's counter at the time. Never reused (see "Never reuse a dot").
public struct Dot: Hashable, Sendable, CustomStringConvertible {
    public let origin: String
    public let seq: UInt64

    public init(origin: String, seq: UInt64) {
        self.origin = origin
        self.seq = seq
    }

    public var description: String { "\(origin):\(seq)" }
}

/// Hybrid logical clock timestamp, packed as `wall milliseconds << 16 | counter`
/// so that one integer comparison orders timestamps and `+ 1` is "next".
public struct HLC: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(wallMillis: UInt64, counter: UInt16 = 0) {
        rawValue = wallMillis << 16 | UInt64(counter)
    }

    public static let zero = HLC(rawValue: 0)

    public var wallMillis: UInt64 { rawValue >> 16 }
    public var counter: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    /// The smallest timestamp greater than this one.
    public var successor: HLC { HLC(rawValue: rawValue &+ 1) }

    public static func < (lhs: HLC, rhs: HLC) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "\(wallMillis).\(counter)" }
}

/// The node's HLC state: every local write ticks it, every received change
/// is observed, so a write that saw another always carries a greater stamp.
public struct HybridClock: Sendable {
    public private(set) var last: HLC

    public init(last: HLC = .zero) { self.last = last }

    /// Timestamp for a local write: `max(now, last + 1)`.
    public mutating func tick(nowMillis: UInt64) -> HLC {
        last = max(HLC(wallMillis: nowMillis), last.successor)
        return last
    }

    /// A received change: `last = max(last, received)`.
    public mutating func observe(_ received: HLC) {
        last = max(last, received)
    }
}

/// `origin -> highest seq held`. Delivery is causal, so this describes the
/// held set exactly. Also used as a row clock (per row, the highest seq of
/// each origin's changes to the row that the writer had seen).
public struct VersionVector: Hashable, Sendable, CustomStringConvertible {
    public private(set) var entries: [String: UInt64]

    public init(_ entries: [String: UInt64] = [:]) {
        self.entries = entries.filter { $0.value > 0 }
    }

    public subscript(origin: String) -> UInt64 {
        entries[origin] ?? 0
    }

    public var isEmpty: Bool { entries.isEmpty }

    public func covers(_ dot: Dot) -> Bool {
        self[dot.origin] >= dot.seq
    }

    /// True when every change `other` describes is also described here.
    public func covers(_ other: VersionVector) -> Bool {
        other.entries.allSatisfy { self[$0.key] >= $0.value }
    }

    /// Raises the entry for the dot's origin to the dot's seq (never lowers it).
    public mutating func advance(to dot: Dot) {
        if dot.seq > self[dot.origin] { entries[dot.origin] = dot.seq }
    }

    /// Pointwise maximum.
    public mutating func formUnion(_ other: VersionVector) {
        for (origin, seq) in other.entries where seq > self[origin] {
            entries[origin] = seq
        }
    }

    public func union(_ other: VersionVector) -> VersionVector {
        var result = self
        result.formUnion(other)
        return result
    }

    /// Pointwise minimum over origins present in both (the floor peers share).
    public func intersection(_ other: VersionVector) -> VersionVector {
        VersionVector(entries.reduce(into: [:]) { result, entry in
            result[entry.key] = min(entry.value, other[entry.key])
        })
    }

    /// Entries sorted by origin: a canonical order for dumps and the wire.
    public var sorted: [(origin: String, seq: UInt64)] {
        entries.sorted { $0.key < $1.key }.map { (origin: $0.key, seq: $0.value) }
    }

    public var description: String {
        "{" + sorted.map { "\($0.origin):\($0.seq)" }.joined(separator: ",") + "}"
    }
}

/// Per row: for each origin, the highest seq of a change to this row the writer had seen.
public typealias RowClock = VersionVector
