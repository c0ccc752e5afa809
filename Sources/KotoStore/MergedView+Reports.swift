public import Foundation
public import KotoCore
import Glibc

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

/// A live client some deadline rule is pending for, with the dates the rules read.
public struct DeadlineCandidate: Sendable, Hashable {
    /// The client's id as stored: a lowercase UUID.
    public let clientID: String
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

    /// The placement's id as stored: a lowercase UUID.
    public let placementID: String
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

    /// A row the merged view does not show: deleted, erased or awaiting an erase.
    static func notLive(_ alias: String? = nil) -> String { "NOT (\(live(alias)))" }

    /// A client whose integration process is open: the deadline rules apply.
    static func openProcess(_ prefix: String) -> String { "\(prefix)status NOT IN ('moved_away', 'closed')" }

    /// `services.municipalities` (comma-separated codes) contains the bound `,<code>,`.
    static func serves(_ alias: String) -> String { "instr(',' || \(alias).municipalities || ',', ?) > 0" }

    /// Byte order of `a` against `b` (SQLite's binary text order): negative, zero or positive.
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let common = min(a.count, b.count)
        if common > 0, let x = a.baseAddress, let y = b.baseAddress {
            let order = memcmp(x, y, common)
            if order != 0 { return Int(order) }
        }
        return a.count - b.count
    }

    /// The liveness columns, appended to each report index so that SQLite
    /// (3.40 still evaluates a partial index's terms) needs no table lookup.
    static let liveColumns = "deleted, erased, awaiting_erase"

    /// Placement `p` is one an office of the bound municipality sees (three
    /// bindings: code, `,code,`, code): of its clients, into a service serving
    /// it, or a municipal placement into it. Checked row by row: for the few
    /// rows of the integrity report and the conflicts, not for counting.
    static let placementInScope = """
        (EXISTS (SELECT 1 FROM clients c WHERE c.id = p.client_id AND c.owner_municipality = ?)
         OR EXISTS (SELECT 1 FROM services s WHERE s.id = p.service_id AND \(serves("s")))
         OR (p.type = 'municipal_placement' AND p.municipality = ?))
        """

}

/// A placement type and status: a group the overview counts.
struct ReportPlacementKey: Hashable {
    let type: String
    let status: String
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

    /// Whether this database has the trigger-kept report aggregates of this
    /// build (`ReportAggregates`); without them the reports count rows.
    var hasReportAggregates: Bool {
        get throws {
            let names = ReportAggregates.tables.map(\.name) + ReportAggregates.triggers.map(\.name)
            let found = try database.query(
                "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'trigger') AND name IN (\(names.map { _ in "?" }.joined(separator: ", ")))",
                names.map { .text($0) }) { $0.int64(0) }
            return found.first == Int64(names.count)
        }
    }

