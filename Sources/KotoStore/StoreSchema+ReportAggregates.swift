/// Counts the reports read instead of counting rows, kept by SQLite triggers
/// on the record tables in the statement that changes a row — local writes,
/// remote merges (each field's change is an `UPDATE` of the row), deletes,
/// erases, restores and a row removed with plain SQL alike — so they always
/// equal what the report queries would count from the rows (the
/// `MergedView` reference queries recompute them; the tests compare).
///
/// They are derived state like the report indexes: nothing replicated, no
/// wire format, no schema version. Every writable open checks that its
/// tables and triggers are exactly this build's (`sqlite_master`) and
/// otherwise drops them and builds them again from the rows, in one
/// transaction; a read-only connection on a database without them falls
/// back to counting rows (`MergedView.hasReportAggregates`).
enum ReportAggregates {
    /// The aggregate tables, each `WITHOUT ROWID` on its key.
    static let tables: [(name: String, sql: String)] = [
        // Live placements by type and status (the region's overview).
        ("report_placement_groups", """
            CREATE TABLE report_placement_groups (type TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL, \
            PRIMARY KEY (type, status)) WITHOUT ROWID
            """),
        // Live service enrolments by service and status (services report; enrolments into an office's services).
        ("report_service_enrolments", """
            CREATE TABLE report_service_enrolments (service_id TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL, \
            PRIMARY KEY (service_id, status)) WITHOUT ROWID
            """),
        // Live placements of live clients by the client's owner: an office's own clients' placements, with the
        // service (enrolments) or municipality (municipal placements) that tells them from its other two parts.
        ("report_owner_placements", """
            CREATE TABLE report_owner_placements (owner INTEGER NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL, \
            service_id TEXT NOT NULL, municipality INTEGER NOT NULL, n INTEGER NOT NULL, \
            PRIMARY KEY (owner, type, status, service_id, municipality)) WITHOUT ROWID
            """),
        // Live clients per client number (rows at zero are removed; no number: the empty blob).
        ("report_client_numbers", """
            CREATE TABLE report_client_numbers (client_number NOT NULL PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID
            """),
        // Placements (any state) naming a client or service (`record`: its table) of which no row exists.
        ("report_missing_references", """
            CREATE TABLE report_missing_references (record TEXT NOT NULL, ref_id TEXT NOT NULL, placement_id TEXT NOT NULL, \
            PRIMARY KEY (record, ref_id, placement_id)) WITHOUT ROWID
            """),
    ]

    /// Indexes on the aggregate tables.
    static let indexes: [(name: String, sql: String)] = [
        ("client_numbers_shared",
         "CREATE INDEX client_numbers_shared ON report_client_numbers (client_number, n) WHERE n > 1"),
    ]

    // MARK: The contributions of one placement row (`row`: `new` or `old`), added (`sign` 1) or taken away (-1)

    private static func placementGroup(_ row: String, _ sign: String) -> String {
        """
        INSERT INTO report_placement_groups (type, status, n)
        SELECT coalesce(\(row).type, ''), coalesce(\(row).status, ''), \(sign) WHERE \(ReportSQL.live(row))
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
        """
    }

    private static func serviceEnrolment(_ row: String, _ sign: String) -> String {
        """
        INSERT INTO report_service_enrolments (service_id, status, n)
        SELECT \(row).service_id, coalesce(\(row).status, ''), \(sign)
        WHERE \(row).type = 'service_enrolment' AND \(row).service_id IS NOT NULL AND \(ReportSQL.live(row))
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
        """
    }

    /// The owner-keyed columns of placement `p` after `owner, `.
    private static func ownerKey(_ p: String) -> String {
        """
        coalesce(\(p).type, ''), coalesce(\(p).status, ''),
        CASE WHEN \(p).type = 'service_enrolment' THEN coalesce(\(p).service_id, '') ELSE '' END,
        CASE WHEN \(p).type = 'municipal_placement' THEN coalesce(\(p).municipality, -1) ELSE -1 END
        """
    }

    private static func ownerPlacement(_ row: String, _ sign: String) -> String {
        """
        INSERT INTO report_owner_placements (owner, type, status, service_id, municipality, n)
        SELECT c.owner_municipality, \(ownerKey(row)), \(sign) FROM clients c
        WHERE c.id = \(row).client_id AND c.owner_municipality IS NOT NULL AND \(ReportSQL.live("c")) AND \(ReportSQL.live(row))
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
        """
    }

