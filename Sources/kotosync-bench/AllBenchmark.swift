import Foundation
import Glibc

// `kotosync-bench all`: every figure of issue 10 in one run, sized to finish in
// under 15 minutes on 2 cores, then one table: figure, value, target, met.
// The modes that print their own tables (store, region, load, reports) run as
// child processes of this binary with smaller sizes, their output shown as it
// is and their figures read from it; the issue-10 modes (wire, rss, scale) are
// called in-process. Each provider's failure is a row of the table, not the end
// of the run. `allProviders` is the one list of figure providers.

/// The issue-10 modes by name (`kotosync-bench scale`, `wire`, `rss`, `all`), dispatched from main.swift.
let issue10Modes: [String: @Sendable ([String]) async -> Void] = [
    "scale": { runScaleBenchmark($0) },
    "wire": { runWireBenchmark($0) },
    "rss": { runRSSBenchmark($0) },
    "all": { await runAllBenchmark($0) },
]

/// What a figure is held to.
enum FigureTarget {
    case atLeast(Double)
    case atMost(Double)
    case below(Double)
    /// Shown for context; no target.
    case none

    func met(_ value: Double) -> Bool? {
        switch self {
        case .atLeast(let bound): value >= bound
        case .atMost(let bound): value <= bound
        case .below(let bound): value < bound
        case .none: nil
        }
    }

    var text: String {
        switch self {
        case .atLeast(let bound): "≥ \(FigureTarget.format(bound))"
        case .atMost(let bound): "≤ \(FigureTarget.format(bound))"
        case .below(let bound): "< \(FigureTarget.format(bound))"
        case .none: "—"
        }
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: value < 10 ? "%.2f" : "%.1f", value)
    }
}

/// One row of the final table. A nil value is a figure that could not be measured (`note` says why).
struct BenchFigure {
    let name: String
    let value: Double?
    let unit: String
    let target: FigureTarget
    var note = ""

    static func missing(_ name: String, _ reason: String, target: FigureTarget = .none) -> BenchFigure {
        BenchFigure(name: name, value: nil, unit: "", target: target, note: reason)
    }
}

/// Sizes for `all`: what fits in 15 minutes on 2 cores.
struct AllOptions: Sendable {
    var daemon: String
    var quick = false
    var cache = NSTemporaryDirectory()
    var rssRows = 1_000_000
    /// The ends of the curve; `kotosync-bench scale` runs the whole of it (5, 10, 25, 50).
    var scaleNodes = [5, 50]
    var reportsClients = 100_000
    var reportsPlacements = 300_000
    var skip: Set<String> = []
}

/// A named group of figures: one mode's run.
struct FigureProvider: Sendable {
    let name: String
    let run: @Sendable (AllOptions) async throws -> [BenchFigure]
}

/// Every figure of issue 10, in table order: one provider per mode.
let allProviders: [FigureProvider] = [
    FigureProvider(name: "store", run: storeFigures),
    FigureProvider(name: "region", run: regionFigures),
    FigureProvider(name: "load", run: loadFigures),
    FigureProvider(name: "reports", run: reportsFigures),
    FigureProvider(name: "wire", run: wireFigures),
    FigureProvider(name: "rss", run: rssFigures),
    FigureProvider(name: "scale", run: scaleFigures),
    FigureProvider(name: "compaction", run: allCompactionFigures),
    FigureProvider(name: "bootstrap", run: allBootstrapFigures),
]

// MARK: Child runs of the modes that print their own tables

/// Runs this binary with `arguments`, echoing its output, and returns that output.
func runChildMode(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    print("$ kotosync-bench \(arguments.joined(separator: " "))")
    try process.run()
    var output = Data()
    let handle = pipe.fileHandleForReading
    while true {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        output += chunk
        FileHandle.standardOutput.write(chunk)
    }
    process.waitUntilExit()
    let text = String(decoding: output, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw BenchError(description: "kotosync-bench \(arguments.first ?? "") exited with \(process.terminationStatus)")
    }
    return text
}

