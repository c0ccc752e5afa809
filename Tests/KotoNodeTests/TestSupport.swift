import Foundation
import KotoCore
import KotoCrypto
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

// MARK: - Files

/// The package's root directory (this file is Tests/KotoNodeTests/TestSupport.swift).
let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A malformed file text and the key its error must name.
struct KeyErrorCase: Sendable, CustomStringConvertible {
    let name: String
    let json: String
    let key: String
    var description: String { name }
}

// MARK: - The test region: members, keys, credentials

/// The five offices of the test region (the real region's codes and names)
/// and their manifests; the keys of the shared region are `TestKeys.signing`.
enum TestRegion {
    static let offices: [Municipality] = TestKeys.municipalities
    static var nodes: [String] { offices.map(\.slug) }

    /// One manifest and key set per test run, shared by test nodes and the bare peer stores they sync with.
    static let shared: (manifest: RegionManifest, keys: [String: SigningKey]) = (try! manifest(TestKeys.signing), TestKeys.signing)

    /// A manifest of the five offices, each with a freshly generated key.
    static func make() throws -> (manifest: RegionManifest, keys: [String: SigningKey]) {
        var keys: [String: SigningKey] = [:]
        for office in offices { keys[office.slug] = try SigningKey.generate() }
        return (try manifest(keys), keys)
    }

    /// The manifest of the five offices with these keys.
    static func manifest(_ keys: [String: SigningKey]) throws -> RegionManifest {
        let members = offices.map { RegionManifest.Member(node: $0.slug, municipality: $0, publicKeys: [keys[$0.slug]!.publicKey]) }
        return try RegionManifest(region: "test-region", members: members)
    }

    /// The manifest file text for these keys (`publicKeys` replaces a member's keys).
    static func manifestJSON(_ keys: [String: SigningKey], publicKeys: [String: [String]] = [:]) -> String {
        let members: [JSONValue] = offices.map { office in
            .object([
                ("node", .string(office.slug)), ("municipality", .number(Double(office.code))),
                ("nameFi", .string(office.nameFi)), ("nameSv", .string(office.nameSv)),
                ("publicKeys", .array((publicKeys[office.slug] ?? [keys[office.slug]!.publicKey.text]).map { .string($0) })),
            ])
        }
        return JSONValue.object([("region", .string("test-region")), ("members", .array(members))]).serialized
    }

    /// Writes `region.json` and `<node>.key` (mode 0600) into `directory`
    /// and returns a config of `node` using them; `keyOf` picks whose key
    /// goes into the key file (another node's: a mismatch).
    static func writeNode(_ node: String, in directory: TemporaryDirectory, keyOf: String? = nil) throws -> NodeConfig {
        let (_, keys) = try make()
        try directory.write("region.json", manifestJSON(keys), permissions: 0o644)
        try keys[keyOf ?? node]!.write(to: directory.path("\(node).key"))
        return NodeConfig(node: node, dataDirectory: directory.path("data"), secretsFile: directory.path("secrets.json"),
                          regionManifest: directory.path("region.json"), keyFile: directory.path("\(node).key"))
    }
}

/// Bearer tokens of the test region; obviously not real.
enum Token {
    /// Each node's own peer credential.
    static func peer(_ node: String) -> String { "test-peer-token-\(node)-0001" }
    /// The office credential of Jakobstad (598).
    static let office = "test-office-token-000000001"
    /// The office credential of Larsmo (440), naming a person.
    static let larsmoOffice = "test-office-token-larsmo-01"
    /// The office credential of any municipality of the region (598 and 440 as above).
    static func office(of code: Int) -> String {
        switch code {
        case 598: office
        case 440: larsmoOffice
        default: "test-office-token-\(code)-000001"
        }
    }
    static let coordinator = "test-coordinator-token-0001"
    static let admin = "test-admin-token-0000000001"
    /// The metrics scraper's (Prometheus).
    static let scrape = "test-scrape-token-000000001"
    /// Well-formed but known to no role.
    static let unknown = "test-unknown-token-00000001"
}

