import Foundation
import Glibc
import Synchronization

// A region's network made of real network namespaces (iproute2): a hub
// namespace holding a bridge, and one namespace per node with a veth `eth0`
// on that bridge. Links between two nodes are cut by dropping each other's
// address in nftables (table `kslab` in each node's namespace), and loss is
// `numgen random mod 100 < N drop` on `eth0`. The kernel of these machines has
// no netem qdisc, so latency comes from `TCPRelay` (see NetnsRelay.swift).
//
// Nothing here touches the root namespace's network: the bridge lives in the
// hub namespace, and the addresses (198.18.0.0/24, the range RFC 2544 sets
// aside for benchmarking networks) exist only inside these namespaces.

/// The namespaces of one lab, named `kslab-<pid>-<random>-<node>` so that
/// runs never collide and a later run removes what a killed one left behind.
final class NetnsNetwork: Sendable {
    static let prefix = "kslab-"
    /// The port every daemon listens on inside its own namespace (namespaces
    /// have their own ports, so this never collides with anything).
    static let daemonPort = 7100

    let nodes: [String]
    let hub: String
    let logPath: String
    private let namespaces: [String: String]
    private let addresses: [String: String]
    private let ip: String
    private let nft: String
    /// Pairs of nodes whose link is cut, each pair sorted.
    private let cutLinks = Mutex<Set<[String]>>([])
    private let lossPercent = Mutex(0)
    private let tornDown = Atomic<Bool>(false)

    /// Builds the namespaces, bridge and veth pairs. Throws, loudly, when not
    /// root or when iproute2 or nftables is missing or refuses.
    init(nodes: [String], directory: String) throws {
        guard geteuid() == 0 else {
            throw RegionError("""
                NETWORK NAMESPACE TESTS CANNOT RUN: they need root (ip netns add, veth, nftables), and this \
                process runs as uid \(geteuid()). CI runs as root; run these tests as root.
                """)
        }
        ip = try RegionPaths.tool("ip", fallbackDirectories: ["/usr/sbin", "/sbin", "/usr/bin"], missing: """
            NETWORK NAMESPACE TESTS CANNOT RUN: `ip` is not installed; deploy/test.sh must install the Debian package iproute2
            """)
        nft = try RegionPaths.tool("nft", fallbackDirectories: ["/usr/sbin", "/sbin", "/usr/bin"], missing: """
            NETWORK NAMESPACE TESTS CANNOT RUN: `nft` is not installed; deploy/test.sh must install the Debian package nftables
            """)
        self.nodes = nodes
        logPath = "\(directory)/network.log"
        let run = "\(Self.prefix)\(getpid())-\(String(UInt16.random(in: 0...UInt16.max), radix: 16))"
        hub = "\(run)-hub"
        var namespaces: [String: String] = [:], addresses: [String: String] = [:]
        for (index, node) in nodes.enumerated() {
            namespaces[node] = "\(run)-\(node)"
            addresses[node] = "198.18.0.\(10 + index)"
        }
        self.namespaces = namespaces
        self.addresses = addresses
        Self.removeStale(ip: ip)

        let rules = """
            table inet kslab {
                set cut { type ipv4_addr; }
                chain loss { }
                chain input {
                    type filter hook input priority 0; policy accept;
                    ip saddr @cut drop
                    iifname "eth0" jump loss
                }
                chain output {
                    type filter hook output priority 0; policy accept;
                    ip daddr @cut drop
                }
            }
            """
        let rulesPath = "\(directory)/network-rules.nft"
        try writeFile(rules + "\n", to: rulesPath)
        var script = """
            \(ip) netns add \(hub)
            \(ip) -n \(hub) link set lo up
            \(ip) -n \(hub) link add br0 type bridge
            \(ip) -n \(hub) link set br0 up

            """
        for (index, node) in nodes.enumerated() {
            let namespace = namespaces[node]!
            script += """
                \(ip) netns add \(namespace)
                \(ip) -n \(hub) link add port\(index) type veth peer name eth0 netns \(namespace)
                \(ip) -n \(hub) link set port\(index) master br0 up
                \(ip) -n \(namespace) addr add \(addresses[node]!)/24 dev eth0
                \(ip) -n \(namespace) link set eth0 up
                \(ip) -n \(namespace) link set lo up
                \(ip) netns exec \(namespace) \(nft) -f \(rulesPath)

                """
        }
        do {
            try shell(script)
        } catch {
            tearDown()
            throw RegionError("NETWORK NAMESPACE TESTS CANNOT RUN: building the namespaces failed: \(error)")
        }
    }

    deinit { tearDown() }

    func namespace(of node: String) -> String {
        guard let namespace = namespaces[node] else { preconditionFailure("no node \(node) in this network") }
        return namespace
    }

    /// The node's address on the bridge, inside its namespace.
    func address(of node: String) -> String {
        guard let address = addresses[node] else { preconditionFailure("no node \(node) in this network") }
        return address
    }

