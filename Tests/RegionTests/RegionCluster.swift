import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

// MARK: - A region of nodes

final class RegionCluster: RegionLab, @unchecked Sendable {
    let directory: String
    let options: RegionOptions
    let binary: String
    let tokens: Tokens
    /// The demo manifest, copied into the region directory.
    var manifestPath: String { "\(directory)/region.json" }
    let names: [String]
    /// A free loopback port nothing listens on.
    let deadPort: Int
    private let nodes: [String: RegionNode]

    init(_ options: RegionOptions = RegionOptions()) throws {
        self.options = options
        binary = try RegionPaths.daemonBinary()
        directory = try RegionPaths.makeTemporaryDirectory(prefix: "kotosync-region")
        tokens = try Tokens.installDemoIdentity(into: directory)
        names = options.nodes
        let ports = try Self.freePorts(options.nodes.count + 1)
        deadPort = ports[options.nodes.count]
        var nodes: [String: RegionNode] = [:]
        for (name, port) in zip(options.nodes, ports) {
            nodes[name] = try RegionNode(name: name, port: port, directory: directory, tokens: tokens)
        }
        self.nodes = nodes
        for name in names {
            try writeConfig(name, peers: peers(of: name))
        }
    }

    deinit { killAll() }

    subscript(name: String) -> RegionNode {
        guard let node = nodes[name] else { preconditionFailure("no node \(name) in this region") }
        return node
    }

    var all: [RegionNode] { names.map { self[$0] } }

    func peers(of name: String) -> [PeerSpec] {
        options.peers[name] ?? names.filter { $0 != name }.map { PeerSpec(node: $0) }
    }

    // MARK: Ports

    /// Distinct free loopback ports below the kernel's ephemeral range, so
    /// outgoing connections never take them between this check and the bind.
    static func freePorts(_ count: Int) throws -> [Int] {
        var upper = 32768
        if let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
           let low = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap({ Int($0) }) {
            upper = max(low, 12000)
        }
        var ports: [Int] = []
        var attempts = 0
        while ports.count < count {
            attempts += 1
            if attempts > 1000 { throw RegionError("no free loopback ports found") }
            let port = Int.random(in: 10000..<upper)
            if !ports.contains(port), canBind(port) { ports.append(port) }
        }
        return ports
    }

    static func canBind(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result == 0
    }

    // MARK: Configs

    /// Writes a config for `name` derived from Config/demo/<name>.json:
    /// region ports, temp data directory, the copied manifest, key and
    /// secrets, short intervals, no demo seed.
    @discardableResult
    /// `unreachablePeers`: every peer URL points at a loopback port nobody
    /// listens on, so the node is cut off from the region (its links fail
    /// and back off) while others can still reach it.
    func writeConfig(_ name: String, peers: [PeerSpec], path: String? = nil, unreachablePeers: Bool = false,
                     demoSeed: Int? = nil) throws -> String {
        let node = self[name]
        let demoPath = RegionPaths.demoConfigDirectory.appendingPathComponent("\(name).json").path
        guard let data = FileManager.default.contents(atPath: demoPath), let members = try JSONValue.parse(Array(data)).objectMembers else {
            throw RegionError("cannot read \(demoPath)")
        }
        var sync: [(String, JSONValue)] = [
            ("intervalSeconds", .number(options.intervalSeconds)),
            ("batchSize", .number(Double(options.batchSize))),
            ("backoffInitialSeconds", .number(options.backoffInitialSeconds)),
            ("backoffMaxSeconds", .number(options.backoffMaxSeconds)),
        ]
        sync.append(("connectTimeoutSeconds", .number(2)))
        sync.append(("requestTimeoutSeconds", .number(10)))
        var result: [(String, JSONValue)] = []
        for (key, value) in members {
            switch key {
            case "listen": result.append((key, .object([("host", .string("127.0.0.1")), ("port", .number(Double(node.port)))])))
            case "dataDirectory": result.append((key, .string(node.dataDirectory)))
            case "secretsFile": result.append((key, .string("\(directory)/secrets/\(name).json")))
            case "regionManifest": result.append((key, .string(manifestPath)))
            case "keyFile": result.append((key, .string("\(directory)/keys/\(name).key")))
            case "peers":
                result.append((key, .array(peers.map { peer in
                    var members: [(String, JSONValue)] = [("node", .string(peer.node))]
                    if peer.mode != "passive" {
                        members.append(("url", .string(unreachablePeers ? "http://127.0.0.1:\(deadPort)" : self[peer.node].url)))
                    }
                    members.append(("mode", .string(peer.mode)))
                    return .object(members)
                })))
            case "sync": result.append((key, .object(sync)))
            case "durability": result.append((key, .string(options.durability)))
            case "demoSeed": if let demoSeed { result.append((key, .number(Double(demoSeed)))) }
            default: result.append((key, value))
            }
        }
        if let grace = options.shutdownGraceSeconds { result.append(("shutdownGraceSeconds", .number(grace))) }
        let target = path ?? node.configPath
        try writeFile(JSONValue.object(result).serialized, to: target)
        return target
    }

