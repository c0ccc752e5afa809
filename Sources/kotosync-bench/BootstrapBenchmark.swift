import Foundation
import KotoCore
import KotoCrypto
import KotoHTTP
import KotoStore
import Synchronization

// kotosync-bench bootstrap: a peer replica holding N client records (built
// once through the store's batch API and kept under --dir for later runs)
// is served by an in-process HTTP server exactly as `GET /v1/sync/snapshot`
// serves it (`SnapshotWriter` streaming from a read-only connection,
// chunked); a fresh node in a child process downloads it over loopback
// (`AsyncHTTPClient.download`, as `SnapshotBootstrap` does) and imports it
// (`ReplicaStore.importSnapshot`: signatures, digest, one transaction).
// Prints per run the seconds (download, import, total), records/s and the
// child's peak RSS (VmHWM), then medians.

/// The figures of one bootstrap benchmark (medians over the runs).
struct BootstrapFigures {
    let records: Int
    let runs: Int
    let totalSeconds: Double
    let downloadSeconds: Double
    let importSeconds: Double
    let snapshotBytes: UInt64
    let peakRSSMiB: Double
    var recordsPerSecond: Double { Double(records) / totalSeconds }
}

/// Fixed keys: the peer's chain heads are signed by "jakobstad", the bootstrapping child is "larsmo".
enum BootstrapKeys {
    static let peer = try! SigningKey(rawPrivateKey: [UInt8](repeating: 0x11, count: 32))
    static let node = try! SigningKey(rawPrivateKey: [UInt8](repeating: 0x22, count: 32))
    static let region = RegionKeys(["jakobstad": [peer.publicKey], "larsmo": [node.publicKey]])
}

func runBootstrapBenchmark(_ arguments: [String]) async {
    var records = 1_000_000
    var runs = 3
    var directory = FileManager.default.temporaryDirectory.path
    var child: (url: String, path: String)?
    var reader = BenchArguments(arguments)
    while let flag = reader.next() {
        switch flag {
        case "--records": records = positive(reader.value(), "--records")
        case "--runs": runs = positive(reader.value(), "--runs")
        case "--dir": directory = reader.value()
        case "--child": child = (reader.value(), reader.value())
        case "-h", "--help":
            print("""
            usage: kotosync-bench bootstrap [--records N] [--runs N] [--dir PATH]
            Bootstraps a fresh node from a peer holding N client records (default 1000000) over loopback HTTP
            (GET /v1/sync/snapshot, streamed; import in one transaction), --runs times (default 3), and prints
            seconds, records/s and the bootstrapping process's peak RSS. The peer replica is built once under
            --dir (default the temporary directory) and reused by later runs with the same N.
            """)
            exit(0)
        default: fail("unknown argument \(flag) (see --help)")
        }
    }
    if let child {
        await runBootstrapChild(url: child.url, path: child.path)
        return
    }
    do {
        let figures = try await measureBootstrap(records: records, runs: runs, directory: directory)
        print(String(format: "| bootstrap from a peer holding %d records | %.1f s (%.0f records/s) | target < 30 s |",
                     figures.records, figures.totalSeconds, figures.recordsPerSecond))
        print(String(format: "| of which download / import | %.1f s / %.1f s | snapshot %.0f MiB |",
                     figures.downloadSeconds, figures.importSeconds, Double(figures.snapshotBytes) / 1_048_576))
        print(String(format: "| bootstrapping process peak RSS | %.1f MiB | |", figures.peakRSSMiB))
    } catch {
        fail("bootstrap benchmark failed: \(error)")
    }
}

