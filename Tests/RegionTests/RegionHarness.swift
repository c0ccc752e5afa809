import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

// End-to-end harness: real `kotosyncd` processes on loopback, one temporary
// directory per region (configs, manifest, keys, secrets, data, one log per node).
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
    /// one built with this test bundle (see `builtBinary`).
    static func daemonBinary() throws -> String { try builtBinary("kotosyncd", override: "KOTOSYNCD") }

    /// The command-line client, found like the daemon (`KOTOSYNC_CLI` overrides).
    static func cliBinary() throws -> String { try builtBinary("kotosync", override: "KOTOSYNC_CLI") }

    /// An executable of this package: `override` from the environment when
    /// set, else the one built with this test bundle, next to the test
    /// executable (`swift build --build-tests` builds both into the same
    /// directory), else `.build/debug/<name>`.
    static func builtBinary(_ name: String, override: String) throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment[override] { candidates.append(explicit) }
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
                candidates.append(url.appendingPathComponent(name).path)
                url = url.deletingLastPathComponent()
            }
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/\(name)").path)
        if let found = firstExecutable(candidates) { return found }
        throw RegionError("""
            \(name) binary not found (looked next to the test bundle and in .build/debug: \
            \(candidates.joined(separator: ", "))). Build it with the tests: \
            `swift build --build-tests` (or set \(override)=/path/to/\(name)).
            """)
    }

    /// The `sqlite3` command-line shell, needed for `PRAGMA integrity_check`.
    static func sqliteShell() throws -> String {
        try tool("sqlite3", fallbackDirectories: ["/usr/bin", "/usr/local/bin"], missing: """
            the sqlite3 command-line shell is not installed, so PRAGMA integrity_check cannot run: \
            deploy/test.sh must install the Debian package `sqlite3` (add it to need_packages)
            """)
    }

    /// An installed tool: the first executable among `preferred` (nil
    /// entries skipped), then `name` in each directory of `PATH`, then in
    /// `fallbackDirectories`; throws `missing` when there is none.
    static func tool(_ name: String, preferred: [String?] = [], fallbackDirectories: [String] = [], missing: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + fallbackDirectories
        guard let found = firstExecutable(preferred.compactMap { $0 } + directories.map { "\($0)/\(name)" }) else {
            throw RegionError(missing)
        }
        return found
    }

    private static func firstExecutable(_ candidates: [String]) -> String? {
        candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A new directory only its owner can use, `<prefix>-XXXXXX` in the system's temporary directory.
    static func makeTemporaryDirectory(prefix: String) throws -> String {
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-XXXXXX").path
        var buffer = Array(template.utf8CString)
        guard mkdtemp(&buffer) != nil else { throw RegionError("mkdtemp failed: \(String(cString: strerror(errno)))") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

// MARK: - Files

/// Writes `text` to `path` (replacing what was there), then sets `permissions` when given.
func writeFile(_ text: String, to path: String, permissions: Int? = nil) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { throw RegionError("cannot write \(path)") }
    if let permissions { try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: path) }
}

/// The last `lines` lines of a log file, for failure messages (the daemons
/// log ids and counts, never field values).
func tail(ofFile path: String, lines: Int, missing: String = "(no log)") -> String {
    guard let data = FileManager.default.contents(atPath: path) else { return missing }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: "\n")
}

// MARK: - Child processes

/// Pids of child processes still running, with the signal that ends each,
/// sent at exit in case a test crashed past its cleanup.
let liveChildren = Mutex<[Int32: Int32]>([:])
private let exitHook: Void = {
    atexit {
        for (pid, number) in liveChildren.withLock({ $0 }) { Glibc.kill(pid, number) }
    }
}()

/// One child process (a daemon, nginx's master, a tool), its output
/// appended to a log file. Waits poll with `Task.sleep`.
final class ChildProcess: @unchecked Sendable {
    typealias Exit = (status: Int32, signalled: Bool)

    let name: String
    let logPath: String
    private let lock = NSLock()
    private let process: Process