    /// Live placements in scope by type and status, from the aggregates. An
    /// office's count is three disjoint parts: its live clients' placements
    /// that are neither of the other two (`report_owner_placements` names the
    /// service or municipality of each group), enrolments into services
    /// serving it (`report_service_enrolments` of those services), municipal
    /// placements into it (an index range).
    public func placementGroupCounts(_ scope: ReportScope) throws -> [PlacementGroupCount] {
        guard try hasReportAggregates else { return try recountedPlacementGroupCounts(scope) }
        guard let code = scope.municipality else {
            return try database.query("""
                SELECT type, status, n FROM report_placement_groups WHERE n != 0 ORDER BY type, status
                """) { row in PlacementGroupCount(type: row.string(0) ?? "", status: row.string(1) ?? "", count: Int(row.int64(2))) }
        }
        let pattern = SQLiteValue.text(",\(code),"), number = SQLiteValue.integer(Int64(code))
        var counts: [ReportPlacementKey: Int] = [:]
        // Its own clients' groups less those into its services (the services serving it, made once into a
        // temporary index by SQLite) and the municipal placements into it: both counted below.
        let own = try database.query("""
            SELECT type, status, sum(n) FROM report_owner_placements
            WHERE owner = ? AND n != 0 AND NOT (type = 'municipal_placement' AND municipality = ?)
              AND NOT (type = 'service_enrolment' AND service_id IN (SELECT id FROM services s WHERE \(ReportSQL.serves("s"))))
            GROUP BY type, status
            """, [number, number, pattern]) { (ReportPlacementKey(type: $0.string(0) ?? "", status: $0.string(1) ?? ""), Int($0.int64(2))) }
        for (key, count) in own { counts[key, default: 0] += count }
        // CROSS JOIN keeps the services as the outer loop: one key range of enrolment counts per service serving it.
        let rest = try database.query("""
            SELECT 'service_enrolment', e.status, sum(e.n) FROM services s CROSS JOIN report_service_enrolments e ON e.service_id = s.id
            WHERE \(ReportSQL.serves("s")) GROUP BY e.status
            UNION ALL
            SELECT type, status, count(*) FROM placements
            WHERE type = 'municipal_placement' AND municipality = ? AND \(ReportSQL.live())
            GROUP BY type, status
            """, [pattern, number]) { (ReportPlacementKey(type: $0.string(0) ?? "", status: $0.string(1) ?? ""), Int($0.int64(2))) }
        for (key, count) in rest { counts[key, default: 0] += count }
        return counts.filter { $0.value != 0 }.map { PlacementGroupCount(type: $0.key.type, status: $0.key.status, count: $0.value) }
            .sorted { ($0.type, $0.status) < ($1.type, $1.status) }
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
        if try hasReportAggregates {
            for (service, status, count) in try database.query("""
                SELECT service_id, status, n FROM report_service_enrolments WHERE status IN ('active', 'waiting') AND n != 0
                """, row: { ($0.string(0) ?? "", $0.string(1) ?? "", Int($0.int64(2))) }) {
                if status == "active" { counts[service, default: (0, 0)].active += count } else { counts[service, default: (0, 0)].waiting += count }
            }
        } else {
            counts = try recountedServiceEnrolments()
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
    /// their process is over) for whom some rule is pending, with every date
    /// the rules read. One pass over the clients in id order (an index holds
    /// every column read), merged with one pass over the live referrals in
    /// client order; the rules are decided here by `DeadlineRule` on dates read
    /// straight from SQLite's bytes, so a client no rule is pending for costs
    /// no `String` and no lookup.
    public func deadlineCandidates(_ rules: [DeadlineRule], _ scope: ReportScope) throws -> [DeadlineCandidate] {
        guard !rules.isEmpty else { return [] }
        let anchors = DeadlineRule.Anchor.allCases
        let columns = anchors.map { "c." + (RecordKind.client.field(named: $0.rawValue)?.column ?? $0.rawValue) }
        let referralRules = rules.filter { $0.metBy == .referralDate }
        var sql = """
            SELECT c.id, c.client_number, c.owner_municipality, \(columns.joined(separator: ", ")) FROM clients c
            WHERE \(ReportSQL.live("c")) AND \(ReportSQL.openProcess("c."))
            """
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            // `+`: no index on the owner, so the scan stays in id order (the merge needs it) and needs no sort.
            sql += " AND +c.owner_municipality = ?"
            values.append(.integer(Int64(code)))
        }
        let clients = try database.statement(sql + " ORDER BY c.id")
        defer { clients.reset() }
        try clients.bind(values)
        var referrals = try ReferralCursor(database, active: !referralRules.isEmpty)
        defer { referrals.close() }
        var candidates: [DeadlineCandidate] = []
        // One value reused row after row: its referral buffer is only copied for a candidate.
        var facts = DeadlineFacts()
        while try clients.step() {
            for (offset, anchor) in anchors.enumerated() {
                facts[anchor] = LocalDate(isoBytes: clients.textBytes(Int32(3 + offset)))
            }
            facts.referralDates.removeAll(keepingCapacity: true)
            if !referralRules.isEmpty { try referrals.dates(of: clients.textBytes(0), into: &facts.referralDates) }
            guard DeadlineRule.next(of: rules, for: facts) != nil else { continue }
            candidates.append(DeadlineCandidate(clientID: clients.string(0) ?? "", clientNumber: clients.string(1) ?? "",
                                                municipality: Int(clients.int64(2)), facts: facts))
        }
        return candidates
    }

    /// Live placements in scope whose client or service is deleted, erased or
    /// missing, by placement id then field: the placements of the few rows
    /// that are not live (a partial index holds them) and those that
    /// `report_missing_references` lists, with no pass over every placement.
    public func danglingReferences(_ scope: ReportScope) throws -> [DanglingReference] {
        guard try hasReportAggregates else { return try recountedDanglingReferences(scope) }
        // An office's scope, set-based: a placement is its own when the row it names (`t`, at hand) is its
        // client or serves it, or when it is a municipal placement into it, or its service is one of those
        // serving it (a list SQLite makes once per statement), or (a key lookup) its client is one of its own.
        // A missing row (`report_missing_references`) is neither its client nor a service serving it.
        var scopes = (client: "", missingClient: "", service: "", missingService: "")
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            let number = SQLiteValue.integer(Int64(code)), pattern = SQLiteValue.text(",\(code),")
            let municipal = "(p.type = 'municipal_placement' AND p.municipality = ?)"
            let serving = "p.service_id IN (SELECT id FROM services s WHERE \(ReportSQL.serves("s")))"
            let own = "EXISTS (SELECT 1 FROM clients c WHERE c.id = p.client_id AND c.owner_municipality = ?)"
            scopes = (" AND (t.owner_municipality = ? OR \(municipal) OR \(serving))", " AND (\(municipal) OR \(serving))",
                      " AND (\(ReportSQL.serves("t")) OR \(municipal) OR \(own))", " AND (\(municipal) OR \(own))")
            values = [number, number, pattern, number, pattern, pattern, number, number, number, number]
        }
        // One statement for both fields, ordered by SQLite (ids are ASCII: byte order is `String` order).
        let parts = [("clientId", "client_id", "clients", scopes.client, scopes.missingClient),
                     ("serviceId", "service_id", "services", scopes.service, scopes.missingService)].map { field, column, table, inScope, missingInScope in
            """
            SELECT p.id, '\(field)', t.id, 0, t.erased OR t.awaiting_erase FROM \(table) t CROSS JOIN placements p ON p.\(column) = t.id
            WHERE \(ReportSQL.notLive("t")) AND \(ReportSQL.live("p"))\(inScope)
            UNION ALL
            SELECT p.id, '\(field)', m.ref_id, 1, 0 FROM report_missing_references m CROSS JOIN placements p ON p.id = m.placement_id
            WHERE m.record = '\(table)' AND \(ReportSQL.live("p"))\(missingInScope)
            """
        }
        return try database.query(parts.joined(separator: "\nUNION ALL\n") + "\nORDER BY 1, 2", values) { row in
            let reason: DanglingReference.Reason = row.int64(3) != 0 ? .missing : (row.int64(4) != 0 ? .erased : .deleted)
            return DanglingReference(placementID: row.string(0) ?? "", field: row.string(1) ?? "", missingID: row.string(2) ?? "",
                                     reason: reason)
        }
    }

