import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

// End-to-end harness: real `kotosyncd` processes on loopback, one temporary
// directory per region (configs, secrets, data, one log per node).
//
// Everything blocking stays off Swift's cooperative pool: HTTP goes through
// `AsyncHTTPClient` (its own queue), waits are `Task.sleep` polls.
// Output never quotes record field values (they may be personal data): only
// ids, kinds, field names, dots and node names.

/// The root of every region suite: `.serialized` is inherited by the nested
/// suites (one per file), so only one region of daemons runs at a time.
@Suite(.serialized)
enum Region {}

/// The five offices, in the order of the demo configs.
let offices = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"]

struct RegionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Locations

enum RegionPaths {
    /// The package root: the first directory above this file holding Package.swift.
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url = url.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    static var demoConfigDirectory: URL { packageRoot.appendingPathComponent("Config/demo") }

    /// The daemon to run: `KOTOSYNCD` from the environment when set, else the
    /// one built with this test bundle, next to the test executable
    /// (`swift build --build-tests` builds both into the same directory),
    /// else `.build/debug/kotosyncd`.
    static func daemonBinary() throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["KOTOSYNCD"] { candidates.append(explicit) }
        var directories: [URL] = []
        if let executable = Bundle.main.executableURL { directories.append(executable.resolvingSymlinksInPath().deletingLastPathComponent()) }
        directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
        directories.append(Bundle.main.bundleURL.resolvingSymlinksInPath().deletingLastPathComponent())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append(bundle.bundleURL.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        // Inside a macOS-style bundle the executable sits deeper; walk up a few levels.
        for directory in directories {
            var url = directory
            for _ in 0..<4 {
                candidates.append(url.appendingPathComponent("kotosyncd").path)
                url = url.deletingLastPathComponent()
            }
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/kotosyncd").path)
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw RegionError("""
            kotosyncd binary not found (looked next to the test bundle and in .build/debug: \
            \(candidates.joined(separator: ", "))). Build it with the tests: \
            `swift build --build-tests` (or set KOTOSYNCD=/path/to/kotosyncd).
            """)
    }

    /// The `sqlite3` command-line shell, needed for `PRAGMA integrity_check`.
    static func sqliteShell() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(directory)/sqlite3"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw RegionError("""
            the sqlite3 command-line shell is not installed, so PRAGMA integrity_check cannot run: \
            deploy/test.sh must install the Debian package `sqlite3` (add it to need_packages)
            """)
    }
}

// MARK: - Child process bookkeeping

/// Pids of daemons still running, killed at exit in case a test crashed
/// past its cleanup.
let liveDaemons = Mutex<Set<Int32>>([])
private let exitHook: Void = {
    atexit {
        for pid in liveDaemons.withLock({ $0 }) { Glibc.kill(pid, SIGKILL) }
    }
}()

// MARK: - Configuration

struct PeerSpec: Sendable {
    var node: String
    var mode: String = "pull"
}

struct RegionOptions: Sendable {
    var nodes: [String] = offices
    /// Peers per node; a node missing here gets every other node, mode pull (the demo's full mesh).
    var peers: [String: [PeerSpec]] = [:]
    var durability = "normal"
    var intervalSeconds = 1.0
    var batchSize = 1000
    var backoffInitialSeconds = 0.2
    var backoffMaxSeconds = 2.0
    var shutdownGraceSeconds: Double?
}

/// Bearer tokens of the demo secrets file.
struct Tokens: Sendable {
    var office: String
    var coordinator: String
    var admin: String
    var peer: String

    init(secretsFile: String) throws {
        guard let data = FileManager.default.contents(atPath: secretsFile) else { throw RegionError("cannot read \(secretsFile)") }
        let json = try JSONValue.parse(Array(data))
        func first(_ role: String) throws -> String {
            guard let token = json["tokens"]?[role]?.arrayValue?.first?.stringValue else {
                throw RegionError("\(secretsFile) has no \(role) token")
            }
            return token
        }
        office = try first("office")
        coordinator = try first("coordinator")
        admin = try first("admin")
        guard let peerToken = json["peerToken"]?.stringValue else { throw RegionError("\(secretsFile) has no peerToken") }
        peer = peerToken
    }
}

enum Role: Sendable { case office, coordinator, admin, peer, none }

// MARK: - HTTP results

struct APIResult: Sendable {
    let status: Int
    let body: [UInt8]
    let headers: HTTPHeaders

    var json: JSONValue? { try? JSONValue.parse(body) }
    var errorCode: String? { json?["error"]?["code"]?.stringValue }
    var errorMessage: String? { json?["error"]?["message"]?.stringValue }
}

// MARK: - One node

/// One office's daemon: its files, port, process and API client.
final class RegionNode: @unchecked Sendable {
    let name: String
    let port: Int
    let configPath: String
    let dataDirectory: String
    let logPath: String
    let tokens: Tokens
    let client: AsyncHTTPClient
    private let lock = NSLock()
    private var process: Process?

    var url: String { "http://127.0.0.1:\(port)" }
    var databasePath: String { "\(dataDirectory)/\(name).sqlite" }

    init(name: String, port: Int, directory: String, tokens: Tokens) throws {
        self.name = name
        self.port = port
        self.tokens = tokens
        configPath = "\(directory)/\(name).json"
        dataDirectory = "\(directory)/data/\(name)"
        logPath = "\(directory)/\(name).log"
        client = try Self.makeClient()
    }

    static func makeClient() throws -> AsyncHTTPClient {
        try AsyncHTTPClient(configuration: HTTPClient.Configuration(connectTimeout: .seconds(2), totalTimeout: .seconds(20)))
    }

    var isRunning: Bool { lock.withLock { process?.isRunning ?? false } }
    var pid: Int32? { lock.withLock { process.map(\.processIdentifier) } }

    /// Launches the daemon (not waiting for it to serve).
    func launch(binary: String, configPath: String? = nil, environment: [String: String] = [:], arguments: [String] = []) throws {
        _ = exitHook
        try lock.withLock {
            if let process, process.isRunning { throw RegionError("\(name) is already running") }
            if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
            guard let log = FileHandle(forWritingAtPath: logPath) else { throw RegionError("cannot open \(logPath)") }
            defer { try? log.close() }
            _ = try log.seekToEnd()
            log.write(Data("=== harness: starting \(name) \(arguments.joined(separator: " ")) at \(Date())\n".utf8))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["--config", configPath ?? self.configPath] + arguments
            var env = ProcessInfo.processInfo.environment
            for (key, value) in environment { env[key] = value }
            process.environment = env
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = log
            process.standardError = log
            try process.run()
            liveDaemons.withLock { _ = $0.insert(process.processIdentifier) }
            self.process = process
        }
    }

    /// Sends `signal` to the running daemon; false when none runs.
    @discardableResult
    func signal(_ number: Int32) -> Bool {
        lock.withLock {
            guard let process, process.isRunning else { return false }
            return Glibc.kill(process.processIdentifier, number) == 0
        }
    }

    /// Waits for the daemon to exit; nil on timeout. Returns (status, killed by signal).
    func waitForExit(timeout: Duration) async throws -> (status: Int32, signalled: Bool)? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let result: (Int32, Bool)? = lock.withLock {
                guard let process else { return (0, false) }
                guard !process.isRunning else { return nil }
                liveDaemons.withLock { _ = $0.remove(process.processIdentifier) }
                return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
            }
            if let result { return result }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// The last lines of this node's log, for failure messages (the daemon
    /// logs ids and counts, never field values).
    func logTail(lines: Int = 20) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "(no log)" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    var log: String {
        FileManager.default.contents(atPath: logPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    // MARK: API

    func send(_ method: HTTPMethod, _ path: String, json: JSONValue? = nil, role: Role = .office,
              headers extra: HTTPHeaders = [:], client: AsyncHTTPClient? = nil, timeout: Duration? = nil) async throws -> APIResult {
        var headers = extra
        let token: String? = switch role {
        case .office: tokens.office
        case .coordinator: tokens.coordinator
        case .admin: tokens.admin
        case .peer: tokens.peer
        case .none: nil
        }
        if let token { headers["Authorization"] = "Bearer \(token)" }
        if json != nil { headers["Content-Type"] = "application/json" }
        let response = try await (client ?? self.client).send(method, url + path, headers: headers,
                                                              body: json?.serializedBytes ?? [], timeout: timeout)
        return APIResult(status: response.status.code, body: response.body, headers: response.headers)
    }

    /// `POST /v1/<table>`; the record must carry its own `id`.
    func create(_ kind: RecordKind, _ record: JSONValue, client: AsyncHTTPClient? = nil) async throws -> APIResult {
        try await send(.post, "/v1/\(kind.table)", json: record, client: client)
    }

    /// Every record of a kind, deleted and erased ones included, all pages.
    func list(_ kind: RecordKind) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var after: String?
        while true {
            var path = "/v1/\(kind.table)?limit=1000&includeDeleted=true&includeErased=true"
            if let after { path += "&after=\(after)" }
            let result = try await send(.get, path, role: .coordinator)
            guard result.status == 200, let page = result.json?["items"]?.arrayValue else {
                throw RegionError("\(name): GET \(kind.table) answered \(result.status)")
            }
            items += page
            guard let next = result.json?["next"]?.stringValue else { return items }
            after = next
        }
    }

    func record(_ kind: RecordKind, _ id: String) async throws -> JSONValue? {
        let result = try await send(.get, "/v1/\(kind.table)/\(id)", role: .coordinator)
        if result.status == 404 { return nil }
        guard result.status == 200, let json = result.json else { throw RegionError("\(name): GET \(kind.table)/\(id) answered \(result.status)") }
        return json
    }

    func status() async throws -> JSONValue {
        let result = try await send(.get, "/v1/status", role: .admin)
        guard result.status == 200, let json = result.json else { throw RegionError("\(name): GET /v1/status answered \(result.status)") }
        return json
    }

    func conflicts() async throws -> [JSONValue] {
        let result = try await send(.get, "/v1/conflicts", role: .coordinator)
        guard result.status == 200, let items = result.json?["items"]?.arrayValue else {
            throw RegionError("\(name): GET /v1/conflicts answered \(result.status)")
        }
        return items
    }

    /// The status entry of one peer link.
    func peerStatus(_ peer: String) async throws -> JSONValue? {
        try await status()["peers"]?.arrayValue?.first { $0["node"]?.stringValue == peer }
    }

    /// The highest seq of `origin` this node holds.
    func holds(of origin: String) async throws -> Int64 {
        try await status()["versionVector"]?[origin]?.int64Value ?? 0
    }
}

// MARK: - A region of nodes

final class RegionCluster: @unchecked Sendable {
    let directory: String
    let options: RegionOptions
    let binary: String
    let tokens: Tokens
    let secretsPath: String
    let names: [String]
    /// A free loopback port nothing listens on.
    let deadPort: Int
    private let nodes: [String: RegionNode]

    init(_ options: RegionOptions = RegionOptions()) throws {
        self.options = options
        binary = try RegionPaths.daemonBinary()
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("kotosync-region-XXXXXX").path
        var buffer = Array(template.utf8CString)
        guard mkdtemp(&buffer) != nil else { throw RegionError("mkdtemp failed: \(String(cString: strerror(errno)))") }
        directory = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        secretsPath = "\(directory)/secrets.json"
        let demoSecrets = RegionPaths.demoConfigDirectory.appendingPathComponent("secrets.json").path
        try FileManager.default.copyItem(atPath: demoSecrets, toPath: secretsPath)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secretsPath)
        tokens = try Tokens(secretsFile: secretsPath)
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
    /// region ports, temp data directory and secrets, short intervals, no demo seed.
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
            case "secretsFile": result.append((key, .string(secretsPath)))
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
        guard FileManager.default.createFile(atPath: target, contents: Data(JSONValue.object(result).serialized.utf8)) else {
            throw RegionError("cannot write \(target)")
        }
        return target
    }

    // MARK: Processes

    /// Starts a node and waits until `/healthz` answers and, with
    /// `untilWritable`, until the node's startup check with its peers is over
    /// (local writes are answered 503 "catching_up" until then).
    func start(_ name: String, configPath: String? = nil, environment: [String: String] = [:], arguments: [String] = [],
               untilWritable: Bool = true, timeout: Duration = .seconds(20)) async throws {
        let node = self[name]
        try node.launch(binary: binary, configPath: configPath, environment: environment, arguments: arguments)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !node.isRunning {
                let exit = try await node.waitForExit(timeout: .seconds(1))
                throw RegionError("\(name) exited during startup (status \(exit.map { String($0.status) } ?? "?")); log:\n\(node.logTail())")
            }
            if let result = try? await node.send(.get, "/healthz", role: .none, timeout: .seconds(1)), result.status == 200 {
                if untilWritable { try await waitWritable(name, deadline: deadline) }
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RegionError("\(name) did not answer /healthz within \(timeout); log:\n\(node.logTail())")
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
        node.signal(SIGCONT)
        node.signal(SIGTERM)
        guard let exit = try await node.waitForExit(timeout: timeout) else {
            node.signal(SIGKILL)
            _ = try await node.waitForExit(timeout: .seconds(5))
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
        for node in all {
            let exited = (try? await node.waitForExit(timeout: .seconds(15))) != nil
            if !exited {
                node.signal(SIGKILL)
                _ = try? await node.waitForExit(timeout: .seconds(5))
            }
        }
    }

    /// Synchronous last resort (deinit, failures): SIGKILL whatever still runs.
    func killAll() {
        for node in nodes.values {
            node.signal(SIGCONT)
            if let pid = node.pid, node.signal(SIGKILL) { liveDaemons.withLock { _ = $0.remove(pid) } }
        }
    }

    func removeDirectory() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Convergence

    struct Snapshot: Sendable {
        let node: String
        /// kind table -> id -> record JSON
        let records: [String: [String: JSONValue]]
        let versionVector: JSONValue
        let conflicts: [JSONValue]
    }

    func snapshot(_ name: String) async throws -> Snapshot {
        let node = self[name]
        var records: [String: [String: JSONValue]] = [:]
        for kind in RecordKind.allCases {
            var byID: [String: JSONValue] = [:]
            for item in try await node.list(kind) {
                guard let id = item["id"]?.stringValue else { throw RegionError("\(name): a \(kind.rawValue) without id") }
                if byID[id] != nil { throw RegionError("\(name): \(kind.rawValue) \(id) listed twice") }
                byID[id] = item
            }
            records[kind.table] = byID
        }
        let status = try await node.status()
        let conflicts = try await node.conflicts().map(Self.comparableConflict).sorted { $0.serialized < $1.serialized }
        return Snapshot(node: name, records: records, versionVector: status["versionVector"] ?? .null, conflicts: conflicts)
    }

    /// A conflict without what is local to a replica (when it was first seen there).
    static func comparableConflict(_ conflict: JSONValue) -> JSONValue {
        .object((conflict.objectMembers ?? []).filter { $0.0 != "firstSeen" })
    }

    /// Differences between the nodes' records (all kinds, deleted and
    /// erased included), version vectors and open conflicts; empty when
    /// they converged. Names ids and fields, never values.
    func differences(among names: [String]? = nil) async throws -> [String] {
        let names = names ?? self.names
        var snapshots: [Snapshot] = []
        for name in names { snapshots.append(try await snapshot(name)) }
        guard let reference = snapshots.first else { return [] }
        var differences: [String] = []
        for other in snapshots.dropFirst() {
            if other.versionVector != reference.versionVector {
                differences.append("version vectors: \(reference.node) \(reference.versionVector.serialized), \(other.node) \(other.versionVector.serialized)")
            }
            for kind in RecordKind.allCases {
                let mine = reference.records[kind.table] ?? [:], theirs = other.records[kind.table] ?? [:]
                let missing = Set(mine.keys).subtracting(theirs.keys), extra = Set(theirs.keys).subtracting(mine.keys)
                if !missing.isEmpty { differences.append("\(other.node) lacks \(missing.count) \(kind.table) that \(reference.node) has, e.g. \(missing.sorted().first!)") }
                if !extra.isEmpty { differences.append("\(other.node) has \(extra.count) \(kind.table) that \(reference.node) lacks, e.g. \(extra.sorted().first!)") }
                for (id, record) in mine {
                    guard let theirRecord = theirs[id], theirRecord != record else { continue }
                    differences.append("\(kind.rawValue) \(id) differs between \(reference.node) and \(other.node) in \(Self.differingMembers(record, theirRecord))")
                }
            }
            if other.conflicts != reference.conflicts {
                differences.append("open conflicts differ: \(reference.node) has \(reference.conflicts.count), \(other.node) \(other.conflicts.count)")
            }
        }
        return differences
    }

    /// Names of the members (and fields) in which two record JSONs differ.
    static func differingMembers(_ a: JSONValue, _ b: JSONValue) -> String {
        var names: [String] = []
        for (key, value) in a.objectMembers ?? [] where b[key] != value {
            if key == "fields", let fields = value.objectMembers {
                for (field, fieldValue) in fields where b["fields"]?[field] != fieldValue { names.append("fields.\(field)") }
            } else {
                names.append(key)
            }
        }
        return names.isEmpty ? "(member order)" : names.joined(separator: ", ")
    }

    func converged(among names: [String]? = nil) async -> Bool {
        (try? await differences(among: names).isEmpty) ?? false
    }

    /// Waits until the nodes converge; on timeout throws the last differences.
    func waitConverged(among names: [String]? = nil, timeout: Duration = .seconds(30)) async throws {
        var last: [String] = []
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                last = try await differences(among: names)
                if last.isEmpty { return }
            } catch {
                last = ["\(error)"]
            }
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw RegionError("not converged after \(timeout): " + last.prefix(8).joined(separator: "; "))
    }

    /// Waits until every node reports the same version vector (all changes
    /// delivered everywhere), whether or not the records agree.
    func waitVersionVectorsAgree(among names: [String]? = nil, timeout: Duration = .seconds(30)) async throws {
        let names = names ?? self.names
        try await waitUntil("version vectors to agree", timeout: timeout, poll: .milliseconds(200)) {
            var vectors: Set<JSONValue> = []
            for name in names { vectors.insert(try await self[name].status()["versionVector"] ?? .null) }
            return vectors.count == 1
        }
    }

    // MARK: SQLite

    /// `PRAGMA integrity_check` on a stopped node's database via the sqlite3 shell.
    func integrityCheck(_ name: String) async throws -> String {
        let shell = try RegionPaths.sqliteShell()
        let output = "\(directory)/\(name)-integrity.txt"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: output) else { throw RegionError("cannot open \(output)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = [self[name].databasePath, "PRAGMA integrity_check;"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try? handle.close()
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning {
            if ContinuousClock.now > deadline {
                Glibc.kill(process.processIdentifier, SIGKILL)
                throw RegionError("sqlite3 integrity_check on \(name) did not finish")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let text = FileManager.default.contents(atPath: output).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

// MARK: - Running a region

/// Creates a region, starts its nodes (unless `start` is false), runs
/// `body`, and always stops the daemons. The temp directory is removed
/// after success and kept (with its path and log tails printed) after a
/// thrown error.
func withRegion<T>(_ options: RegionOptions = RegionOptions(), start: Bool = true,
                   _ body: (RegionCluster) async throws -> T) async throws -> T {
    let region = try RegionCluster(options)
    do {
        if start { try await region.startAll() }
        let result = try await body(region)
        await region.stopAll()
        if ProcessInfo.processInfo.environment["KOTOSYNC_KEEP_REGION"] == nil { region.removeDirectory() }
        return result
    } catch {
        region.killAll()
        let keep = ProcessInfo.processInfo.environment["KOTOSYNC_KEEP_REGION"] != nil
        var report = keep ? "region kept at \(region.directory)" : "region failed (set KOTOSYNC_KEEP_REGION=1 to keep its directory)"
        for node in region.all { report += "\n--- \(node.name) log tail:\n\(node.logTail(lines: 12))" }
        note(report)
        if !keep { region.removeDirectory() }
        throw error
    }
}

/// A line of test output (counts, seqs, timings; never field values).
func note(_ line: String) {
    print("region: \(line)")
}

/// Polls `condition` until it holds; a throwing poll counts as "not yet".
func waitUntil(_ what: String, timeout: Duration = .seconds(30), poll: Duration = .milliseconds(100),
               _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
        } catch {
            lastError = error
        }
        if ContinuousClock.now >= deadline { break }
        try await Task.sleep(for: poll)
    }
    throw RegionError("timed out after \(timeout) waiting for \(what)" + (lastError.map { " (last error: \($0))" } ?? ""))
}

// MARK: - Records

func newID() -> String { UUID().uuidString.lowercased() }

func municipalityCode(_ office: String) -> Int {
    MunicipalityRegistry.ostrobothnianCoast.municipality(slug: office)?.code ?? 598
}

/// Synthetic records: no real names, fields chosen to pass validation.
enum Fixture {
    static func service(id: String = newID(), office: String, label: String) -> JSONValue {
        .object([
            ("id", .string(id)),
            ("nameFi", .string("Testipalvelu \(label)")),
            ("nameSv", .string("Testtjänst \(label)")),
            ("providerName", .string("Provider \(office)")),
            ("providerType", .string("municipality")),
            ("category", .string("language_course")),
            ("municipalities", .array([.number(Double(municipalityCode(office)))])),
            ("studyPath", .string("basic")),
            ("capacity", .number(20)),
            ("status", .string("active")),
        ])
    }

    static func client(id: String = newID(), office: String, number: String) -> JSONValue {
        .object([
            ("id", .string(id)),
            ("clientNumber", .string(number)),
            ("ownerMunicipality", .number(Double(municipalityCode(office)))),
            ("givenName", .string("Testi")),
            ("familyName", .string("Henkilö")),
            ("birthDate", .string("1990-05-17")),
            ("integrationLanguage", .string("sv")),
            ("planStatus", .string("none")),
            ("status", .string("new")),
        ])
    }

    static func placement(id: String = newID(), client: String, service: String) -> JSONValue {
        .object([
            ("id", .string(id)),
            ("type", .string("service_enrolment")),
            ("clientId", .string(client)),
            ("serviceId", .string(service)),
            ("referralDate", .string("2026-01-12")),
            ("status", .string("referred")),
        ])
    }
}

extension JSONValue {
    static func fields(_ members: KeyValuePairs<String, JSONValue>) -> JSONValue {
        .object(members.map { ($0.key, $0.value) })
    }
}

/// Requires a 201 for a create; returns the record JSON.
@discardableResult
func expectCreated(_ result: APIResult, _ what: String) throws -> JSONValue {
    guard result.status == 201, let json = result.json else {
        throw RegionError("\(what): expected 201, got \(result.status) \(result.errorCode ?? "") \(result.errorMessage ?? "")")
    }
    return json
}

// MARK: - Bulk writes

/// A flag one task sets and others poll.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func stop() { flag.store(true, ordering: .relaxed) }
    var isStopped: Bool { flag.load(ordering: .relaxed) }
}

/// What a run of writes achieved: the ids answered 201, and every id tried.
struct WriteLedger: Sendable {
    var acknowledged: [String] = []
    var attempted: [String] = []
    var failures = 0
    var lastFailure: String?

    mutating func merge(_ other: WriteLedger) {
        acknowledged += other.acknowledged
        attempted += other.attempted
        failures += other.failures
        lastFailure = other.lastFailure ?? lastFailure
    }
}

/// Creates `count` services at `node` over `streams` parallel connections.
/// With `stop`, each stream keeps going past failures (node down) until
/// the flag is set instead of stopping at `count`.
func writeServices(at node: RegionNode, count: Int, streams: Int, label: String, stop: StopFlag? = nil) async throws -> WriteLedger {
    try await withThrowingTaskGroup(of: WriteLedger.self) { group in
        for stream in 0..<streams {
            let share = count / streams + (stream < count % streams ? 1 : 0)
            group.addTask {
                let client = try RegionNode.makeClient()
                var ledger = WriteLedger()
                var index = 0
                while stop.map({ !$0.isStopped }) ?? (index < share) {
                    index += 1
                    let id = newID()
                    ledger.attempted.append(id)
                    do {
                        let result = try await node.create(.service, Fixture.service(id: id, office: node.name, label: "\(label)-\(stream)-\(index)"),
                                                           client: client)
                        if result.status == 201 {
                            ledger.acknowledged.append(id)
                            continue
                        }
                        ledger.lastFailure = "HTTP \(result.status) \(result.errorCode ?? "")"
                    } catch {
                        ledger.lastFailure = "\(error)"
                    }
                    ledger.failures += 1
                    if stop != nil { try await Task.sleep(for: .milliseconds(20)) }
                }
                return ledger
            }
        }
        var total = WriteLedger()
        for try await ledger in group { total.merge(ledger) }
        return total
    }
}