    /// Launches it: `environment` on top of this process's, in `directory`
    /// when given, `banner` written to the log first. `atExit`: the signal it
    /// gets if the test process exits with it still running (nginx's master:
    /// SIGTERM, so that it stops its workers).
    init(name: String, executable: String, arguments: [String], logPath: String, environment: [String: String] = [:],
         directory: String? = nil, banner: String? = nil, atExit: Int32 = SIGKILL) throws {
        _ = exitHook
        self.name = name
        self.logPath = logPath
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw RegionError("cannot open \(logPath)") }
        defer { try? log.close() }
        _ = try log.seekToEnd()
        if let banner { log.write(Data(banner.utf8)) }
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let pid = process.processIdentifier
        liveChildren.withLock { $0[pid] = atExit }
    }

    /// Runs a tool to completion, its output appended to `logPath`, and
    /// returns its exit status; killed, and thrown, after `timeout`.
    static func run(_ executable: String, _ arguments: [String], logPath: String, directory: String? = nil,
                    timeout: Duration) async throws -> Int32 {
        let child = try ChildProcess(name: (executable as NSString).lastPathComponent, executable: executable, arguments: arguments,
                                     logPath: logPath, directory: directory)
        guard let exit = await child.exitOrKill(after: timeout) else {
            throw RegionError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        return exit.status
    }

    var isRunning: Bool { lock.withLock { process.isRunning } }

    /// Sends `number` while it runs; false when it no longer does.
    @discardableResult
    func signal(_ number: Int32) -> Bool {
        lock.withLock { process.isRunning && Glibc.kill(process.processIdentifier, number) == 0 }
    }

    /// Waits for it to exit; nil on timeout.
    func waitForExit(timeout: Duration) async throws -> Exit? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let exit: Exit? = lock.withLock {
                guard !process.isRunning else { return nil }
                liveChildren.withLock { _ = $0.removeValue(forKey: process.processIdentifier) }
                return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
            }
            if let exit { return exit }
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits up to `timeout` for it to exit, else SIGKILLs it (with its
    /// children) and waits up to 5 s more; nil when it had to be killed.
    @discardableResult
    func exitOrKill(after timeout: Duration) async -> Exit? {
        if let exit = try? await waitForExit(timeout: timeout) { return exit }
        kill()
        _ = try? await waitForExit(timeout: .seconds(5))
        return nil
    }

    /// SIGCONT (in case it was stopped), `number`, then `exitOrKill`.
    @discardableResult
    func stop(_ number: Int32 = SIGTERM, timeout: Duration = .seconds(15)) async -> Exit? {
        signal(SIGCONT)
        signal(number)
        return await exitOrKill(after: timeout)
    }

    /// SIGKILL for it and its direct children (nginx's workers would
    /// otherwise outlive a killed master), at once.
    func kill() {
        lock.withLock {
            guard process.isRunning else { return }
            let pid = process.processIdentifier
            let children = Self.children(of: pid)
            if Glibc.kill(pid, SIGKILL) == 0 { liveChildren.withLock { _ = $0.removeValue(forKey: pid) } }
            for child in children { _ = Glibc.kill(child, SIGKILL) }
        }
    }

    /// Pids whose parent is `pid`, from /proc.
    static func children(of pid: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let candidate = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After "pid (comm)": state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid ? candidate : nil
        }
    }
}

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

/// The demo region's plain tokens by holder (Config/demo/credentials.json):
/// each node's own peer credential and one office credential per municipality.
struct Tokens: Sendable {
    var peers: [String: String]
    var offices: [Int: String]
    var coordinator: String
    var admin: String

    init(credentialsFile: String) throws {
        guard let data = FileManager.default.contents(atPath: credentialsFile) else { throw RegionError("cannot read \(credentialsFile)") }
        let json = try JSONValue.parse(Array(data))
        func strings(_ key: String) throws -> [(String, String)] {
            guard let members = json[key]?.objectMembers else { throw RegionError("\(credentialsFile) has no \(key)") }
            return try members.map { (name, value) in
                guard let token = value.stringValue else { throw RegionError("\(credentialsFile): \(key).\(name) is not a string") }
                return (name, token)
            }
        }
        peers = Dictionary(uniqueKeysWithValues: try strings("peers"))
        offices = Dictionary(uniqueKeysWithValues: try strings("offices").compactMap { (code, token) in Int(code).map { ($0, token) } })
        guard let coordinator = json["coordinator"]?.stringValue, let admin = json["admin"]?.stringValue else {
            throw RegionError("\(credentialsFile) has no coordinator or admin token")
        }
        self.coordinator = coordinator
        self.admin = admin
    }