    private static func missingReferences(added row: String) -> String {
        """
        INSERT OR IGNORE INTO report_missing_references (record, ref_id, placement_id)
        SELECT 'clients', \(row).client_id, \(row).id
        WHERE \(row).client_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM clients WHERE id = \(row).client_id);
        INSERT OR IGNORE INTO report_missing_references (record, ref_id, placement_id)
        SELECT 'services', \(row).service_id, \(row).id
        WHERE \(row).service_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM services WHERE id = \(row).service_id);
        """
    }

    private static func missingReferences(removed row: String) -> String {
        """
        DELETE FROM report_missing_references WHERE record = 'clients' AND ref_id = \(row).client_id AND placement_id = \(row).id;
        DELETE FROM report_missing_references WHERE record = 'services' AND ref_id = \(row).service_id AND placement_id = \(row).id;
        """
    }

    // MARK: The contributions of one client row

    /// Its placements (those already there: a client's row may arrive after them) in its owner's counts.
    private static func clientPlacements(_ row: String, _ sign: String) -> String {
        """
        INSERT INTO report_owner_placements (owner, type, status, service_id, municipality, n)
        SELECT \(row).owner_municipality, \(ownerKey("p")), \(sign) * count(*) FROM placements p
        WHERE p.client_id = \(row).id AND \(row).owner_municipality IS NOT NULL AND \(ReportSQL.live(row)) AND \(ReportSQL.live("p"))
        GROUP BY 2, 3, 4, 5
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
        """
    }

    /// A client without a number (a row a remote update created before its
    /// create arrived) counts under the empty blob, which no text equals.
    private static func clientNumber(_ row: String, _ sign: String) -> String {
        """
        INSERT INTO report_client_numbers (client_number, n)
        SELECT coalesce(\(row).client_number, x''), \(sign) WHERE \(ReportSQL.live(row))
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
        DELETE FROM report_client_numbers WHERE client_number = coalesce(\(row).client_number, x'') AND n = 0;
        """
    }

    /// Rows of `table` (`clients`, `services`) appearing: placements naming them are no longer missing one.
    private static func referencedAppears(_ table: String, _ row: String) -> String {
        "DELETE FROM report_missing_references WHERE record = '\(table)' AND ref_id = \(row).id;"
    }

    /// Rows of `table` going: the placements naming them (`column`) now miss one.
    private static func referencedGoes(_ table: String, _ column: String, _ row: String) -> String {
        """
        INSERT OR IGNORE INTO report_missing_references (record, ref_id, placement_id)
        SELECT '\(table)', \(row).id, p.id FROM placements p WHERE p.\(column) = \(row).id;
        """
    }

    /// A change of these placement columns can change a count.
    private static let placementColumns = ["type", "status", "client_id", "service_id", "municipality", "id"] + liveness
    private static let clientColumns = ["owner_municipality", "client_number", "id"] + liveness
    private static let liveness = ["deleted", "erased", "awaiting_erase"]

    private static func changed(_ columns: [String]) -> String {
        columns.map { "old.\($0) IS NOT new.\($0)" }.joined(separator: " OR ")
    }

    private static func trigger(_ name: String, _ event: String, when: String? = nil, _ body: String...) -> (String, String) {
        (name, "CREATE TRIGGER \(name) AFTER \(event)\(when.map { " WHEN \($0)" } ?? "") BEGIN\n\(body.joined(separator: "\n"))\nEND")
    }

    static let triggers: [(name: String, sql: String)] = [
        trigger("report_placements_insert", "INSERT ON placements",
                placementGroup("new", "1"), serviceEnrolment("new", "1"), ownerPlacement("new", "1"), missingReferences(added: "new")),
        trigger("report_placements_delete", "DELETE ON placements",
                placementGroup("old", "-1"), serviceEnrolment("old", "-1"), ownerPlacement("old", "-1"), missingReferences(removed: "old")),
        trigger("report_placements_update", "UPDATE ON placements", when: changed(placementColumns),
                placementGroup("old", "-1"), serviceEnrolment("old", "-1"), ownerPlacement("old", "-1"),
                placementGroup("new", "1"), serviceEnrolment("new", "1"), ownerPlacement("new", "1")),
        trigger("report_placements_references", "UPDATE ON placements",
                when: changed(["client_id", "service_id", "id"]), missingReferences(removed: "old"), missingReferences(added: "new")),
        trigger("report_clients_insert", "INSERT ON clients",
                clientPlacements("new", "1"), clientNumber("new", "1"), referencedAppears("clients", "new")),
        trigger("report_clients_delete", "DELETE ON clients",
                clientPlacements("old", "-1"), clientNumber("old", "-1"), referencedGoes("clients", "client_id", "old")),
        trigger("report_clients_update", "UPDATE ON clients", when: changed(clientColumns),
                clientPlacements("old", "-1"), clientNumber("old", "-1"), clientPlacements("new", "1"), clientNumber("new", "1")),
        trigger("report_clients_id", "UPDATE ON clients", when: "old.id IS NOT new.id",
                referencedGoes("clients", "client_id", "old"), referencedAppears("clients", "new")),
        trigger("report_services_insert", "INSERT ON services", referencedAppears("services", "new")),
        trigger("report_services_delete", "DELETE ON services", referencedGoes("services", "service_id", "old")),
        trigger("report_services_id", "UPDATE ON services", when: "old.id IS NOT new.id",
                referencedGoes("services", "service_id", "old"), referencedAppears("services", "new")),
    ]

