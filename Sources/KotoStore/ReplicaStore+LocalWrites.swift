public import Foundation
public import KotoCore
import KotoCrypto

/// Local writes: each in one transaction with its row, stamps, log entry,
/// chain link, HLC, seq and VV; signed at the end of the transaction.
extension ReplicaStore {
    /// Groups many local writes in one transaction (imports, seed data):
    /// all of them commit together or none does. The chain is signed every
    /// `ChainFormat.maxUnsignedRun` changes and at the end.
    public func batch<T>(_ body: () throws -> T) throws -> T {
        let saved = state
        // An inner batch that fails must leave the outer one's signing progress as it was.
        let savedRun = (unsignedRun, lastUnsigned)
        batchDepth += 1
        defer { batchDepth -= 1 }
        if batchDepth == 1 {
            unsignedRun = 0
            lastUnsigned = nil
        }
        do {
            let result = try database.transaction {
                let result = try body()
                if batchDepth == 1 {
                    // The node's own VV entry, node state and closing signature, once for the whole batch.
                    if let last = lastUnsigned {
                        try database.run("UPDATE change_log SET signature = ? WHERE pos = ?",
                                         .blob(try sign(last.chainHash)), .integer(Int64(last.position)))
                        lastUnsigned = nil
                        unsignedRun = 0
                    }
                    try saveOwnProgress(state)
                }
                return result
            }
            if batchDepth == 1 { wipeErasedContentIfPending() }
            return result
        } catch {
            state = saved
            (unsignedRun, lastUnsigned) = batchDepth == 1 ? (0, nil) : savedRun
            throw error
        }
    }

    private func saveOwnProgress(_ next: NodeState) throws {
        try saveVersionVectorEntry(nodeID, next)
        try saveNodeState(next)
    }

    func sign(_ chainHash: [UInt8]) throws -> [UInt8] {
        try identity.signingKey.sign(ChainFormat.signedMessage(chainHash))
    }

    /// Creates a record with every field of its kind (absent ones null).
    @discardableResult
    public func create(_ kind: RecordKind, id: UUID = UUID(), fields: FieldMap) throws -> Change {
        try writeLocally(kind, id: id, operation: .create(fields))
    }

    /// Writes only the given fields of an existing, not deleted record.
    @discardableResult
    public func update(_ kind: RecordKind, id: UUID, fields: FieldMap) throws -> Change {
        try writeLocally(kind, id: id, operation: .update(fields))
    }

    /// Hides the record (writes `deleted = true`).
    @discardableResult
    public func delete(_ kind: RecordKind, id: UUID) throws -> Change {
        try writeLocally(kind, id: id, operation: .delete)
    }

    /// Shows a deleted record again (writes `deleted = false`).
    @discardableResult
    public func restore(_ kind: RecordKind, id: UUID) throws -> Change {
        try writeLocally(kind, id: id, operation: .restore)
    }

    /// Clears the record's fields for good and purges them from the log.
    @discardableResult
    public func erase(_ kind: RecordKind, id: UUID) throws -> Change {
        try writeLocally(kind, id: id, operation: .erase)
    }

    /// Closes the open conflict on one field by writing `value` to it (one
    /// of the frontier's values or a new one). Like every local write, the
    /// change's row clock is the row's clock here: it covers every write to
    /// the row this replica holds, so the whole frontier of the field, and
    /// the merge drops those entries on every replica the change reaches.
    /// Refused (`ConflictNotOpen`) when no conflict is open on the field
    /// here. Works on a deleted record too (its conflicts stay visible);
    /// `deleted` itself is resolved by writing true or false.
    @discardableResult
    public func resolveConflict(_ kind: RecordKind, id: UUID, field: String, value: FieldValue) throws -> Change {
        try writeLocally(kind, id: id, operation: .resolve(field: field, value: value))
    }

    enum LocalOperation {
        case create(FieldMap), update(FieldMap), delete, restore, erase
        case resolve(field: String, value: FieldValue)
    }