    /// The office credential of `node`'s municipality.
    func office(of node: String) -> String? { offices[municipalityCode(node)] }

    /// Copies the demo identity into `directory` — `region.json`, and per
    /// node `keys/<node>.key` and `secrets/<node>.json` with mode 0600 (git
    /// does not keep it) — and returns the demo's tokens.
    static func installDemoIdentity(into directory: String) throws -> Tokens {
        let demo = RegionPaths.demoConfigDirectory
        let files = FileManager.default
        for sub in ["keys", "secrets"] { try files.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true) }
        try files.copyItem(atPath: demo.appendingPathComponent("region.json").path, toPath: "\(directory)/region.json")
        for office in RegionTests.offices {
            for file in ["keys/\(office).key", "secrets/\(office).json"] {
                try files.copyItem(atPath: demo.appendingPathComponent(file).path, toPath: "\(directory)/\(file)")
                try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: "\(directory)/\(file)")
            }
        }
        return try Tokens(credentialsFile: demo.appendingPathComponent("credentials.json").path)
    }
}

/// Who calls: `.office` the node's own municipality's office, `.officeOf(code)`
/// another municipality's (office scopes: an office writes its own records
/// only, at whichever node); `.peer(node)` presents that node's own peer credential.
enum Role: Sendable { case office, officeOf(Int), coordinator, admin, peer(String), none }

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
    private var process: ChildProcess?

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
    private var current: ChildProcess? { lock.withLock { process } }

    /// Launches the daemon (not waiting for it to serve).
    func launch(binary: String, configPath: String? = nil, environment: [String: String] = [:], arguments: [String] = []) throws {
        try lock.withLock {
            if let process, process.isRunning { throw RegionError("\(name) is already running") }
            process = try ChildProcess(name: name, executable: binary, arguments: ["--config", configPath ?? self.configPath] + arguments,
                                       logPath: logPath, environment: environment,
                                       banner: "=== harness: starting \(name) \(arguments.joined(separator: " ")) at \(Date())\n")
        }
    }

    /// Launches the daemon and waits until it answers `/healthz`; throws,
    /// with its log tail, when it exits first or does not answer in time.
    func start(binary: String, configPath: String? = nil, environment: [String: String] = [:], arguments: [String] = [],
               timeout: Duration = .seconds(20)) async throws {
        try launch(binary: binary, configPath: configPath, environment: environment, arguments: arguments)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !isRunning {
                let exit = try await waitForExit(timeout: .seconds(1))
                throw RegionError("\(name) exited during startup (status \(exit.map { String($0.status) } ?? "?")); log:\n\(logTail())")
            }
            if let result = try? await send(.get, "/healthz", role: .none, timeout: .seconds(1)), result.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RegionError("\(name) did not answer /healthz within \(timeout); log:\n\(logTail())")
    }

    /// Sends `signal` to the running daemon; false when none runs.
    @discardableResult
    func signal(_ number: Int32) -> Bool { current?.signal(number) ?? false }

    /// Waits for the daemon to exit; nil on timeout. Returns (status, killed by signal).
    func waitForExit(timeout: Duration) async throws -> ChildProcess.Exit? {
        guard let current else { return (0, false) }
        return try await current.waitForExit(timeout: timeout)
    }

    /// See `ChildProcess.exitOrKill`.
    @discardableResult
    func exitOrKill(after timeout: Duration) async -> ChildProcess.Exit? {
        guard let current else { return (0, false) }
        return await current.exitOrKill(after: timeout)
    }

    /// See `ChildProcess.stop`.
    @discardableResult
    func stop(_ number: Int32 = SIGTERM, timeout: Duration = .seconds(15)) async -> ChildProcess.Exit? {
        guard let current else { return (0, false) }
        return await current.stop(number, timeout: timeout)
    }

    /// SIGKILL at once (see `ChildProcess.kill`).
    func kill() { current?.kill() }

    /// The last lines of this node's log, for failure messages (the daemon
    /// logs ids and counts, never field values).
    func logTail(lines: Int = 20) -> String { tail(ofFile: logPath, lines: lines) }

    var log: String {
        FileManager.default.contents(atPath: logPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    // MARK: API

    func send(_ method: HTTPMethod, _ path: String, json: JSONValue? = nil, role: Role = .office,
              headers extra: HTTPHeaders = [:], client: AsyncHTTPClient? = nil, timeout: Duration? = nil) async throws -> APIResult {
        var headers = extra
        let token: String? = switch role {
        case .office: tokens.office(of: name)
        case .officeOf(let code): tokens.offices[code]
        case .coordinator: tokens.coordinator
        case .admin: tokens.admin
        case .peer(let node): tokens.peers[node]
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

    func record(_ kind: RecordKind, _ id: String, role: Role = .coordinator) async throws -> JSONValue? {
        let result = try await send(.get, "/v1/\(kind.table)/\(id)", role: role)
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

    /// The peer links in this node's status.
    func peers() async throws -> [JSONValue] {
        try await status()["peers"]?.arrayValue ?? []
    }

    /// The status entry of one peer link.
    func peerStatus(_ peer: String) async throws -> JSONValue? {
        try await peers().first { $0["node"]?.stringValue == peer }
    }

    /// The highest seq of `origin` this node holds.
    func holds(of origin: String) async throws -> Int64 {
        try await status()["versionVector"]?[origin]?.int64Value ?? 0
    }
}

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
    /// Waits until every node but `origin` holds `origin`'s changes up to `seq`.
    func waitPeersHold(of origin: String, seq: Int64, timeout: Duration = .seconds(20)) async throws {
        try await waitUntil("every peer to hold \(origin):\(seq)", timeout: timeout) {
            for peer in all where peer.name != origin {
                if try await peer.holds(of: origin) < seq { return false }
            }
            return true
        }
    }

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
        _ = try await ChildProcess.run(shell, [self[name].databasePath, "PRAGMA integrity_check;"], logPath: output, timeout: .seconds(60))
        let text = FileManager.default.contents(atPath: output).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

// MARK: - Running a region

/// Child processes working in one temporary directory, as `withCleanup` runs them.
protocol RegionLab: AnyObject, Sendable {
    var directory: String { get }
    /// Stops every child gracefully (SIGKILL for any that hangs).
    func stopAll() async
    /// Synchronous last resort: SIGKILL whatever still runs.
    func killAll()
    /// Log tails for the failure report (ids and counts, never field values).
    func failureLogs() -> String
}

/// Runs `body`, then always stops `lab`'s children: gracefully after
/// success; with SIGKILL after a thrown error, printing its log tails. The
/// directory is removed either way unless `KOTOSYNC_KEEP_REGION` is set.
func withCleanup<Lab: RegionLab, T>(_ lab: Lab, _ body: () async throws -> T) async throws -> T {
    let keep = ProcessInfo.processInfo.environment["KOTOSYNC_KEEP_REGION"] != nil
    do {
        let result = try await body()
        await lab.stopAll()
        if !keep { try? FileManager.default.removeItem(atPath: lab.directory) }
        return result
    } catch {
        lab.killAll()
        let report = keep ? "region kept at \(lab.directory)" : "region failed (set KOTOSYNC_KEEP_REGION=1 to keep its directory)"
        note(report + lab.failureLogs())
        if !keep { try? FileManager.default.removeItem(atPath: lab.directory) }
        throw error
    }
}

/// Creates a region, starts its nodes (unless `start` is false), runs
/// `body`, and always stops the daemons (see `withCleanup`).
func withRegion<T>(_ options: RegionOptions = RegionOptions(), start: Bool = true,
                   _ body: (RegionCluster) async throws -> T) async throws -> T {
    let region = try RegionCluster(options)
    return try await withCleanup(region) {
        if start { try await region.startAll() }
        return try await body(region)
    }
}

/// A line of test output (counts, seqs, timings; never field values).
func note(_ line: String) {
    print("region: \(line)")
}

/// Polls `condition` until it holds; a throwing poll counts as "not yet",
/// except that with `failFast` a thrown `RegionError` ends the wait at once.
func waitUntil(_ what: String, timeout: Duration = .seconds(30), poll: Duration = .milliseconds(100), failFast: Bool = false,
               _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
        } catch let error as RegionError where failFast {
            throw error
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