    /// Client numbers held by more than one live client, by number; in an
    /// office's scope, those held by at least one of its own clients. The
    /// shared numbers come from `report_client_numbers` (a partial index
    /// holds those above one), their owners from the clients.
    public func duplicateClientNumbers(_ scope: ReportScope) throws -> [DuplicateClientNumber] {
        guard try hasReportAggregates else { return try recountedDuplicateClientNumbers(scope) }
        // Clients without a number (the empty blob) first, as SQLite orders NULL; their owners are not listed
        // (no number equals NULL), but an office sees the group when one of them is its own.
        let shared = try database.query("""
            SELECT typeof(client_number) = 'blob', client_number, n FROM report_client_numbers WHERE n > 1
            ORDER BY typeof(client_number) = 'text', client_number
            """) { ($0.int64(0) != 0, $0.string(1) ?? "", Int($0.int64(2))) }
        return try shared.compactMap { unnumbered, number, count in
            let owners = try database.query("""
                SELECT DISTINCT owner_municipality FROM clients WHERE \(unnumbered ? "client_number IS NULL" : "client_number = ?")
                AND \(ReportSQL.live()) AND owner_municipality IS NOT NULL
                """, unnumbered ? [] : [.text(number)]) { Int($0.int64(0)) }.sorted()
            if let code = scope.municipality, !owners.contains(code) { return nil }
            return DuplicateClientNumber(clientNumber: unnumbered ? "" : number, count: count, municipalities: unnumbered ? [] : owners)
        }
    }

