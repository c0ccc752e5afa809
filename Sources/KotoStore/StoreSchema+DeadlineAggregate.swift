import KotoCore

/// Each open client's next pending time limit under the configured deadline
/// rules, kept by SQLite triggers generated from those rules: a client's
/// next due date depends on its own row, its live referrals and the rules,
/// never on today, so the deadlines report reads it (counts per state are
/// index ranges around today, the work list an index in urgency order)
/// instead of evaluating every rule for every client on each request.
///
/// The SQL computes what `DeadlineRule.next(of:for:)` computes (the tests
/// compare the two on randomized histories): dates are valid `YYYY-MM-DD`
/// from 1800 to 9999 (`date(x) IS x`), months clamp the day to the target
/// month's end, the earliest pending due date wins and the first listed rule
/// on a tie. Like `ReportAggregates` it is derived state, local to each
/// replica: no wire format, no schema version. The rules are part of the
/// triggers' SQL, so a writable open with other rules (a changed
/// `reports.deadlineRules`) finds objects that are not its own and builds
/// them again from the rows; a reader whose rules differ from those the
/// database holds evaluates the rules itself (`MergedView.deadlineListing`).
enum DeadlineAggregate {
    static let table = "deadline_next"

    /// `deadline_next` and its two orders: most urgent first for the region, and within one municipality.
    static let tableSQL = """
        CREATE TABLE deadline_next (client_id TEXT NOT NULL PRIMARY KEY, municipality INTEGER NOT NULL, \
        client_number TEXT NOT NULL, rule TEXT NOT NULL, due TEXT NOT NULL) WITHOUT ROWID
        """
    static let indexes: [(name: String, sql: String)] = [
        ("deadline_next_due", "CREATE INDEX deadline_next_due ON deadline_next (due, municipality, client_number, client_id, rule)"),
        ("deadline_next_municipality",
         "CREATE INDEX deadline_next_municipality ON deadline_next (municipality, due, client_number, client_id, rule)"),
    ]

    /// The client column of a rule's date.
    private static func column(_ field: String) -> String { RecordKind.client.field(named: field)?.column ?? field }

    /// A date the rules can read: a valid `YYYY-MM-DD` from 1800 (as `LocalDate` parses it). `date(x)` alone
    /// echoes 30 February; a modifier makes SQLite normalise it, so only a real day comes back unchanged.
    private static func valid(_ expression: String) -> String {
        "(date(\(expression), '+0 days') IS \(expression) AND \(expression) >= '1800-01-01')"
    }

    /// SQL text of a string literal.
    private static func literal(_ text: String) -> String { "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'" }

    /// The pending due date of `rule` for client `c` (text), or NULL: as `DeadlineRule.pendingDueDate`.
    static func pendingDue(_ rule: DeadlineRule) -> String {
        let anchor = "c.\(column(rule.from.rawValue))"
        var due: String, negative: Bool
        switch rule.period {
        case .days(let days):
            due = "date(\(anchor), '\(days) days')"
            negative = days < 0
        case .months(let months):
            // SQLite rolls an overflowing day into the next month (31 January + 1 month = 3 March): clamp it instead.
            let moved = "date(\(anchor), '\(months) months')"
            due = "(CASE WHEN substr(\(moved), 9, 2) = substr(\(anchor), 9, 2) THEN \(moved) "
                + "ELSE date(\(anchor), '\(months) months', 'start of month', '-1 day') END)"
            negative = months < 0
        }
        // Beyond 9999 SQLite has no date (NULL), as `LocalDate` has none; before 1800 only a negative period goes.
        if negative { due = "(CASE WHEN \(due) >= '1800-01-01' THEN \(due) END)" }
        let met: String
        if rule.metBy == .referralDate {
            // The earliest live referral on or after the anchor (report_placements_referrals holds them in client order).
            let referral = """
                (SELECT min(p.referral_date) FROM placements p WHERE p.client_id = c.id AND p.referral_date IS NOT NULL \
                AND \(ReportSQL.live("p")) AND p.type = 'service_enrolment' AND p.referral_date >= \(anchor) \
                AND \(valid("p.referral_date")))
                """
            met = rule.within ? "\(referral) <= \(due)" : "\(referral) IS NOT NULL"
        } else {
            let evidence = "c.\(column(rule.metBy.rawValue))"
            met = "\(valid(evidence)) AND \(evidence) >= \(anchor)" + (rule.within ? " AND \(evidence) <= \(due)" : "")
        }
        return "(CASE WHEN \(valid(anchor)) THEN CASE WHEN \(met) THEN NULL ELSE \(due) END END)"
    }

    /// Inserts the next limit of the clients that `filter` (on `c`) selects, if one is pending.
    static func insertNext(_ rules: [DeadlineRule], where filter: String) -> String {
        let dues = rules.enumerated().map { "\(pendingDue($0.element)) AS d\($0.offset)" }.joined(separator: ", ")
        // '~' sorts after every date: the earliest pending due date, '~' when none is. `OFFSET 0` keeps SQLite
        // from flattening the innermost query into the others, which would evaluate each rule's dates again.
        let sentinels = rules.indices.map { "coalesce(d\($0), '~')" }
        let earliest = sentinels.count == 1 ? sentinels[0] : "min(\(sentinels.joined(separator: ", ")))"
        let pick = "CASE m " + rules.enumerated().map { "WHEN d\($0.offset) THEN \(literal($0.element.id))" }.joined(separator: " ") + " END"
        return """
            INSERT INTO deadline_next (client_id, municipality, client_number, rule, due)
            SELECT id, municipality, number, \(pick), m FROM (
              SELECT id, municipality, number, \(rules.indices.map { "d\($0)" }.joined(separator: ", ")), \(earliest) AS m FROM (
                SELECT c.id AS id, coalesce(c.owner_municipality, 0) AS municipality, coalesce(c.client_number, '') AS number, \(dues)
                FROM clients c WHERE \(filter) AND \(ReportSQL.live("c")) AND \(ReportSQL.openProcess("c.")) LIMIT -1 OFFSET 0))
            WHERE m <> '~';
            """
    }

