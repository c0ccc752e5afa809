import Dispatch
import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization

// `kotosync-bench load`: five real kotosyncd processes on loopback under
// sustained API load while the region syncs (notify hints after every
// write). N concurrent clients (default 32), each bound to one office
// (client i to node i mod 5, with that municipality's office token), mix
// list reads, single reads and writes (creates and updates of their own
// records) for --duration seconds. Reported: throughput, p50/p99 latency
// per route, errors (any non-2xx or transport failure), each daemon's RSS
// over time (VmRSS every few seconds), and at the end whether every
// acknowledged write is present, with its last acknowledged value, on every
// node once the region has converged.

struct LoadOptions {
    var region: RegionOptions
    var duration = 300
    var clients = 32
    /// Records each office creates before the clock starts, so reads have something to read.
    var seed = 200
    var sampleSeconds = 5

    static func parse(_ arguments: [String]) -> LoadOptions {
        var rest: [String] = []
        var options = LoadOptions(region: RegionOptions(daemon: "", demo: ""))
        var quick = false
        var reader = BenchArguments(arguments)
        var duration: Int?, clients: Int?, seed: Int?
        while let flag = reader.next() {
            switch flag {
            case "--duration": duration = positive(reader.value(), "--duration")
            case "--clients": clients = positive(reader.value(), "--clients")
            case "--seed": seed = positive(reader.value(), "--seed")
            case "--quick": quick = true
            case "--daemon", "--demo", "--base-port", "--batch-size": rest += [flag, reader.value()]
            case "--keep": rest.append(flag)
            case "-h", "--help":
                print("""
                usage: kotosync-bench load [--duration SECONDS] [--clients N] [--seed N] [--quick] [--daemon PATH] [--demo DIR] [--base-port P] [--batch-size N] [--keep]
                Starts five kotosyncd on 127.0.0.1:P..P+4 (default P 7401), has each office create --seed clients
                (default 200), then runs N concurrent API clients (default 32, client i at node i mod 5 as its office)
                for --duration seconds (default 300): 50% list reads (GET /v1/clients?limit=50), 30% single reads,
                20% writes (half creates, half updates of the client's own records). Prints throughput, p50/p99 per
                route, the error count, each daemon's RSS over time, and checks that every acknowledged write is on
                every node after convergence. --quick: 20 s, 8 clients, seed 20 (a smoke run).
                """)
                exit(0)
            default: fail("unknown argument \(flag) (see kotosync-bench load --help)")
            }
        }
        if quick { options.duration = 20; options.clients = 8; options.seed = 20 }
        options.duration = duration ?? options.duration
        options.clients = clients ?? options.clients
        options.seed = seed ?? options.seed
        if !rest.contains("--base-port") { rest += ["--base-port", "7401"] }
        options.region = RegionOptions.parse(rest)
        return options
    }
}

/// The routes measured, in report order.
enum LoadRoute: String, CaseIterable {
    case list = "GET /v1/clients?limit=50"
    case read = "GET /v1/clients/{id}"
    case create = "POST /v1/clients"
    case update = "PATCH /v1/clients/{id}"
}

/// What one client thread saw: latencies per route, errors, and its
/// acknowledged writes (record id → the last acknowledged status).
struct LoadTally: Sendable {
    var latencies: [LoadRoute: [Double]] = [:]
    var errors: [String: Int] = [:]
    var acknowledged: [String: String] = [:]
    var node = ""
}

/// Fictional client JSON owned by `municipality`.
private func clientBody(municipality: Int64, number: String, random: inout BenchRandom) -> [UInt8] {
    let birth = LocalDate(year: 1950 + random.next(60), month: 1 + random.next(12), day: 1 + random.next(28))!
    return JSONValue.object([
        ("clientNumber", .string(number)),
        ("ownerMunicipality", .number(Double(municipality))),
        ("givenName", .string("Kuorma\(random.next(1000))")),
        ("familyName", .string("Testi\(random.next(1000))")),
        ("birthDate", .string(birth.description)),
        ("integrationLanguage", .string(random.next(2) == 0 ? "fi" : "sv")),
        ("planStatus", .string("none")),
        ("status", .string("new")),
    ]).serializedBytes
}

private func milliseconds(since start: UInt64) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
}

/// Where one client sends its requests, as whom.
struct LoadTarget: Sendable {
    let node: String
    let base: String
    let headers: HTTPHeaders
    let municipality: Int64
}

