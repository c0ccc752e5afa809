/// Who wrote a field's value: the order `(hlc, origin)` decides the winner.
public struct FieldStamp: Hashable, Sendable {
    public let hlc: HLC
    public let dot: Dot

    public init(hlc: HLC, dot: Dot) {
        self.hlc = hlc
        self.dot = dot
    }

    /// The merge rule: greater `(hlc, origin)` wins. Never wall-clock time.
    public func wins(over other: FieldStamp) -> Bool {
        (hlc, dot.origin) > (other.hlc, other.dot.origin)
    }
}

/// One write in a field's frontier: a write no other held write to the field has seen.
public struct FrontierEntry: Hashable, Sendable {
    public let stamp: FieldStamp
    public let value: FieldValue

    public init(stamp: FieldStamp, value: FieldValue) {
        self.stamp = stamp
        self.value = value
    }
}

/// What the merge did to a row, so the store writes only what changed.
public struct RowEffect: Sendable, Equatable {
    /// Fields whose winning value or stamp changed.
    public var changedFields: Set<String> = []
    /// Fields whose open conflicts changed.
    public var conflictFields: Set<String> = []
    /// The change erased the row just now.
    public var erasedNow = false
    /// The row was already erased; the change altered no value.
    public var absorbedByErase = false
    /// `awaitingErase` flipped (a purged change arrived, or the erase did).
    public var awaitingEraseChanged = false
}

/// A row as the merge sees it: winning values and stamps, the row clock,
/// and, per field, the rest of the frontier (open conflicts).
public struct RowState: Sendable, Equatable {
    public var fields: FieldMap
    public var stamps: [String: FieldStamp]
    public var rowClock: RowClock
    public var erased: Bool
    /// Non-winning frontier entries per field; a field with none is absent.
    public var conflicts: [String: [FrontierEntry]]
    /// A purged change of this row is held but not yet the erase that purged
    /// it: the row is about to be erased, and this replica's state digest is
    /// provisional until then.
    public var awaitingErase: Bool

    public init(fields: FieldMap = [:], stamps: [String: FieldStamp] = [:], rowClock: RowClock = RowClock(),
                erased: Bool = false, conflicts: [String: [FrontierEntry]] = [:], awaitingErase: Bool = false) {
        self.fields = fields
        self.stamps = stamps
        self.rowClock = rowClock
        self.erased = erased
        self.conflicts = conflicts
        self.awaitingErase = awaitingErase
    }

    /// A row no change has touched.
    public static let empty = RowState()

    public var isDeleted: Bool { fields[deletedFieldName]?.bool == true }

    /// Merges one change into the row. Commutative, associative and
    /// idempotent over causally delivered changes: each field's frontier
    /// drops the writes the incoming row clock covers, the incoming write
    /// joins, and the greatest `(hlc, origin)` is the value.
    @discardableResult
    public mutating func apply(_ change: Change) -> RowEffect {
        var effect = RowEffect()
        rowClock.formUnion(change.rowClock)
        rowClock.advance(to: change.dot)
        if erased {
            effect.absorbedByErase = true
            return effect
        }
        // A purged change writes nothing: it advances the row clock (above)
        // and waits for the erase that purged it, which follows in the
        // sender's log order. It never erases the row on its own, or a relay
        // that strips a payload could erase a row.
        if change.isPurged {
            if !awaitingErase {
                awaitingErase = true
                effect.awaitingEraseChanged = true
            }
            return effect
        }
        if change.kind == .erase {
            effect.changedFields = Set(fields.keys).union(stamps.keys)
            effect.conflictFields = Set(conflicts.keys)
            effect.erasedNow = true
            effect.awaitingEraseChanged = awaitingErase
            erased = true
            awaitingErase = false
            fields = [:]
            stamps = [:]
            conflicts = [:]
            return effect
        }
        let incomingStamp = FieldStamp(hlc: change.hlc, dot: change.dot)
        if stamps.isEmpty {
            // A row's first write (a create): take the map whole, no per-field merge.
            fields = change.fields
            stamps = change.fields.mapValues { _ in incomingStamp }
            effect.changedFields = Set(change.fields.keys)
            return effect
        }
        for (name, value) in change.fields {
            let previousConflicts = conflicts.isEmpty ? nil : conflicts[name]
            guard let current = stamps[name] else {
                // First write to this field anywhere this row has seen.
                fields[name] = value
                stamps[name] = incomingStamp
                effect.changedFields.insert(name)
                continue
            }
            if previousConflicts == nil, change.rowClock.covers(current.dot) {
                // The common case: the incoming write saw the only frontier entry.
                fields[name] = value
                stamps[name] = incomingStamp
                effect.changedFields.insert(name)
                continue
            }
            var frontier = previousConflicts ?? []
            frontier.append(FrontierEntry(stamp: current, value: fields[name] ?? .null))
            frontier.removeAll { change.rowClock.covers($0.stamp.dot) }
            frontier.append(FrontierEntry(stamp: incomingStamp, value: value))
            var winnerIndex = 0
            for index in frontier.indices.dropFirst() where frontier[index].stamp.wins(over: frontier[winnerIndex].stamp) {
                winnerIndex = index
            }
            let winner = frontier.remove(at: winnerIndex)
            if winner.stamp != current {
                fields[name] = winner.value
                stamps[name] = winner.stamp
                effect.changedFields.insert(name)
            }
            let remaining = frontier.isEmpty ? nil : frontier
            if remaining != previousConflicts {
                conflicts[name] = remaining
                effect.conflictFields.insert(name)
            } else if winner.stamp != current && remaining != nil {
                // Same losers, new winner: their recorded winner dot changed.
                effect.conflictFields.insert(name)
            }
        }
        return effect
    }
}

/// A row's winning values and stamps in schema order (by field index):
/// looked up by name once, then read by index for the row digest, the
/// stamps' encoding and the row's columns.
public struct OrderedRow: Sendable, Equatable {
    /// Each field's value, `.null` where the row holds none.
    public var values: [FieldValue]
    /// Each field's winning stamp, nil for a field never written.
    public var stamps: [FieldStamp?]

    /// A row of `fieldCount` fields none of which was ever written.
    public init(fieldCount: Int) {
        values = Array(repeating: .null, count: fieldCount)
        stamps = Array(repeating: nil, count: fieldCount)
    }

    public init(_ state: RowState, kind: RecordKind) {
        let specs = kind.fields
        values = []
        values.reserveCapacity(specs.count)
        stamps = []
        stamps.reserveCapacity(specs.count)
        for spec in specs {
            values.append(state.fields[spec.name] ?? .null)
            stamps.append(state.stamps.isEmpty ? nil : state.stamps[spec.name])
        }
    }
}
