import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization

// The region harness's five daemons, each in its own network namespace
// (`NetnsNetwork`): started under `ip netns exec <namespace>`, listening on
// the namespace's address, with peer URLs pointing at the other nodes'
// addresses — directly, or through a delaying `TCPRelay` per ordered pair
// when the lab is made with `latency`. The harness reaches each daemon from
// the root namespace through a relay on 127.0.0.1:<node.port>, so the
// `RegionCluster` convergence checks (snapshot, differences, waitConverged,
// waitVersionVectorsAgree) work unchanged; that path never crosses the
// bridge, so cut links and loss never touch the harness's own requests.

final class NetnsRegion: RegionLab, @unchecked Sendable {
    let region: RegionCluster
    let network: NetnsNetwork
    /// Between-node relays by "from>to", when the lab has latency.
    let links: [String: TCPRelay]
    private let accessRelays: [TCPRelay]
    /// Per node, a script that runs the daemon inside the node's namespace.
    private let launchers: [String: String]

    var directory: String { region.directory }
    var names: [String] { region.names }
    subscript(name: String) -> RegionNode { region[name] }

    /// The first port of the between-node relays inside each namespace (one per peer).
    static let linkPortBase = 7200

    /// `latency`: every node reaches every peer through a relay in its own
    /// namespace that holds each chunk this long in each direction (nil: peer
    /// URLs point straight at the peers' addresses). `maxBodyBytes` raises the
    /// daemons' request body limit (bulk imports).
    init(_ options: RegionOptions = RegionOptions(), latency: Duration? = nil, maxBodyBytes: Int? = nil) throws {
        let region = try RegionCluster(options)
        self.region = region
        do {
            let network = try NetnsNetwork(nodes: options.nodes, directory: region.directory)
            self.network = network
            let ip = try RegionPaths.tool("ip", fallbackDirectories: ["/usr/sbin", "/sbin"], missing: "iproute2 is not installed")
            var launchers: [String: String] = [:], access: [TCPRelay] = [], links: [String: TCPRelay] = [:]
            defer {
                // Relays made before a failure below are closed with the lab's other parts.
                if launchers.count < options.nodes.count {
                    for relay in access + Array(links.values) { relay.close() }
                    network.tearDown()
                }
            }
            for name in options.nodes {
                let node = region[name]
                access.append(try TCPRelay(name: "access-\(name)", listenNamespace: nil, listenHost: "127.0.0.1", listenPort: node.port,
                                           targetNamespace: network.namespace(of: name), targetHost: network.address(of: name),
                                           targetPort: NetnsNetwork.daemonPort))
                var peerURLs: [String: String] = [:]
                for (peerIndex, peer) in options.nodes.enumerated() where peer != name {
                    if let latency {
                        let port = Self.linkPortBase + peerIndex
                        links["\(name)>\(peer)"] = try TCPRelay(
                            name: "\(name)>\(peer)", listenNamespace: network.namespace(of: name), listenHost: "127.0.0.1", listenPort: port,
                            targetNamespace: network.namespace(of: name), targetHost: network.address(of: peer),
                            targetPort: NetnsNetwork.daemonPort, delay: latency)
                        peerURLs[peer] = "http://127.0.0.1:\(port)"
                    } else {
                        peerURLs[peer] = "http://\(network.address(of: peer)):\(NetnsNetwork.daemonPort)"
                    }
                }
                try Self.rewriteConfig(node.configPath, host: network.address(of: name), peerURLs: peerURLs, maxBodyBytes: maxBodyBytes)
                let launcher = "\(region.directory)/\(name)-in-namespace.sh"
                try writeFile("#!/bin/sh\nexec \(ip) netns exec \(network.namespace(of: name)) \(region.binary) \"$@\"\n",
                              to: launcher, permissions: 0o755)
                launchers[name] = launcher
            }
            self.launchers = launchers
            accessRelays = access
            self.links = links
        } catch {
            region.killAll()
            try? FileManager.default.removeItem(atPath: region.directory)
            throw error
        }
    }

    /// Points the config RegionCluster wrote at the namespace: listens on the
    /// node's own address, peers at `peerURLs`.
    private static func rewriteConfig(_ path: String, host: String, peerURLs: [String: String], maxBodyBytes: Int?) throws {
        guard let data = FileManager.default.contents(atPath: path), let members = try JSONValue.parse(Array(data)).objectMembers else {
            throw RegionError("cannot read \(path)")
        }
        var result: [(String, JSONValue)] = []
        for (key, value) in members {
            switch key {
            case "listen":
                result.append((key, .object([("host", .string(host)), ("port", .number(Double(NetnsNetwork.daemonPort)))])))
            case "peers":
                result.append((key, .array((value.arrayValue ?? []).map { peer in
                    guard let node = peer["node"]?.stringValue, peer["url"] != nil, let url = peerURLs[node] else { return peer }
                    return .object((peer.objectMembers ?? []).map { $0.0 == "url" ? ("url", .string(url)) : $0 })
                })))
            default: result.append((key, value))
            }
        }
        if let maxBodyBytes { result.append(("limits", .object([("maxBodyBytes", .number(Double(maxBodyBytes)))]))) }
        try writeFile(JSONValue.object(result).serialized, to: path)
    }

    // MARK: Daemons