    // MARK: Links

    /// Cuts the link between two nodes (both directions; packets dropped, so
    /// connections hang until their timeouts, as on a dead line).
    func cut(_ a: String, _ b: String) throws { try change { $0.insert([a, b].sorted()) } }

    /// Heals the link between two nodes.
    func heal(_ a: String, _ b: String) throws { try change { $0.remove([a, b].sorted()) } }

    /// Splits the region: every link between two different groups is cut,
    /// every link inside a group healed.
    func split(_ groups: [[String]]) throws {
        try change { cut in
            cut.removeAll()
            for (index, group) in groups.enumerated() {
                for other in groups[(index + 1)...] {
                    for a in group { for b in other { cut.insert([a, b].sorted()) } }
                }
            }
        }
    }

    /// Heals every link.
    func healAll() throws { try change { $0.removeAll() } }

    /// Cuts exactly these links (pairs of nodes) and heals every other.
    func setCutLinks(_ pairs: [(String, String)]) throws {
        try change { cut in cut = Set(pairs.map { [$0.0, $0.1].sorted() }) }
    }

    var cutPairs: Set<[String]> { cutLinks.withLock { $0 } }

    /// Drops `percent` of the packets every node receives from the bridge
    /// (each packet between two nodes crosses one such input once).
    func setLoss(percent: Int) throws {
        precondition((0...100).contains(percent))
        lossPercent.withLock { $0 = percent }
        var script = ""
        for node in nodes {
            script += nftScript(in: node, """
                flush chain inet kslab loss
                \(percent > 0 ? "add rule inet kslab loss numgen random mod 100 < \(percent) counter drop" : "")
                """)
        }
        try shell(script)
    }

    /// Packets the loss rules have dropped so far, over all nodes.
    func lossDrops() throws -> Int {
        var script = ""
        for node in nodes { script += "\(ip) netns exec \(namespace(of: node)) \(nft) list chain inet kslab loss\n" }
        let output = try shell(script)
        var total = 0
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ")
            if let index = words.firstIndex(of: "packets"), index + 1 < words.count, let count = Int(words[index + 1]) { total += count }
        }
        return total
    }

    /// Applies a change to the set of cut links to every node's nftables set.
    private func change(_ body: (inout Set<[String]>) -> Void) throws {
        let cut = cutLinks.withLock { cut -> Set<[String]> in
            body(&cut)
            return cut
        }
        var script = ""
        for node in nodes {
            let peers = cut.compactMap { pair -> String? in
                guard pair.contains(node) else { return nil }
                return address(of: pair[0] == node ? pair[1] : pair[0])
            }.sorted()
            script += nftScript(in: node, """
                flush set inet kslab cut
                \(peers.isEmpty ? "" : "add element inet kslab cut { \(peers.joined(separator: ", ")) }")
                """)
        }
        try shell(script)
    }

    private func nftScript(in node: String, _ commands: String) -> String {
        "\(ip) netns exec \(namespace(of: node)) \(nft) -f - <<'RULES'\n\(commands)\nRULES\n"
    }

    // MARK: Teardown

    /// Deletes every namespace of this network (their veths and bridge go
    /// with them); idempotent. Processes still inside keep a namespace alive
    /// until they exit, so the lab stops its daemons first.
    func tearDown() {
        guard !tornDown.exchange(true, ordering: .relaxed) else { return }
        let script = ([hub] + nodes.map { namespace(of: $0) }).map { "\(ip) netns del \($0) 2>/dev/null || true" }.joined(separator: "\n")
        _ = try? shell(script)
    }

    /// Deletes namespaces an earlier run left behind (ours whose test
    /// process is gone), ending the daemons that run on inside them.
    private static func removeStale(ip: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/run/netns") else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            let pidText = entry.dropFirst(prefix.count).prefix { $0 != "-" }
            guard let pid = Int32(pidText), pid != getpid(), Glibc.kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = try? runShell("for pid in $(\(ip) netns pids \(entry)); do kill -9 $pid || true; done; \(ip) netns del \(entry)")
        }
    }

    // MARK: Commands

    /// Runs a script with `sh -e`, its output appended to the network log;
    /// throws with the output when it fails.
    @discardableResult
    private func shell(_ script: String) throws -> String {
        let output = try Self.runShell(script)
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        if let log = FileHandle(forWritingAtPath: logPath) {
            _ = try? log.seekToEnd()
            log.write(Data("$ \(script.split(separator: "\n").count) commands\n\(output)".utf8))
            try? log.close()
        }
        return output
    }

    /// Runs `sh -ec script` to completion; returns its output, throws it on failure.
    @discardableResult
    private static func runShell(_ script: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-ec", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw RegionError("command failed (status \(process.terminationStatus)): \(output.suffix(800))")
        }
        return output
    }
}
