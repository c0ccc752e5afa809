import Foundation
import KotoCore
import KotoCrypto
import KotoNode
import KotoStore

// `kotosync-bench reports`: the five reports on a replica of 100k clients,
// 300k placements and 2,000 services (by default), for the coordinator (the
// region) and an office (Jakobstad), each timed as the node serves it: the
// report's queries in one read transaction on a read-only connection plus
// building and serialising its JSON. Medians of --runs. Measured with every
// report index, with none, and with each one left out, so what each index
// buys is measured in the same run on the same data.
//
// The replica is written with plain SQL into the store's own tables (rows,
// field values and metadata columns as the store writes them, no change log):
// a realistic merged view in seconds instead of 400k signed local writes.

struct ReportsOptions {
    var clients = 100_000
    var placements = 300_000
    var services = 2_000
    var runs = 5
    var directory = FileManager.default.temporaryDirectory.path
    /// Leave the replica in place (for looking at query plans).
    var keep = false
    /// Measure with every report index only.
    var quick = false
    /// A replica left by `--keep` to measure again instead of building one.
    var reuse: String?
    /// Run only this store query (`deadlineCandidates`, …) --runs times, for a profiler.
    var query: String?
    /// Changes per remote-apply batch for the apply cost (0: not measured).
    var apply = 2_000

    static func parse(_ arguments: [String]) -> ReportsOptions {
        var options = ReportsOptions()
        var reader = BenchArguments(arguments)
        while let flag = reader.next() {
            switch flag {
            case "--clients": options.clients = positive(reader.value(), "--clients")
            case "--placements": options.placements = positive(reader.value(), "--placements")
            case "--services": options.services = positive(reader.value(), "--services")
            case "--runs": options.runs = positive(reader.value(), "--runs")
            case "--dir": options.directory = reader.value()
            case "--keep": options.keep = true
            case "--quick": options.quick = true
            case "--reuse": options.reuse = reader.value()
            case "--query": options.query = reader.value()
            case "--apply":
                guard let size = Int(reader.value()), size >= 0 else { fail("--apply needs a whole number") }
                options.apply = size
            case "-h", "--help":
                print("""
                usage: kotosync-bench reports [--clients N] [--placements N] [--services N] [--runs N] [--dir PATH] [--keep] [--quick] [--reuse FILE] [--query NAME] [--apply N]
                Builds a replica of N clients (default 100000), N placements (300000) and N services (2000) and times
                each report (queries + JSON) for the coordinator and for an office, --runs times (default 5), with every
                report index, with none, and with each left out; prints medians in milliseconds. --keep leaves the replica,
                --reuse FILE measures a kept one again, --quick measures with every report index only, --query NAME runs
                only that store query (e.g. deadlineCandidates) --runs times, for a profiler. Then, on the same replica, times
                each report as the build before the report aggregates answered it (its nine report indexes, rows counted), and
                remote apply of batches of N changes (--apply, default 2000; 0 skips it) under this build's schema, without
                deadline_next, the one before the aggregates, and none, in microseconds per change. The deadlines report is
                also timed without deadline_next (every rule evaluated for every open client, as the build before it).
                """)
                exit(0)
            default: fail("unknown argument \(flag) (see kotosync-bench reports --help)")
            }
        }
        return options
    }
}

/// A seeded generator, so every run builds the same replica.
struct BenchRandom {
    var state: UInt64

    mutating func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }

    mutating func chance(_ probability: Double) -> Bool { Double(next(1_000_000)) < probability * 1_000_000 }

    mutating func pick<T>(_ values: [T]) -> T { values[next(values.count)] }

    mutating func uuid() -> String {
        var bytes = (0..<16).map { _ in UInt8(next(256)) }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }

    /// A date `0..<days` days after `start`.
    mutating func date(after start: LocalDate, within days: Int) -> LocalDate { start.adding(days: next(days))! }
}

