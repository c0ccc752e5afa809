import Foundation
import Glibc
import KotoCore
import KotoHTTP
import KotoStore

// `kotosync-bench rss`: a daemon's resident memory (VmRSS from /proc/PID/status)
// with a replica of --rows client records (default 1,000,000; signed local
// writes with their change log, built once through the store's batch API and
// kept in a cache file for later runs), idle, and under full sync load: a second
// daemon with an empty replica pulls everything from it. Both daemons' RSS is
// sampled every 250 ms during the pull; the pull runs until the peer holds every
// change or --load-seconds pass. The two daemons use the demo identity
// (jakobstad serves, larsmo pulls), each configured with the other as its only peer.

struct RSSOptions {
    var region: RegionOptions
    var rows = 1_000_000
    var loadSeconds = 0.0
    var idleSeconds = 10.0
    var cache = NSTemporaryDirectory()

    static func parse(_ arguments: [String]) -> RSSOptions {
        var rest: [String] = []
        var options = RSSOptions(region: RegionOptions(daemon: "", demo: ""))
        var reader = BenchArguments(arguments)
        while let flag = reader.next() {
            switch flag {
            case "--rows": options.rows = positive(reader.value(), "--rows")
            case "--load-seconds": options.loadSeconds = Double(positive(reader.value(), "--load-seconds"))
            case "--idle-seconds": options.idleSeconds = Double(positive(reader.value(), "--idle-seconds"))
            case "--cache": options.cache = reader.value()
            case "--daemon", "--demo", "--base-port", "--batch-size": rest += [flag, reader.value()]
            case "--keep": rest.append(flag)
            case "-h", "--help":
                print("""
                usage: kotosync-bench rss [--rows N] [--load-seconds S] [--idle-seconds S] [--cache DIR] [--daemon PATH] [--demo DIR] [--base-port P] [--batch-size N] [--keep]
                Builds (once; kept as DIR/kotosync-bench-rss-N-schemaV.sqlite, default DIR the temporary directory) a replica
                of N client records (default 1000000) written as jakobstad's signed local writes, starts kotosyncd on it and
                reads its VmRSS after --idle-seconds (default 10) idle, then starts a second kotosyncd (larsmo, empty) that
                pulls everything from it, sampling both daemons' RSS every 250 ms until larsmo holds every change or
                --load-seconds pass (default: no limit). Ports P and P+4 (default P 7501).
                """)
                exit(0)
            default: fail("unknown argument \(flag) (see kotosync-bench rss --help)")
            }
        }
        if !rest.contains("--base-port") { rest += ["--base-port", "7501"] }
        options.region = RegionOptions.parse(rest)
        return options
    }
}

struct RSSResult {
    let rows: Int
    let databaseMiB: Double
    let idleMiB: Double
    /// Highest RSS of the serving daemon and of the pulling one while the pull ran.
    let servingMiB: Double
    let pullingMiB: Double
    let pulled: Int
    let pullSeconds: Double
    let buildSeconds: Double?
}

/// The prepared replica for `rows`: built through the store's batch API unless the cache holds it.
func preparedReplica(rows: Int, cache: String, region: BenchRegion) throws -> (path: String, buildSeconds: Double?) {
    let path = URL(fileURLWithPath: cache).appendingPathComponent("kotosync-bench-rss-\(rows)-schema\(ReplicaStore.schemaVersion).sqlite").path
    if FileManager.default.fileExists(atPath: path) { return (path, nil) }
    let building = path + ".building"
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: building + suffix) }
    var options = StoreOptions()
    options.synchronous = .off
    let elapsed = try seconds {
        let store = try ReplicaStore(path: building, nodeID: "jakobstad", identity: try region.identity("jakobstad"), options: options)
        let chunk = 20_000
        let template = generateClients(count: chunk)
        var written = 0
        while written < rows {
            let count = min(chunk, rows - written)
            try store.batch {
                for (offset, row) in template.prefix(count).enumerated() {
                    // The template's fields under a new id and client number per row.
                    var fields = row.1
                    fields["clientNumber"] = .text("R-\(written + offset)")
                    try store.create(.client, id: benchRowID(written + offset), fields: fields)
                }
            }
            written += count
        }
        _ = try store.wipeErasedContent()  // checkpoints the WAL into the file
    }
    try FileManager.default.moveItem(atPath: building, toPath: path)
    for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: building + suffix) }
    return (path, elapsed)
}

/// A version-4 UUID made from a row number, so every build gives the same ids.
func benchRowID(_ number: Int) -> UUID {
    var bytes = [UInt8](repeating: 0, count: 16)
    var value = UInt64(number) &* 0x9E37_79B9_7F4A_7C15 ^ 0x5EED
    for index in 0..<8 { bytes[index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    value = UInt64(number)
    for index in 8..<16 { bytes[index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index - 8))) }
    bytes[6] = bytes[6] & 0x0f | 0x40
    bytes[8] = bytes[8] & 0x3f | 0x80
    return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                       bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
}

