import CSQLite
import Foundation
import KotoCore
import KotoCrypto
import KotoStore

// kotosync-bench: measures, on the same generated client rows in one run,
//   raw    plain SQLite inserts (same columns, one transaction, one prepared statement)
//   local  local writes through ReplicaStore (validation, row, stamps, change log, VV), one transaction
//   apply  remote apply of those changes as one batch into a fresh replica
//   sql    the store's SQL for that apply alone (payloads, digests, links pre-computed, no merge): the schema's floor
//   checks the integrity checks of that apply alone (payload SHA-256 and chain link per change, one
//          Ed25519 verification for the batch), and the row digests of the state digest
// and prints changes/s with each store path's ratio to raw, and how much slower apply is than
// the same apply without its checks. Medians of --runs. Keys are generated in-process.
// `kotosync-bench region` measures five real daemons (see RegionBenchmark.swift),
// `kotosync-bench reports` the reports on a replica of 100k clients (see ReportsBenchmark.swift),
// `kotosync-bench compaction` the log's size against the live rows under compaction (CompactionBenchmark.swift).

struct Options {
    var rows = 20_000
    var runs = 3
    var synchronous = SynchronousMode.full
    var directory = FileManager.default.temporaryDirectory.path

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var reader = BenchArguments(arguments, from: 1)
        while let flag = reader.next() {
            switch flag {
            case "--rows": options.rows = positive(reader.value(), "--rows")
            case "--runs": options.runs = positive(reader.value(), "--runs")
            case "--synchronous":
                guard let mode = SynchronousMode(rawValue: reader.value().uppercased()) else { fail("--synchronous must be full, normal or off") }
                options.synchronous = mode
            case "--dir": options.directory = reader.value()
            case "-h", "--help":
                print("""
                usage: kotosync-bench [--rows N] [--runs N] [--synchronous full|normal|off] [--dir PATH]
                       kotosync-bench region --help
                       kotosync-bench reports --help
                       kotosync-bench load --help
                       kotosync-bench compaction --help
                       kotosync-bench bootstrap --help
                       kotosync-bench scale|wire|rss|all --help    (issue 10: N-node curve, wire bytes, RSS, every figure)
                Measures raw SQLite insert, local writes and remote apply of N client rows (default 20000),
                --runs times (default 3), and prints medians and each store path's ratio to both baselines:
                raw insert into a plain table of the client columns, and into one with the clients table's indexes.
                """)
                exit(0)
            default: fail("unknown argument \(flag) (see --help)")
            }
        }
        return options
    }
}

/// One mode's command line, read flag by flag; a flag's value that is
/// missing fails naming the flag.
struct BenchArguments {
    private let arguments: [String]
    private var index: Int

    init(_ arguments: [String], from start: Int = 0) {
        self.arguments = arguments
        index = start
    }

    /// The next flag, or nil at the end.
    mutating func next() -> String? {
        guard index < arguments.count else { return nil }
        defer { index += 1 }
        return arguments[index]
    }

    /// The value after the flag just read.
    mutating func value() -> String {
        guard let value = next() else { fail("\(arguments[index - 1]) needs a value") }
        return value
    }
}

func positive(_ text: String, _ flag: String) -> Int {
    guard let number = Int(text), number > 0 else { fail("\(flag) must be a positive integer") }
    return number
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("kotosync-bench: \(message)\n".utf8))
    exit(2)
}

