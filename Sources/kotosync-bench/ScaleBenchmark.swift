import Foundation
import Glibc
import KotoCore
import KotoHTTP

// `kotosync-bench scale`: regions of 5 → 10 → 25 → 50 real kotosyncd processes
// on loopback (generated identity, see ScaleRegion.swift), hub-and-spoke and
// sparse mesh. Per region:
//   single   one write's convergence at every node (median of --singles writes)
//   burst    --burst writes at one node (a spoke of the hub), time from the last
//            acknowledgement until every node holds them all
//   idle     sync requests and bytes per node per minute with nothing written,
//            over --idle seconds (the links poll every --interval seconds)
//   busy     the same while --rate writes/s go to the nodes in turn for --busy seconds (before idle,
//            so that during idle every node's version vector names all N origins)
//   cpu/rss  the daemons' CPU (share of one core, all daemons summed) idle and
//            busy, and each daemon's RSS
// Requests and bytes are the daemons' own counters (`kotosync_http_requests_total`,
// `kotosync_http_received_bytes_total`, `kotosync_http_sent_bytes_total`) for the
// /v1/sync routes, so the bench's own scrapes and writes are not counted.

struct ScaleOptions {
    var daemon: String
    var nodes = [5, 10, 25, 50]
    var topologies = ScaleTopology.allCases
    var burst = 100
    var singles = 5
    var intervalSeconds = 30.0
    var idleSeconds = 60.0
    var busySeconds = 30.0
    var rate = 10.0
    var basePort = 7600
    var keep = false

    static func parse(_ arguments: [String]) -> ScaleOptions {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var options = ScaleOptions(daemon: here.appendingPathComponent("kotosyncd").path)
        var reader = BenchArguments(arguments)
        var idle: Double?
        while let flag = reader.next() {
            switch flag {
            case "--daemon": options.daemon = reader.value()
            case "--nodes":
                let list = reader.value().split(separator: ",").map { Int($0) }
                guard !list.isEmpty, list.allSatisfy({ ($0 ?? 0) >= 2 && ($0 ?? 0) <= 400 }) else { fail("--nodes wants a list of counts from 2 to 400, e.g. 5,10,25,50") }
                options.nodes = list.map { $0! }
            case "--topology":
                let list = reader.value().split(separator: ",").map { ScaleTopology(rawValue: String($0)) }
                guard !list.isEmpty, list.allSatisfy({ $0 != nil }) else { fail("--topology wants hub, mesh or hub,mesh") }
                options.topologies = list.map { $0! }
            case "--burst": options.burst = positive(reader.value(), "--burst")
            case "--singles": options.singles = positive(reader.value(), "--singles")
            case "--interval": options.intervalSeconds = Double(positive(reader.value(), "--interval"))
            case "--idle": idle = Double(positive(reader.value(), "--idle"))
            case "--busy": options.busySeconds = Double(positive(reader.value(), "--busy"))
            case "--rate": options.rate = Double(positive(reader.value(), "--rate"))
            case "--base-port": options.basePort = positive(reader.value(), "--base-port")
            case "--keep": options.keep = true
            case "-h", "--help":
                print("""
                usage: kotosync-bench scale [--nodes 5,10,25,50] [--topology hub,mesh] [--burst N] [--singles N] [--interval S]
                                            [--idle S] [--busy S] [--rate W] [--daemon PATH] [--base-port P] [--keep]
                Generates a region of N nodes (keys, secrets, manifest) per count and topology, starts N kotosyncd on
                127.0.0.1:P.. (default P 7600) and measures one write's convergence at every node (median of --singles,
                default 5), a burst of --burst writes (default 100) at one node until every node holds it, and the sync
                requests and bytes per node per minute idle (--idle seconds, default twice --interval, the links' poll
                interval, default 30) and busy (--rate writes/s, default 10, for --busy seconds, default 30), with the
                daemons' CPU and RSS. hub: node 0 peers with all, the others with node 0 only; mesh: each node with
                i±1 and i+N/2. --keep leaves each region's directory (configs, data, daemon logs).
                """)
                exit(0)
            default: fail("unknown argument \(flag) (see kotosync-bench scale --help)")
            }
        }
        options.idleSeconds = idle ?? 2 * options.intervalSeconds
        guard FileManager.default.isExecutableFile(atPath: options.daemon) else {
            fail("no kotosyncd at \(options.daemon); build it (swift build -c release) or pass --daemon")
        }
        return options
    }
}

