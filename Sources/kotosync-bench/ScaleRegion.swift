import Foundation
import Glibc
import KotoCore
import KotoCrypto
import KotoHTTP

// The N-node regions `kotosync-bench scale` runs: a generated identity
// (manifest, one Ed25519 key, secrets and tokens per node, one office per
// node's municipality, one admin) and one config per node whose peers
// follow the topology. Every node is a real kotosyncd on 127.0.0.1.

/// Who peers with whom.
enum ScaleTopology: String, CaseIterable {
    /// Node 0 is the hub and peers with everyone; every spoke peers only with the hub.
    case hub
    /// A ring plus chords: each node peers with i±1 and i+N/2 (about three neighbours).
    case mesh

    /// Each node's peers (indexes), symmetric: if a peers with b, b peers with a.
    func neighbours(count: Int) -> [[Int]] {
        var sets = [Set<Int>](repeating: [], count: count)
        func link(_ a: Int, _ b: Int) {
            guard a != b else { return }
            sets[a].insert(b)
            sets[b].insert(a)
        }
        switch self {
        case .hub:
            for spoke in 1..<max(count, 1) { link(0, spoke) }
        case .mesh:
            for node in 0..<count {
                link(node, (node + 1) % count)
                if count > 4 { link(node, (node + count / 2) % count) }
            }
        }
        return sets.map { $0.sorted() }
    }

    /// The longest shortest path between two nodes: the relay hops a change needs.
    func diameter(count: Int) -> Int {
        let graph = neighbours(count: count)
        var longest = 0
        for start in 0..<count {
            var distance = [Int](repeating: -1, count: count)
            distance[start] = 0
            var queue = [start], head = 0
            while head < queue.count {
                let node = queue[head]
                head += 1
                for next in graph[node] where distance[next] < 0 {
                    distance[next] = distance[node] + 1
                    queue.append(next)
                }
            }
            longest = max(longest, distance.max() ?? 0)
        }
        return longest
    }
}