/// Seeded rows so every run and every path sees the same data.
func generateClients(count: Int) -> [(UUID, FieldMap)] {
    generateClients(count: count, offset: 0)
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// CPU time of the calling thread: on a shared machine, what a report costs
/// apart from waiting for a core (wall time on an idle machine approaches it).
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Binds a client's field values to `statement` from parameter `first` on, in schema order.
func bindClientColumns(_ fields: FieldMap, to statement: Statement, from first: Int32) throws {
    for (index, spec) in RecordKind.client.fields.enumerated() {
        let column = first + Int32(index)
        switch fields[spec.name] ?? .null {
        case .null: try statement.bindNull(at: column)
        case .text(let text): try statement.bind(text, at: column)
        case .integer(let number): try statement.bind(number, at: column)
        case .bool(let flag): try statement.bind(flag ? 1 : 0, at: column)
        }
    }
}

/// Inserts `rows` into `table` (id and the client columns) in one transaction with one prepared statement.
func insertClients(_ rows: [(UUID, FieldMap)], into table: String, database: Database) throws -> Double {
    let specs = RecordKind.client.fields
    let sql = "INSERT INTO \(table) (id, \(specs.map(\.column).joined(separator: ", "))) VALUES (?\(String(repeating: ", ?", count: specs.count)))"
    return try seconds {
        try database.transaction {
            let statement = try database.statement(sql)
            for (id, fields) in rows {
                statement.reset()
                try statement.bind(.text(id.lowercased), at: 1)
                try bindClientColumns(fields, to: statement, from: 2)
                try statement.run()
            }
        }
    }
}

/// Baseline 1, plain SQLite: the store's client columns, no metadata, no
/// secondary index, one transaction.
func rawInsert(_ rows: [(UUID, FieldMap)], path: String, synchronous: SynchronousMode) throws -> Double {
    let database = try Database(path: path, synchronous: synchronous)
    let specs = RecordKind.client.fields
    try database.execute("CREATE TABLE clients_raw (id TEXT PRIMARY KEY NOT NULL, "
        + specs.map { "\($0.column) \($0.type.storage.sqlType)" }.joined(separator: ", ") + ")")
    return try insertClients(rows, into: "clients_raw", database: database)
}

/// Baseline 2, cr-sqlite's comparison: the same client columns in a plain
/// (rowid) table that has every index the store's `clients` table has —
/// copied from a fresh store's `sqlite_master`, partial report indexes
/// included — plus the three local columns those indexes read (`erased`,
/// `awaiting_erase`, `open_conflicts`, left at 0). No triggers, no metadata.
func rawIndexedInsert(_ rows: [(UUID, FieldMap)], directory: URL, synchronous: SynchronousMode, identity: StoreIdentity) throws -> Double {
    let schemaPath = directory.appendingPathComponent("indexed-schema.sqlite").path
    _ = try ReplicaStore(path: schemaPath, nodeID: "larsmo", identity: identity)  // the store's indexes, as it creates them
    let indexes = try Database(path: schemaPath, synchronous: synchronous, readOnly: true).query(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'clients' AND sql IS NOT NULL ORDER BY name") { $0.string(0) ?? "" }
    precondition(indexes.count >= 3, "the store's clients table must have its indexes")
    let database = try Database(path: directory.appendingPathComponent("raw-indexed.sqlite").path, synchronous: synchronous)
    let specs = RecordKind.client.fields
    try database.execute("CREATE TABLE clients (id TEXT PRIMARY KEY NOT NULL, "
        + specs.map { "\($0.column) \($0.type.storage.sqlType)" }.joined(separator: ", ")
        + ", erased INTEGER NOT NULL DEFAULT 0, awaiting_erase INTEGER NOT NULL DEFAULT 0, open_conflicts INTEGER NOT NULL DEFAULT 0)")
    for sql in indexes { try database.execute(sql) }
    return try insertClients(rows, into: "clients", database: database)
}

/// Remote apply of `batch` into a fresh replica whose report-aggregate and
/// `deadline_next` triggers were dropped (a second connection drops them
/// after the store created them): apply minus this is the triggers' share.
func applyWithoutAggregateTriggers(_ batch: ChangeBatch, directory: URL, options: StoreOptions, identity: StoreIdentity) throws -> Double {
    let path = directory.appendingPathComponent("untriggered.sqlite").path
    let replica = try ReplicaStore(path: path, nodeID: "larsmo", identity: identity, options: options)
    let database = try Database(path: path, synchronous: options.synchronous)
    let triggers = try database.query("SELECT name FROM sqlite_master WHERE type = 'trigger'") { $0.string(0) ?? "" }
    precondition(!triggers.isEmpty, "the store must have its aggregate triggers")
    for name in triggers { try database.execute("DROP TRIGGER \(name)") }
    try database.close()
    return try seconds { try replica.apply(batch, from: "jakobstad") }
}

/// The store's SQL for applying `batch` alone — row lookup, log append
/// (with payload digest, chain link and signature), row insert with stamps,
/// row clock and row digest — with every payload, digest and link computed
/// beforehand and no merge: the floor the store's schema sets for remote apply.
func storeSQLOnly(_ batch: ChangeBatch, directory: URL, synchronous: SynchronousMode, identity: StoreIdentity) throws -> Double {
    var options = StoreOptions()
    options.synchronous = synchronous
    let path = directory.appendingPathComponent("sql-only.sqlite").path
    _ = try ReplicaStore(path: path, nodeID: "larsmo", identity: identity, options: options)  // creates the schema
    let database = try Database(path: path, synchronous: synchronous)
    let specs = RecordKind.client.fields
    let ids = batch.changes.map { $0.rowID.lowercased }
    let payloads = batch.changes.map { WireFormat.encodeFields($0.fields, record: .client) }
    let payloadDigests = payloads.map { SHA256.hash($0) }
    let clocks = batch.changes.map { WireFormat.encodeClock($0.rowClock) }
    let stamps = batch.changes.map { change in
        WireFormat.encodeStamps(change.fields.mapValues { _ in FieldStamp(hlc: change.hlc, dot: change.dot) }, record: .client)
    }
    let rowDigests = batch.changes.map { SHA256.hash(RowDigestFormat.bytes(.client, id: $0.rowID, state: freshRowState($0))) }
    let columns = ["id"] + specs.map(\.column) + ["row_clock", "stamps", "erased", "open_conflicts", "digest", "awaiting_erase"]
    let insertRow = "INSERT INTO clients (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
    let appendLog = """
        INSERT INTO change_log (pos, origin, seq, hlc, record, row_id, kind, payload, row_clock, payload_digest, chain_hash, signature)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    return try seconds {
        try database.transaction {
            for (index, change) in batch.changes.enumerated() {
                let lookup = try database.statement("SELECT client_number FROM clients WHERE id = ?")
                try lookup.bind(ids[index], at: 1)
                _ = try lookup.step()
                let log = try database.statement(appendLog)
                try log.bind([.integer(Int64(index + 1)), .text(change.dot.origin), .integer(Int64(change.dot.seq)),
                              .integer(Int64(bitPattern: change.hlc.rawValue)), .text("clients"), .text(ids[index]), .integer(1),
                              .blob(payloads[index]), .blob(clocks[index]), .blob(payloadDigests[index]), .blob(change.chainHash),
                              change.signature.map { .blob($0) } ?? .null])
                try log.run()
                let row = try database.statement(insertRow)
                try row.bind(ids[index], at: 1)
                for (offset, spec) in specs.enumerated() {
                    let column = Int32(offset + 2)
                    switch change.fields[spec.name] ?? .null {
                    case .null: try row.bindNull(at: column)
                    case .text(let text): try row.bind(text, at: column)
                    case .integer(let number): try row.bind(number, at: column)
                    case .bool(let flag): try row.bind(flag ? 1 : 0, at: column)
                    }
                }
                let meta = Int32(specs.count + 2)
                try row.bind([UInt8](clocks[index]), at: meta)
                try row.bind(stamps[index], at: meta + 1)
                try row.bind(0, at: meta + 2)
                try row.bind(0, at: meta + 3)
                try row.bind(rowDigests[index], at: meta + 4)
                try row.bind(0, at: meta + 5)
                try row.run()
            }
        }
    }
}

/// The merged state of a row after its first change (what apply digests for a new row).
func freshRowState(_ change: Change) -> RowState {
    var state = RowState()
    _ = state.apply(change)
    return state
}

/// The cost of the chain and signature checks alone over `batch` (one origin):
/// per change the payload's SHA-256, the header and the link's SHA-256 (compared
/// with the change's link), then one Ed25519 verification of the run's last
/// link. Payloads are encoded beforehand: apply encodes them for the log anyway.
func chainChecksOnly(_ batch: ChangeBatch, key: PublicKey) -> Double {
    let payloads = batch.changes.map { ChainFormat.payload($0) }
    var head = ChainFormat.genesis
    var intact = true
    let elapsed = seconds {
        for (index, change) in batch.changes.enumerated() {
            let payloadDigest = SHA256.hash(payloads[index])
            let link = SHA256.hash(parts: [head, ChainFormat.header(change), payloadDigest])
            intact = intact && link == change.chainHash
            head = link
        }
        let last = batch.changes[batch.changes.count - 1]
        intact = intact && key.verify(signature: last.signature ?? [], message: ChainFormat.signedMessage(last.chainHash))
    }
    precondition(intact, "the batch's chain and signature must verify")
    return elapsed
}

/// The state digest's extra work alone: each new row's canonical bytes and their SHA-256.
func rowDigestsOnly(_ batch: ChangeBatch) -> Double {
    let states = batch.changes.map(freshRowState)
    var sum = StateDigest.zero
    let elapsed = seconds {
        for (index, change) in batch.changes.enumerated() {
            sum.add(SHA256.hash(RowDigestFormat.bytes(.client, id: change.rowID, state: states[index])))
        }
    }
    precondition(sum != .zero)
    return elapsed
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func machine() -> String {
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
        .split(separator: "\n").first?.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { "\($0 / 1_048_576) GiB" } ?? "?"
    return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(memory) RAM, SQLite \(String(cString: sqlite3_libversion()))"
}

/// The store figures of one `runStoreBenchmark` run, medians over its runs,
/// by name (changes/s, ratios, milliseconds): what `kotosync-bench all` prints.
typealias StoreFigures = [String: Double]

/// Raw inserts (plain, and with the record table's indexes) vs local writes
/// vs remote apply vs the store's SQL alone, in one process on the same rows.
/// Prints the runs and a table with each store path's ratio to both
/// baselines, and returns the medians (keys: see `StoreFigures` below).
@discardableResult
func runStoreBenchmark(_ options: Options) -> StoreFigures {
    let rows = generateClients(count: options.rows)
    var raw: [Double] = [], indexed: [Double] = [], local: [Double] = [], apply: [Double] = [], sqlOnly: [Double] = []
    var applyTimes: [Double] = [], checkTimes: [Double] = [], digestTimes: [Double] = [], untriggered: [Double] = []
    var slowdown: [Double] = [], slowdownWithDigest: [Double] = []
    print("kotosync-bench store: \(options.rows) client rows, \(options.runs) runs, synchronous=\(options.synchronous.rawValue)")
    print("machine: \(machine())")
    do {
        // One key per node, generated in-process; both stores know both public keys.
        let originKey = try SigningKey.generate(), replicaKey = try SigningKey.generate()
        let region = RegionKeys(["jakobstad": [originKey.publicKey], "larsmo": [replicaKey.publicKey]])
        let originIdentity = StoreIdentity(signingKey: originKey, region: region)
        let replicaIdentity = StoreIdentity(signingKey: replicaKey, region: region)
        for run in 1...options.runs {
            let directory = URL(fileURLWithPath: options.directory).appendingPathComponent("kotosync-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            var storeOptions = StoreOptions()
            storeOptions.synchronous = options.synchronous

            let rawSeconds = try rawInsert(rows, path: directory.appendingPathComponent("raw.sqlite").path, synchronous: options.synchronous)
            let indexedSeconds = try rawIndexedInsert(rows, directory: directory, synchronous: options.synchronous, identity: replicaIdentity)

            let origin = try ReplicaStore(path: directory.appendingPathComponent("origin.sqlite").path, nodeID: "jakobstad",
                                          identity: originIdentity, options: storeOptions)
            let localSeconds = try seconds {
                try origin.batch {
                    for (id, fields) in rows { try origin.create(.client, id: id, fields: fields) }
                }
            }

            let batch = try origin.readLog(after: 0, notCoveredBy: VersionVector(), limit: rows.count)
            precondition(batch.changes.count == rows.count, "the log must hold every write")
            let replica = try ReplicaStore(path: directory.appendingPathComponent("replica.sqlite").path, nodeID: "larsmo",
                                           identity: replicaIdentity, options: storeOptions)
            let applySeconds = try seconds { try replica.apply(batch, from: "jakobstad") }
            let replicated = try replica.count(.client)
            precondition(replicated == rows.count, "the replica must hold every row")
            precondition(replica.stateDigest == origin.stateDigest, "the replica's state digest must match the origin's")

            let untriggeredSeconds = try applyWithoutAggregateTriggers(batch, directory: directory, options: storeOptions, identity: replicaIdentity)
            let sqlOnlySeconds = try storeSQLOnly(batch, directory: directory, synchronous: options.synchronous, identity: replicaIdentity)
            let checkSeconds = chainChecksOnly(batch, key: originKey.publicKey)
            let digestSeconds = rowDigestsOnly(batch)

            raw.append(Double(rows.count) / rawSeconds)
            indexed.append(Double(rows.count) / indexedSeconds)
            sqlOnly.append(Double(rows.count) / sqlOnlySeconds)
            local.append(Double(rows.count) / localSeconds)
            apply.append(Double(rows.count) / applySeconds)
            applyTimes.append(applySeconds)
            untriggered.append(untriggeredSeconds)
            checkTimes.append(checkSeconds)
            digestTimes.append(digestSeconds)
            slowdown.append(applySeconds / (applySeconds - checkSeconds))
            slowdownWithDigest.append(applySeconds / (applySeconds - checkSeconds - digestSeconds))
            print(String(format: "run %d: raw %.0f/s, raw+indexes %.0f/s, local %.0f/s, apply %.0f/s, store SQL only %.0f/s; "
                         + "apply %.1f ms (without aggregate triggers %.1f ms), chain+signature checks %.1f ms, row digests %.1f ms",
                         run, raw.last!, indexed.last!, local.last!, apply.last!, sqlOnly.last!, applySeconds * 1e3, untriggeredSeconds * 1e3,
                         checkSeconds * 1e3, digestSeconds * 1e3))
        }
    } catch {
        fail("\(error)")
    }
    // Ratios are medians of each run's own ratio: both sides of a ratio come from the same run.
    func ratio(_ path: [Double], _ baseline: [Double]) -> Double { median(zip(path, baseline).map { $0 / $1 }) }
    var figures: StoreFigures = [
        "raw_per_s": median(raw), "raw_indexed_per_s": median(indexed),
        "local_per_s": median(local), "apply_per_s": median(apply), "sql_only_per_s": median(sqlOnly),
        "local_vs_raw": ratio(local, raw), "local_vs_raw_indexed": ratio(local, indexed),
        "apply_vs_raw": ratio(apply, raw), "apply_vs_raw_indexed": ratio(apply, indexed),
        "sql_only_vs_raw": ratio(sqlOnly, raw), "sql_only_vs_raw_indexed": ratio(sqlOnly, indexed),
        "apply_ms": median(applyTimes) * 1e3, "apply_without_triggers_ms": median(untriggered) * 1e3,
        "checks_ms": median(checkTimes) * 1e3, "row_digests_ms": median(digestTimes) * 1e3,
    ]
    figures["aggregate_triggers_share"] = median(zip(applyTimes, untriggered).map { 1 - $1 / $0 })
    figures["checks_slowdown_percent"] = (median(slowdown) - 1) * 100
    print("")
    print("| path | changes/s (median of \(options.runs)) | ratio to raw | ratio to raw + indexes |")
    print("|---|---:|---:|---:|")
    print(String(format: "| raw SQLite insert, plain table | %.0f | 1.00 | %.2f |", figures["raw_per_s"]!, ratio(raw, indexed)))
    print(String(format: "| raw SQLite insert, record table's indexes | %.0f | %.2f | 1.00 |", figures["raw_indexed_per_s"]!, ratio(indexed, raw)))
    print(String(format: "| local write, batched (store, signed) | %.0f | %.2f | %.2f |",
                 figures["local_per_s"]!, figures["local_vs_raw"]!, figures["local_vs_raw_indexed"]!))
    print(String(format: "| remote apply (store, full checks) | %.0f | %.2f | %.2f |",
                 figures["apply_per_s"]!, figures["apply_vs_raw"]!, figures["apply_vs_raw_indexed"]!))
    print(String(format: "| store SQL only, pre-computed, no merge | %.0f | %.2f | %.2f |",
                 figures["sql_only_per_s"]!, figures["sql_only_vs_raw"]!, figures["sql_only_vs_raw_indexed"]!))
    print("")
    func verdict(_ value: Double, _ goal: Double) -> String { value >= goal ? "met" : "NOT met" }
    let targets = [("apply/raw", "apply_vs_raw", 0.5), ("apply/raw+indexes", "apply_vs_raw_indexed", 0.6),
                   ("local/raw", "local_vs_raw", 0.5), ("local/raw+indexes", "local_vs_raw_indexed", 0.6)]
    print("targets (issue 10): " + targets.map { label, key, goal in
        "\(label) " + String(format: "%.2f (>= %.1f: ", figures[key]!, goal) + (figures[key]! >= goal ? "met)" : "NOT met)")
    }.joined(separator: ", "))
    print(String(format: "aggregate triggers (report counts, deadline_next): %.1f%% of remote apply (apply %.1f ms, without them %.1f ms)",
                 figures["aggregate_triggers_share"]! * 100, figures["apply_ms"]!, figures["apply_without_triggers_ms"]!))
    let percent = figures["checks_slowdown_percent"]!
    print(String(format: "integrity: apply %.1f ms, of which chain+signature checks %.1f ms and row digests %.1f ms (medians of %d)",
                 figures["apply_ms"]!, figures["checks_ms"]!, figures["row_digests_ms"]!, options.runs))
    print(String(format: "integrity: remote apply with chain and signature checks is %.1f%% slower than the same apply without them (apply / (apply - checks) = %.3f, median of %d)",
                 percent, median(slowdown), options.runs) + " -> goal <= 10%: " + (percent <= 10 ? "met" : "NOT met"))
    print(String(format: "integrity: counting the state digest's row digests too: %.1f%% slower (apply / (apply - checks - row digests) = %.3f)",
                 (median(slowdownWithDigest) - 1) * 100, median(slowdownWithDigest)))
    return figures
}

if CommandLine.arguments.dropFirst().first == "region" {
    await runRegionBenchmark(Array(CommandLine.arguments.dropFirst(2)))
} else if CommandLine.arguments.dropFirst().first == "load" {
    await runLoadBenchmark(Array(CommandLine.arguments.dropFirst(2)))
} else if CommandLine.arguments.dropFirst().first == "compaction" {
    runCompactionBenchmark(Array(CommandLine.arguments.dropFirst(2)))
} else if CommandLine.arguments.dropFirst().first == "bootstrap" {
    await runBootstrapBenchmark(Array(CommandLine.arguments.dropFirst(2)))
} else if let mode = CommandLine.arguments.dropFirst().first, let run = issue10Modes[mode] {
    await run(Array(CommandLine.arguments.dropFirst(2)))
} else if CommandLine.arguments.dropFirst().first == "reports" {
    runReportsBenchmark(Array(CommandLine.arguments.dropFirst(2)))
} else {
    runStoreBenchmark(Options.parse(CommandLine.arguments))
}
