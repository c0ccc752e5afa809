import Foundation
import KotoCore
import KotoStore

/// Decides, row by row, what an import does against the replica as it is:
/// create, update the changed fields, or leave a record unchanged; or which
/// problems keep the row out. Pure reads: the writes are the caller's, in
/// one transaction, after every row was planned.
///
/// Which record a row is (so that a re-run of a file creates nothing new):
/// - its `id` column, when it has one;
/// - else a client by `clientNumber` within its `ownerMunicipality`;
/// - a service by `providerName`, `nameFi`, `nameSv` and `startDate` together;
/// - a service enrolment by `clientId` and `serviceId`, a municipal
///   placement by `clientId` and `municipality` (a second enrolment of the
///   same client in the same service needs an `id` column).
///
/// An office imports records of its own municipality only, as it writes
/// them one by one: clients it owns; services offered in it; placements of
/// its clients, into services offered in it, or to it. A row outside that is
/// a problem of the row.
struct ImportPlanner: Sendable {
    enum Action: Sendable, Equatable {
        case create(UUID, FieldMap)
        /// The fields whose values change.
        case update(UUID, FieldMap)
        case unchanged(UUID)

        var id: UUID {
            switch self {
            case .create(let id, _), .update(let id, _), .unchanged(let id): id
            }
        }
    }

    struct Planned: Sendable {
        let row: Int
        /// Nil when the row has problems.
        let action: Action?
        let problems: [RowProblem]
    }

    let kind: RecordKind
    let caller: Caller

    func plan(_ rows: [ImportRow], in store: ReplicaStore) throws -> [Planned] {
        var firstRowOfKey: [String: Int] = [:]
        var planned: [Planned] = []
        planned.reserveCapacity(rows.count)
        for var row in rows {
            var problems = row.problems
            let number = row.row
            func problem(_ column: String, _ reason: String) { problems.append(RowProblem(row: number, column: column, reason: reason)) }
            // `deleted` false or empty is every live record's; true is refused by validation below.
            if let deleted = row.fields[deletedFieldName], deleted == .bool(false) || deleted == .null { row.fields[deletedFieldName] = nil }
            if kind == .client, row.fields["ownerMunicipality"] == nil, let own = caller.municipality {
                row.fields["ownerMunicipality"] = .integer(Int64(own))
            }
            if kind == .placement { try resolveClientNumber(&row, store: store, problem: problem) }

            let target = try existing(row, store: store, problem: problem)
            if let key = target.key {
                if let earlier = firstRowOfKey[key] {
                    problem(target.keyColumn, "repeats the record of row \(earlier)")
                } else {
                    firstRowOfKey[key] = row.row
                }
            }
            var action: Action?
            if let record = target.record {
                var changed: FieldMap = [:]
                for (name, value) in row.fields where (record.fields[name] ?? .null) != value { changed[name] = value }
                try checkScope(before: record.fields, after: record.fields.merging(changed) { $1 }, row: row, store: store, problem: problem)
                if changed.isEmpty {
                    action = .unchanged(record.id)
                } else {
                    let reported = Set(problems.map(\.column))
                    for found in try store.problems(updating: kind, id: record.id, fields: changed) where !reported.contains(found.field) {
                        problem(found.field, found.reason)
                    }
                    action = .update(record.id, changed)
                }
            } else if target.blocked == false {
                try checkScope(before: nil, after: row.fields, row: row, store: store, problem: problem)
                var reported = Set(problems.map(\.column))
                // A client number that names no client already says why the client id is missing.
                if reported.contains("clientNumber") { reported.insert("clientId") }
                for found in try store.problems(creating: kind, fields: row.fields) where !reported.contains(found.field) {
                    problem(found.field, found.reason)
                }
                action = .create(row.id ?? UUID(), row.fields)
            }
            planned.append(Planned(row: row.row, action: problems.isEmpty ? action : nil, problems: problems))
        }
        return planned
    }

    // MARK: Which record

    private struct Target {
        /// The live record the row updates; nil for a create (or a blocked row).
        var record: StoredRecord?
        /// The row names a record it cannot write (deleted, erased, ambiguous): a problem was reported.
        var blocked = false
        /// The row's identity within the file, to refuse a record named twice.
        var key: String?
        var keyColumn = "id"
    }

