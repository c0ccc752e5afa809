import Foundation
import Glibc
import KotoCore
import KotoCrypto
import KotoHTTP
import KotoStore

// `kotosync-bench region`: five real kotosyncd processes on loopback.
//   latency      one write's convergence at all five nodes with notify hints (p50/p99)
//   replication  200k changes from one node to four peers (changes/s per peer), against
//                an in-process apply of the same changes measured in the same run
//   rss          each daemon's resident memory when idle
// The daemons use the demo identity (Config/demo: region manifest, keys, secrets,
// credentials), copied into a temporary region with mode 0600.

struct RegionOptions {
    var daemon: String
    var demo: String
    var writes = 200
    var changes = 200_000
    var runs = 3
    var basePort = 7301
    var batchSize = 5000
    var keep = false
    /// API creates per run of the creates figures, and the concurrent clients sending them.
    var creates = 8000
    var clients = 32

    static func parse(_ arguments: [String]) -> RegionOptions {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // The demo identity: ./Config/demo, else the package's (this binary is in .build/<config>/).
        let packageDemo = here.appendingPathComponent("../../Config/demo").standardizedFileURL.path
        let demo = FileManager.default.fileExists(atPath: "Config/demo/region.json") ? "Config/demo" : packageDemo
        var options = RegionOptions(daemon: here.appendingPathComponent("kotosyncd").path, demo: demo)
        var reader = BenchArguments(arguments)
        while let flag = reader.next() {
            switch flag {
            case "--daemon": options.daemon = reader.value()
            case "--demo": options.demo = reader.value()
            case "--writes": options.writes = positive(reader.value(), "--writes")
            case "--changes": options.changes = positive(reader.value(), "--changes")
            case "--runs": options.runs = positive(reader.value(), "--runs")
            case "--base-port": options.basePort = positive(reader.value(), "--base-port")
            case "--batch-size": options.batchSize = positive(reader.value(), "--batch-size")
            case "--creates": options.creates = positive(reader.value(), "--creates")
            case "--clients": options.clients = positive(reader.value(), "--clients")
            case "--keep": options.keep = true
            case "-h", "--help":
                print("""
                usage: kotosync-bench region [--daemon PATH] [--demo DIR] [--writes N] [--changes N] [--runs N] [--base-port P] [--batch-size N]
                                             [--creates N] [--clients N] [--keep]
                Starts five kotosyncd (default: next to this binary) on 127.0.0.1:P..P+4 and measures one write's
                convergence latency at all five (N writes, default 200), API creates/s by --clients concurrent clients
                (default 32) at one node while the region syncs and at one daemon without peers (P+5), --creates
                (default 8000) per run, synchronous=FULL, replication of --changes (default 200000)
                from one node to four peers (--runs times, default 3), and each daemon's idle RSS. --keep leaves the
                temporary directory (configs, databases, daemon logs) in place. --demo names the demo region
                (default Config/demo): its region.json, keys/, secrets/ and credentials.json are used.
                """)
                exit(0)
            default: fail("unknown argument \(flag) (see kotosync-bench region --help)")
            }
        }
        guard FileManager.default.isExecutableFile(atPath: options.daemon) else {
            fail("no kotosyncd at \(options.daemon); build it (swift build -c release) or pass --daemon")
        }
        guard FileManager.default.fileExists(atPath: options.demo + "/region.json") else {
            fail("no demo region at \(options.demo) (region.json); pass --demo")
        }
        return options
    }
}

let nodeNames = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"]

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

/// A directory of five configs with the demo identity, and the running daemons.
final class BenchRegion {
    let directory: URL
    let options: RegionOptions
    var processes: [String: Process] = [:]
    /// Every member's public keys, from the copied region manifest.
    let regionKeys: RegionKeys
    /// Each node's municipality code, from the manifest.
    let municipality: [String: Int64]
    /// The demo credentials (credentials.json): office tokens by municipality, the admin's.
    let officeTokens: [Int64: String]
    let adminToken: String