/// A random bearer token (32 bytes, URL-safe base64).
func scaleToken() -> String {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    return "ks_" + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// A generated region of `count` nodes in one temporary directory, and its daemons.
final class ScaleRegion {
    let directory: URL
    let nodes: [String]
    let ports: [Int]
    let codes: [Int]
    let neighbours: [[Int]]
    let officeTokens: [String]
    let adminToken: String
    let daemon: String
    var processes: [Int: Process] = [:]
    private let keep: Bool

    /// Node i is `n<i>` with municipality code 101 + i (the manifest wants distinct codes in 1...999).
    init(count: Int, topology: ScaleTopology, daemon: String, basePort: Int, intervalSeconds: Double, keep: Bool) throws {
        precondition(count >= 2 && count <= 800, "a scale region has 2 to 800 nodes")
        self.daemon = daemon
        self.keep = keep
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("kotosync-scale-\(count)-\(topology.rawValue)-\(UUID().uuidString.prefix(8))")
        let files = FileManager.default
        for sub in ["data", "keys", "secrets"] {
            try files.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true,
                                      attributes: [.posixPermissions: 0o700])
        }
        nodes = (0..<count).map { String(format: "n%03d", $0) }
        ports = (0..<count).map { basePort + $0 }
        codes = (0..<count).map { 101 + $0 }
        neighbours = topology.neighbours(count: count)
        let peerTokens = nodes.map { _ in scaleToken() }
        officeTokens = nodes.map { _ in scaleToken() }
        adminToken = scaleToken()

        func writePrivate(_ json: JSONValue, _ path: String) throws {
            let target = directory.appendingPathComponent(path).path
            guard files.createFile(atPath: target, contents: Data(json.serializedBytes), attributes: [.posixPermissions: 0o600]) else {
                throw BenchError(description: "cannot write \(target)")
            }
        }
        var members: [JSONValue] = []
        for (index, node) in nodes.enumerated() {
            let key = try SigningKey.generate()
            try key.write(to: directory.appendingPathComponent("keys/\(node).key").path)
            members.append(.object([
                ("node", .string(node)), ("municipality", .number(Double(codes[index]))),
                ("nameFi", .string("Kunta \(index)")), ("nameSv", .string("Kommun \(index)")),
                ("publicKeys", .array([.string(key.publicKey.text)])),
            ]))
        }
        try writePrivate(.object([("region", .string("scale-region")), ("members", .array(members))]), "region.json")

        for (index, node) in nodes.enumerated() {
            func digest(_ token: String) -> JSONValue { .string(hexString(SHA256.hash(Array(token.utf8)))) }
            var accept: [JSONValue] = neighbours[index].map { peer in
                .object([("role", .string("peer")), ("node", .string(nodes[peer])), ("sha256", digest(peerTokens[peer]))])
            }
            accept.append(.object([("role", .string("office")), ("municipality", .number(Double(codes[index]))),
                                   ("name", .string("Bench office \(index)")), ("sha256", digest(officeTokens[index]))]))
            accept.append(.object([("role", .string("admin")), ("name", .string("Bench")), ("sha256", digest(adminToken))]))
            try writePrivate(.object([("peerCredential", .string(peerTokens[index])), ("accept", .array(accept))]), "secrets/\(node).json")

            let peers = neighbours[index].map { peer in
                JSONValue.object([("node", .string(nodes[peer])), ("url", .string("http://127.0.0.1:\(ports[peer])"))])
            }
            let config = JSONValue.object([
                ("node", .string(node)),
                ("listen", .object([("port", .number(Double(ports[index])))])),
                ("dataDirectory", .string("data/\(node)")),
                ("secretsFile", .string("secrets/\(node).json")),
                ("regionManifest", .string("region.json")),
                ("keyFile", .string("keys/\(node).key")),
                ("peers", .array(peers)),
                ("sync", .object([("intervalSeconds", .number(intervalSeconds)), ("batchSize", .number(1000)),
                                  ("backoffInitialSeconds", .number(0.2)), ("backoffMaxSeconds", .number(2))])),
                ("durability", .string("full")),
            ])
            try Data(config.serializedBytes).write(to: directory.appendingPathComponent("\(node).json"))
            try files.createDirectory(at: directory.appendingPathComponent("data/\(node)"), withIntermediateDirectories: true,
                                      attributes: [.posixPermissions: 0o700])
        }
    }

    func url(_ index: Int) -> String { "http://127.0.0.1:\(ports[index])" }
    var admin: HTTPHeaders { ["Authorization": "Bearer \(adminToken)"] }
    func office(_ index: Int) -> HTTPHeaders {
        ["Authorization": "Bearer \(officeTokens[index])", "Content-Type": "application/json"]
    }

    func start(_ index: Int) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: daemon)
        process.arguments = ["--config", directory.appendingPathComponent("\(nodes[index]).json").path]
        let log = directory.appendingPathComponent("\(nodes[index]).log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        processes[index] = process
    }

    func waitHealthy(_ index: Int, client: HTTPClient, seconds: Double = 60) throws {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        while DispatchTime.now().uptimeNanoseconds < deadline {
            if let response = try? client.send(.get, "\(url(index))/healthz"), response.status == .ok { return }
            usleep(50_000)
        }
        throw BenchError(description: "\(nodes[index]) did not come up in \(Int(seconds)) s (see \(directory.path)/\(nodes[index]).log)")
    }

    func stopAll() {
        for process in processes.values where process.isRunning { process.terminate() }
        for process in processes.values { process.waitUntilExit() }
        processes.removeAll()
    }

    deinit {
        stopAll()
        if keep {
            print("kept \(directory.path) (configs, data, daemon logs)")
        } else {
            try? FileManager.default.removeItem(at: directory)
        }
    }
}
