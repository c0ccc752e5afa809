import KotoCore

/// The replica database's schema, versioned by `PRAGMA user_version` and
/// moved forward only, one migration at a time, each in its own transaction.
enum StoreSchema {
    /// A migration takes the schema from `version - 1` to `version`.
    struct Migration {
        let version: Int
        let statements: [String]
    }

    static let migrations: [Migration] = [
        Migration(version: 1, statements: initial),
        Migration(version: 2, statements: signedChains),
        Migration(version: 3, statements: peerVectors),
        Migration(version: 4, statements: chainHeadsTable),
    ]

    /// The schema version this build writes; peers compare it before syncing.
    static var currentVersion: Int { migrations.last!.version }

    /// `deadlineRules`: the rules the replica keeps each client's next limit for (`DeadlineAggregate`).
    static func migrate(_ database: Database, deadlineRules: [DeadlineRule] = DeadlineRule.integrationActDefaults) throws {
        let found = try database.query("PRAGMA user_version") { Int($0.int64(0)) }.first ?? 0
        guard found <= currentVersion else {
            throw ReplicaStoreError.schemaTooNew(found: found, supported: currentVersion)
        }
        for migration in migrations where migration.version > found {
            if migration.version == 2 && found == 1 {
                // Schema 1 logs hold unsigned changes that no peer would accept now.
                let held = try database.query("SELECT count(*) FROM change_log") { $0.int64(0) }.first ?? 0
                guard held == 0 else {
                    throw ReplicaStoreError.corrupt("the database holds \(held) unsigned changes from schema 1; start this office from an empty data directory (it pulls its region back from the peers)")
                }
            }
            try database.transaction {
                for sql in migration.statements {
                    try database.execute(sql)
                }
                try database.execute("PRAGMA user_version = \(migration.version)")
            }
        }
        try database.transaction {
            for name in retiredReportIndexes { try database.execute("DROP INDEX IF EXISTS \(name)") }
            for index in reportIndexes { try database.execute(index.sql) }
            try ReportAggregates.ensure(database)
            try DeadlineAggregate.ensure(database, rules: deadlineRules)
        }
    }

    /// Indexes for the merged view's report queries (`MergedView+Reports`).
    /// They change no replicated state and no wire format, so they are not
    /// a migration (which would bump the schema version peers compare before
    /// syncing): every writable open creates the missing ones, idempotently,
    /// and a replica of this schema version with or without them syncs alike.
    /// Each is partial on the rows the reports count (`ReportSQL.live`, which
    /// a query's `WHERE` repeats) or, for the integrity report, on the rows
    /// they leave out (`ReportSQL.notLive`), and holds every column its
    /// queries read, the liveness columns too, so SQLite answers from the
    /// index alone. Counts that would read most of a table are kept by
    /// triggers instead (`ReportAggregates`, created in the same transaction).
    /// What each buys is measured by `kotosync-bench reports` (BENCHMARKS.md).
    static let reportIndexes: [(name: String, sql: String)] = reportIndexColumns.map { name, columns, condition in
        // nil: partial on the rows the merged view does not show.
        (name, "CREATE INDEX IF NOT EXISTS \(name) ON \(columns) WHERE \(condition.map { $0 + ReportSQL.live() } ?? ReportSQL.notLive())")
    }

    /// Each report index: its name, its table and columns, and what it is
    /// partial on besides liveness (with a trailing `AND`; nil: partial on
    /// the rows that are not live).
    private static let reportIndexColumns: [(String, String, String?)] = [
        // overview: clients by owner × permit basis × status.
        ("report_clients_groups", "clients (owner_municipality, permit_basis, status, \(ReportSQL.liveColumns))", ""),
        // deadlines: every date the rules read of the clients whose process is open, in id order.
        ("report_clients_open", """
            clients (id, status, owner_municipality, client_number, first_permit_date, arrival_date, assessment_date, \
            plan_start, plan_end, \(ReportSQL.liveColumns))
            """, "\(ReportSQL.openProcess("")) AND "),
        // integrity: the clients and services the merged view does not show, in id order.
        ("report_clients_not_live", "clients (id, \(ReportSQL.liveColumns))", nil),
        ("report_services_not_live", "services (id, \(ReportSQL.liveColumns))", nil),
        // placements: municipal placements per municipality, status and year (type first: with the
        // municipality it outranks placements_municipality, which would read the table).
        ("report_placements_municipal",
         "placements (type, municipality, status, offered_date, arrival_date, \(ReportSQL.liveColumns))", ""),
        // deadlines: the referrals in client order (only service enrolments hold one).
        ("report_placements_referrals", "placements (client_id, referral_date, type, \(ReportSQL.liveColumns))",
         "referral_date IS NOT NULL AND "),
    ]