    init(options: RegionOptions) throws {
        self.options = options
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("kotosync-region-bench-\(UUID().uuidString)")
        self.directory = directory
        let files = FileManager.default
        for sub in ["data", "keys", "secrets"] {
            // Owner only: the daemon refuses a data directory wider than 0700.
            try files.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true,
                                      attributes: [.posixPermissions: 0o700])
        }
        let demo = URL(fileURLWithPath: options.demo)
        func copyPrivate(_ path: String) throws {
            let target = directory.appendingPathComponent(path).path
            try files.copyItem(atPath: demo.appendingPathComponent(path).path, toPath: target)
            try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target)
        }
        try copyPrivate("region.json")
        for node in nodeNames {
            try copyPrivate("keys/\(node).key")
            try copyPrivate("secrets/\(node).json")
        }

        let manifest = try JSONValue.parse(Array(try Data(contentsOf: directory.appendingPathComponent("region.json"))))
        var keys: [String: [PublicKey]] = [:], codes: [String: Int64] = [:]
        for member in manifest["members"]?.arrayValue ?? [] {
            guard let node = member["node"]?.stringValue else { continue }
            keys[node] = try (member["publicKeys"]?.arrayValue ?? []).compactMap(\.stringValue).map { try PublicKey(text: $0) }
            codes[node] = member["municipality"]?.int64Value
        }
        guard nodeNames.allSatisfy({ keys[$0] != nil && codes[$0] != nil }) else {
            throw BenchError(description: "\(options.demo)/region.json does not list all of \(nodeNames.joined(separator: ", "))")
        }
        regionKeys = RegionKeys(keys)
        municipality = codes
        let credentials = try JSONValue.parse(Array(try Data(contentsOf: demo.appendingPathComponent("credentials.json"))))
        var offices: [Int64: String] = [:]
        for (code, token) in credentials["offices"]?.objectMembers ?? [] {
            if let code = Int64(code), let token = token.stringValue { offices[code] = token }
        }
        guard let admin = credentials["admin"]?.stringValue, nodeNames.allSatisfy({ offices[codes[$0]!] != nil }) else {
            throw BenchError(description: "\(options.demo)/credentials.json lacks the admin token or an office token per member")
        }
        officeTokens = offices
        adminToken = admin

        for (index, node) in nodeNames.enumerated() {
            let peers = nodeNames.enumerated().filter { $0.element != node }.map { peer in
                JSONValue.object([("node", .string(peer.element)), ("url", .string("http://127.0.0.1:\(options.basePort + peer.offset)"))])
            }
            let config = JSONValue.object([
                ("node", .string(node)),
                ("listen", .object([("port", .number(Double(options.basePort + index)))])),
                // One directory per node: the access log (access.sqlite) is per node too.
                ("dataDirectory", .string("data/\(node)")),
                ("secretsFile", .string("secrets/\(node).json")),
                ("regionManifest", .string("region.json")),
                ("keyFile", .string("keys/\(node).key")),
                ("peers", .array(peers)),
                // A long interval: convergence below is driven by notify hints alone.
                ("sync", .object([("intervalSeconds", .number(60)), ("batchSize", .number(Double(options.batchSize))),
                                  ("backoffInitialSeconds", .number(0.1)), ("backoffMaxSeconds", .number(1))])),
                ("durability", .string("full")),
            ])
            try Data(config.serializedBytes).write(to: directory.appendingPathComponent("\(node).json"))
        }
        try makeDataDirectories()
    }

    func url(_ node: String) -> String { "http://127.0.0.1:\(options.basePort + nodeNames.firstIndex(of: node)!)" }
    func databasePath(_ node: String) -> String { directory.appendingPathComponent("data/\(node)/\(node).sqlite").path }

    /// `data/<node>` for every node, owner only (the daemon refuses a wider data directory).
    func makeDataDirectories() throws {
        for node in nodeNames {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("data/\(node)"), withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
    }

    /// The identity `node`'s daemon uses: its demo key and the manifest's public keys.
    func identity(_ node: String) throws -> StoreIdentity {
        StoreIdentity(signingKey: try SigningKey.load(path: directory.appendingPathComponent("keys/\(node).key").path), region: regionKeys)
    }

    /// An office of `node`'s municipality, with its demo token.
    func officeHeaders(_ node: String) -> HTTPHeaders {
        ["Authorization": "Bearer \(officeTokens[municipality[node]!]!)", "Content-Type": "application/json"]
    }

    func start(_ node: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: options.daemon)
        process.arguments = ["--config", directory.appendingPathComponent("\(node).json").path]
        let log = directory.appendingPathComponent("\(node).log").path
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = FileHandle(forWritingAtPath: log)
        handle?.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        processes[node] = process
    }

    func waitHealthy(_ node: String, client: HTTPClient) throws {
        for _ in 0..<500 {
            if let response = try? client.send(.get, "\(url(node))/healthz"), response.status == .ok { return }
            usleep(20_000)
        }
        fail("\(node) did not come up")
    }

    func stopAll() {
        for process in processes.values where process.isRunning { process.terminate() }
        for process in processes.values { process.waitUntilExit() }
        processes.removeAll()
    }

    func removeData() throws {
        try FileManager.default.removeItem(at: directory.appendingPathComponent("data"))
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try makeDataDirectories()
    }

    deinit {
        stopAll()
        if options.keep {
            print("kept \(directory.path) (configs, data, daemon logs)")
        } else {
            try? FileManager.default.removeItem(at: directory)
        }
    }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[max(0, min(sorted.count - 1, rank))]
}