/// Builds (or reuses) the peer, serves its snapshot, and bootstraps a fresh child process from it `runs` times.
func measureBootstrap(records: Int, runs: Int, directory: String) async throws -> BootstrapFigures {
    print("kotosync-bench bootstrap: \(records) records, \(runs) runs")
    print("machine: \(machine())")
    // The schema version in the name: a peer built under another schema would only be refused.
    let base = (directory as NSString).appendingPathComponent("kotosync-bench-bootstrap-\(records)-schema\(ReplicaStore.schemaVersion)")
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    let peerPath = (base as NSString).appendingPathComponent("peer.sqlite")
    try buildBootstrapPeer(path: peerPath, records: records)
    // A serving peer's replica is in its page cache; a file evicted since the build would make
    // the first run measure the disk instead (it did: 98 s of download against 28 s).
    let warm = try seconds { try readThrough(peerPath) }
    print(String(format: "peer: %@ read into the page cache in %.1f s", (peerPath as NSString).lastPathComponent, warm))

    var router = Router()
    router.get("/v1/sync/snapshot") { _ in
        .streamed(headers: ["Content-Type": SnapshotFormat.contentType]) { write in
            try SnapshotWriter.write(databasePath: peerPath, now: UInt64(Date().timeIntervalSince1970 * 1000)) { try write($0) }
        }
    }
    let server = try HTTPServer(host: "127.0.0.1", port: 0, router: router)
    let serving = Task { try await server.run() }
    defer {
        server.shutdown(gracePeriod: .seconds(1))
        serving.cancel()
    }
    let url = "http://127.0.0.1:\(server.port)/v1/sync/snapshot"
    var totals: [Double] = [], downloads: [Double] = [], imports: [Double] = [], rss: [Double] = []
    var bytes: UInt64 = 0
    for run in 1...runs {
        let nodePath = (base as NSString).appendingPathComponent("node-\(run).sqlite")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: nodePath + suffix) }
        let started = DispatchTime.now().uptimeNanoseconds
        let output = try runChild(["bootstrap", "--child", url, nodePath])
        let total = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("child ") }) else {
            throw BenchFailure("the bootstrapping child printed no figures: \(output.suffix(500))")
        }
        let values = Dictionary(uniqueKeysWithValues: line.split(separator: " ").dropFirst().compactMap { pair -> (String, Double)? in
            let parts = pair.split(separator: "=")
            guard parts.count == 2, let value = Double(parts[1]) else { return nil }
            return (String(parts[0]), value)
        })
        guard let rows = values["rows"], Int(rows) == records, let download = values["download"], let imported = values["import"],
              let peak = values["hwm_kib"], let size = values["bytes"] else {
            throw BenchFailure("the child's figures are incomplete: \(line)")
        }
        bytes = UInt64(size)
        totals.append(total)
        downloads.append(download)
        imports.append(imported)
        rss.append(peak / 1024)
        print(String(format: "run %d: %.2f s (download %.2f s, import %.2f s), %.0f records/s, peak RSS %.1f MiB",
                     run, total, download, imported, Double(records) / total, peak / 1024))
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: nodePath + suffix) }
    }
    return BootstrapFigures(records: records, runs: runs, totalSeconds: median(totals), downloadSeconds: median(downloads),
                            importSeconds: median(imports), snapshotBytes: bytes, peakRSSMiB: median(rss))
}

/// Reads a whole file and drops the bytes (so the kernel's page cache holds it).
func readThrough(_ path: String) throws {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw BenchFailure("cannot read \(path)") }
    defer { try? handle.close() }
    while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {}
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The peer replica: `records` clients written through the store's batch API (10,000 per transaction), once.
func buildBootstrapPeer(path: String, records: Int) throws {
    let marker = path + ".complete"
    if FileManager.default.fileExists(atPath: marker) {
        print("peer: reusing \(path)")
        return
    }
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    var options = StoreOptions()
    options.synchronous = .off
    let store = try ReplicaStore(path: path, nodeID: "jakobstad", identity: StoreIdentity(signingKey: BootstrapKeys.peer, region: BootstrapKeys.region),
                                 options: options)
    let started = DispatchTime.now().uptimeNanoseconds
    var written = 0
    while written < records {
        let count = min(10_000, records - written)
        let first = written
        let rows = generateClients(count: count, offset: first)
        try store.batch {
            for (id, fields) in rows { try store.create(.client, id: id, fields: fields) }
        }
        written += count
    }
    try store.close()
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    print(String(format: "peer: built %d records in %.1f s", records, elapsed) + " (kept for later runs: \(path))")
    _ = FileManager.default.createFile(atPath: marker, contents: Data())
}