    /// A create's full field map: every field of the kind, `deleted` false.
    private static func fullCreate(_ fields: FieldMap, kind: RecordKind) -> (written: FieldMap, all: FieldMap) {
        var fields = fields
        // A full record may carry `deleted: false`; a new record is never deleted.
        if fields[deletedFieldName] == .bool(false) || fields[deletedFieldName] == .null { fields[deletedFieldName] = nil }
        var all = FieldMap(minimumCapacity: kind.fields.count + 1)
        var known = 0
        for spec in kind.fields {
            if let value = fields[spec.name] {
                all[spec.name] = value
                known += 1
            } else {
                all[spec.name] = .null
            }
        }
        // Names outside the schema are kept for validation to refuse; only looked for when there are some.
        if known < fields.count {
            for (name, value) in fields where kind.field(named: name) == nil { all[name] = value }
        }
        all[deletedFieldName] = .bool(false)
        return (fields, all)
    }

    private func writeLocally(_ kind: RecordKind, id: UUID, operation: LocalOperation) throws -> Change {
        if let fork = state.ownFork { throw ReplicaStoreError.ownChainForked(fork) }
        var next = state
        let change: Change = try database.transaction {
            var row = try rows.load(kind, id: id.lowercased)
            let written: FieldMap
            var changeKind = ChangeKind.upsert
            switch operation {
            case .create(let fields):
                guard !row.exists else { throw ReplicaStoreError.alreadyExists(kind, id) }
                let (checked, all) = Self.fullCreate(fields, kind: kind)
                try checkWritable(checked, full: all, kind: kind)
                written = all
            case .update(let fields):
                try requireLive(row, kind, id)
                guard !fields.isEmpty else {
                    throw ReplicaStoreError.invalid([FieldProblem(field: "(fields)", reason: "an update must write at least one field")])
                }
                var full = row.state.fields
                for (name, value) in fields { full[name] = value }
                try checkWritable(fields, full: full, kind: kind)
                written = fields
            case .delete:
                try requireLive(row, kind, id)
                written = [deletedFieldName: .bool(true)]
                changeKind = .delete
            case .restore:
                guard row.exists else { throw ReplicaStoreError.notFound(kind, id) }
                guard !row.state.erased && !row.state.awaitingErase else { throw ReplicaStoreError.erased(kind, id) }
                written = [deletedFieldName: .bool(false)]
            case .erase:
                guard row.exists else { throw ReplicaStoreError.notFound(kind, id) }
                guard !row.state.erased else { throw ReplicaStoreError.erased(kind, id) }
                written = [:]
                changeKind = .erase
            case .resolve(let field, let value):
                guard row.exists, !row.state.erased, !row.state.awaitingErase, kind.field(named: field) != nil,
                      row.state.conflicts[field]?.isEmpty == false else {
                    throw ConflictNotOpen(kind: kind, id: id, field: field)
                }
                try checkResolution(field, value, row: row.state, kind: kind)
                written = [field: value]
                if field == deletedFieldName, value == .bool(true) { changeKind = .delete }
            }
            next.seq += 1
            let dot = Dot(origin: nodeID, seq: next.seq)
            let hlc = next.clock.tick(nowMillis: options.now())
            var rowClock = row.state.rowClock
            rowClock.advance(to: dot)
            let unlinked = Change(dot: dot, hlc: hlc, record: kind, rowID: id, kind: changeKind, fields: written, rowClock: rowClock)
            let payload = ChainFormat.payload(unlinked)
            let payloadDigest = SHA256.hash(payload)
            let link = SHA256.hash(parts: [next.heads[nodeID] ?? ChainFormat.genesis, ChainFormat.header(unlinked), payloadDigest])
            // Signed at the end of every local transaction, and every 256th change inside a long one.
            var signature: [UInt8]?
            if batchDepth == 0 || unsignedRun + 1 >= ChainFormat.maxUnsignedRun {
                signature = try sign(link)
            }
            let change = unlinked.linked(chainHash: link, signature: signature)
            next.versionVector.advance(to: dot)
            next.heads[nodeID] = link
            try rows.merge(change, payload: payload, payloadDigest: payloadDigest, into: &row, state: &next, now: Int64(options.now()))
            if batchDepth == 0 {
                try saveOwnProgress(next)
            } else if signature == nil {
                unsignedRun += 1
                lastUnsigned = (next.logEnd, link)
            } else {
                unsignedRun = 0
                lastUnsigned = nil
            }
            return change
        }
        state = next
        if batchDepth == 0 { wipeErasedContentIfPending() }
        return change
    }