func residentKiB(pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?
        .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
}

/// What `kotosync-bench region` measures, each figure with its baseline of the same run.
struct RegionFigures {
    var convergence: [Double] = []
    var roundTrips: [Double] = []
    var regionCreates: [Double] = []
    var aloneCreates: [Double] = []
    /// Seconds until the four peers held every create of a region run, after its last acknowledgement.
    var createsReplicated: [Double] = []
    var perPeer: [Double] = []
    var inProcess: [Double] = []
    var rssKiB: [String: Int] = [:]
    var options: RegionOptions

    init(options: RegionOptions) { self.options = options }

    /// The figures as a Markdown table (ratios against the same run's baselines).
    func table() -> [String] {
        var lines = ["| measure | value | baseline (same run) |", "|---|---:|---:|"]
        lines.append(String(format: "| convergence at all 5 nodes, p50 | %.1f ms | loopback GET /healthz p50 %.2f ms |",
                            percentile(convergence, 50), percentile(roundTrips, 50)))
        lines.append(String(format: "| convergence at all 5 nodes, p99 | %.1f ms | loopback GET /healthz p99 %.2f ms (p99/p50 of convergence %.2f) |",
                            percentile(convergence, 99), percentile(roundTrips, 99), percentile(convergence, 99) / percentile(convergence, 50)))
        lines.append(String(format: "| API creates/s, %d clients, synchronous=FULL, in the five-node region with sync running, median | %.0f/s | one node without peers %.0f/s (ratio %.2f) |",
                            options.clients, median(regionCreates), median(aloneCreates), median(regionCreates) / median(aloneCreates)))
        lines.append(String(format: "| the region's creates at all four peers, after the last acknowledgement, median | %.2f s | |",
                            median(createsReplicated)))
        lines.append(String(format: "| replication over loopback HTTP to each of 4 peers, median | %.0f changes/s | in-process apply %.0f changes/s (ratio %.2f) |",
                            median(perPeer), median(inProcess), median(perPeer) / median(inProcess)))
        let rssValues = nodeNames.compactMap { rssKiB[$0] }
        lines.append(String(format: "| daemon RSS idle, median of 5 | %.1f MiB | max %.1f MiB |",
                            median(rssValues.map(Double.init)) / 1024, Double(rssValues.max() ?? 0) / 1024))
        return lines
    }
}