/// Seeded client rows `offset..<offset+count` (as `generateClients`), in chunks so a million never sit in memory at once.
func generateClients(count: Int, offset: Int) -> [(UUID, FieldMap)] {
    var state = UInt64(42 &+ offset)
    func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }
    let codes: [Int64] = [598, 893, 288, 599, 440]
    let languages = ["ar", "fa", "uk", "ru", "so", "ti", "en", "ku"]
    return (0..<count).map { index in
        let birth = LocalDate(year: 1950 + next(60), month: 1 + next(12), day: 1 + next(28))!
        var uuidBytes = [UInt8](repeating: 0, count: 16)
        for byte in 0..<16 { uuidBytes[byte] = UInt8(next(256)) }
        let id = UUID(uuid: (uuidBytes[0], uuidBytes[1], uuidBytes[2], uuidBytes[3], uuidBytes[4], uuidBytes[5], uuidBytes[6] & 0x0f | 0x40,
                             uuidBytes[7], uuidBytes[8] & 0x3f | 0x80, uuidBytes[9], uuidBytes[10], uuidBytes[11], uuidBytes[12],
                             uuidBytes[13], uuidBytes[14], uuidBytes[15]))
        let fields: FieldMap = [
            "clientNumber": .text("B-\(offset + index)"),
            "ownerMunicipality": .integer(codes[next(codes.count)]),
            "givenName": .text("Bench\(next(1000))"),
            "familyName": .text("Mark\(next(1000))"),
            "birthDate": .text(birth.description),
            "personalIdentityCode": .text(PersonalIdentityCode.make(birthDate: birth, individual: 900 + next(99))),
            "arrivalDate": .text("2024-0\(1 + next(9))-1\(next(9))"),
            "permitBasis": .text(PermitBasis.allCases[next(PermitBasis.allCases.count)].rawValue),
            "integrationLanguage": .text(next(2) == 0 ? "fi" : "sv"),
            "motherTongue": .text(languages[next(languages.count)]),
            "literacySupport": .bool(next(4) == 0),
            "jobseeker": .bool(next(2) == 0),
            "planStatus": .text("none"),
            "status": .text("new"),
        ]
        return (id, fields)
    }
}

/// Runs this executable with `arguments`, returning what it printed; throws when it fails.
func runChild(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path), let path = Bundle.main.executablePath {
        process.executableURL = URL(fileURLWithPath: path)
    }
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else { throw BenchFailure("the child failed (\(process.terminationStatus)): \(output.suffix(500))") }
    return output
}

/// Opens the new replica at `path`, imports the snapshot `follower` reads, closes it; the time the import ended.
private func importSnapshot(into path: String, from follower: DownloadFollower) throws -> (SnapshotSummary, UInt64) {
    var options = StoreOptions()
    options.synchronous = .full
    let store = try ReplicaStore(path: path, nodeID: "larsmo", identity: StoreIdentity(signingKey: BootstrapKeys.node, region: BootstrapKeys.region),
                                 options: options)
    let summary = try store.importSnapshot { count in try follower.read(upTo: count) }
    let ended = DispatchTime.now().uptimeNanoseconds
    try store.close()
    return (summary, ended)
}

/// The bootstrapping side, in its own process so its peak RSS is its own:
/// download into a file beside the new replica, import, print the figures.
func runBootstrapChild(url: String, path: String) async {
    do {
        let download = path + ".snapshot.partial"
        defer { try? FileManager.default.removeItem(atPath: download) }
        let started = DispatchTime.now().uptimeNanoseconds
        let client = try AsyncHTTPClient(configuration: HTTPClient.Configuration(totalTimeout: .seconds(3600)))
        // As SnapshotBootstrap does: the import reads the file while the download writes it.
        let downloaded = Mutex<UInt64>(0)
        let (response, imported) = try await followingDownload(into: download, {
            defer { downloaded.withLock { $0 = DispatchTime.now().uptimeNanoseconds } }
            return try await client.download(.get, url, timeout: .seconds(3600), maxBodyBytes: 64 << 30, toFile: download)
        }, consume: { follower in
            // On a thread of its own, as the node's store thread: the import blocks while it waits for bytes.
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(SnapshotSummary, UInt64), any Error>) in
                Thread { continuation.resume(with: Result { try importSnapshot(into: path, from: follower) }) }.start()
            }
        })
        guard response.status == .ok, let (summary, importedAt) = imported else { fail("snapshot answered HTTP \(response.status.code)") }
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let hwm = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?.split(separator: " ").dropFirst().first ?? "0"
        // download: until the last byte arrived; import: what the import took after that (it ran alongside).
        let downloadedAt = downloaded.withLock { $0 }
        print("child rows=\(summary.rows) bytes=\(summary.bytes) download=\(Double(downloadedAt - started) / 1e9) "
              + "import=\(Double(importedAt - downloadedAt) / 1e9) hwm_kib=\(hwm)")
    } catch {
        fail("bootstrap child: \(error)")
    }
}