/// The `column`th cell (0: the label) of the Markdown table row whose label starts with `label`, as a number.
func tableNumber(_ output: String, row label: String, column: Int) -> Double? {
    for line in output.split(separator: "\n") where line.hasPrefix("| \(label)") {
        let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
        guard column < cells.count else { return nil }
        return leadingNumber(cells[column])
    }
    return nil
}

/// The first number in `text` ("1,234.5 ms" → 1234.5; "(ratio 0.23)" with `after: "ratio"` → 0.23).
func leadingNumber(_ text: String, after marker: String? = nil) -> Double? {
    var rest = Substring(text)
    if let marker {
        guard let range = rest.range(of: marker) else { return nil }
        rest = rest[range.upperBound...]
    }
    let characters = rest.drop { !$0.isNumber && $0 != "-" }
    let number = characters.prefix { $0.isNumber || $0 == "." || $0 == "," || $0 == "-" }.replacingOccurrences(of: ",", with: "")
    return Double(number)
}

func figure(_ name: String, _ value: Double?, _ unit: String, _ target: FigureTarget, note: String = "", missing: String) -> BenchFigure {
    value.map { BenchFigure(name: name, value: $0, unit: unit, target: target, note: note) } ?? .missing(name, missing, target: target)
}

func storeFigures(_ options: AllOptions) throws -> [BenchFigure] {
    let output = try runChildMode(["--rows", options.quick ? "5000" : "20000", "--runs", "3"])
    let missing = "not in the store mode's output"
    // The store mode's table: changes/s, the ratio to the plain-table raw insert, the ratio to the indexed one.
    return [
        figure("remote apply / raw insert, plain table", tableNumber(output, row: "remote apply", column: 2), "×", .atLeast(0.5), missing: missing),
        figure("remote apply / raw insert with the record table's indexes", tableNumber(output, row: "remote apply", column: 3), "×",
               .atLeast(0.6), missing: missing),
        figure("local write, batched / raw insert, plain table", tableNumber(output, row: "local write", column: 2), "×", .atLeast(0.5),
               note: "one transaction of all rows", missing: missing),
        figure("local write, batched / raw insert with the record table's indexes", tableNumber(output, row: "local write", column: 3), "×",
               .atLeast(0.6), missing: missing),
        figure("store SQL alone / raw insert, plain table", tableNumber(output, row: "store SQL only", column: 2), "×", .none, missing: missing),
    ]
}

func regionFigures(_ options: AllOptions) throws -> [BenchFigure] {
    let output = try runChildMode(["region", "--writes", options.quick ? "50" : "200", "--changes", options.quick ? "10000" : "50000",
                                   "--runs", "3", "--daemon", options.daemon, "--base-port", "7301"])
    let missing = "not in the region mode's output"
    var replicationRatio: Double?
    for line in output.split(separator: "\n") where line.hasPrefix("| replication over loopback HTTP") {
        replicationRatio = leadingNumber(String(line), after: "ratio")
    }
    return [
        figure("one write's convergence at 5 nodes, p99", tableNumber(output, row: "convergence at all 5 nodes, p99", column: 1), "ms",
               .below(50), missing: missing),
        figure("replication over loopback / in-process apply", replicationRatio, "×", .atLeast(0.8),
               note: options.quick ? "10k changes" : "50k changes", missing: missing),
        figure("API creates/s, 32 clients, synchronous=FULL, five-node region with sync running",
               tableNumber(output, row: "API creates/s", column: 1), "/s", .atLeast(5000), missing: missing),
        figure("daemon RSS idle, 5-node demo region (median)", tableNumber(output, row: "daemon RSS idle", column: 1), "MiB", .none, missing: missing),
    ]
}

func loadFigures(_ options: AllOptions) throws -> [BenchFigure] {
    let output = try runChildMode(["load", "--duration", options.quick ? "10" : "30", "--clients", "32", "--seed", "50",
                                   "--daemon", options.daemon, "--base-port", "7401"])
    let missing = "not in the load mode's output"
    return [
        figure("API creates/s under mixed load (5 nodes, 32 clients, 10% creates)", tableNumber(output, row: "POST /v1/clients", column: 2),
               "/s", .none, note: "the ≥ 5,000/s creates-only figure is the group branch's", missing: missing),
        figure("all API requests/s under mixed load", tableNumber(output, row: "all", column: 2), "/s", .none, missing: missing),
    ]
}