/// The secrets of `node`: its own peer credential, and the digests of the
/// other offices' peer credentials and of the staff credentials.
func testSecrets(for node: String = "jakobstad") -> Secrets {
    var accepted = TestRegion.nodes.filter { $0 != node }.map { Secrets.Accepted(caller: .peer($0), token: Token.peer($0)) }
    accepted += [
        Secrets.Accepted(caller: .office(municipality: 598), token: Token.office),
        Secrets.Accepted(caller: .office(municipality: 440, name: "Test Person"), token: Token.larsmoOffice),
        Secrets.Accepted(caller: .office(municipality: 893), token: Token.office(of: 893)),
        Secrets.Accepted(caller: .office(municipality: 288), token: Token.office(of: 288)),
        Secrets.Accepted(caller: .office(municipality: 599), token: Token.office(of: 599)),
        Secrets.Accepted(caller: .coordinator(name: "Test coordinator"), token: Token.coordinator),
        Secrets.Accepted(caller: .admin(name: "Test operator"), token: Token.admin),
        Secrets.Accepted(caller: .scrape(name: "Test Prometheus"), token: Token.scrape),
    ]
    return Secrets(peerCredential: Token.peer(node), accepted: accepted)
}

/// Who sends a request: a role's credential, nobody (no Authorization
/// header) or someone with an unknown token. `.peer` is larsmo, the test
/// node's default peer; `.peerOf(node)` another node's peer credential.
enum TestCaller: Sendable, Equatable, CustomStringConvertible {
    case peer, peerOf(String), office, officeOf(Int), coordinator, admin, scrape, none, wrongToken

    static let allCases: [TestCaller] = [.peer, .office, .coordinator, .admin, .scrape, .none, .wrongToken]

    var role: Role? {
        switch self {
        case .peer, .peerOf: .peer
        case .office, .officeOf: .office
        case .coordinator: .coordinator
        case .admin: .admin
        case .scrape: .scrape
        case .none, .wrongToken: nil
        }
    }

    var token: String? {
        switch self {
        case .peer: Token.peer("larsmo")
        case .peerOf(let node): Token.peer(node)
        case .office: Token.office
        case .officeOf(let code): Token.office(of: code)
        case .coordinator: Token.coordinator
        case .admin: Token.admin
        case .scrape: Token.scrape
        case .none: nil
        case .wrongToken: Token.unknown
        }
    }

    var authorization: String? { token.map { "Bearer \($0)" } }

    /// The office a record's JSON belongs to: its `ownerMunicipality`, or the
    /// first of its `municipalities`; Jakobstad's (598) for anything else.
    static func owningOffice(of json: String) -> TestCaller {
        for key in [#""ownerMunicipality":"#, #""municipalities":["#] {
            if let range = json.range(of: key) {
                let digits = json[range.upperBound...].prefix { $0.isNumber }
                if let code = Int(digits) { return code == 598 ? .office : .officeOf(code) }
            }
        }
        return .office
    }

    var description: String {
        switch self {
        case .peer: "peer"
        case .peerOf(let node): "peer \(node)"
        case .office: "office"
        case .officeOf(let code): "office \(code)"
        case .coordinator: "coordinator"
        case .admin: "admin"
        case .scrape: "scrape"
        case .none: "none"
        case .wrongToken: "wrongToken"
        }
    }
}

// MARK: - A node served in-process

/// One node's replica, scheduler and API router in a temporary directory,
/// called without sockets through `Router.handle(_:)`. Its scheduler never
/// runs, so configured peers are never contacted.
final class TestNode {
    static let defaultPeers = [PeerConfig(node: "larsmo", url: nil, mode: .passive)]

    let directory: TemporaryDirectory
    let config: NodeConfig
    let replica: Replica
    let scheduler: SyncScheduler
    let manifest: RegionManifest
    let api: API
    let router: Router
    /// What the API recorded as personal-data accesses.
    let access = InMemoryAccessRecorder()
    /// The persistent access log, when the node was made with `persistentAccessLog` (the API then records into it).
    let accessLog: AccessLog?