/// One API client: its own office, its own connection (curl keeps it alive).
private func runLoadClient(index: Int, target: LoadTarget, seeded: [String], until end: UInt64) throws -> LoadTally {
    let node = target.node, base = target.base, headers = target.headers, code = target.municipality
    let client = try HTTPClient(configuration: HTTPClient.Configuration(totalTimeout: .seconds(60)))
    var random = BenchRandom(state: UInt64(1000 + index))
    var tally = LoadTally(node: node)
    var own: [String] = []
    var created = 0
    let statuses = ClientStatus.allCases.map(\.rawValue)

    func measure(_ route: LoadRoute, _ send: () throws -> HTTPResponse) -> HTTPResponse? {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let response = try send()
            tally.latencies[route, default: []].append(milliseconds(since: start))
            guard (200..<300).contains(response.status.code) else {
                tally.errors["\(route.rawValue) HTTP \(response.status.code)", default: 0] += 1
                return nil
            }
            return response
        } catch {
            tally.errors["\(route.rawValue) transport", default: 0] += 1
            return nil
        }
    }

    while DispatchTime.now().uptimeNanoseconds < end {
        let roll = random.next(100)
        if roll < 50 {
            _ = measure(.list) { try client.send(.get, "\(base)/v1/clients?limit=50", headers: headers) }
        } else if roll < 80 {
            let pool = own.isEmpty || random.next(2) == 0 ? seeded : own
            guard let id = pool.isEmpty ? nil : pool[random.next(pool.count)] else { continue }
            _ = measure(.read) { try client.send(.get, "\(base)/v1/clients/\(id)", headers: headers) }
        } else if roll < 90 || own.isEmpty {
            created += 1
            let body = clientBody(municipality: code, number: "L\(index)-\(created)", random: &random)
            if let response = measure(.create, { try client.send(.post, "\(base)/v1/clients", headers: headers, body: body) }),
               let id = (try? JSONValue.parse(response.body))?["id"]?.stringValue {
                own.append(id)
                tally.acknowledged[id] = "new"
            }
        } else {
            let id = own[random.next(own.count)]
            let status = statuses[random.next(statuses.count)]
            let body = JSONValue.object([("status", .string(status))]).serializedBytes
            if measure(.update, { try client.send(.patch, "\(base)/v1/clients/\(id)", headers: headers, body: body) }) != nil {
                tally.acknowledged[id] = status
            }
        }
    }
    return tally
}

/// Every client of `node` as `headers` may see it: id → status, paging through the list.
private func allClients(at base: String, headers: HTTPHeaders, client: HTTPClient) throws -> [String: String] {
    var found: [String: String] = [:]
    var after: String?
    repeat {
        let target = "\(base)/v1/clients?limit=1000" + (after.map { "&after=\($0)" } ?? "")
        let response = try client.send(.get, target, headers: headers)
        guard response.status == .ok, let json = try? JSONValue.parse(response.body) else {
            throw BenchError(description: "listing \(base) answered HTTP \(response.status.code)")
        }
        for item in json["items"]?.arrayValue ?? [] {
            if let id = item["id"]?.stringValue { found[id] = item["fields"]?["status"]?.stringValue ?? "" }
        }
        after = json["next"]?.stringValue
    } while after != nil
    return found
}