    private func existing(_ row: ImportRow, store: ReplicaStore, problem: (String, String) -> Void) throws -> Target {
        if let id = row.id {
            var target = Target(key: "id:\(id.lowercased)")
            guard let record = try store.record(kind, id: id) else { return target }
            if record.erased || record.awaitingErase {
                problem("id", "names an erased \(kind.rawValue)")
                target.blocked = true
            } else if record.deleted {
                problem("id", "names a deleted \(kind.rawValue): restore it first")
                target.blocked = true
            } else {
                target.record = record
            }
            return target
        }
        guard let (key, column) = naturalKey(row.fields) else { return Target() }
        var query = RecordQuery()
        query.equals = key
        query.includeDeleted = true
        query.limit = 3
        let matches = try store.list(kind, query)
        let live = matches.filter { !$0.deleted }
        var target = Target(key: "key:" + key.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.keyText($0.value))" }.joined(separator: "|"),
                            keyColumn: column)
        if live.count > 1 {
            problem(column, "matches \(live.count) \(kind.table) in the replica: add an id column to say which")
            target.blocked = true
        } else if let record = live.first {
            target.record = record
        } else if !matches.isEmpty {
            problem(column, "matches a deleted \(kind.rawValue): restore it first")
            target.blocked = true
        }
        return target
    }

    /// A value as key text (`FieldValue`'s description never shows the value).
    private static func keyText(_ value: FieldValue) -> String {
        switch value {
        case .null: "-"
        case .integer(let number): "i\(number)"
        case .bool(let flag): "b\(flag)"
        case .text(let text): "t" + text.replacingOccurrences(of: "|", with: "||")
        }
    }

    /// The fields that name the row's record when it has no id, and the column to blame for a clash.
    private func naturalKey(_ fields: FieldMap) -> (FieldMap, String)? {
        func value(_ name: String) -> FieldValue { fields[name] ?? .null }
        switch kind {
        case .client:
            guard case .text = value("clientNumber"), case .integer = value("ownerMunicipality") else { return nil }
            return (["clientNumber": value("clientNumber"), "ownerMunicipality": value("ownerMunicipality")], "clientNumber")
        case .service:
            guard case .text = value("providerName") else { return nil }
            return (["providerName": value("providerName"), "nameFi": value("nameFi"), "nameSv": value("nameSv"),
                     "startDate": value("startDate")], "providerName")
        case .placement:
            guard case .text(let type) = value("type"), case .text = value("clientId") else { return nil }
            switch PlacementType(rawValue: type) {
            case .serviceEnrolment:
                guard case .text = value("serviceId") else { return nil }
                return (["type": value("type"), "clientId": value("clientId"), "serviceId": value("serviceId")], "serviceId")
            case .municipalPlacement:
                guard case .integer = value("municipality") else { return nil }
                return (["type": value("type"), "clientId": value("clientId"), "municipality": value("municipality")], "municipality")
            case nil:
                return nil
            }
        }
    }

    /// A placement's `clientNumber` column becomes its `clientId`.
    private func resolveClientNumber(_ row: inout ImportRow, store: ReplicaStore, problem: (String, String) -> Void) throws {
        guard let number = row.clientNumber else { return }
        var query = RecordQuery()
        query.equals = ["clientNumber": .text(number)]
        query.limit = 50
        var clients = try store.list(.client, query)
        if clients.count > 1, let own = caller.municipality {
            clients = clients.filter { $0.fields["ownerMunicipality"] == .integer(Int64(own)) }
        }
        guard clients.count == 1, let client = clients.first else {
            problem("clientNumber", clients.isEmpty ? "names no client in the replica" : "names several clients: use a clientId column")
            return
        }
        if let given = row.fields["clientId"], given != .null, given != .text(client.id.lowercased) {
            problem("clientNumber", "names another client than clientId")
            return
        }
        row.fields["clientId"] = .text(client.id.lowercased)
    }

    // MARK: Office scope

    /// An office writes its own municipality's records only, before and after the row.
    private func checkScope(before: FieldMap?, after: FieldMap, row: ImportRow, store: ReplicaStore,
                            problem: (String, String) -> Void) throws {
        guard caller.role == .office, let own = caller.municipality else { return }
        for fields in [before, after].compactMap({ $0 }) {
            switch kind {
            case .client:
                if fields["ownerMunicipality"] != .integer(Int64(own)) {
                    return problem("ownerMunicipality", "office \(own) may import only clients of municipality \(own)")
                }
            case .service:
                if !codes(fields["municipalities"]).contains(own) {
                    return problem("municipalities", "office \(own) may import only services offered in municipality \(own)")
                }
            case .placement:
                guard try placementInScope(fields, own: own, store: store) else {
                    return problem("clientId", "office \(own) may import only placements of its clients, into its services or to municipality \(own)")
                }
            }
        }
    }

    private func placementInScope(_ fields: FieldMap, own: Int, store: ReplicaStore) throws -> Bool {
        func record(_ kind: RecordKind, _ name: String) throws -> StoredRecord? {
            guard let text = fields[name]?.text, let id = UUID(uuidString: text) else { return nil }
            return try store.record(kind, id: id)
        }
        if try record(.client, "clientId")?.fields["ownerMunicipality"] == .integer(Int64(own)) { return true }
        if fields["type"] == .text(PlacementType.municipalPlacement.rawValue) { return fields["municipality"] == .integer(Int64(own)) }
        return codes(try record(.service, "serviceId")?.fields["municipalities"]).contains(own)
    }

    private func codes(_ value: FieldValue?) -> [Int] {
        (value?.text ?? "").split(separator: ",").compactMap { Int($0) }
    }
}