    var nodeID: String { config.node }

    /// `separateReader`: queries use a second connection, as `Node` sets it up.
    /// `clockAhead`: how far this node's wall clock (its store's `now`) runs ahead of the real one.
    init(node: String = "jakobstad", peers: [PeerConfig] = TestNode.defaultPeers, separateReader: Bool = false,
         clockAhead: Duration = .zero, persistentAccessLog: Bool = false, configure: (inout NodeConfig) -> Void = { _ in }) throws {
        Log.isEnabled = false
        directory = try TemporaryDirectory()
        var config = NodeConfig(node: node, dataDirectory: directory.path("data"), secretsFile: directory.path("secrets.json"),
                                regionManifest: directory.path("region.json"), keyFile: directory.path("\(node).key"))
        config.port = 0
        config.synchronous = .off
        config.peers = peers
        configure(&config)
        self.config = config
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        var options = StoreOptions()
        options.synchronous = config.synchronous
        manifest = TestRegion.shared.manifest
        options.registry = manifest.registry
        options.maxClockAheadMillis = UInt64(config.maxClockAhead.components.seconds * 1000)
        let aheadMillis = Int64(clockAhead.components.seconds * 1000)
        options.now = { UInt64(Int64(Date().timeIntervalSince1970 * 1000) + aheadMillis) }
        let store = try ReplicaStore(path: config.databasePath, nodeID: node, identity: TestKeys.identity(node), options: options)
        replica = Replica(store: store)
        let secrets = testSecrets(for: node)
        scheduler = try SyncScheduler(config: config, replica: replica, secrets: secrets)
        accessLog = persistentAccessLog
            ? try AccessLog(path: config.accessLogPath, node: node, signingKey: TestKeys.signing[node]!,
                            publicKeys: manifest.member(node)?.publicKeys ?? [], retentionYears: config.accessLogRetentionYears,
                            synchronous: .off)
            : nil
        var api = API(config: config, replica: replica, scheduler: scheduler, secrets: secrets, manifest: manifest,
                      access: accessLog ?? access)
        api.auditLog = accessLog
        if separateReader {
            api.reader = ReplicaReader(try ReadOnlyReplica(path: config.databasePath))
        }
        self.api = api
        router = api.router()
    }

    /// Sends one request as `caller`; `json` (a JSON text) or `body` becomes the body.
    func send(_ method: HTTPMethod, _ target: String, as caller: TestCaller, json: String? = nil, body: [UInt8]? = nil,
              headers extra: HTTPHeaders = [:]) async throws -> HTTPResponse {
        var headers = extra
        if let authorization = caller.authorization { headers["Authorization"] = authorization }
        if json != nil { headers["Content-Type"] = "application/json" }
        let request = try HTTPRequest(method: method, target: target, headers: headers, body: body ?? json.map { Array($0.utf8) } ?? [])
        return await router.handle(request)
    }

    /// Sends with a raw `Authorization` header value (or none).
    func send(_ method: HTTPMethod, _ target: String, authorization: String?) async throws -> HTTPResponse {
        var headers: HTTPHeaders = [:]
        if let authorization { headers["Authorization"] = authorization }
        return await router.handle(try HTTPRequest(method: method, target: target, headers: headers))
    }

    /// Creates a record through the API as the office whose scope it is in
    /// (`TestCaller.owningOffice(of:)`) unless `as` names another; returns its id.
    @discardableResult
    func create(_ kind: RecordKind, _ json: String, as caller: TestCaller? = nil,
                sourceLocation: SourceLocation = #_sourceLocation) async throws -> UUID {
        let response = try await send(.post, "/v1/\(kind.table)", as: caller ?? .owningOffice(of: json), json: json)
        #expect(response.status == .created, "create \(kind) answered \(response.status.code)", sourceLocation: sourceLocation)
        let text = try #require(try response.json["id"]?.stringValue, sourceLocation: sourceLocation)
        return try #require(UUID(uuidString: text), sourceLocation: sourceLocation)
    }