    /// Drops and recomputes the next limit of client `id` (an SQL expression), if `condition` holds.
    private static func recompute(_ rules: [DeadlineRule], _ id: String, if condition: String? = nil) -> String {
        let also = condition.map { " AND \($0)" } ?? ""
        return "DELETE FROM deadline_next WHERE client_id = \(id)\(also);\n" + insertNext(rules, where: "c.id = \(id)\(also)")
    }

    /// The client columns a next limit under `rules` reads.
    private static func clientColumns(_ rules: [DeadlineRule]) -> [String] {
        ["id", "status", "owner_municipality", "client_number", "deleted", "erased", "awaiting_erase"]
            + rules.map { column($0.from.rawValue) } + rules.filter { $0.metBy != .referralDate }.map { column($0.metBy.rawValue) }
    }

    /// A placement that is a live referral of some client.
    private static func referral(_ row: String) -> String {
        "(\(row).referral_date IS NOT NULL AND \(row).type = 'service_enrolment' AND \(row).client_id IS NOT NULL AND \(ReportSQL.live(row)))"
    }

    private static func changed(_ columns: [String]) -> String {
        Array(Set(columns)).sorted().map { "old.\($0) IS NOT new.\($0)" }.joined(separator: " OR ")
    }

    private static func trigger(_ name: String, _ event: String, when: String? = nil, _ body: String...) -> (name: String, sql: String) {
        (name, "CREATE TRIGGER \(name) AFTER \(event)\(when.map { " WHEN \($0)" } ?? "") BEGIN\n\(body.joined(separator: "\n"))\nEND")
    }

    /// The triggers for `rules`; those on placements only when a rule is met by a referral.
    static func triggers(_ rules: [DeadlineRule]) -> [(name: String, sql: String)] {
        var triggers = [
            trigger("deadline_clients_insert", "INSERT ON clients", insertNext(rules, where: "c.id = new.id")),
            trigger("deadline_clients_delete", "DELETE ON clients", "DELETE FROM deadline_next WHERE client_id = old.id;"),
            trigger("deadline_clients_update", "UPDATE ON clients", when: changed(clientColumns(rules)),
                    "DELETE FROM deadline_next WHERE client_id = old.id;", recompute(rules, "new.id")),
        ]
        if rules.contains(where: { $0.metBy == .referralDate }) {
            triggers += [
                trigger("deadline_placements_insert", "INSERT ON placements", when: referral("new"), recompute(rules, "new.client_id")),
                trigger("deadline_placements_delete", "DELETE ON placements", when: referral("old"), recompute(rules, "old.client_id")),
                trigger("deadline_placements_update", "UPDATE ON placements",
                        when: "(\(referral("old")) OR \(referral("new"))) AND (\(changed(["referral_date", "type", "client_id", "deleted", "erased", "awaiting_erase"])))",
                        recompute(rules, "old.client_id"), recompute(rules, "new.client_id", if: "new.client_id IS NOT old.client_id")),
            ]
        }
        return triggers
    }

    /// Every schema object for `rules`, as `sqlite_master` holds it (none without rules).
    static func objects(_ rules: [DeadlineRule]) -> [(type: String, name: String, sql: String)] {
        guard !rules.isEmpty else { return [] }
        return [("table", table, tableSQL)] + indexes.map { ("index", $0.name, $0.sql) } + triggers(rules).map { ("trigger", $0.name, $0.sql) }
    }

    private static func key(_ type: String, _ name: String, _ sql: String) -> String { "\(type)\u{0}\(name)\u{0}\(sql)" }

    /// The `deadline_…` objects the database holds.
    private static func found(_ database: Database) throws -> [(type: String, name: String, sql: String)] {
        try database.query("""
            SELECT type, name, sql FROM sqlite_master WHERE substr(name, 1, 9) = 'deadline_' AND type IN ('table', 'index', 'trigger')
            """) { (type: $0.string(0) ?? "", name: $0.string(1) ?? "", sql: $0.string(2) ?? "") }
    }

    /// Whether the database keeps the next limits for exactly `rules`.
    static func holds(_ database: Database, rules: [DeadlineRule]) throws -> Bool {
        guard !rules.isEmpty else { return false }
        return Set(try found(database).map { key($0.type, $0.name, $0.sql) }) == Set(objects(rules).map { key($0.type, $0.name, $0.sql) })
    }

    /// Makes the table and triggers exactly those of `rules`: kept when they
    /// are, else dropped and built again from the rows (none without rules).
    /// Inside the open's transaction.
    static func ensure(_ database: Database, rules: [DeadlineRule]) throws {
        let existing = try found(database)
        if Set(existing.map { key($0.type, $0.name, $0.sql) }) == Set(objects(rules).map { key($0.type, $0.name, $0.sql) }) { return }
        for object in existing where object.type == "trigger" { try database.execute("DROP TRIGGER \(object.name)") }
        for object in existing where object.type == "table" { try database.execute("DROP TABLE \(object.name)") }
        guard !rules.isEmpty else { return }
        try database.execute(tableSQL)
        try database.execute(insertNext(rules, where: "1"))
        for index in indexes { try database.execute(index.sql) }
        for trigger in triggers(rules) { try database.execute(trigger.sql) }
    }
}
