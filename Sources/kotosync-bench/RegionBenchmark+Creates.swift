import Dispatch
import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization

// API creates per second: N concurrent API clients (default 32), each with
// its own keep-alive connection, POST /v1/clients to one daemon as its office
// until --creates records are acknowledged (201, sent only once the group
// commit holding the write is durable: synchronous=FULL). Measured at
// jakobstad while the five-node region syncs (every commit's notify makes
// the four peers pull), and on one daemon without peers, in the same run.

/// Fictional client JSON owned by `municipality`, numbered `number`.
private func createBody(municipality: Int64, number: String) -> [UInt8] {
    JSONValue.object([
        ("clientNumber", .string(number)),
        ("ownerMunicipality", .number(Double(municipality))),
        ("givenName", .string("Ryhmä")), ("familyName", .string("Mittaus")),
        ("birthDate", .string("1990-01-01")), ("integrationLanguage", .string("fi")),
        ("planStatus", .string("none")), ("status", .string("new")),
    ]).serializedBytes
}

/// Until `node` takes writes (a starting node answers 503 while it asks its peers).
func waitWritable(_ base: String, headers: HTTPHeaders, municipality: Int64, client: HTTPClient) throws {
    for attempt in 0..<600 {
        let response = try client.send(.post, "\(base)/v1/clients", headers: headers,
                                       body: createBody(municipality: municipality, number: "W-\(attempt)-\(UUID().uuidString.prefix(8))"))
        if response.status == .created { return }
        guard response.status == .serviceUnavailable else { throw BenchError(description: "warm-up create answered HTTP \(response.status.code)") }
        usleep(50_000)
    }
    throw BenchError(description: "\(base) took no write in 30 s")
}

/// `count` creates by `clients` concurrent clients at `base`; creates acknowledged per second.
func measureCreates(base: String, headers: HTTPHeaders, municipality: Int64, clients: Int, count: Int, label: String) throws -> Double {
    let errors = Mutex<[String]>([])
    let finished = DispatchSemaphore(value: 0)
    let ready = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    for index in 0..<clients {
        let share = count / clients + (index < count % clients ? 1 : 0)
        let thread = Thread {
            defer { finished.signal() }
            guard let client = try? HTTPClient(configuration: HTTPClient.Configuration(totalTimeout: .seconds(60))) else {
                errors.withLock { $0.append("no HTTP client") }
                ready.signal()
                return
            }
            ready.signal()
            go.wait()
            for number in 0..<share {
                do {
                    let response = try client.send(.post, "\(base)/v1/clients", headers: headers,
                                                   body: createBody(municipality: municipality, number: "\(label)-\(index)-\(number)"))
                    if response.status != .created { errors.withLock { $0.append("HTTP \(response.status.code)") } }
                } catch {
                    errors.withLock { $0.append(String(describing: error)) }
                }
            }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<clients { ready.wait() }
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<clients { go.signal() }
    for _ in 0..<clients { finished.wait() }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let failed = errors.withLock { $0 }
    guard failed.isEmpty else {
        throw BenchError(description: "\(failed.count) of \(count) creates failed (first: \(failed[0]))")
    }
    return Double(count) / elapsed
}

/// Waits until every node's version vector holds `seq` of `origin`'s changes; returns the seconds it took.
func waitReplicated(_ region: BenchRegion, origin: String, seq: Int64, client: HTTPClient, timeout: Double = 600) throws -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    let admin: HTTPHeaders = ["Authorization": "Bearer \(region.adminToken)"]
    var waiting = Set(nodeNames.filter { $0 != origin })
    while !waiting.isEmpty {
        for node in waiting {
            guard let response = try? client.send(.get, "\(region.url(node))/v1/status", headers: admin),
                  let json = try? JSONValue.parse(response.body),
                  let held = json["versionVector"]?[origin]?.int64Value else { continue }
            if held >= seq { waiting.remove(node) }
        }
        if waiting.isEmpty { break }
        if Double(DispatchTime.now().uptimeNanoseconds - start) > timeout * 1e9 {
            throw BenchError(description: "\(waiting.sorted().joined(separator: ", ")) did not reach \(origin):\(seq) in \(Int(timeout)) s")
        }
        usleep(20_000)
    }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// The seq `node` has reached (its own changes), from its status.
func ownSeq(_ region: BenchRegion, _ node: String, client: HTTPClient) throws -> Int64 {
    let response = try client.send(.get, "\(region.url(node))/v1/status", headers: ["Authorization": "Bearer \(region.adminToken)"])
    guard let seq = (try? JSONValue.parse(response.body))?["seq"]?.int64Value else {
        throw BenchError(description: "\(node) status answered HTTP \(response.status.code)")
    }
    return seq
}

extension BenchRegion {
    /// The port of the daemon without peers (after the five).
    var aloneURL: String { "http://127.0.0.1:\(options.basePort + nodeNames.count)" }

    func waitAloneHealthy(client: HTTPClient) throws {
        for _ in 0..<500 {
            if let response = try? client.send(.get, "\(aloneURL)/healthz"), response.status == .ok { return }
            usleep(20_000)
        }
        throw BenchError(description: "the daemon without peers did not come up")
    }

    /// Starts jakobstad's identity as a daemon without peers, in a data directory of its own.
    func startAlone() throws {
        let config = JSONValue.object([
            ("node", .string("jakobstad")),
            ("listen", .object([("port", .number(Double(options.basePort + nodeNames.count)))])),
            ("dataDirectory", .string("data/alone")),
            ("secretsFile", .string("secrets/jakobstad.json")),
            ("regionManifest", .string("region.json")),
            ("keyFile", .string("keys/jakobstad.key")),
            ("peers", .array([])),
            ("durability", .string("full")),
        ])
        try Data(config.serializedBytes).write(to: directory.appendingPathComponent("alone.json"))
        let data = directory.appendingPathComponent("data/alone")
        try? FileManager.default.removeItem(at: data)
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try start("alone")
    }
}