    var syncState: SyncState {
        get async { await replica.syncState() }
    }

    /// The node's whole log, as a peer that holds nothing would pull it.
    func log() async throws -> ChangeBatch {
        try await replica.readLog(after: 0, notCoveredBy: VersionVector(), limit: 10_000)
    }

    /// A valid pull request body for `peer`.
    /// `heads` default to none; `clock` 0 is not taken as a clock sample.
    func pullBody(peer: String = "larsmo", vector: VersionVector = VersionVector(), since: UInt64 = 0, limit: Int = 1000,
                  protocolVersion: Int = SyncProtocol.version, schemaVersion: Int? = nil, heads: [String: ChainHead] = [:],
                  clock: UInt64 = 0) -> String {
        PullRequest(node: peer, protocolVersion: protocolVersion, schemaVersion: schemaVersion ?? config.advertisedSchemaVersion,
                    versionVector: vector, since: since, limit: limit, heads: heads, clock: clock).json.serialized
    }

    /// The headers a peer sends with a pushed batch. The log end the sender
    /// reports defaults to one past every test batch; nil leaves the header out.
    func pushHeaders(peer: String, logPosition: UInt64? = 1_000) -> HTTPHeaders {
        var headers: HTTPHeaders = [
            "Content-Type": SyncProtocol.batchContentType,
            SyncProtocol.Header.node: peer,
            SyncProtocol.Header.protocolVersion: String(SyncProtocol.version),
            SyncProtocol.Header.schemaVersion: String(config.advertisedSchemaVersion),
        ]
        if let logPosition { headers[SyncProtocol.Header.logPosition] = String(logPosition) }
        return headers
    }

    /// Pushes to this node everything `store` holds that this node lacks, as the peer `store` would.
    func push(from store: ReplicaStore, logPosition: UInt64? = nil) async throws -> HTTPResponse {
        let vector = await syncState.versionVector
        let batch = try store.readLog(after: 0, notCoveredBy: vector, limit: 10_000)
        return try await send(.post, "/v1/sync/push", as: .peerOf(store.nodeID), body: WireFormat.encode(batch),
                              headers: pushHeaders(peer: store.nodeID, logPosition: logPosition ?? store.logPosition))
    }

    /// Pulls into `store` everything this node has that `store` lacks, through the pull endpoint.
    func pull(into store: ReplicaStore, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let since = try store.peerCursor(nodeID)?.position ?? 0
        let response = try await send(.post, "/v1/sync/pull", as: .peerOf(store.nodeID),
                                      json: pullBody(peer: store.nodeID, vector: store.versionVector, since: since,
                                                     heads: store.chainHeads),
                                      headers: [SyncProtocol.Header.node: store.nodeID])
        try #require(response.status == .ok, "pull answered \(response.status.code)", sourceLocation: sourceLocation)
        try store.apply(try WireFormat.decode(response.body), from: nodeID)
    }
}

/// A bare store in its own temporary directory, standing in for a peer.
final class PeerStore {
    let directory: TemporaryDirectory
    let store: ReplicaStore

    /// `clockAhead`: how far this store's wall clock runs ahead of the real one.
    /// Stores of one node share its key: two of them make a fork.
    init(node: String, clockAhead: Duration = .zero) throws {
        directory = try TemporaryDirectory()
        var options = StoreOptions()
        options.synchronous = .off
        let aheadMillis = UInt64(clockAhead.components.seconds * 1000)
        options.now = { UInt64(Date().timeIntervalSince1970 * 1000) + aheadMillis }
        store = try ReplicaStore(path: directory.path("\(node).sqlite"), nodeID: node, identity: TestKeys.identity(node), options: options)
    }
}

// MARK: - Responses

extension HTTPResponse {
    /// The body parsed as JSON.
    var json: JSONValue {
        get throws { try JSONValue.parse(body) }
    }