func reportsFigures(_ options: AllOptions) throws -> [BenchFigure] {
    let clients = options.quick ? 10_000 : options.reportsClients, placements = options.quick ? 30_000 : options.reportsPlacements
    let output = try runChildMode(["reports", "--clients", String(clients), "--placements", String(placements), "--runs", "3",
                                   "--quick", "--apply", "0"])
    var slowest: Double?
    for line in output.split(separator: "\n") where line.hasPrefix("slowest report, this build:") {
        slowest = leadingNumber(String(line), after: "this build:")
    }
    return [figure("slowest report on \(clients / 1000)k clients / \(placements / 1000)k placements", slowest, "ms", .below(100),
                   missing: "not in the reports mode's output")]
}

// MARK: The issue-10 modes, in-process

func wireFigures(_ options: AllOptions) throws -> [BenchFigure] {
    let results = try wireMeasures(WireOptions())
    printWireTable(results)
    return results.map { BenchFigure(name: "wire bytes / fields as JSON: \($0.name)", value: $0.ratio, unit: "×", target: .atMost(1.2)) }
}

func rssFigures(_ options: AllOptions) throws -> [BenchFigure] {
    var rss = RSSOptions.parse(["--daemon", options.daemon])
    rss.rows = options.quick ? 100_000 : options.rssRows
    rss.cache = options.cache
    rss.loadSeconds = options.quick ? 20 : 60
    let result = try rssResult(rss)
    printRSS(result)
    let rows = "\(result.rows / 1000)k rows"
    let load = String(format: "peer pulled %d changes in %.0f s", result.pulled, result.pullSeconds)
    return [
        BenchFigure(name: "daemon RSS idle with \(rows)", value: result.idleMiB, unit: "MiB", target: .below(60 * 1e6 / 1_048_576)),
        BenchFigure(name: "daemon RSS serving a full pull, \(rows) (max)", value: result.servingMiB, unit: "MiB",
                    target: .below(200 * 1e6 / 1_048_576), note: load),
        BenchFigure(name: "daemon RSS pulling everything (max)", value: result.pullingMiB, unit: "MiB", target: .below(200 * 1e6 / 1_048_576), note: load),
    ]
}

func scaleFigures(_ options: AllOptions) throws -> [BenchFigure] {
    var scale = ScaleOptions.parse(["--daemon", options.daemon])
    scale.nodes = options.quick ? [5, 10] : options.scaleNodes
    scale.intervalSeconds = 10
    scale.idleSeconds = 20
    scale.busySeconds = 10
    scale.singles = 3
    let results = try scaleResults(scale)
    printScaleTable(results, options: scale)
    return results.flatMap { result -> [BenchFigure] in
        let label = "\(result.topology.rawValue) \(result.nodes) nodes"
        return [
            BenchFigure(name: "\(label): one write at every node", value: result.singleMillis, unit: "ms", target: .none,
                        note: "\(result.diameter) hops"),
            BenchFigure(name: "\(label): burst of \(scale.burst) writes at every node", value: result.burstMillis, unit: "ms", target: .none),
            BenchFigure(name: "\(label): idle sync requests per node per minute (mean)", value: result.idle.meanRequests, unit: "/min",
                        target: .none, note: String(format: "%.0f B per idle pull; poll every %.0f s", result.idle.bytesPerPull, scale.intervalSeconds)),
            BenchFigure(name: "\(label): busy sync bytes per node per minute (mean)", value: result.busy.meanBytes / 1024, unit: "KiB/min",
                        target: .none, note: String(format: "%.0f writes/s", scale.rate)),
        ]
    }
}

func allCompactionFigures(_ options: AllOptions) throws -> [BenchFigure] {
    var compaction = CompactionOptions()
    if options.quick { compaction.rounds = 20 }
    let figures = try compactionFigures(compaction)
    printCompactionFigures(figures)
    let held = Double(figures.entries.max() ?? 0)
    return [BenchFigure(name: "log entries per live row, \(figures.rows) rows × \(figures.rounds) updates across five nodes, compacted",
                        value: held / Double(figures.rows), unit: "×", target: .none,
                        note: String(format: "uncompacted: %.0f per row", Double(figures.logEnd) / Double(figures.rows)))]
}