    /// Fills the empty tables from the rows, as the triggers would have kept them.
    static let fill: [String] = [
        """
        INSERT INTO report_placement_groups (type, status, n)
        SELECT coalesce(type, ''), coalesce(status, ''), count(*) FROM placements WHERE \(ReportSQL.live()) GROUP BY 1, 2
        """,
        """
        INSERT INTO report_service_enrolments (service_id, status, n)
        SELECT service_id, coalesce(status, ''), count(*) FROM placements
        WHERE type = 'service_enrolment' AND service_id IS NOT NULL AND \(ReportSQL.live()) GROUP BY 1, 2
        """,
        """
        INSERT INTO report_owner_placements (owner, type, status, service_id, municipality, n)
        SELECT c.owner_municipality, \(ownerKey("p")), count(*) FROM clients c JOIN placements p ON p.client_id = c.id
        WHERE c.owner_municipality IS NOT NULL AND \(ReportSQL.live("c")) AND \(ReportSQL.live("p")) GROUP BY 1, 2, 3, 4, 5
        """,
        """
        INSERT INTO report_client_numbers (client_number, n)
        SELECT coalesce(client_number, x''), count(*) FROM clients WHERE \(ReportSQL.live()) GROUP BY 1
        """,
        """
        INSERT INTO report_missing_references (record, ref_id, placement_id)
        SELECT 'clients', p.client_id, p.id FROM placements p
        WHERE p.client_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.id = p.client_id)
        UNION
        SELECT 'services', p.service_id, p.id FROM placements p
        WHERE p.service_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM services s WHERE s.id = p.service_id)
        """,
    ]

    /// Every schema object of the aggregates, as `sqlite_master` holds it.
    static var objects: [(type: String, name: String, sql: String)] {
        tables.map { ("table", $0.name, $0.sql) } + indexes.map { ("index", $0.name, $0.sql) }
            + triggers.map { ("trigger", $0.name, $0.sql) }
    }

    /// Makes the aggregates exactly this build's: kept when they are, else
    /// dropped and built again from the rows. Inside the open's transaction.
    static func ensure(_ database: Database) throws {
        // Tables and triggers named `report_…` are all the aggregates'; `report_…` indexes are the report indexes'.
        let mine = Set(indexes.map(\.name))
        let found = try database.query("""
            SELECT type, name, sql FROM sqlite_master
            WHERE (substr(name, 1, 7) = 'report_' AND type IN ('table', 'trigger')) OR (type = 'index' AND sql IS NOT NULL)
            """) { (type: $0.string(0) ?? "", name: $0.string(1) ?? "", sql: $0.string(2) ?? "") }
            .filter { $0.type != "index" || mine.contains($0.name) }
        func key(_ type: String, _ name: String, _ sql: String) -> String { "\(type)\u{0}\(name)\u{0}\(sql)" }
        if Set(found.map { key($0.type, $0.name, $0.sql) }) == Set(objects.map { key($0.type, $0.name, $0.sql) }) { return }
        // Triggers first: one of another build may name a table about to go. A table takes its indexes along.
        for object in found where object.type == "trigger" { try database.execute("DROP TRIGGER \(object.name)") }
        for object in found where object.type == "table" { try database.execute("DROP TABLE \(object.name)") }
        for table in tables { try database.execute(table.sql) }
        for statement in fill { try database.execute(statement) }
        for index in indexes { try database.execute(index.sql) }
        for trigger in triggers { try database.execute(trigger.sql) }
    }
}