    /// `error.code`, `error.message` and `error.problems` of an error body (see `ErrorBody`).
    var errorCode: String? { ErrorBody(body)?.code }
    var errorMessage: String? { ErrorBody(body)?.message }
    var problems: [FieldProblem] { ErrorBody(body)?.problems ?? [] }

    var problemFields: Set<String> { Set(problems.map(\.field)) }

    /// Whether the body is exactly the error shape: `{"error": {"code": String, "message": String, ...}}`.
    var hasErrorShape: Bool {
        guard let json = try? JSONValue.parse(body), let members = json.objectMembers, members.count == 1,
              let error = json["error"], error["code"]?.stringValue != nil, error["message"]?.stringValue != nil else { return false }
        return true
    }
}

extension JSONValue {
    /// Ids of an `{"items": [...]}` list answer, in order.
    var itemIDs: [String] {
        (self["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }
}

// MARK: - Fictional records

/// Obviously made-up records as API JSON.
enum SampleJSON {
    static func client(number: Int = 1, owner: Int = 598, extra: String = "") -> String {
        """
        {"clientNumber":"T-\(number)","ownerMunicipality":\(owner),"givenName":"Testi","familyName":"Henkilö",\
        "birthDate":"1990-01-01","integrationLanguage":"fi","planStatus":"none","status":"new"\(extra.isEmpty ? "" : ",\(extra)")}
        """
    }

    static func service(number: Int = 1, municipalities: String = "[598,599]", extra: String = "") -> String {
        """
        {"nameFi":"Testikurssi \(number)","providerName":"Testiopisto","providerType":"adult_education",\
        "category":"language_course","municipalities":\(municipalities),"studyPath":"basic","status":"active"\
        \(extra.isEmpty ? "" : ",\(extra)")}
        """
    }

    static func enrolment(client: UUID, service: UUID) -> String {
        """
        {"type":"service_enrolment","clientId":"\(client.lowercased)","serviceId":"\(service.lowercased)","status":"proposed"}
        """
    }
}

// MARK: - A fake peer

/// An HTTP server standing in for a peer: `answer` builds the response to
/// every request, so tests can send a puller what no honest node would.
final class FakePeer: Sendable {
    let server: HTTPServer
    private let running: Task<Void, any Error>
    var url: String { "http://127.0.0.1:\(server.port)" }

    init(answer: @escaping @Sendable (HTTPRequest) async -> HTTPResponse) throws {
        var router = Router()
        router.post("/v1/sync/pull") { request in await answer(request) }
        router.post("/v1/sync/push") { request in await answer(request) }
        router.get("/v1/sync/state") { request in await answer(request) }
        server = try HTTPServer(host: "127.0.0.1", port: 0, router: router)
        let server = server
        running = Task { try await server.run() }
    }

    /// A pull answer carrying `batch`, claiming `logPosition` as the log end.
    static func pullAnswer(_ batch: ChangeBatch, logPosition: UInt64, node: String = "larsmo") -> HTTPResponse {
        HTTPResponse(status: .ok, headers: ["Content-Type": SyncProtocol.batchContentType,
                                            SyncProtocol.Header.logPosition: String(logPosition),
                                            SyncProtocol.Header.node: node, SyncProtocol.Header.yourSeq: "0"],
                     body: WireFormat.encode(batch))
    }

    func stop() async {
        server.shutdown(gracePeriod: .milliseconds(100))
        _ = try? await running.value
    }
}

extension TestNode {
    /// A pull link of this node to `fake`, named as `peer`.
    func link(to fake: FakePeer, peer: String = "larsmo") throws -> PeerLink {
        var config = config
        // Generous: the answer is checked, not its speed, and a loaded 2-core test run can starve the serving thread for seconds.
        config.connectTimeout = .seconds(10)
        config.requestTimeout = .seconds(30)
        return try PeerLink(peer: PeerConfig(node: peer, url: fake.url, mode: .pull), config: config, replica: replica,
                            secrets: testSecrets(for: nodeID), onApplied: { _ in })
    }
}