/// Writes the generated region into the store's record tables.
struct ReportsDataset {
    static let codes: [Int64] = [598, 598, 598, 893, 288, 599, 599, 440]  // Jakobstad and Pedersöre the largest
    static let languages = ["fi", "sv", "en", "ar", "so", "uk", "ru", "fa"]

    let options: ReportsOptions
    var random = BenchRandom(state: 2026)
    var clientIDs: [String] = []
    var serviceIDs: [String] = []
    var planStarts: [String: LocalDate] = [:]
    /// Clients with a plan, in creation order: most get a referral after it.
    var planned: [String] = []

    init(options: ReportsOptions) { self.options = options }

    mutating func write(to database: Database) throws -> (deleted: Int, erased: Int, dangling: Int) {
        var deleted = 0, erased = 0, dangling = 0
        let clock = WireFormat.encodeClock(VersionVector(["jakobstad": 1]))
        func insert(_ kind: RecordKind, _ id: String, _ fields: FieldMap, erasedRow: Bool = false) throws {
            let columns = ["id"] + kind.fields.map(\.column) + ["row_clock", "stamps", "erased", "open_conflicts", "awaiting_erase"]
            let statement = try database.statement(
                "INSERT INTO \(kind.table) (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))")
            try statement.bind(.text(id), at: 1)
            for (index, spec) in kind.fields.enumerated() {
                let value: SQLiteValue
                switch (erasedRow && spec.personal) ? .null : (fields[spec.name] ?? .null) {
                case .null: value = .null
                case .text(let text): value = .text(text)
                case .integer(let number): value = .integer(number)
                case .bool(let flag): value = .integer(flag ? 1 : 0)
                }
                try statement.bind(value, at: Int32(index + 2))
            }
            let meta = Int32(kind.fields.count + 2)
            try statement.bind(.blob(clock), at: meta)
            try statement.bind(.blob(WireFormat.encodeStamps([:], record: kind)), at: meta + 1)
            try statement.bind(.integer(erasedRow ? 1 : 0), at: meta + 2)
            try statement.bind(.integer(0), at: meta + 3)
            try statement.bind(.integer(0), at: meta + 4)
            try statement.run()
        }
        try database.transaction {
            let categories = ServiceCategory.allCases.map(\.rawValue)
            for _ in 0..<options.services {
                let id = random.uuid()
                serviceIDs.append(id)
                let served = Set((0...random.next(3)).map { _ in random.pick(Self.codes) }).sorted().map(String.init)
                let spoken = Set((0...random.next(2)).map { _ in random.chance(0.7) ? random.pick(["fi", "sv"]) : random.pick(Self.languages) })
                let status = random.chance(0.7) ? "active" : random.pick(["full", "draft", "paused", "discontinued"])
                var fields: FieldMap = [
                    "nameFi": .text("Palvelu \(serviceIDs.count)"), "nameSv": .text("Tjänst \(serviceIDs.count)"),
                    "providerName": .text("Bench provider"), "providerType": .text("adult_education"),
                    "category": .text(random.pick(categories)), "municipalities": .text(served.joined(separator: ",")),
                    "languages": .text(spoken.sorted().joined(separator: ",")), "studyPath": .text("basic"), "status": .text(status),
                    "deleted": .bool(random.chance(0.02)),
                ]
                if random.chance(0.9) { fields["capacity"] = .integer(Int64(5 + random.next(40))) }
                if fields["deleted"] == .bool(true) { deleted += 1 }
                try insert(.service, id, fields)
            }
            let start = LocalDate(year: 2019, month: 1, day: 1)!
            let statuses: [(String, Double)] = [("new", 0.05), ("assessment_pending", 0.05), ("assessed", 0.05), ("plan_active", 0.35),
                                                ("plan_ended", 0.2), ("moved_away", 0.1), ("closed", 0.2)]
            for number in 0..<options.clients {
                let id = random.uuid()
                clientIDs.append(id)
                var roll = Double(random.next(1000)) / 1000, status = "closed"
                for (name, share) in statuses {
                    if roll < share { status = name; break }
                    roll -= share
                }
                // Clients still waiting for their assessment came recently; the others over the last eight years.
                let waiting = status == "new" || status == "assessment_pending"
                let permit = waiting ? random.date(after: LocalDate(year: 2026, month: 1, day: 15)!, within: 300)
                    : random.date(after: start, within: 7 * 365)
                // Some client numbers are given twice, at two offices.
                var fields: FieldMap = [
                    "clientNumber": .text("B-\(number % 997 == 0 && number > 0 ? number - 1 : number)"),
                    "ownerMunicipality": .integer(random.pick(Self.codes)),
                    "givenName": .text("Bench"), "familyName": .text("Client"), "birthDate": .text("1990-01-01"),
                    "firstPermitDate": .text(permit.description), "arrivalDate": .text(permit.adding(days: random.next(60))!.description),
                    "permitBasis": .text(random.pick(PermitBasis.allCases).rawValue), "integrationLanguage": .text(random.pick(["fi", "sv"])),
                    "planStatus": .text("none"), "status": .text(status), "deleted": .bool(random.chance(0.02)),
                ]
                if status != "new" && status != "assessment_pending" {
                    let assessed = permit.adding(days: 20 + random.next(120))!
                    fields["assessmentDate"] = .text(assessed.description)
                    if status != "assessed" && random.chance(0.9) {
                        let plan = assessed.adding(days: 7 + random.next(40))!
                        fields["planStart"] = .text(plan.description)
                        fields["planEnd"] = .text(plan.adding(months: random.chance(0.97) ? 12 : 14)!.description)
                        fields["planStatus"] = .text(status == "plan_active" ? "active" : "completed")
                        planStarts[id] = plan
                        planned.append(id)
                    }
                }
                let erasedRow = random.chance(0.005)
                if fields["deleted"] == .bool(true) { deleted += 1 }
                if erasedRow { erased += 1 }
                try insert(.client, id, fields, erasedRow: erasedRow)
            }
            let municipal = options.placements / 10
            var nextPlanned = 0
            for index in 0..<options.placements {
                let id = random.uuid()
                let missing = random.chance(0.002)
                var client = missing ? random.uuid() : random.pick(clientIDs)
                // After the municipal placements, one referred enrolment for 95% of the clients with a plan.
                var referred = false
                if index >= municipal, !missing, nextPlanned < planned.count {
                    client = planned[nextPlanned]
                    nextPlanned += 1
                    referred = random.chance(0.95)
                }
                if missing { dangling += 1 }
                var fields: FieldMap = ["clientId": .text(client), "deleted": .bool(random.chance(0.02))]
                if index < municipal {
                    let offered = random.date(after: LocalDate(year: 2020, month: 1, day: 1)!, within: 7 * 365)
                    fields["type"] = .text("municipal_placement")
                    fields["municipality"] = .integer(random.pick(Self.codes))
                    fields["route"] = .text(random.pick(PlacementRoute.allCases).rawValue)
                    fields["status"] = .text(random.pick(MunicipalPlacementStatus.allCases).rawValue)
                    if random.chance(0.9) { fields["offeredDate"] = .text(offered.description) }
                    if random.chance(0.6) { fields["arrivalDate"] = .text(offered.adding(days: random.next(90))!.description) }
                } else {
                    fields["type"] = .text("service_enrolment")
                    fields["serviceId"] = .text(random.pick(serviceIDs))
                    fields["status"] = .text(random.pick(EnrolmentStatus.allCases).rawValue)
                    if let plan = planStarts[client], referred || random.chance(0.3) {
                        fields["referralDate"] = .text(plan.adding(days: random.next(referred ? 150 : 400))!.description)
                        if referred { fields["status"] = .text(random.pick(["referred", "active", "completed", "waiting"])) }
                    }
                }
                if fields["deleted"] == .bool(true) { deleted += 1 }
                try insert(.placement, id, fields)
            }
            // Open conflicts on a few hundred client rows, first seen over the last year.
            for index in 0..<min(500, clientIDs.count) {
                try database.run("""
                    INSERT INTO conflicts (record, row_id, field, origin, seq, hlc, value, winner_origin, winner_seq, first_seen)
                    VALUES ('clients', ?, 'status', 'larsmo', ?, 0, x'00', 'jakobstad', 1, ?)
                    """, .text(clientIDs[index * 7 % clientIDs.count]), .integer(Int64(index + 1)),
                    .integer(1_764_547_200_000 + Int64(random.next(365)) * 86_400_000))
            }
        }
        return (deleted, erased, dangling)
    }
}