func runLoadBenchmark(_ arguments: [String]) async {
    let options = LoadOptions.parse(arguments)
    print("kotosync-bench load: \(options.clients) clients for \(options.duration) s, seed \(options.seed) clients per office")
    print("machine: \(machine())")
    do {
        let region = try BenchRegion(options: options.region)
        let control = try HTTPClient(configuration: HTTPClient.Configuration(totalTimeout: .seconds(60)))
        let admin: HTTPHeaders = ["Authorization": "Bearer \(region.adminToken)"]
        for node in nodeNames { try region.start(node) }
        for node in nodeNames { try region.waitHealthy(node, client: control) }

        // Seed: each office creates its first clients (acknowledged writes too).
        var seeded: [String: [String]] = [:]
        var acknowledged: [String: (owner: String, status: String)] = [:]
        var random = BenchRandom(state: 7)
        for node in nodeNames {
            for number in 0..<options.seed {
                let body = clientBody(municipality: region.municipality[node]!, number: "S-\(number)", random: &random)
                var response = try control.send(.post, "\(region.url(node))/v1/clients", headers: region.officeHeaders(node), body: body)
                // A starting node refuses writes (503 catching_up) until its peers have answered.
                var attempts = 0
                while response.status == .serviceUnavailable && attempts < 300 {
                    usleep(100_000)
                    attempts += 1
                    response = try control.send(.post, "\(region.url(node))/v1/clients", headers: region.officeHeaders(node), body: body)
                }
                guard response.status == .created, let id = (try? JSONValue.parse(response.body))?["id"]?.stringValue else {
                    region.stopAll()
                    fail("seeding \(node) answered HTTP \(response.status.code) \(String(decoding: response.body.prefix(200), as: UTF8.self))")
                }
                seeded[node, default: []].append(id)
                acknowledged[id] = (node, "new")
            }
        }

        // RSS of each daemon over the run.
        let pids = nodeNames.map { region.processes[$0]!.processIdentifier }
        let samples = Mutex<[[Int]]>([])
        let sampling = Atomic<Bool>(true)
        let sampler = Thread {
            while sampling.load(ordering: .relaxed) {
                let row = pids.map { residentKiB(pid: $0) ?? 0 }
                samples.withLock { $0.append(row) }
                for _ in 0..<(options.sampleSeconds * 10) where sampling.load(ordering: .relaxed) { usleep(100_000) }
            }
        }
        sampler.start()

        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(options.duration) * 1_000_000_000
        let tallies = Mutex<[LoadTally]>([])
        let failures = Mutex<[String]>([])
        let finished = DispatchSemaphore(value: 0)
        for index in 0..<options.clients {
            let node = nodeNames[index % nodeNames.count]
            let target = LoadTarget(node: node, base: region.url(node), headers: region.officeHeaders(node),
                                    municipality: region.municipality[node]!)
            let pool = seeded[node] ?? []
            let thread = Thread {
                do {
                    let tally = try runLoadClient(index: index, target: target, seeded: pool, until: end)
                    tallies.withLock { $0.append(tally) }
                } catch {
                    failures.withLock { $0.append(String(describing: error)) }
                }
                finished.signal()
            }
            thread.start()
        }
        for _ in 0..<options.clients { finished.wait() }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let loadEnd = DispatchTime.now().uptimeNanoseconds

        // Convergence: every node's version vector equal, and holding every node's own writes.
        var vectors: [[String: Int64]] = []
        while true {
            vectors = nodeNames.map { node in
                guard let response = try? control.send(.get, "\(region.url(node))/v1/status", headers: admin),
                      let json = try? JSONValue.parse(response.body) else { return [:] }
                var vector: [String: Int64] = [:]
                for (origin, value) in json["versionVector"]?.objectMembers ?? [] { vector[origin] = value.int64Value }
                return vector
            }
            if !vectors[0].isEmpty, vectors.allSatisfy({ $0 == vectors[0] }) { break }
            if Double(DispatchTime.now().uptimeNanoseconds - loadEnd) > 600e9 { fail("the region did not converge in 600 s") }
            usleep(200_000)
        }
        let convergence = Double(DispatchTime.now().uptimeNanoseconds - loadEnd) / 1e9
        sampling.store(false, ordering: .relaxed)

        let all = tallies.withLock { $0 }
        for tally in all {
            for (id, status) in tally.acknowledged { acknowledged[id] = (tally.node, status) }
        }
        // Nothing lost: every acknowledged write on every node, with its last acknowledged status.
        var missing = 0, wrong = 0
        for node in nodeNames {
            for owner in nodeNames {
                let held = try allClients(at: region.url(node), headers: region.officeHeaders(owner), client: control)
                for (id, expected) in acknowledged where expected.owner == owner {
                    if let status = held[id] {
                        if status != expected.status { wrong += 1 }
                    } else {
                        missing += 1
                    }
                }
            }
        }

        let errors = all.reduce(into: [String: Int]()) { result, tally in
            for (key, count) in tally.errors { result[key, default: 0] += count }
        }
        let errorCount = errors.values.reduce(0, +) + failures.withLock { $0.count }
        var total = 0
        print("")
        print("| route | requests | per second | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|")
        for route in LoadRoute.allCases {
            let values = all.flatMap { $0.latencies[route] ?? [] }
            total += values.count
            guard !values.isEmpty else { continue }
            print(String(format: "| %@ | %d | %.1f | %.1f | %.1f |", route.rawValue, values.count, Double(values.count) / elapsed,
                         percentile(values, 50), percentile(values, 99)))
        }
        let everything = all.flatMap { $0.latencies.values.flatMap { $0 } }
        print(String(format: "| all | %d | %.1f | %.1f | %.1f |", total, Double(total) / elapsed,
                     percentile(everything, 50), percentile(everything, 99)))
        print("")
        print(String(format: "elapsed %.1f s; errors %d%@; region converged %.1f s after the load stopped",
                     elapsed, errorCount, errors.isEmpty ? "" : " (\(errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")))",
                     convergence))
        for failure in failures.withLock({ $0 }) { print("client failed: \(failure)") }
        print("acknowledged writes: \(acknowledged.count) records (\(all.reduce(0) { $0 + $1.acknowledged.count }) written under load); "
              + "on every node after convergence: missing \(missing), wrong status \(wrong)")
        let rows = samples.withLock { $0 }
        print("")
        print("RSS MiB every \(options.sampleSeconds) s (first, 25%, 50%, 75%, last; max):")
        print("| node | " + ["first", "25%", "50%", "75%", "last", "max"].joined(separator: " | ") + " |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for (column, node) in nodeNames.enumerated() where !rows.isEmpty {
            let series = rows.map { Double($0[column]) / 1024 }
            let picks = [0, series.count / 4, series.count / 2, 3 * series.count / 4, series.count - 1].map { series[$0] }
            print("| \(node) | " + (picks + [series.max()!]).map { String(format: "%.1f", $0) }.joined(separator: " | ") + " |")
        }
        region.stopAll()
        if errorCount > 0 || missing > 0 || wrong > 0 { exit(1) }
    } catch {
        fail("\(error)")
    }
}