/// Rewrites `node`'s config in the bench region so that `peer` is its only peer.
func onlyPeer(_ region: BenchRegion, node: String, peer: String) throws {
    let path = region.directory.appendingPathComponent("\(node).json")
    guard var members = try JSONValue.parse(Array(try Data(contentsOf: path))).objectMembers else {
        throw BenchError(description: "\(path.path) is not a JSON object")
    }
    let peers = JSONValue.array([.object([("node", .string(peer)), ("url", .string(region.url(peer)))])])
    if let index = members.firstIndex(where: { $0.0 == "peers" }) { members[index].1 = peers }
    try Data(JSONValue.object(members).serializedBytes).write(to: path)
}

func rssResult(_ options: RSSOptions) throws -> RSSResult {
    let region = try BenchRegion(options: options.region)
    defer { region.stopAll() }
    try onlyPeer(region, node: "jakobstad", peer: "larsmo")
    try onlyPeer(region, node: "larsmo", peer: "jakobstad")
    let (prepared, buildSeconds) = try preparedReplica(rows: options.rows, cache: options.cache, region: region)
    try FileManager.default.copyItem(atPath: prepared, toPath: region.databasePath("jakobstad"))
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: region.databasePath("jakobstad"))
    let databaseMiB = Double((try FileManager.default.attributesOfItem(atPath: prepared)[.size] as? Int) ?? 0) / 1_048_576

    let client = try HTTPClient(configuration: HTTPClient.Configuration(totalTimeout: .seconds(60)))
    let admin: HTTPHeaders = ["Authorization": "Bearer \(region.adminToken)"]
    try region.start("jakobstad")
    try region.waitHealthy("jakobstad", client: client)
    // Idle as an office PC's daemon is: serving its status now and then, its one peer down.
    let idleEnd = DispatchTime.now().uptimeNanoseconds + UInt64(options.idleSeconds * 1e9)
    while DispatchTime.now().uptimeNanoseconds < idleEnd {
        _ = try? client.send(.get, "\(region.url("jakobstad"))/v1/status", headers: admin)
        usleep(1_000_000)
    }
    let serving = region.processes["jakobstad"]!.processIdentifier
    let idle = Double(residentKiB(pid: serving) ?? 0) / 1024

    try region.start("larsmo")
    let pulling = region.processes["larsmo"]!.processIdentifier
    let start = DispatchTime.now().uptimeNanoseconds
    var servingMax = idle, pullingMax = 0.0, held = 0
    var lastPoll = UInt64(0)
    while true {
        servingMax = max(servingMax, Double(residentKiB(pid: serving) ?? 0) / 1024)
        pullingMax = max(pullingMax, Double(residentKiB(pid: pulling) ?? 0) / 1024)
        let now = DispatchTime.now().uptimeNanoseconds
        if now - lastPoll > 1_000_000_000 {
            lastPoll = now
            if let response = try? client.send(.get, "\(region.url("larsmo"))/v1/status", headers: admin),
               let json = try? JSONValue.parse(response.body), let seq = json["versionVector"]?["jakobstad"]?.int64Value {
                held = Int(seq)
            }
        }
        let elapsed = Double(now - start) / 1e9
        if held >= options.rows || (options.loadSeconds > 0 && elapsed >= options.loadSeconds) { break }
        if elapsed > 1800 { throw BenchError(description: "larsmo pulled \(held) of \(options.rows) changes in 30 min") }
        usleep(250_000)
    }
    let pullSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return RSSResult(rows: options.rows, databaseMiB: databaseMiB, idleMiB: idle, servingMiB: servingMax, pullingMiB: pullingMax,
                     pulled: held, pullSeconds: pullSeconds, buildSeconds: buildSeconds)
}

func printRSS(_ result: RSSResult) {
    if let build = result.buildSeconds {
        print(String(format: "built the %d-row replica in %.0f s (%.0f rows/s)", result.rows, build, Double(result.rows) / build))
    }
    print(String(format: "replica file %.0f MiB; larsmo pulled %d of %d changes in %.1f s (%.0f changes/s)",
                 result.databaseMiB, result.pulled, result.rows, result.pullSeconds, Double(result.pulled) / result.pullSeconds))
    print("")
    print("| figure | RSS | target |")
    print("|---|---:|---:|")
    print(String(format: "| daemon idle with %d rows | %.1f MiB | < 60 MB |", result.rows, result.idleMiB))
    print(String(format: "| serving a peer's full pull (max) | %.1f MiB | < 200 MB |", result.servingMiB))
    print(String(format: "| pulling and applying everything (max) | %.1f MiB | < 200 MB |", result.pullingMiB))
}

func runRSSBenchmark(_ arguments: [String]) {
    let options = RSSOptions.parse(arguments)
    print("kotosync-bench rss: \(options.rows) rows")
    print("machine: \(machine())")
    do {
        printRSS(try rssResult(options))
    } catch {
        fail("\(error)")
    }
}