/// One region's figures.
struct ScaleResult {
    let topology: ScaleTopology
    let nodes: Int
    let diameter: Int
    let singleMillis: Double
    let burstMillis: Double
    let idle: ScaleTraffic
    let busy: ScaleTraffic
    let rssMiB: [Double]
    let startSeconds: Double
}

/// Sync traffic per node per minute over one window, from the daemons' counters.
struct ScaleTraffic {
    var requests: [Double] = []
    var bytes: [Double] = []
    /// Pull requests served and their bytes (request + answer), summed over nodes.
    var pulls = 0.0
    var pullBytes = 0.0
    var notifies = 0.0
    /// CPU seconds of all daemons per wall second (1.0 = one core busy).
    var cpuCores = 0.0

    var meanRequests: Double { requests.reduce(0, +) / Double(max(requests.count, 1)) }
    var meanBytes: Double { bytes.reduce(0, +) / Double(max(bytes.count, 1)) }
    var bytesPerPull: Double { pulls > 0 ? pullBytes / pulls : 0 }
}

/// What one node's /metrics says of its /v1/sync routes.
struct SyncCounters {
    var requests: [String: Double] = [:]
    var bytes: [String: Double] = [:]

    var totalRequests: Double { requests.values.reduce(0, +) }
    var totalBytes: Double { bytes.values.reduce(0, +) }

    static func - (lhs: SyncCounters, rhs: SyncCounters) -> SyncCounters {
        var result = SyncCounters()
        for (route, value) in lhs.requests { result.requests[route] = value - (rhs.requests[route] ?? 0) }
        for (route, value) in lhs.bytes { result.bytes[route] = value - (rhs.bytes[route] ?? 0) }
        return result
    }

    /// Sums the sync routes' series of the three counters in a Prometheus text exposition.
    init(exposition text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let isRequests = line.hasPrefix("kotosync_http_requests_total{")
            let isBytes = line.hasPrefix("kotosync_http_received_bytes_total{") || line.hasPrefix("kotosync_http_sent_bytes_total{")
            guard isRequests || isBytes, let routeStart = line.range(of: "route=\"") else { continue }
            let rest = line[routeStart.upperBound...]
            guard let end = rest.firstIndex(of: "\""), let space = line.lastIndex(of: " "),
                  let value = Double(line[line.index(after: space)...]) else { continue }
            let route = String(rest[..<end])
            guard route.hasPrefix("/v1/sync/") else { continue }
            if isRequests { requests[route, default: 0] += value } else { bytes[route, default: 0] += value }
        }
    }

    init() {}
}

