import Foundation
import KotoCore
import KotoCrypto
import KotoStore

// kotosync-bench compaction: five in-process replicas (real SQLite files)
// update the same N rows U times, each round every row written once by one
// of them in turn, fully synced after each round (each pull tells the peer
// what the puller holds, as SyncAPI.pull does); every K rounds each node
// compacts (floor = what its four peers hold). Prints the log's entries
// against the live rows, the log end (what the log would hold without
// compaction), the database size, and what a compaction run costs.

struct CompactionOptions {
    var rows = 1_000
    var rounds = 100
    var every = 10
    var directory = FileManager.default.temporaryDirectory.path

    static func parse(_ arguments: [String]) -> CompactionOptions {
        var options = CompactionOptions()
        var reader = BenchArguments(arguments)
        while let flag = reader.next() {
            switch flag {
            case "--rows": options.rows = positive(reader.value(), "--rows")
            case "--rounds": options.rounds = positive(reader.value(), "--rounds")
            case "--every": options.every = positive(reader.value(), "--every")
            case "--dir": options.directory = reader.value()
            case "-h", "--help":
                print("""
                usage: kotosync-bench compaction [--rows N] [--rounds U] [--every K] [--dir PATH]
                Five in-process replicas update the same N rows (default 1000) U times (default 100),
                synced after each round, each compacting every K rounds (default 10); prints the
                log's entries against the live rows, with and without compaction.
                """)
                exit(0)
            default: fail("unknown argument \(flag) (see --help)")
            }
        }
        return options
    }
}

/// What `compactionFigures` measured.
struct CompactionFigures {
    let rows: Int
    let rounds: Int
    let changes: Int
    /// Per node after the last round and compaction: entries held.
    let entries: [Int]
    /// The largest entry count any node held right after a compaction run.
    let largestAfterRun: Int
    /// What an uncompacted log would hold (the log end: every change logged once).
    let logEnd: UInt64
    /// The compacted nodes' database size (main file after a checkpoint, MiB), and the uncompacted baseline's.
    let databaseMiB: Double
    let uncompactedDatabaseMiB: Double
    /// Seconds per compaction run (floor and every chunk), median over all runs, and entries examined per second.
    let runSeconds: Double
    let examinedPerSecond: Double
    let converged: Bool
}