func runReportsBenchmark(_ arguments: [String]) {
    let options = ReportsOptions.parse(arguments)
    print("kotosync-bench reports: \(options.clients) clients, \(options.placements) placements, \(options.services) services, \(options.runs) runs")
    print("machine: \(machine())")
    let directory = URL(fileURLWithPath: options.directory).appendingPathComponent("kotosync-bench-reports-\(UUID().uuidString)")
    do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { if !options.keep { try? FileManager.default.removeItem(at: directory) } }
        let path = options.reuse ?? directory.appendingPathComponent("jakobstad.sqlite").path
        let writer: Database
        if options.reuse == nil {
            let key = try SigningKey.generate()
            let identity = StoreIdentity(signingKey: key, region: RegionKeys(["jakobstad": [key.publicKey]]))
            var storeOptions = StoreOptions()
            storeOptions.synchronous = .normal
            _ = try ReplicaStore(path: path, nodeID: "jakobstad", identity: identity, options: storeOptions)  // schema and report indexes
            writer = try Database(path: path, synchronous: .normal)
            var dataset = ReportsDataset(options: options)
            var counts = (deleted: 0, erased: 0, dangling: 0)
            let buildSeconds = try seconds { counts = try dataset.write(to: writer) }
            print(String(format: "replica written in %.1f s (%d deleted, %d erased rows, %d placements of missing clients); %.0f MiB",
                         buildSeconds, counts.deleted, counts.erased, counts.dangling,
                         Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1_048_576))
        } else {
            writer = try Database(path: path, synchronous: .normal)
            // The report indexes and aggregates of this build, as its store makes them at open.
            try dropReportObjects(writer, indexes: true, aggregates: false)
            let key = try SigningKey.generate()
            _ = try ReplicaStore(path: path, nodeID: "jakobstad", identity: StoreIdentity(signingKey: key, region: RegionKeys(["jakobstad": [key.publicKey]])))
        }
        let indexes = try writer.query("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'report_%' ORDER BY name") {
            ($0.string(0) ?? "", $0.string(1) ?? "")
        }.filter { ReplicaStore.reportIndexNames.contains($0.0) }
        precondition(Set(indexes.map(\.0)) == Set(ReplicaStore.reportIndexNames), "the store must have created every report index")
        if options.keep { print("replica kept at \(path)") }
        // A live node's WAL is checkpointed as it goes; the bulk load and the index builds left one of 100 MB.
        func checkpoint() throws { try writer.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
        try checkpoint()

        var settings = ReportSettings()
        settings.clock = .fixed(ISO8601DateFormatter().date(from: "2026-12-01T10:00:00Z")!)
        settings.placementTargets = [598: 40, 599: 25]
        let builder = ReportBuilder(settings: settings, registry: .ostrobothnianCoast)
        let reader = try ReadOnlyReplica(path: path)
        let scopes: [(String, ReportScope)] = [("region", .region), ("office 598", ReportScope(municipality: 598))]

        /// Median milliseconds of building and serialising each report (of `kinds`) for each scope, and its rows.
        func measure(_ kinds: [ReportKind] = ReportKind.allCases) throws -> [String: (times: [Double], cpu: [Double], rows: Int, bytes: Int)] {
            var result: [String: (times: [Double], cpu: [Double], rows: Int, bytes: Int)] = [:]
            for kind in kinds {
                for (scopeName, scope) in scopes {
                    let request = ReportRequest(scope: scope, language: .fi)
                    var times: [Double] = [], builds: [Double] = [], cpu: [Double] = []
                    var rows = 0, bytes = 0
                    _ = try builder.build(kind, request, from: reader.view).jsonBytes  // warm
                    for run in 0..<options.runs {
                        // A plan gone wrong (an index left out) can take a minute a run: one run of it says enough.
                        if run > 0, times.reduce(0, +) > 2000 { break }
                        var document: ReportDocument?
                        let startCPU = threadCPUSeconds()
                        let build = try seconds { document = try builder.build(kind, request, from: reader.view) }
                        let serialise = seconds { bytes = document!.jsonBytes.count }
                        cpu.append((threadCPUSeconds() - startCPU) * 1000)
                        rows = document!.tables.reduce(0) { $0 + $1.rows.count }
                        times.append((build + serialise) * 1000)
                        builds.append(build * 1000)
                    }
                    result["\(kind.rawValue)|\(scopeName)"] = (times, cpu, rows, bytes)
                    FileHandle.standardError.write(Data(String(format: "  %@ %@: %.1f ms (queries and tables %.1f ms), CPU %.1f ms\n", kind.rawValue,
                                                               scopeName, median(times), median(builds), median(cpu)).utf8))
                }
            }
            return result
        }

        FileHandle.standardError.write(Data("every report index:\n".utf8))
        // The store queries alone, for seeing where a report's time goes.
        let view = reader.view
        let rules = settings.deadlineRules.map(\.rule)
        func storeQueries(_ scope: ReportScope) -> [(String, () throws -> Int)] {
            [
                ("clientGroupCounts", { try view.clientGroupCounts(scope).count }),
                ("placementGroupCounts", { try view.placementGroupCounts(scope).count }),
                ("serviceCategoryCounts", { try view.serviceCategoryCounts(scope).count }),
                ("deadlineCandidates", { try view.deadlineCandidates(rules, scope).count }),
                ("deadlineListing", { try view.deadlineListing(rules, scope, today: settings.clock.today, dueSoonDays: settings.dueSoonDays).entries.count }),
                ("municipalPlacementCounts", { try view.municipalPlacementCounts(year: 2026, scope).count }),
                ("serviceLoads", { try view.serviceLoads(scope).count }),
                ("danglingReferences", { try view.danglingReferences(scope).count }),
                ("duplicateClientNumbers", { try view.duplicateClientNumbers(scope).count }),
                ("conflictAges", { try view.conflictAges(scope).count }),
            ]
        }
        if let only = options.query {
            for (scopeName, scope) in scopes {
                guard let (_, query) = storeQueries(scope).first(where: { $0.0 == only }) else { fail("no store query \(only)") }
                let times = try (0..<options.runs).map { _ in try seconds { _ = try query() } * 1000 }
                print(String(format: "%@ %@: median %.1f ms", only, scopeName, median(times)))
            }
            return
        }
        var all = try measure()
        var queryLines: [String] = []
        for (scopeName, scope) in scopes {
            for (name, query) in storeQueries(scope) {
                var rows = 0
                let times = try (0..<options.runs).map { _ in try seconds { rows = try query() } * 1000 }
                queryLines.append(String(format: "| %@ | %@ | %d | %.1f |", name, scopeName, rows, median(times)))
                FileHandle.standardError.write(Data(String(format: "  query %@ %@: %.1f ms, %d rows\n", name, scopeName, median(times), rows).utf8))
            }
        }
        func printQueries() {
            print("")
            print("| store query | scope | rows | ms (median) |")
            print("|---|---|---:|---:|")
            for line in queryLines { print(line) }
        }
        var none: [String: (times: [Double], cpu: [Double], rows: Int, bytes: Int)] = [:]
        var leftOut: [String: [String: (times: [Double], cpu: [Double], rows: Int, bytes: Int)]] = [:]
        if !options.quick {
            for (name, _) in indexes { try writer.execute("DROP INDEX \(name)") }
            try checkpoint()
            FileHandle.standardError.write(Data("no report index (aggregates kept):\n".utf8))
            none = try measure()
            for (_, sql) in indexes { try writer.execute(sql) }
            for (name, sql) in indexes {
                try writer.execute("DROP INDEX \(name)")
                try checkpoint()
                FileHandle.standardError.write(Data("without \(name):\n".utf8))
                leftOut[name] = try measure()
                try writer.execute(sql)
                try checkpoint()
            }
            // Every index once more, last: the machine's load drifts over the minutes the others take.
            FileHandle.standardError.write(Data("every report index, again:\n".utf8))
            for (key, again) in try measure() {
                all[key]?.times += again.times
                all[key]?.cpu += again.cpu
            }
        }
        // The deadlines as the build before deadline_next answered them: every rule evaluated for every open client.
        for name in try writer.query("SELECT name FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, 9) = 'deadline_'", row: {
            $0.string(0) ?? ""
        }) { try writer.execute("DROP TRIGGER \(name)") }
        try writer.execute("DROP TABLE IF EXISTS deadline_next")
        try checkpoint()
        FileHandle.standardError.write(Data("deadlines evaluated per client (no deadline_next):\n".utf8))
        let evaluated = try measure([.deadlines])
        // The same reports as the build before the aggregates answered them: its nine report indexes, rows counted.
        try dropReportObjects(writer, indexes: true, aggregates: true)
        for sql in reportIndexesBeforeAggregates { try writer.execute(sql) }
        try checkpoint()
        FileHandle.standardError.write(Data("before the aggregates (main's report indexes, rows counted):\n".utf8))
        let before = try measure()
        let applyCosts = options.apply > 0 ? try measureApplyCost(path: path, writer: writer, size: options.apply, batches: max(1, (options.runs + 1) / 2)) : []

        print("")
        print("| report | scope | rows | JSON bytes | ms, this build | CPU ms, this build | ms, before (main's indexes, rows counted) | CPU ms, before |"
              + " ms, no deadline_next | CPU ms, no deadline_next |"
              + (options.quick ? "" : " ms, no report index |" + indexes.map { " ms without \($0.0) |" }.joined()))
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + (options.quick ? "" : "---:|" + indexes.map { _ in "---:|" }.joined()))
        for kind in ReportKind.allCases {
            for (scopeName, _) in scopes {
                let key = "\(kind.rawValue)|\(scopeName)"
                let measured = all[key]!
                var line = String(format: "| %@ | %@ | %d | %d | %.1f | %.1f | %.1f | %.1f |", kind.rawValue, scopeName, measured.rows,
                                  measured.bytes, median(measured.times), median(measured.cpu), median(before[key]!.times),
                                  median(before[key]!.cpu))
                if let perClient = evaluated[key] {
                    line += String(format: " %.1f | %.1f |", median(perClient.times), median(perClient.cpu))
                } else {
                    line += " – | – |"
                }
                if !options.quick {
                    line += String(format: " %.1f |", median(none[key]!.times))
                    for (name, _) in indexes { line += String(format: " %.1f |", median(leftOut[name]![key]!.times)) }
                }
                print(line)
            }
        }
        printQueries()
        if !applyCosts.isEmpty {
            let baseline = median(applyCosts[0].microsPerChange)
            print("")
            print("| remote apply, batches of \(options.apply) changes, schema | µs per change (median) | ratio to before |")
            print("|---|---:|---:|")
            for cost in applyCosts {
                print(String(format: "| %@ | %.1f | %.2f |", cost.schema, median(cost.microsPerChange), median(cost.microsPerChange) / baseline))
            }
        }
        let slowest = all.values.map { median($0.times) }.max() ?? 0, slowestCPU = all.values.map { median($0.cpu) }.max() ?? 0
        print("")
        print(String(format: "slowest report, this build: %.1f ms (CPU %.1f ms) -> goal < 100 ms each: %@", slowest, slowestCPU,
                     slowest < 100 ? "met" : "NOT met"))
    } catch {
        fail("\(error)")
    }
}
