import KotoCore

/// The report counts recomputed from the record rows: what the trigger-kept
/// aggregates (`ReportAggregates`) must always equal. The reports use them on
/// a database without the aggregates (one no writable open of this build has
/// touched); the tests compare them with the aggregates on randomized data.
extension MergedView {
    /// `placementGroupCounts` counted from the rows. An office's count is
    /// three disjoint parts, each walking an index from the small side: its
    /// live clients' placements that are neither of the other two (told apart
    /// here, against the few services serving it: cheaper than a lookup per
    /// placement in SQL), enrolments into services serving it, municipal
    /// placements into it.
    func recountedPlacementGroupCounts(_ scope: ReportScope) throws -> [PlacementGroupCount] {
        guard let code = scope.municipality else {
            return try database.query("""
                SELECT type, status, count(*) FROM placements WHERE \(ReportSQL.live()) GROUP BY type, status ORDER BY type, status
                """) { row in PlacementGroupCount(type: row.string(0) ?? "", status: row.string(1) ?? "", count: Int(row.int64(2))) }
        }
        let pattern = SQLiteValue.text(",\(code),"), number = SQLiteValue.integer(Int64(code))
        var counts: [ReportPlacementKey: Int] = [:]
        // The services serving it, sorted by their ids' bytes: membership by binary search on SQLite's
        // bytes, with no `String` made for the 100k placements of a large office.
        let serving = try database.query("SELECT id FROM services s WHERE \(ReportSQL.serves("s")) ORDER BY id", [pattern]) {
            Array($0.textBytes(0))
        }
        func isServing(_ id: UnsafeRawBufferPointer) -> Bool {
            var low = 0, high = serving.count
            while low < high {
                let middle = (low + high) / 2
                let order = serving[middle].withUnsafeBytes { ReportSQL.compare($0, id) }
                if order == 0 { return true }
                if order < 0 { low = middle + 1 } else { high = middle }
            }
            return false
        }
        let own = try database.statement("""
            SELECT p.type = 'service_enrolment', p.type = 'municipal_placement' AND p.municipality = ?, p.service_id, p.status, p.type
            FROM clients c JOIN placements p ON p.client_id = c.id
            WHERE c.owner_municipality = ? AND \(ReportSQL.live("c")) AND \(ReportSQL.live("p"))
            """)
        defer { own.reset() }
        try own.bind([number, number])
        while try own.step() {
            if own.int64(0) != 0, isServing(own.textBytes(2)) { continue }
            if own.int64(1) != 0 { continue }
            // The type as a name only when it is neither of the two (a `String` of it would cost a heap allocation a row).
            let type = own.int64(0) != 0 ? PlacementType.serviceEnrolment.rawValue
                : (own.textBytes(4).elementsEqual(PlacementType.municipalPlacement.rawValue.utf8)
                    ? PlacementType.municipalPlacement.rawValue : own.string(4) ?? "")
            counts[ReportPlacementKey(type: type, status: own.string(3) ?? ""), default: 0] += 1
        }
        // CROSS JOIN keeps the services as the outer loop: SQLite would otherwise walk every enrolment.
        let rest = try database.query("""
            SELECT p.type, p.status, count(*) FROM services s CROSS JOIN placements p ON p.service_id = s.id
            WHERE \(ReportSQL.serves("s")) AND p.type = 'service_enrolment' AND \(ReportSQL.live("p"))
            GROUP BY s.id, p.type, p.status  -- in index order: no sort of every enrolment
            UNION ALL
            SELECT type, status, count(*) FROM placements
            WHERE type = 'municipal_placement' AND municipality = ? AND \(ReportSQL.live())
            GROUP BY type, status
            """, [pattern, number]) { (ReportPlacementKey(type: $0.string(0) ?? "", status: $0.string(1) ?? ""), Int($0.int64(2))) }
        for (key, count) in rest { counts[key, default: 0] += count }
        return counts.map { PlacementGroupCount(type: $0.key.type, status: $0.key.status, count: $0.value) }
            .sorted { ($0.type, $0.status) < ($1.type, $1.status) }
    }


    /// Live service enrolments with status `active` or `waiting`, per service id, counted from the rows.
    func recountedServiceEnrolments() throws -> [String: (active: Int, waiting: Int)] {
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
        return counts
    }

    /// `danglingReferences` found from the rows: live placements in scope whose client or service is deleted, erased or
    /// missing, by placement id then field. The referenced ids no live row
    /// holds are found first by merging two index scans in id order (a
    /// top-level `EXCEPT … ORDER BY`, which SQLite runs as a merge), not by a
    /// lookup per placement; then each such id's placements and row state.
    func recountedDanglingReferences(_ scope: ReportScope) throws -> [DanglingReference] {
        var inScope = ""
        var scopeValues: [SQLiteValue] = []
        if let code = scope.municipality {
            inScope = " AND \(ReportSQL.placementInScope)"
            scopeValues = [.integer(Int64(code)), .text(",\(code),"), .integer(Int64(code))]
        }
        var rows: [DanglingReference] = []
        for (field, column, table) in [("clientId", "client_id", "clients"), ("serviceId", "service_id", "services")] {
            let dead = try database.query("""
                SELECT \(column) FROM placements WHERE \(ReportSQL.live()) AND \(column) IS NOT NULL
                EXCEPT SELECT id FROM \(table) WHERE \(ReportSQL.live()) ORDER BY 1
                """) { $0.string(0) ?? "" }
            for id in dead {
                rows += try database.query("""
                    SELECT p.id, t.id IS NULL, coalesce(t.deleted, 0), t.erased, t.awaiting_erase
                    FROM placements p LEFT JOIN \(table) t ON t.id = p.\(column)
                    WHERE p.\(column) = ? AND \(ReportSQL.live("p"))\(inScope)
                    """, [.text(id)] + scopeValues) { row in
                    let reason: DanglingReference.Reason = row.int64(1) != 0 ? .missing
                        : (row.int64(3) != 0 || row.int64(4) != 0 ? .erased : .deleted)
                    return DanglingReference(placementID: row.string(0) ?? "", field: field, missingID: id, reason: reason)
                }
            }
        }
        return rows.sorted { ($0.placementID, $0.field) < ($1.placementID, $1.field) }
    }


    /// `duplicateClientNumbers` counted from the rows: client numbers held by more than one live client, by number; in an
    /// office's scope, those held by at least one of its own clients. The
    /// owners are gathered for the duplicated numbers only.
    func recountedDuplicateClientNumbers(_ scope: ReportScope) throws -> [DuplicateClientNumber] {
        var having = "count(*) > 1"
        var values: [SQLiteValue] = []
        if let code = scope.municipality {
            having += " AND sum(owner_municipality = ?) > 0"
            values.append(.integer(Int64(code)))
        }
        return try database.query("""
            SELECT d.client_number, d.n, (SELECT group_concat(DISTINCT o.owner_municipality) FROM clients o
                                          WHERE o.client_number = d.client_number AND \(ReportSQL.live("o")))
            FROM (SELECT client_number, count(*) AS n FROM clients WHERE \(ReportSQL.live())
                  GROUP BY client_number HAVING \(having)) d
            ORDER BY d.client_number
            """, values) { row in
            DuplicateClientNumber(clientNumber: row.string(0) ?? "", count: Int(row.int64(1)),
                                  municipalities: (row.string(2) ?? "").split(separator: ",").compactMap { Int($0) }.sorted())
        }
    }
}