/// Runs the compaction scenario once; `all` calls this too.
func compactionFigures(_ options: CompactionOptions) throws -> CompactionFigures {
    // The five offices, and a sixth replica that pulls everything and never compacts: the baseline.
    let nodes = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"], members = nodes + ["baseline"]
    let directory = URL(fileURLWithPath: options.directory).appendingPathComponent("kotosync-bench-compaction-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let keys = try members.map { _ in try SigningKey.generate() }
    let region = RegionKeys(Dictionary(uniqueKeysWithValues: zip(members, keys.map { [$0.publicKey] })))
    var storeOptions = StoreOptions()
    storeOptions.synchronous = .normal
    func open(_ index: Int, file: String) throws -> ReplicaStore {
        try ReplicaStore(path: directory.appendingPathComponent("\(file).sqlite").path, nodeID: members[index],
                         identity: StoreIdentity(signingKey: keys[index], region: region), options: storeOptions)
    }
    let stores = try nodes.indices.map { try open($0, file: nodes[$0]) }
    let baseline = try open(nodes.count, file: "baseline")
    /// `tell`: the peer learns what the puller holds (as SyncAPI.pull tells it); the baseline's pulls
    /// do not, or it would hold every floor back as a puller heard from (`ReplicaStore.floorTarget`).
    func sync(_ puller: ReplicaStore, from peer: ReplicaStore, tell: Bool = true) throws {
        while true {
            let since = try puller.peerCursor(peer.nodeID)?.position ?? 0
            if tell { peer.notePeerVector(puller.nodeID, puller.versionVector) }
            let batch = try peer.readLog(after: since, notCoveredBy: puller.versionVector, limit: 1_000)
            try puller.apply(batch, from: peer.nodeID)
            if batch.changes.isEmpty { return }
        }
    }
    func syncAll() throws {
        for puller in stores { for peer in stores where peer !== puller { try sync(puller, from: peer) } }
    }
    var ids: [UUID] = []
    try stores[0].batch {
        for number in 0..<options.rows {
            let id = UUID()
            try stores[0].create(.client, id: id, fields: benchClient(number: number))
            ids.append(id)
        }
    }
    try syncAll()
    let statuses = ClientStatus.allCases.map(\.rawValue), languages = ["ar", "fa", "uk", "ru", "so", "ti", "en", "ku"]
    var runTimes: [Double] = []
    var examined = 0.0, examinedTime = 0.0
    var largest = 0
    for round in 0..<options.rounds {
        for (index, store) in stores.enumerated() {
            try store.batch {
                for row in stride(from: (index + round) % stores.count, to: options.rows, by: stores.count) {
                    let fields: FieldMap = round % 2 == 0 ? ["status": .text(statuses[(round / 2) % statuses.count])]
                        : ["motherTongue": .text(languages[(round / 2) % languages.count])]
                    try store.update(.client, id: ids[row], fields: fields)
                }
            }
        }
        try syncAll()
        try sync(baseline, from: stores[round % stores.count], tell: false)
        if round % options.every == options.every - 1 || round == options.rounds - 1 {
            for store in stores {
                let policy = ReplicaStore.FloorPolicy(peers: nodes.filter { $0 != store.nodeID }, horizonMillis: 7 * 86_400_000)
                let held = try store.logEntryCount()
                var result: ReplicaStore.CompactionResult?
                let time = try seconds { result = try store.compact(policy) }
                runTimes.append(time)
                examined += Double(held)
                examinedTime += time
                largest = max(largest, result?.entries ?? 0)
            }
        }
    }
    func databaseMiB(_ store: ReplicaStore, _ file: String) throws -> Double {
        _ = try store.wipeErasedContent()  // a TRUNCATE checkpoint: the main file holds everything
        let path = directory.appendingPathComponent("\(file).sqlite").path
        return Double((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1_048_576
    }
    let digests = Set(stores.map(\.stateDigest) + [baseline.stateDigest])
    return CompactionFigures(rows: options.rows, rounds: options.rounds, changes: options.rows * (options.rounds + 1),
                             entries: try stores.map { try $0.logEntryCount() }, largestAfterRun: largest,
                             logEnd: stores[0].logPosition, databaseMiB: try databaseMiB(stores[0], nodes[0]),
                             uncompactedDatabaseMiB: try databaseMiB(baseline, "baseline"),
                             runSeconds: median(runTimes), examinedPerSecond: examined / max(examinedTime, 1e-9),
                             converged: digests.count == 1)
}

private func benchClient(number: Int) -> FieldMap {
    [
        "clientNumber": .text("B-\(number)"), "ownerMunicipality": .integer(598), "givenName": .text("Testi"),
        "familyName": .text("Henkilö"), "birthDate": .text("1990-01-01"), "integrationLanguage": .text("fi"),
        "planStatus": .text("none"), "status": .text("new"),
    ]
}

/// Prints the figures as BENCHMARKS.md shows them.
func printCompactionFigures(_ figures: CompactionFigures) {
    let held = figures.entries.max() ?? 0
    print("| figure | value |")
    print("|---|---:|")
    print("| live rows | \(figures.rows) |")
    print("| changes (creates + \(figures.rounds) updates of each row) | \(figures.changes) |")
    print("| log end (entries an uncompacted log holds) | \(figures.logEnd) |")
    print(String(format: "| entries held after the last run (largest node) | %d (%.2f per live row) |", held, Double(held) / Double(figures.rows)))
    print(String(format: "| largest entry count right after any run | %d (%.2f per live row) |", figures.largestAfterRun,
                 Double(figures.largestAfterRun) / Double(figures.rows)))
    print(String(format: "| database, compacted / uncompacted | %.1f MiB / %.1f MiB |", figures.databaseMiB, figures.uncompactedDatabaseMiB))
    print(String(format: "| compaction run (floor + every chunk), median | %.1f ms |", figures.runSeconds * 1e3))
    print(String(format: "| entries examined per second | %.0f |", figures.examinedPerSecond))
    print("| replicas converged (equal state digests, baseline included) | \(figures.converged ? "yes" : "NO") |")
}

func runCompactionBenchmark(_ arguments: [String]) {
    let options = CompactionOptions.parse(arguments)
    print("kotosync-bench compaction: \(options.rows) rows, \(options.rounds) rounds, 5 replicas, compaction every \(options.every) rounds")
    print("machine: \(machine())")
    do {
        printCompactionFigures(try compactionFigures(options))
    } catch {
        fail("\(error)")
    }
}