    private func requireLive(_ row: LoadedRow, _ kind: RecordKind, _ id: UUID) throws {
        guard row.exists else { throw ReplicaStoreError.notFound(kind, id) }
        // A row awaiting the erase of a purged change is being erased.
        guard !row.state.erased && !row.state.awaitingErase else { throw ReplicaStoreError.erased(kind, id) }
        guard !row.state.isDeleted else { throw ReplicaStoreError.notFound(kind, id) }
    }

    /// The problems a create of `fields` would be refused with (schema,
    /// `deleted`, references), without writing anything.
    public func problems(creating kind: RecordKind, fields: FieldMap) throws -> [FieldProblem] {
        let (checked, all) = Self.fullCreate(fields, kind: kind)
        return try problems { try checkWritable(checked, full: all, kind: kind) }
    }

    /// The problems an update of `fields` would be refused with, without writing.
    public func problems(updating kind: RecordKind, id: UUID, fields: FieldMap) throws -> [FieldProblem] {
        let row = try rows.load(kind, id: id.lowercased)
        try requireLive(row, kind, id)
        var full = row.state.fields
        for (name, value) in fields { full[name] = value }
        return try problems { try checkWritable(fields, full: full, kind: kind) }
    }

    private func problems(_ check: () throws -> Void) throws -> [FieldProblem] {
        do {
            try check()
            return []
        } catch ReplicaStoreError.invalid(let problems) {
            return problems
        }
    }

    /// Validation of a resolution: `deleted` takes true or false; any other
    /// field the problems the write would bring to the record (a problem of
    /// the field itself always counts; one the merged record already had
    /// elsewhere does not block closing the conflict).
    private func checkResolution(_ field: String, _ value: FieldValue, row: RowState, kind: RecordKind) throws {
        if field == deletedFieldName {
            guard value.bool != nil else {
                throw ReplicaStoreError.invalid([FieldProblem(field: field, reason: "must be true or false")])
            }
            return
        }
        var full = row.fields
        full[field] = value
        do {
            try checkWritable([field: value], full: full, kind: kind)
        } catch ReplicaStoreError.invalid(let problems) {
            let before = Set(validator.problems(in: row.fields, kind: kind))
            let brought = problems.filter { $0.field == field || !before.contains($0) }
            if !brought.isEmpty { throw ReplicaStoreError.invalid(brought) }
        }
    }

    /// Validation of a local write: the schema's rules on the whole resulting
    /// record, `deleted` kept to its own operations, and references that must
    /// resolve in this replica.
    private func checkWritable(_ written: FieldMap, full: FieldMap, kind: RecordKind) throws {
        var problems: [FieldProblem] = []
        if written[deletedFieldName] != nil {
            problems.append(FieldProblem(field: deletedFieldName, reason: "is set by delete and restore only"))
        }
        problems += validator.problems(in: full, kind: kind).filter { $0.field != deletedFieldName || written[deletedFieldName] == nil }
        if kind == .placement {
            for (name, target) in [("clientId", RecordKind.client), ("serviceId", RecordKind.service)] {
                guard written[name] != nil, let text = full[name]?.text, let id = UUID(uuidString: text),
                      !problems.contains(where: { $0.field == name }) else { continue }
                let referenced = try rows.load(target, id: id.lowercased)
                if !referenced.exists || referenced.state.erased || referenced.state.isDeleted {
                    problems.append(FieldProblem(field: name, reason: "no such \(target.rawValue)"))
                }
            }
        }
        if !problems.isEmpty { throw ReplicaStoreError.invalid(problems) }
    }
}