/// CPU seconds (user + system) a process has used.
func cpuSeconds(pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime 14 and stime 15 (1-based over the whole line).
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Runs one region of `count` nodes in `topology`.
func runScaleRegion(count: Int, topology: ScaleTopology, options: ScaleOptions) throws -> ScaleResult {
    let region = try ScaleRegion(count: count, topology: topology, daemon: options.daemon, basePort: options.basePort,
                                 intervalSeconds: options.intervalSeconds, keep: options.keep)
    defer { region.stopAll() }
    let client = try HTTPClient(configuration: HTTPClient.Configuration(totalTimeout: .seconds(30)))
    let started = now()
    for index in 0..<count { try region.start(index) }
    for index in 0..<count { try region.waitHealthy(index, client: client) }
    let startSeconds = Double(now() - started) / 1e9

    var serial = 0
    /// Creates one service at node `index` (retrying while it catches up at start); returns its id.
    func write(at index: Int) throws -> String {
        serial += 1
        let body = JSONValue.object([
            ("nameFi", .string("Skaalauspalvelu \(serial)")), ("providerName", .string("Bench")),
            ("providerType", .string("ngo")), ("category", .string("participation")),
            ("municipalities", .array([.number(Double(region.codes[index]))])),
            ("studyPath", .string("none")), ("status", .string("active")),
        ]).serializedBytes
        for _ in 0..<600 {
            let response = try client.send(.post, "\(region.url(index))/v1/services", headers: region.office(index), body: body)
            if response.status == .created, let id = (try? JSONValue.parse(response.body))?["id"]?.stringValue { return id }
            guard response.status == .serviceUnavailable else {
                throw BenchError(description: "a write at \(region.nodes[index]) answered HTTP \(response.status.code)")
            }
            usleep(100_000)
        }
        throw BenchError(description: "\(region.nodes[index]) refused writes for 60 s")
    }
    /// Milliseconds from now until every node holds service `id`, polling the nodes in turn.
    func converge(_ id: String, timeout: Double = 120) throws -> Double {
        let start = now()
        var waiting = Array(0..<count)
        while !waiting.isEmpty {
            waiting = try waiting.filter { index in
                let response = try client.send(.get, "\(region.url(index))/v1/services/\(id)", headers: region.office(index))
                return response.status != .ok
            }
            if Double(now() - start) / 1e9 > timeout {
                throw BenchError(description: "\(waiting.count) of \(count) nodes lacked a write after \(Int(timeout)) s")
            }
        }
        return Double(now() - start) / 1e6
    }
    func counters() throws -> [SyncCounters] {
        try (0..<count).map { index in
            let response = try client.send(.get, "\(region.url(index))/metrics", headers: region.admin)
            guard response.status == .ok else { throw BenchError(description: "/metrics at \(region.nodes[index]) answered \(response.status.code)") }
            return SyncCounters(exposition: String(decoding: response.body, as: UTF8.self))
        }
    }
    let pids = (0..<count).map { region.processes[$0]!.processIdentifier }
    func cpu() -> Double { pids.reduce(0) { $0 + cpuSeconds(pid: $1) } }
    func traffic(_ before: [SyncCounters], _ after: [SyncCounters], seconds: Double, cpu: Double) -> ScaleTraffic {
        var result = ScaleTraffic()
        for (old, new) in zip(before, after) {
            let delta = new - old
            result.requests.append(delta.totalRequests * 60 / seconds)
            result.bytes.append(delta.totalBytes * 60 / seconds)
            result.pulls += delta.requests["/v1/sync/pull"] ?? 0
            result.pullBytes += delta.bytes["/v1/sync/pull"] ?? 0
            result.notifies += delta.requests["/v1/sync/notify"] ?? 0
        }
        result.cpuCores = cpu / seconds
        return result
    }

    // The writer: a spoke in the hub topology (its changes relay through the hub), node 0 in the mesh.
    let writer = topology == .hub ? 1 : 0
    // Every node has answered its first pulls once a first write reached all of them.
    _ = try converge(try write(at: writer), timeout: 300)

    var singles: [Double] = []
    for _ in 0..<options.singles { singles.append(try converge(try write(at: writer))) }

    var ids: [String] = []
    for _ in 0..<options.burst { ids.append(try write(at: writer)) }
    // Causal delivery: a node holding the burst's last write holds all of it.
    let burstMillis = try converge(ids.last!)

    // Busy: writes at --rate, round robin over the nodes.
    let busyBefore = try counters(), busyCPU = cpu(), busyStart = now()
    let total = Int(options.rate * options.busySeconds)
    var last = ""
    for index in 0..<total {
        let due = busyStart + UInt64(Double(index) / options.rate * 1e9)
        let current = now()
        if due > current { usleep(UInt32((due - current) / 1000)) }
        last = try write(at: index % count)
    }
    let tail = Double(now() - busyStart) / 1e9
    if tail < options.busySeconds { usleep(UInt32((options.busySeconds - tail) * 1e6)) }
    _ = try converge(last)
    let busySeconds = Double(now() - busyStart) / 1e9
    let busy = traffic(busyBefore, try counters(), seconds: busySeconds, cpu: cpu() - busyCPU)

    // Idle, after every node has written (so every version vector and pull names all N origins):
    // let the last hints settle, then count.
    sleep(2)
    let idleBefore = try counters(), idleCPU = cpu(), idleStart = now()
    usleep(UInt32(options.idleSeconds * 1e6))
    let idleSeconds = Double(now() - idleStart) / 1e9
    let idle = traffic(idleBefore, try counters(), seconds: idleSeconds, cpu: cpu() - idleCPU)
    let rss = pids.map { Double(residentKiB(pid: $0) ?? 0) / 1024 }

    return ScaleResult(topology: topology, nodes: count, diameter: topology.diameter(count: count), singleMillis: median(singles),
                       burstMillis: burstMillis, idle: idle, busy: busy, rssMiB: rss, startSeconds: startSeconds)
}

func kib(_ bytes: Double) -> String { String(format: "%.1f KiB", bytes / 1024) }

/// Prints the curve as a Markdown table.
func printScaleTable(_ results: [ScaleResult], options: ScaleOptions) {
    print("")
    print(String(format: "poll interval %.0f s; idle window %.0f s; busy %.0f writes/s for %.0f s; burst %d writes at one node",
                 options.intervalSeconds, options.idleSeconds, options.rate, options.busySeconds, options.burst))
    print("| topology | nodes | hops | 1 write, all nodes | burst of \(options.burst) | idle req/node/min (mean, max) | idle bytes/node/min (mean, max) | bytes per idle pull | busy req/node/min (mean, max) | busy bytes/node/min (mean, max) | daemons' CPU idle / busy (cores) | RSS MiB (median, max) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for result in results {
        print(String(format: "| %@ | %d | %d | %.0f ms | %.0f ms | %.1f, %.1f | %@, %@ | %.0f B | %.1f, %.1f | %@, %@ | %.2f / %.2f | %.1f, %.1f |",
                     result.topology.rawValue, result.nodes, result.diameter, result.singleMillis, result.burstMillis,
                     result.idle.meanRequests, result.idle.requests.max() ?? 0, kib(result.idle.meanBytes), kib(result.idle.bytes.max() ?? 0),
                     result.idle.bytesPerPull, result.busy.meanRequests, result.busy.requests.max() ?? 0,
                     kib(result.busy.meanBytes), kib(result.busy.bytes.max() ?? 0), result.idle.cpuCores, result.busy.cpuCores,
                     median(result.rssMiB), result.rssMiB.max() ?? 0))
    }
}

/// Every region of the options, in order (5, 10, …; hub then mesh).
func scaleResults(_ options: ScaleOptions) throws -> [ScaleResult] {
    var results: [ScaleResult] = []
    for count in options.nodes {
        for topology in options.topologies {
            let result = try runScaleRegion(count: count, topology: topology, options: options)
            print(String(format: "%@ %d: up in %.1f s, 1 write %.0f ms, burst %.0f ms, idle %.1f req/node/min (%@), busy %.1f req/node/min (%@), CPU %.2f/%.2f cores",
                         topology.rawValue, count, result.startSeconds, result.singleMillis, result.burstMillis, result.idle.meanRequests,
                         kib(result.idle.meanBytes), result.busy.meanRequests, kib(result.busy.meanBytes), result.idle.cpuCores, result.busy.cpuCores))
            results.append(result)
        }
    }
    return results
}

func runScaleBenchmark(_ arguments: [String]) {
    let options = ScaleOptions.parse(arguments)
    print("kotosync-bench scale: nodes \(options.nodes.map(String.init).joined(separator: ",")), topologies \(options.topologies.map(\.rawValue).joined(separator: ","))")
    print("machine: \(machine())")
    do {
        printScaleTable(try scaleResults(options), options: options)
    } catch {
        fail("\(error)")
    }
}