func runRegionBenchmark(_ arguments: [String]) async {
    let options = RegionOptions.parse(arguments)
    print("kotosync-bench region: \(options.writes) writes, \(options.creates) creates by \(options.clients) clients "
          + "and \(options.changes) changes × \(options.runs) runs, batch \(options.batchSize)")
    print("machine: \(machine())")
    do {
        let figures = try await measureRegion(options)
        print("")
        for line in figures.table() { print(line) }
    } catch {
        fail("\(error)")
    }
}

/// Measures every region figure (see `RegionFigures`); `kotosync-bench all` calls it with small sizes.
func measureRegion(_ options: RegionOptions, progress: (String) -> Void = { print($0) }) async throws -> RegionFigures {
    var figures = RegionFigures(options: options)
    do {
        let region = try BenchRegion(options: options)
        let clients = try nodeNames.map { _ in try HTTPClient(configuration: HTTPClient.Configuration(totalTimeout: .seconds(30))) }
        let admin: HTTPHeaders = ["Authorization": "Bearer \(region.adminToken)"]

        // Latency.
        for node in nodeNames { try region.start(node) }
        for (index, node) in nodeNames.enumerated() { try region.waitHealthy(node, client: clients[index]) }
        var roundTrips: [Double] = []
        for _ in 0..<options.writes {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try clients[0].send(.get, "\(region.url("jakobstad"))/healthz")
            roundTrips.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        var latencies: [Double] = []
        for write in 0..<options.writes {
            let origin = write % nodeNames.count
            let body = JSONValue.object([
                ("nameFi", .string("Mittauspalvelu \(write)")), ("providerName", .string("Bench")),
                ("providerType", .string("ngo")), ("category", .string("participation")),
                ("municipalities", .array([.number(Double(region.municipality[nodeNames[origin]]!))])),
                ("studyPath", .string("none")), ("status", .string("active")),
            ]).serializedBytes
            let created = try clients[origin].send(.post, "\(region.url(nodeNames[origin]))/v1/services",
                                                   headers: region.officeHeaders(nodeNames[origin]), body: body)
            guard created.status == .created, let id = (try? JSONValue.parse(created.body))?["id"]?.stringValue else {
                fail("write \(write) failed: HTTP \(created.status.code)")
            }
            let acknowledged = DispatchTime.now().uptimeNanoseconds
            var waiting = Set(nodeNames.indices.filter { $0 != origin })
            while !waiting.isEmpty {
                for index in waiting {
                    let response = try clients[index].send(.get, "\(region.url(nodeNames[index]))/v1/services/\(id)",
                                                            headers: region.officeHeaders(nodeNames[index]))
                    if response.status == .ok { waiting.remove(index) }
                }
                if Double(DispatchTime.now().uptimeNanoseconds - acknowledged) > 30e9 { fail("write \(write) did not converge in 30 s") }
            }
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - acknowledged) / 1e6)
        }
        try await Task.sleep(for: .seconds(3))
        var rss: [String: Int] = [:]
        for node in nodeNames { rss[node] = region.processes[node].flatMap { residentKiB(pid: $0.processIdentifier) } }

        // API creates at jakobstad while the region syncs, then at a daemon without peers.
        let origin = "jakobstad", code = region.municipality[origin]!
        try waitWritable(region.url(origin), headers: region.officeHeaders(origin), municipality: code, client: clients[0])
        for run in 1...options.runs {
            let rate = try measureCreates(base: region.url(origin), headers: region.officeHeaders(origin), municipality: code,
                                          clients: options.clients, count: options.creates, label: "R\(run)")
            let replicated = try waitReplicated(region, origin: origin, seq: try ownSeq(region, origin, client: clients[0]), client: clients[0])
            figures.regionCreates.append(rate)
            figures.createsReplicated.append(replicated)
            progress(String(format: "creates run %d: region %.0f/s, at all four peers %.2f s later", run, rate, replicated))
        }
        region.stopAll()
        try region.startAlone()
        let alone = try HTTPClient(configuration: HTTPClient.Configuration(totalTimeout: .seconds(30)))
        try region.waitAloneHealthy(client: alone)
        try waitWritable(region.aloneURL, headers: region.officeHeaders(origin), municipality: code, client: alone)
        for run in 1...options.runs {
            let rate = try measureCreates(base: region.aloneURL, headers: region.officeHeaders(origin), municipality: code,
                                          clients: options.clients, count: options.creates, label: "A\(run)")
            figures.aloneCreates.append(rate)
            progress(String(format: "creates run %d: one node without peers %.0f/s", run, rate))
        }
        region.stopAll()

        // Replication: build the origin's log once, copy it into each run.
        try region.removeData()
        let prepared = region.directory.appendingPathComponent("prepared.sqlite").path
        var storeOptions = StoreOptions()
        storeOptions.synchronous = .off
        do {
            let origin = try ReplicaStore(path: prepared, nodeID: "jakobstad", identity: try region.identity("jakobstad"), options: storeOptions)
            let rows = generateClients(count: options.changes)
            try origin.batch { for (id, fields) in rows { try origin.create(.client, id: id, fields: fields) } }
        }
        var perPeer: [Double] = [], inProcess: [Double] = []
        for run in 1...options.runs {
            try region.removeData()
            try FileManager.default.copyItem(atPath: prepared, toPath: region.databasePath("jakobstad"))
            // The daemon refuses a database wider than 0600 (its -wal and -shm take its mode).
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: region.databasePath("jakobstad"))
            // Baseline in the same run: the same changes applied in-process, no HTTP, no wire.
            do {
                let source = try ReplicaStore(path: region.databasePath("jakobstad"), nodeID: "jakobstad",
                                              identity: try region.identity("jakobstad"), options: storeOptions)
                let batch = try source.readLog(after: 0, notCoveredBy: VersionVector(), limit: options.changes)
                let target = region.directory.appendingPathComponent("baseline-\(run).sqlite").path
                let replica = try ReplicaStore(path: target, nodeID: "larsmo", identity: try region.identity("larsmo"), options: StoreOptions())
                inProcess.append(Double(options.changes) / (try seconds { try replica.apply(batch, from: "jakobstad") }))
                try? FileManager.default.removeItem(atPath: target)
            }
            try region.start("jakobstad")
            try region.waitHealthy("jakobstad", client: clients[0])
            let start = DispatchTime.now().uptimeNanoseconds
            for node in nodeNames.dropFirst() { try region.start(node) }
            var done: [String: Double] = [:]
            while done.count < nodeNames.count - 1 {
                for (index, node) in nodeNames.enumerated().dropFirst() where done[node] == nil {
                    guard let response = try? clients[index].send(.get, "\(region.url(node))/v1/status", headers: admin),
                          let json = try? JSONValue.parse(response.body),
                          let held = json["versionVector"]?["jakobstad"]?.int64Value else { continue }
                    if held >= Int64(options.changes) { done[node] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
                }
                usleep(50_000)
                if Double(DispatchTime.now().uptimeNanoseconds - start) > 600e9 { fail("replication did not finish in 600 s") }
            }
            region.stopAll()
            let rates = done.values.map { Double(options.changes) / $0 }
            perPeer += rates
            progress(String(format: "run %d: slowest peer %.1f s, per-peer %.0f–%.0f changes/s; in-process apply %.0f changes/s",
                            run, done.values.max()!, rates.min()!, rates.max()!, inProcess.last!))
        }
        figures.convergence = latencies
        figures.roundTrips = roundTrips
        figures.perPeer = perPeer
        figures.inProcess = inProcess
        figures.rssKiB = rss
    }
    return figures
}