    /// Starts a node in its namespace and waits until it takes writes.
    func start(_ name: String, timeout: Duration = .seconds(30)) async throws {
        guard let launcher = launchers[name] else { throw RegionError("no node \(name) in this lab") }
        let deadline = ContinuousClock.now + timeout
        try await region[name].start(binary: launcher, timeout: timeout)
        try await region.waitWritable(name, deadline: deadline)
    }

    func startAll() async throws {
        for name in names where !region[name].isRunning { try await start(name) }
    }

    // MARK: Network

    func cut(_ a: String, _ b: String) throws { try network.cut(a, b) }
    func heal(_ a: String, _ b: String) throws { try network.heal(a, b) }
    func split(_ groups: [[String]]) throws { try network.split(groups) }
    func healAll() throws { try network.healAll() }
    func setCutLinks(_ pairs: [(String, String)]) throws { try network.setCutLinks(pairs) }
    func setLoss(percent: Int) throws { try network.setLoss(percent: percent) }

    /// Changes the delay of every between-node relay (the lab must have been made with latency).
    func setLatency(_ delay: Duration) throws {
        guard !links.isEmpty else { throw RegionError("this lab has no latency relays: make it with NetnsRegion(latency:)") }
        for relay in links.values { relay.setDelay(delay) }
    }

    // MARK: Checks

    /// Time for one `GET /healthz` from inside `name`'s namespace to `peer`,
    /// along the path `name`'s daemon uses (its relay when the lab has
    /// latency), on a thread of its own.
    func roundTrip(from name: String, to peer: String) async throws -> Duration {
        let namespace = network.namespace(of: name)
        let (host, port) = links["\(name)>\(peer)"] != nil
            ? ("127.0.0.1", Self.linkPortBase + names.firstIndex(of: peer)!)
            : (network.address(of: peer), NetnsNetwork.daemonPort)
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try Self.blockingHealthCheck(namespace: namespace, host: host, port: port) })
            }
            thread.start()
        }
    }

    private static func blockingHealthCheck(namespace: String, host: String, port: Int) throws -> Duration {
        let descriptor = try NamespaceSocket.make(in: namespace)
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = NamespaceSocket.address(host, port)
        let started = ContinuousClock.now
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                retryingEINTR { connect(descriptor, pointer, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard connected == 0 else { throw RegionError("connect to \(host):\(port) in \(namespace) failed: \(String(cString: strerror(errno)))") }
        let request = Array("GET /healthz HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ bytes in retryingEINTR { send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) } }) == request.count else {
            throw RegionError("sending to \(host):\(port) failed")
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { bytes in retryingEINTR { recv(descriptor, bytes.baseAddress, bytes.count, 0) } }
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        guard String(decoding: response.prefix(16), as: UTF8.self).hasPrefix("HTTP/1.1 200") else {
            throw RegionError("GET /healthz at \(host):\(port) from \(namespace) did not answer 200")
        }
        return ContinuousClock.now - started
    }

    /// Each node's state digest, failing while one is provisional.
    func stateDigests(among names: [String]? = nil) async throws -> [String: String] {
        var digests: [String: String] = [:]
        for name in names ?? self.names {
            let status = try await region[name].status()
            guard let digest = status["stateDigest"]?.stringValue else { throw RegionError("\(name): status has no stateDigest") }
            if status["stateDigestProvisional"]?.boolValue == true { throw RegionError("\(name): its state digest is provisional") }
            digests[name] = digest
        }
        return digests
    }

    /// Waits until every node reports the same, final state digest.
    func waitDigestsAgree(among names: [String]? = nil, timeout: Duration = .seconds(30)) async throws {
        try await waitUntil("state digests to agree", timeout: timeout, poll: .milliseconds(200)) {
            Set(try await self.stateDigests(among: names).values).count == 1
        }
    }

    /// Waits until `name`'s link to `peer` has failed at least once since it last worked.
    func waitLinkFails(_ name: String, to peer: String, timeout: Duration = .seconds(30)) async throws {
        try await waitUntil("\(name)'s link to \(peer) to fail", timeout: timeout, poll: .milliseconds(200)) {
            (try await self.region[name].peerStatus(peer)?["consecutiveFailures"]?.int64Value ?? 0) > 0
        }
    }

    // MARK: RegionLab

    func stopAll() async {
        await region.stopAll()
        closeNetwork()
    }

    func killAll() {
        region.killAll()
        closeNetwork()
    }

    private func closeNetwork() {
        for relay in accessRelays + Array(links.values) { relay.close() }
        network.tearDown()
    }

    func failureLogs() -> String {
        let cut = network.cutPairs.map { $0.joined(separator: "-") }.sorted().joined(separator: ", ")
        return region.failureLogs() + "\n--- network: cut links [\(cut)]; log tail:\n" + tail(ofFile: network.logPath, lines: 10)
    }

    deinit { killAll() }
}

/// Makes a namespace lab, starts its nodes (unless `start` is false), runs
/// `body`, and always stops the daemons, closes the relays and deletes the
/// namespaces (see `withCleanup`). Not root, or no iproute2/nftables: throws,
/// so the test fails with the reason.
func withNetnsRegion<T>(_ options: RegionOptions = RegionOptions(), latency: Duration? = nil, maxBodyBytes: Int? = nil,
                        start: Bool = true, _ body: (NetnsRegion) async throws -> T) async throws -> T {
    let lab = try NetnsRegion(options, latency: latency, maxBodyBytes: maxBodyBytes)
    return try await withCleanup(lab) {
        if start { try await lab.startAll() }
        return try await body(lab)
    }
}