    // MARK: Processes

    /// Starts a node and waits until `/healthz` answers and, with
    /// `untilWritable`, until the node's startup check with its peers is over
    /// (local writes are answered 503 "catching_up" until then).
    func start(_ name: String, configPath: String? = nil, environment: [String: String] = [:], arguments: [String] = [],
               untilWritable: Bool = true, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        try await self[name].start(binary: binary, configPath: configPath, environment: environment, arguments: arguments, timeout: timeout)
        if untilWritable { try await waitWritable(name, deadline: deadline) }
    }

    /// Polls with an update of a record that does not exist: 503 while local
    /// writes are refused, 404 once they are taken. Nothing is written.
    func waitWritable(_ name: String, deadline: ContinuousClock.Instant) async throws {
        let node = self[name]
        var last = 0
        while ContinuousClock.now < deadline {
            let probe = try await node.send(.patch, "/v1/services/\(newID())", json: .fields(["capacity": .number(1)]))
            last = probe.status
            if probe.status == 404 { return }
            guard probe.status == 503 else { throw RegionError("\(name): write probe answered \(probe.status) \(probe.errorCode ?? "")") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RegionError("\(name) still refuses local writes (HTTP \(last)) after startup; log:\n\(node.logTail())")
    }

    func startAll() async throws {
        for name in names where !self[name].isRunning { try await start(name) }
    }

    /// SIGTERM and wait; returns the exit status and how long it took.
    @discardableResult
    func stop(_ name: String, timeout: Duration = .seconds(20)) async throws -> (status: Int32, signalled: Bool, elapsed: Duration) {
        let node = self[name]
        let started = ContinuousClock.now
        guard let exit = await node.stop(SIGTERM, timeout: timeout) else {
            throw RegionError("\(name) did not exit within \(timeout) of SIGTERM; log:\n\(node.logTail())")
        }
        return (exit.status, exit.signalled, ContinuousClock.now - started)
    }

    /// SIGKILL and wait for the process to be gone.
    func kill(_ name: String) async throws {
        let node = self[name]
        node.signal(SIGKILL)
        guard try await node.waitForExit(timeout: .seconds(10)) != nil else { throw RegionError("\(name) survived SIGKILL") }
    }

    func restart(_ name: String, configPath: String? = nil, environment: [String: String] = [:], arguments: [String] = [],
                 untilWritable: Bool = true) async throws {
        try await stop(name)
        try await start(name, configPath: configPath, environment: environment, arguments: arguments, untilWritable: untilWritable)
    }

    /// Stops every running node gracefully (SIGKILL for any that hangs).
    func stopAll() async {
        for node in all where node.isRunning { node.signal(SIGCONT); node.signal(SIGTERM) }
        for node in all { await node.exitOrKill(after: .seconds(15)) }
    }

    /// Synchronous last resort (deinit, failures): SIGKILL whatever still runs.
    func killAll() {
        for node in nodes.values {
            node.signal(SIGCONT)
            node.kill()
        }
    }

    func failureLogs() -> String {
        all.map { "\n--- \($0.name) log tail:\n\($0.logTail(lines: 12))" }.joined()
    }
}
