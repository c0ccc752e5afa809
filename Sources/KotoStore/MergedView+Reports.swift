public import Foundation
public import KotoCore

/// Whose data a report covers: the whole region, or what one municipality's
/// office may see — its clients (by owner), the services serving it, and the
/// placements of its clients, into its services or (municipal placements) into it.
public struct ReportScope: Sendable, Hashable {
    /// Nil for the whole region.
    public let municipality: Int?

    public init(municipality: Int?) {
        self.municipality = municipality
    }

    public static let region = ReportScope(municipality: nil)
}

/// Clients of one municipality, permit basis and status.
public struct ClientGroupCount: Sendable, Hashable {
    public let municipality: Int
    public let permitBasis: String?
    public let status: String
    public let count: Int
}

/// Placements of one type and status.
public struct PlacementGroupCount: Sendable, Hashable {
    public let type: String
    public let status: String
    public let count: Int
}

/// Services of one category.
public struct ServiceCategoryCount: Sendable, Hashable {
    public let category: String
    public let count: Int
}

/// Municipal placements into one municipality with one status.
public struct MunicipalPlacementCount: Sendable, Hashable {
    public let municipality: Int
    public let status: String
    public let count: Int
}

/// A live service with its active and waiting enrolments.
public struct ServiceLoad: Sendable, Hashable {
    public let id: UUID
    public let nameFi: String?
    public let nameSv: String?
    public let category: String
    public let status: String
    public let capacity: Int?
    public let municipalities: [Int]
    public let languages: [String]
    /// Live enrolments with status `active`.
    public let active: Int
    /// Live enrolments with status `waiting`.
    public let waiting: Int
}

/// A live client some deadline rule may still be pending for, with the dates the rules read.
public struct DeadlineCandidate: Sendable, Hashable {
    public let clientID: UUID
    public let clientNumber: String
    public let municipality: Int
    public let facts: DeadlineFacts
}

/// A live placement naming a client or service that is not live.
public struct DanglingReference: Sendable, Hashable {
    public enum Reason: String, Sendable, CaseIterable {
        /// The row exists but is soft-deleted.
        case deleted
        /// The row was erased (or awaits the erase of a purged change).
        case erased
        /// No change of the row ever reached this replica.
        case missing
    }

    public let placementID: UUID
    /// `clientId` or `serviceId`.
    public let field: String
    public let missingID: String
    public let reason: Reason
}

/// One client number held by more than one live client.
public struct DuplicateClientNumber: Sendable, Hashable {
    public let clientNumber: String
    public let count: Int
    /// The owners of those clients, ascending, each once.
    public let municipalities: [Int]
}

/// One field with open conflicts, and when this replica first held one of them.
public struct ConflictAge: Sendable, Hashable {
    public let kind: RecordKind
    public let rowID: UUID
    public let field: String
    public let firstSeenMillis: Int64
}

/// SQL shared by the report queries and the report indexes (`StoreSchema.reportIndexes`):
/// a partial index is only used when the query repeats its `WHERE` terms.
enum ReportSQL {
    /// A row the merged view shows: not deleted, not erased, not awaiting an erase (as `count` has it).
    static func live(_ alias: String? = nil) -> String {
        let prefix = alias.map { "\($0)." } ?? ""
        return "(\(prefix)deleted IS NULL OR \(prefix)deleted = 0) AND \(prefix)erased = 0 AND \(prefix)awaiting_erase = 0"
    }

    /// `services.municipalities` (comma-separated codes) contains the bound `,<code>,`.
    static func serves(_ alias: String) -> String { "instr(',' || \(alias).municipalities || ',', ?) > 0" }

    /// Row ids of the placements an office of the bound municipality sees
    /// (three bindings: code, `,code,`, code): of its clients, into services
    /// serving it, municipal placements into it. Each branch walks an index
    /// from the small side, so only the office's placements are touched.
    static let placementsOfMunicipality = """
        SELECT p.rowid FROM clients c JOIN placements p ON p.client_id = c.id
            WHERE c.owner_municipality = ? AND \(live("p"))
        UNION SELECT p.rowid FROM services s JOIN placements p ON p.service_id = s.id
            WHERE \(serves("s")) AND \(live("p"))
        UNION SELECT rowid FROM placements
            WHERE type = 'municipal_placement' AND municipality = ? AND \(live())
        """

    static func placementBindings(_ code: Int) -> [SQLiteValue] { [.integer(Int64(code)), .text(",\(code),"), .integer(Int64(code))] }
}