    /// Report indexes of earlier builds, dropped at open: the report
    /// aggregates (`ReportAggregates`) answer what they served, and each
    /// index costs every write of its table.
    static let retiredReportIndexes = [
        "report_clients_owner", "report_clients_numbers", "report_clients_deadlines", "report_placements_groups",
        "report_placements_by_client", "report_placements_by_service",
    ]

    static func recordTable(_ kind: RecordKind) -> String {
        let columns = kind.fields.map { "\($0.column) \($0.type.storage.sqlType)" }.joined(separator: ", ")
        return """
        CREATE TABLE \(kind.table) (
            id TEXT PRIMARY KEY NOT NULL, \(columns),
            row_clock BLOB NOT NULL, stamps BLOB NOT NULL,
            erased INTEGER NOT NULL DEFAULT 0, open_conflicts INTEGER NOT NULL DEFAULT 0)
        """
    }

    /// Signed hash chains, the state digest, erases awaited, own forks.
    static let signedChains: [String] = [
        "ALTER TABLE change_log ADD COLUMN payload_digest BLOB NOT NULL DEFAULT x''",
        "ALTER TABLE change_log ADD COLUMN chain_hash BLOB NOT NULL DEFAULT x''",
        "ALTER TABLE change_log ADD COLUMN signature BLOB",
        "ALTER TABLE node_state ADD COLUMN state_digest BLOB NOT NULL DEFAULT x''",
        "ALTER TABLE node_state ADD COLUMN awaiting_erase_rows INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE node_state ADD COLUMN own_fork TEXT",
    ] + RecordKind.allCases.flatMap { kind in [
        "ALTER TABLE \(kind.table) ADD COLUMN digest BLOB",
        "ALTER TABLE \(kind.table) ADD COLUMN awaiting_erase INTEGER NOT NULL DEFAULT 0",
    ] }

    static let initial: [String] = [
        """
        CREATE TABLE node_state (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            node_id TEXT NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL,
            log_end INTEGER NOT NULL, incarnation TEXT NOT NULL, created_at INTEGER NOT NULL)
        """,
        "CREATE TABLE version_vector (origin TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID",
        "CREATE TABLE log_floor (origin TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID",
        """
        CREATE TABLE change_log (
            pos INTEGER PRIMARY KEY, origin TEXT NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL,
            record TEXT NOT NULL, row_id TEXT NOT NULL, kind INTEGER NOT NULL,
            payload BLOB, row_clock BLOB NOT NULL)
        """,
        "CREATE UNIQUE INDEX change_log_dot ON change_log (origin, seq)",
        "CREATE INDEX change_log_row ON change_log (record, row_id)",
        """
        CREATE TABLE conflicts (
            record TEXT NOT NULL, row_id TEXT NOT NULL, field TEXT NOT NULL,
            origin TEXT NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL, value BLOB NOT NULL,
            winner_origin TEXT NOT NULL, winner_seq INTEGER NOT NULL, first_seen INTEGER NOT NULL,
            PRIMARY KEY (record, row_id, field, origin, seq)) WITHOUT ROWID
        """,
        """
        CREATE TABLE peer_cursors (
            peer TEXT PRIMARY KEY NOT NULL, incarnation TEXT, position INTEGER NOT NULL DEFAULT 0,
            peer_log_position INTEGER NOT NULL DEFAULT 0, last_success INTEGER, last_error TEXT,
            failures INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID
        """,
        recordTable(.service),
        recordTable(.client),
        recordTable(.placement),
        "CREATE INDEX services_category ON services (category, status)",
        "CREATE INDEX services_provider_type ON services (provider_type)",
        "CREATE INDEX clients_owner ON clients (owner_municipality, status)",
        "CREATE INDEX clients_number ON clients (client_number)",
        "CREATE INDEX clients_retention ON clients (retention_until)",
        "CREATE INDEX placements_client ON placements (client_id)",
        "CREATE INDEX placements_service ON placements (service_id)",
        "CREATE INDEX placements_municipality ON placements (municipality, type, status)",
        "CREATE INDEX records_with_conflicts_clients ON clients (open_conflicts) WHERE open_conflicts > 0",
    ]
}