func allBootstrapFigures(_ options: AllOptions) async throws -> [BenchFigure] {
    let records = options.quick ? 100_000 : 1_000_000
    let figures = try await measureBootstrap(records: records, runs: options.quick ? 1 : 3, directory: options.cache)
    return [
        BenchFigure(name: "bootstrap a node from a peer holding \(records / 1000)k records", value: figures.totalSeconds, unit: "s",
                    target: records == 1_000_000 ? .below(30) : .none,
                    note: String(format: "download %.1f s, import %.1f s, %.0f records/s", figures.downloadSeconds, figures.importSeconds, figures.recordsPerSecond)),
        BenchFigure(name: "bootstrapping process peak RSS", value: figures.peakRSSMiB, unit: "MiB", target: .none),
    ]
}

// MARK: The run

func runAllBenchmark(_ arguments: [String]) async {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var options = AllOptions(daemon: here.appendingPathComponent("kotosyncd").path)
    var reader = BenchArguments(arguments)
    while let flag = reader.next() {
        switch flag {
        case "--quick": options.quick = true
        case "--daemon": options.daemon = reader.value()
        case "--cache": options.cache = reader.value()
        case "--rss-rows": options.rssRows = positive(reader.value(), "--rss-rows")
        case "--skip": options.skip.formUnion(reader.value().split(separator: ",").map(String.init))
        case "-h", "--help":
            print("""
            usage: kotosync-bench all [--quick] [--skip NAMES] [--cache DIR] [--rss-rows N] [--daemon PATH]
            Runs every issue-10 figure in one run and prints one table (figure, value, target, met): the store mode
            (20k rows, 3 runs), the region mode (200 writes, 50k changes, 3 runs), the load mode (30 s, 32 clients),
            the reports (100k clients, 300k placements, every index), wire bytes per change, daemon RSS with 1M rows
            (idle, then 60 s of a peer's full pull; the replica is built once and cached in --cache, default the
            temporary directory), the scale curve's ends (5 and 50 nodes, hub and mesh, 10 s polls), compaction (1,000 rows × 100
            updates at five nodes) and the bootstrap from a peer holding 1M records (3 runs). --quick: smaller
            sizes (a smoke run of a few minutes). --skip store,region,...: leave providers out. Providers: \(allProviders.map(\.name).joined(separator: ", ")).
            """)
            exit(0)
        default: fail("unknown argument \(flag) (see kotosync-bench all --help)")
        }
    }
    guard FileManager.default.isExecutableFile(atPath: options.daemon) else {
        fail("no kotosyncd at \(options.daemon); build it (swift build -c release) or pass --daemon")
    }
    print("kotosync-bench all\(options.quick ? " --quick" : "")")
    print("machine: \(machine())")
    let start = DispatchTime.now().uptimeNanoseconds
    var figures: [BenchFigure] = []
    var timings: [(String, Double)] = []
    for provider in allProviders where !options.skip.contains(provider.name) {
        print("\n## \(provider.name)")
        let began = DispatchTime.now().uptimeNanoseconds
        do {
            figures += try await provider.run(options)
        } catch {
            figures.append(.missing(provider.name, "failed: \(error)"))
        }
        timings.append((provider.name, Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9))
    }
    let total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print("")
    print("| figure | value | target | met |")
    print("|---|---:|---:|---|")
    for item in figures {
        let value = item.value.map { FigureTarget.format($0) + (item.unit.isEmpty ? "" : " \(item.unit)") } ?? "—"
        let met = item.value.flatMap { item.target.met($0) }.map { $0 ? "met" : "**missed**" } ?? (item.value == nil ? "not measured" : "")
        let note = item.note.isEmpty ? "" : " (\(item.note))"
        print("| \(item.name)\(note) | \(value) | \(item.target.text) | \(met) |")
    }
    print("")
    print(String(format: "all: %.0f s (%@)", total, timings.map { String(format: "%@ %.0f s", $0.0, $0.1) }.joined(separator: ", ")))
}