    /// Every field with open conflicts on a record in scope, oldest first.
    public func conflictAges(_ scope: ReportScope) throws -> [ConflictAge] {
        var sql = "SELECT record, row_id, field, min(first_seen) FROM conflicts k"
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            sql += """
                 WHERE (k.record = 'clients' AND EXISTS (SELECT 1 FROM clients c WHERE c.id = k.row_id AND c.owner_municipality = ?))
                 OR (k.record = 'services' AND EXISTS (SELECT 1 FROM services s WHERE s.id = k.row_id AND \(ReportSQL.serves("s"))))
                 OR (k.record = 'placements' AND EXISTS (SELECT 1 FROM placements p WHERE p.id = k.row_id AND \(ReportSQL.placementInScope)))
                """
            values = [.integer(Int64(code)), .text(",\(code),"), .integer(Int64(code)), .text(",\(code),"), .integer(Int64(code))]
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

/// The live referral dates of service enrolments in client order, read
/// alongside the clients in id order (`deadlineCandidates`): both orders are
/// SQLite's binary text order, so plain byte comparison follows them.
private struct ReferralCursor {
    private let statement: Statement?
    /// Whether the statement stands on a row.
    private var onRow = false

    init(_ database: Database, active: Bool) throws {
        guard active else {
            statement = nil
            return
        }
        // `+type`: an index on type would win SQLite's estimate and then sort; report_placements_referrals
        // (partial on referrals) already holds them in this order.
        statement = try database.statement("""
            SELECT client_id, referral_date FROM placements
            WHERE referral_date IS NOT NULL AND \(ReportSQL.live()) AND +type = 'service_enrolment'
            ORDER BY client_id, referral_date
            """)
        onRow = try statement!.step()
    }

    /// Appends the referral dates of `client`, ascending; clients must come in ascending order.
    mutating func dates(of client: UnsafeRawBufferPointer, into dates: inout [LocalDate]) throws {
        guard let statement else { return }
        while onRow, ReportSQL.compare(statement.textBytes(0), client) < 0 { onRow = try statement.step() }
        while onRow, ReportSQL.compare(statement.textBytes(0), client) == 0 {
            if let date = LocalDate(isoBytes: statement.textBytes(1)) { dates.append(date) }
            onRow = try statement.step()
        }
    }

    func close() { statement?.reset() }
}

extension LocalDate {
    /// Parses `YYYY-MM-DD` from SQLite's bytes without making a `String`; nil for anything else.
    init?(isoBytes bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 10, let base = bytes.baseAddress else { return nil }
        let text = base.assumingMemoryBound(to: UInt8.self)
        guard text[4] == UInt8(ascii: "-"), text[7] == UInt8(ascii: "-") else { return nil }
        var digits: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
        var valid = true
        func digit(_ index: Int) -> Int {
            let value = text[index] &- UInt8(ascii: "0")
            if value > 9 { valid = false }
            return Int(value)
        }
        digits = (digit(0), digit(1), digit(2), digit(3), digit(5), digit(6), digit(8), digit(9))
        guard valid else { return nil }
        self.init(year: digits.0 * 1000 + digits.1 * 100 + digits.2 * 10 + digits.3, month: digits.4 * 10 + digits.5,
                  day: digits.6 * 10 + digits.7)
    }
}
