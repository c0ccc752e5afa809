import KotoCore

/// The record tables' derived state set aside for a bulk load (a snapshot
/// import of a whole region): their secondary indexes, the report
/// aggregates and the `deadline_next` table with their triggers. Kept while
/// a million rows go in, each row would cost a B-tree insert per index at a
/// random place and a run of every trigger; dropped and built again after
/// the rows, each index costs one sort and each aggregate one `GROUP BY`.
/// Inside the caller's transaction, so a refused load leaves every object as
/// it was, and the rebuilt objects are exactly those an open makes.
struct BulkLoad {
    /// `CREATE INDEX` statements of the record tables' indexes, as `sqlite_master` holds them.
    private let indexes: [String]
    private let deadlineRules: [DeadlineRule]

    private static var recordTables: String { RecordKind.allCases.map { "'\($0.table)'" }.joined(separator: ", ") }

    /// Drops the derived objects. Primary keys and indexes that lead with
    /// `id` stay (the rows arrive in id order, so they grow at their end).
    static func begin(_ database: Database, deadlineRules: [DeadlineRule]) throws -> BulkLoad {
        // An index leading with `id` stays: rows arrive in id order, so it only grows at its end.
        let indexes = try database.query("""
            SELECT name, sql FROM sqlite_master m WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (\(recordTables))
            AND (SELECT name FROM pragma_index_info(m.name) WHERE seqno = 0) IS NOT 'id' ORDER BY name
            """) { (name: $0.string(0) ?? "", sql: $0.string(1) ?? "") }
        let triggers = try database.query("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (\(recordTables)) ORDER BY name") { $0.string(0) ?? "" }
        // Triggers first: they name the aggregate tables.
        for name in triggers { try database.execute("DROP TRIGGER \(name)") }
        for index in indexes { try database.execute("DROP INDEX \(index.name)") }
        for table in ReportAggregates.tables.map(\.name) + [DeadlineAggregate.table] {
            try database.execute("DROP TABLE IF EXISTS \(table)")
        }
        return BulkLoad(indexes: indexes.map(\.sql), deadlineRules: deadlineRules)
    }

    /// Builds every dropped object again from the rows now in the tables.
    func finish(_ database: Database) throws {
        for sql in indexes { try database.execute(sql) }
        try ReportAggregates.ensure(database)
        try DeadlineAggregate.ensure(database, rules: deadlineRules)
    }
}