/// Aggregate queries for the reports on the merged view. Every count leaves
/// out deleted, erased and awaiting-erase rows, as `count` does; run the
/// queries of one report inside `consistentRead` so they see one snapshot.
extension MergedView {
    /// Runs `body` in one read transaction: every query inside sees the same committed state.
    public func consistentRead<T>(_ body: () throws -> T) throws -> T {
        try database.readTransaction(body)
    }

    /// Live clients by owner municipality, permit basis and status.
    public func clientGroupCounts(_ scope: ReportScope) throws -> [ClientGroupCount] {
        var sql = "SELECT owner_municipality, permit_basis, status, count(*) FROM clients WHERE \(ReportSQL.live())"
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            sql += " AND owner_municipality = ?"
            values.append(.integer(Int64(code)))
        }
        sql += " GROUP BY owner_municipality, permit_basis, status ORDER BY owner_municipality, permit_basis, status"
        return try database.query(sql, values) { row in
            ClientGroupCount(municipality: Int(row.int64(0)), permitBasis: row.string(1), status: row.string(2) ?? "",
                             count: Int(row.int64(3)))
        }
    }

    /// Live placements in scope by type and status.
    public func placementGroupCounts(_ scope: ReportScope) throws -> [PlacementGroupCount] {
        var sql = "SELECT type, status, count(*) FROM placements WHERE \(ReportSQL.live())"
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            sql += " AND rowid IN (\(ReportSQL.placementsOfMunicipality))"
            values = ReportSQL.placementBindings(code)
        }
        sql += " GROUP BY type, status ORDER BY type, status"
        return try database.query(sql, values) { row in
            PlacementGroupCount(type: row.string(0) ?? "", status: row.string(1) ?? "", count: Int(row.int64(2)))
        }
    }

    /// Live services in scope by category.
    public func serviceCategoryCounts(_ scope: ReportScope) throws -> [ServiceCategoryCount] {
        var sql = "SELECT category, count(*) FROM services s WHERE \(ReportSQL.live("s"))"
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            sql += " AND \(ReportSQL.serves("s"))"
            values.append(.text(",\(code),"))
        }
        sql += " GROUP BY category ORDER BY category"
        return try database.query(sql, values) { row in
            ServiceCategoryCount(category: row.string(0) ?? "", count: Int(row.int64(1)))
        }
    }

    /// Live municipal placements whose year (of `offeredDate`, else of
    /// `arrivalDate`) is `year`, by municipality and status; a placement with
    /// neither date belongs to no year.
    public func municipalPlacementCounts(year: Int, _ scope: ReportScope) throws -> [MunicipalPlacementCount] {
        let first = String(format: "%04d-01-01", year), last = String(format: "%04d-12-31", year)
        var sql = """
            SELECT municipality, status, count(*) FROM placements
            WHERE type = 'municipal_placement' AND \(ReportSQL.live())
              AND coalesce(offered_date, arrival_date) BETWEEN ? AND ? AND municipality IS NOT NULL
            """
        var values: [SQLiteValue] = [.text(first), .text(last)]
        if let code = scope.municipality {
            sql += " AND municipality = ?"
            values.append(.integer(Int64(code)))
        }
        sql += " GROUP BY municipality, status ORDER BY municipality, status"
        return try database.query(sql, values) { row in
            MunicipalPlacementCount(municipality: Int(row.int64(0)), status: row.string(1) ?? "", count: Int(row.int64(2)))
        }
    }

    /// Live services in scope, by category then id, with their active and waiting enrolments.
    public func serviceLoads(_ scope: ReportScope) throws -> [ServiceLoad] {
        var counts: [String: (active: Int, waiting: Int)] = [:]
        let loads = try database.query("""
            SELECT service_id, status, count(*) FROM placements
            WHERE type = 'service_enrolment' AND status IN ('active', 'waiting') AND \(ReportSQL.live())
              AND service_id IS NOT NULL
            GROUP BY service_id, status
            """) { row in (row.string(0) ?? "", row.string(1) ?? "", Int(row.int64(2))) }
        for (service, status, count) in loads {
            if status == "active" { counts[service, default: (0, 0)].active += count } else { counts[service, default: (0, 0)].waiting += count }
        }
        var sql = """
            SELECT id, name_fi, name_sv, category, status, capacity, municipalities, languages FROM services s
            WHERE \(ReportSQL.live("s"))
            """
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            sql += " AND \(ReportSQL.serves("s"))"
            values.append(.text(",\(code),"))
        }
        sql += " ORDER BY category, id"
        return try database.query(sql, values) { row in
            let id = row.string(0) ?? ""
            guard let uuid = UUID(uuidString: id) else { throw ReplicaStoreError.corrupt("unreadable row id") }
            let load = counts[id] ?? (0, 0)
            return ServiceLoad(id: uuid, nameFi: row.string(1), nameSv: row.string(2), category: row.string(3) ?? "",
                               status: row.string(4) ?? "", capacity: row.isNull(5) ? nil : Int(row.int64(5)),
                               municipalities: (row.string(6) ?? "").split(separator: ",").compactMap { Int($0) },
                               languages: (row.string(7) ?? "").split(separator: ",").map(String.init),
                               active: load.active, waiting: load.waiting)
        }
    }

    /// Live clients in scope (statuses `moved_away` and `closed` excepted:
    /// their process is over) for whom some rule may be pending, with every
    /// date the rules read. The SQL keeps every client a rule could be
    /// pending for (it may keep a few more); `DeadlineRule` decides exactly.
    public func deadlineCandidates(_ rules: [DeadlineRule], _ scope: ReportScope) throws -> [DeadlineCandidate] {
        guard !rules.isEmpty else { return [] }
        func column(_ field: String) -> String { "c." + (RecordKind.client.field(named: field)?.column ?? field) }
        let dateFields = DeadlineRule.Anchor.allCases.map(\.rawValue)
        var select = ["c.id", "c.client_number", "c.owner_municipality"] + dateFields.map(column)
        var pending: [String] = []
        let referralRules = rules.filter { $0.metBy == .referralDate }
        for (index, rule) in referralRules.enumerated() {
            // The earliest referral on or after the rule's anchor (SQLite lets the WHERE name it by its alias).
            select.append("""
                (SELECT min(p.referral_date) FROM placements p WHERE p.client_id = c.id AND p.type = 'service_enrolment'
                 AND \(ReportSQL.live("p")) AND p.referral_date >= \(column(rule.from.rawValue))) AS referral_\(index)
                """)
        }
        for rule in rules {
            let anchor = column(rule.from.rawValue)
            switch rule.metBy {
            case .referralDate:
                let index = referralRules.firstIndex(of: rule)!
                pending.append("(\(anchor) IS NOT NULL AND referral_\(index) IS NULL)")
            default:
                let evidence = column(rule.metBy.rawValue)
                var met = "\(evidence) IS NOT NULL AND \(evidence) >= \(anchor)"
                if rule.within {
                    // SQLite's `+N months` overflows short months forward by at most
                    // three days where `LocalDate.adding(months:)` clamps: three
                    // days less never counts as met what Swift would not.
                    switch rule.period {
                    case .days(let days): met += " AND \(evidence) <= date(\(anchor), '+\(days) days')"
                    case .months(let months): met += " AND \(evidence) <= date(\(anchor), '+\(months) months', '-3 days')"
                    }
                }
                pending.append("(\(anchor) IS NOT NULL AND NOT (\(met)))")
            }
        }
        var sql = """
            SELECT \(select.joined(separator: ", ")) FROM clients c
            WHERE \(ReportSQL.live("c")) AND c.status NOT IN ('moved_away', 'closed')
            """
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            sql += " AND c.owner_municipality = ?"
            values.append(.integer(Int64(code)))
        }
        sql += " AND (\(pending.joined(separator: " OR ")))"
        return try database.query(sql, values) { row in
            guard let id = UUID(uuidString: row.string(0) ?? "") else { throw ReplicaStoreError.corrupt("unreadable row id") }
            var facts = DeadlineFacts()
            for (offset, field) in dateFields.enumerated() {
                if let text = row.string(Int32(3 + offset)), let date = LocalDate(text) { facts.dates[field] = date }
            }
            for (offset, rule) in referralRules.enumerated() {
                if let text = row.string(Int32(3 + dateFields.count + offset)), let date = LocalDate(text) {
                    facts.referrals[rule.id] = date
                }
            }
            return DeadlineCandidate(clientID: id, clientNumber: row.string(1) ?? "", municipality: Int(row.int64(2)), facts: facts)
        }
    }

    /// Live placements in scope whose client or service is deleted, erased or
    /// missing, by placement id then field.
    public func danglingReferences(_ scope: ReportScope) throws -> [DanglingReference] {
        var inScope = ""
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            inScope = " AND p.rowid IN (\(ReportSQL.placementsOfMunicipality))"
            values = ReportSQL.placementBindings(code) + ReportSQL.placementBindings(code)
        }
        func branch(_ field: String, _ column: String, _ table: String) -> String {
            """
            SELECT p.id, '\(field)', p.\(column), t.id IS NULL, coalesce(t.deleted, 0), t.erased, t.awaiting_erase
            FROM placements p LEFT JOIN \(table) t ON t.id = p.\(column)
            WHERE \(ReportSQL.live("p")) AND p.\(column) IS NOT NULL
              AND (t.id IS NULL OR t.deleted = 1 OR t.erased = 1 OR t.awaiting_erase = 1)\(inScope)
            """
        }
        let sql = branch("clientId", "client_id", "clients") + "\nUNION ALL\n" + branch("serviceId", "service_id", "services")
            + "\nORDER BY 1, 2"
        return try database.query(sql, values) { row in
            guard let id = UUID(uuidString: row.string(0) ?? "") else { throw ReplicaStoreError.corrupt("unreadable row id") }
            let reason: DanglingReference.Reason = row.int64(3) != 0 ? .missing
                : (row.int64(5) != 0 || row.int64(6) != 0 ? .erased : .deleted)
            return DanglingReference(placementID: id, field: row.string(1) ?? "", missingID: row.string(2) ?? "", reason: reason)
        }
    }

    /// Client numbers held by more than one live client, by number; in an
    /// office's scope, those held by at least one of its own clients.
    public func duplicateClientNumbers(_ scope: ReportScope) throws -> [DuplicateClientNumber] {
        var sql = """
            SELECT client_number, count(*), group_concat(DISTINCT owner_municipality) FROM clients
            WHERE \(ReportSQL.live()) GROUP BY client_number HAVING count(*) > 1
            """
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            sql += " AND sum(owner_municipality = ?) > 0"
            values.append(.integer(Int64(code)))
        }
        sql += " ORDER BY client_number"
        return try database.query(sql, values) { row in
            DuplicateClientNumber(clientNumber: row.string(0) ?? "", count: Int(row.int64(1)),
                                  municipalities: (row.string(2) ?? "").split(separator: ",").compactMap { Int($0) }.sorted())
        }
    }

    /// Every field with open conflicts on a record in scope, oldest first.
    public func conflictAges(_ scope: ReportScope) throws -> [ConflictAge] {
        var sql = "SELECT record, row_id, field, min(first_seen) FROM conflicts k"
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            sql += """
                 WHERE (k.record = 'clients' AND k.row_id IN (SELECT id FROM clients WHERE owner_municipality = ?))
                 OR (k.record = 'services' AND k.row_id IN (SELECT id FROM services s WHERE \(ReportSQL.serves("s"))))
                 OR (k.record = 'placements' AND k.row_id IN (SELECT id FROM placements WHERE rowid IN (\(ReportSQL.placementsOfMunicipality))))
                """
            values = [.integer(Int64(code)), .text(",\(code),")] + ReportSQL.placementBindings(code)
        }
        sql += " GROUP BY record, row_id, field ORDER BY min(first_seen), record, row_id, field"
        return try database.query(sql, values) { row in
            guard let kind = RecordKind(table: row.string(0) ?? ""), let id = UUID(uuidString: row.string(1) ?? "") else {
                throw ReplicaStoreError.corrupt("unreadable conflict")
            }
            return ConflictAge(kind: kind, rowID: id, field: row.string(2) ?? "", firstSeenMillis: row.int64(3))
        }
    }

    /// Every record of `kind` that `query` selects (its `limit` and `afterID`
    /// ignored), in id order, read in pages of `pageSize` inside one snapshot:
    /// an export never stops at a page.
    public func allRecords(_ kind: RecordKind, _ query: RecordQuery, pageSize: Int = 1000) throws -> [StoredRecord] {
        try consistentRead {
            var page = query
            page.limit = pageSize
            page.afterID = nil
            var records: [StoredRecord] = []
            while true {
                let batch = try list(kind, page)
                records += batch
                guard batch.count == pageSize, let last = batch.last else { return records }
                page.afterID = last.id.lowercased
            }
        }
    }
}

extension ReplicaStore {
    /// The names of the report indexes this build creates at open.
    public static var reportIndexNames: [String] { StoreSchema.reportIndexes.map(\.name) }
}
