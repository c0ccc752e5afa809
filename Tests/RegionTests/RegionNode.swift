import Foundation
import Glibc
import KotoCore
import KotoHTTP
import KotoTestSupport
import Synchronization
import Testing

// MARK: - HTTP results

struct APIResult: Sendable {
    let status: Int
    let body: [UInt8]
    let headers: HTTPHeaders

    var json: JSONValue? { try? JSONValue.parse(body) }
    var errorCode: String? { ErrorBody(body)?.code }
    var errorMessage: String? { ErrorBody(body)?.message }
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
