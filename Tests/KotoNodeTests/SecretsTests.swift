import Foundation
import KotoCore
import KotoCrypto
import KotoHTTP
import KotoTestSupport
import Testing
@testable import KotoNode

/// The secrets file (own peer credential, digests of accepted credentials
/// bound to their holders, permissions) and bearer-token lookup.
@Suite struct SecretsTests {
    static func sha(_ token: String) -> String { SHA256.hex(SHA256.hash(Array(token.utf8))) }

    static let fileText = """
        {
          "peerCredential": "\(Token.peer("jakobstad"))",
          "accept": [
            { "role": "peer", "node": "nykarleby", "sha256": "\(sha(Token.peer("nykarleby")))" },
            { "role": "peer", "node": "larsmo", "sha256": "\(sha(Token.peer("larsmo")).uppercased())" },
            { "role": "office", "municipality": 598, "sha256": "\(sha(Token.office))" },
            { "role": "office", "municipality": 440, "name": "Test Person", "sha256": "\(sha(Token.larsmoOffice))" },
            { "role": "coordinator", "name": "Test coordinator", "sha256": "\(sha(Token.coordinator))" },
            { "role": "admin", "name": "Test operator", "sha256": "\(sha(Token.admin))" },
            { "role": "scrape", "name": "Test Prometheus", "sha256": "\(sha(Token.scrape))" }
          ]
        }
        """

    /// A file with `entries` (JSON texts) as its accept list.
    static func file(_ entries: [String], peerCredential: String = Token.peer("jakobstad")) -> String {
        #"{"peerCredential":"\#(peerCredential)","accept":[\#(entries.joined(separator: ","))]}"#
    }

    static func entry(_ role: String, _ holder: String, token: String) -> String {
        #"{"role":"\#(role)",\#(holder),"sha256":"\#(sha(token))"}"#
    }

    /// The error loading `text` (written with `permissions`) throws, or nil.
    static func loadError(_ text: String, permissions: Int = 0o600) throws -> ConfigError? {
        let directory = try TemporaryDirectory()
        let path = try directory.write("secrets.json", text, permissions: permissions)
        do {
            _ = try Secrets.load(path: path)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Loading

    @Test func loadsThePeerCredentialAndEachHolder() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("secrets.json", Self.fileText, permissions: 0o600)
        let secrets = try Secrets.load(path: path)
        #expect(secrets.peerCredential == Token.peer("jakobstad"))
        #expect(secrets.accepted.map(\.caller) == [
            .peer("nykarleby"), .peer("larsmo"), .office(municipality: 598), .office(municipality: 440, name: "Test Person"),
            .coordinator(name: "Test coordinator"), .admin(name: "Test operator"), .scrape(name: "Test Prometheus"),
        ])
        #expect(secrets.accepted.allSatisfy { $0.digest.count == 32 })
        #expect(secrets.caller(forAuthorization: "Bearer \(Token.peer("nykarleby"))") == .peer("nykarleby"))
        // An upper-case digest is the same digest.
        #expect(secrets.caller(forAuthorization: "Bearer \(Token.peer("larsmo"))") == .peer("larsmo"))
        #expect(secrets.caller(forAuthorization: "Bearer \(Token.larsmoOffice)") == .office(municipality: 440, name: "Test Person"))
        #expect(secrets.caller(forAuthorization: "Bearer \(Token.admin)")?.name == "Test operator")
        // Its own outgoing credential opens nothing here, nor does a peer it does not list.
        #expect(secrets.caller(forAuthorization: "Bearer \(Token.peer("jakobstad"))") == nil)
        #expect(secrets.caller(forAuthorization: "Bearer \(Token.peer("kronoby"))") == nil)
    }

    @Test func anEmptyAcceptListIsAllowed() throws {
        #expect(try Self.loadError(Self.file([])) == nil)
        #expect(try Self.loadError(#"{"peerCredential":"\#(Token.peer("jakobstad"))"}"#) == nil)
    }

    @Test(arguments: [0o600, 0o400])
    func privateFileIsAccepted(permissions: Int) throws {
        #expect(try Self.loadError(Self.fileText, permissions: permissions) == nil)
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o602, 0o660, 0o610, 0o601, 0o700, 0o666])
    func fileWiderThan0600IsRefusedNamingFileAndMode(permissions: Int) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("secrets.json", Self.fileText, permissions: permissions)
        do {
            _ = try Secrets.load(path: path)
            Issue.record("a secrets file with mode \(String(permissions, radix: 8)) loaded")
        } catch {
            #expect(error.key == "secretsFile")
            #expect(error.reason.contains(path))
            #expect(error.reason.contains("mode 0\(String(permissions, radix: 8))"), "\(error)")
            #expect(error.reason.contains("chmod 600"))
        }
    }

    @Test func missingFileIsRefusedNamingIt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("absent.json")
        do {
            _ = try Secrets.load(path: path)
            Issue.record("a missing secrets file loaded")
        } catch {
            #expect(error.key == "secretsFile")
            #expect(error.reason.contains(path))
        }
    }

    @Test func shortPeerCredentialIsRefused() throws {
        let error = try #require(try Self.loadError(Self.file([], peerCredential: "short")))
        #expect(error.key == "secrets.peerCredential")
        #expect(error.reason.contains("16"))
    }

    @Test func duplicateDigestIsRefused() throws {
        let text = Self.file([Self.entry("peer", #""node":"larsmo""#, token: Token.peer("larsmo")),
                              Self.entry("admin", #""name":"Operator""#, token: Token.admin),
                              Self.entry("peer", #""node":"kronoby""#, token: Token.peer("larsmo"))])
        let error = try #require(try Self.loadError(text))
        #expect(error.key == "secrets.accept[2].sha256")
        #expect(error.reason.contains("accept[0]"))
    }

    @Test func duplicateDigestInAnotherCaseIsRefused() throws {
        let upper = #"{"role":"admin","name":"Other","sha256":"\#(Self.sha(Token.admin).uppercased())"}"#
        let text = Self.file([Self.entry("admin", #""name":"Operator""#, token: Token.admin), upper])
        #expect(try Self.loadError(text)?.key == "secrets.accept[1].sha256")
    }

    @Test func theNodesOwnPeerCredentialIsNotAcceptedFromAnyone() throws {
        let text = Self.file([Self.entry("peer", #""node":"larsmo""#, token: Token.peer("jakobstad"))])
        let error = try #require(try Self.loadError(text))
        #expect(error.key == "secrets.accept[0].sha256")
        #expect(error.reason.contains("own peerCredential"))
    }

    @Test(arguments: [
        String(repeating: "a", count: 63), String(repeating: "a", count: 65), String(repeating: "g", count: 64),
        String(repeating: "0", count: 62) + "0x", " " + String(repeating: "0", count: 63), String(repeating: "é", count: 32),
        "sha256:" + String(repeating: "0", count: 57),
    ])
    func malformedDigestIsRefused(hex: String) throws {
        let text = Self.file([#"{"role":"admin","name":"Operator","sha256":"\#(hex)"}"#])
        let error = try #require(try Self.loadError(text))
        #expect(error.key == "secrets.accept[0].sha256")
        #expect(error.reason.contains("64 hexadecimal"))
    }

    @Test func hexDigestsOfEitherCaseDecode() {
        #expect(Secrets.digest(hex: String(repeating: "0", count: 64)) == [UInt8](repeating: 0, count: 32))
        #expect(Secrets.digest(hex: "ff" + String(repeating: "0", count: 60) + "Aa") == [0xFF] + [UInt8](repeating: 0, count: 30) + [0xAA])
    }

    /// The file has no place for another node's usable token: accept
    /// entries hold a digest, and any other member is refused.
    @Test(arguments: ["token", "peerToken", "credential", "secret", "bearer"])
    func aPlainTokenOfAnotherNodeCannotBeStored(key: String) throws {
        let text = Self.file([#"{"role":"peer","node":"larsmo","\#(key)":"\#(Token.peer("larsmo"))","sha256":"\#(Self.sha(Token.peer("larsmo")))"}"#])
        let error = try #require(try Self.loadError(text))
        #expect(error.key == "secrets.accept[0].\(key)")
        #expect(!error.description.contains(Token.peer("larsmo")))
        // A token where the digest goes is no digest.
        let asDigest = Self.file([#"{"role":"peer","node":"larsmo","sha256":"\#(Token.peer("larsmo"))"}"#])
        #expect(try Self.loadError(asDigest)?.key == "secrets.accept[0].sha256")
    }

    @Test(arguments: [
        (#"{"accept":[]}"#, "secrets.peerCredential"),
        // The old shape, with usable tokens of other nodes, is refused.
        (#"{"peerToken":"test-peer-token-000001","tokens":{"peer":["test-peer-token-000001"]}}"#, "secrets.peerToken"),
        (#"{"peerCredential":"test-peer-token-000001","tokens":{}}"#, "secrets.tokens"),
        (#"{"peerCredential":"test-peer-token-000001","accept":{}}"#, "secrets.accept"),
        (#"{"peerCredential":"test-peer-token-000001","accept":["x"]}"#, "secrets.accept[0]"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"node":"larsmo","sha256":"00"}]}"#, "secrets.accept[0].role"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"auditor","sha256":"00"}]}"#, "secrets.accept[0].role"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"peer","sha256":"00"}]}"#, "secrets.accept[0].node"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"peer","node":"Lars Mo","sha256":"00"}]}"#,
         "secrets.accept[0].node"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"peer","node":"larsmo","name":"x","sha256":"00"}]}"#,
         "secrets.accept[0].name"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"peer","node":"larsmo","municipality":440,"sha256":"00"}]}"#,
         "secrets.accept[0].municipality"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"office","sha256":"00"}]}"#, "secrets.accept[0].municipality"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"office","municipality":0,"sha256":"00"}]}"#,
         "secrets.accept[0].municipality"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"office","municipality":"598","sha256":"00"}]}"#,
         "secrets.accept[0].municipality"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"office","municipality":598,"node":"x","sha256":"00"}]}"#,
         "secrets.accept[0].node"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"coordinator","sha256":"00"}]}"#, "secrets.accept[0].name"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"admin","name":"","sha256":"00"}]}"#, "secrets.accept[0].name"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"scrape","sha256":"00"}]}"#, "secrets.accept[0].name"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"scrape","name":"P","node":"larsmo","sha256":"00"}]}"#,
         "secrets.accept[0].node"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"admin","name":"Operator"}]}"#, "secrets.accept[0].sha256"),
        (#"{"peerCredential":"test-peer-token-000001","accept":[{"role":"admin","name":"Operator","sha256":1}]}"#,
         "secrets.accept[0].sha256"),
        ("[]", "secrets"),
        ("{", "secretsFile"),
    ])
    func malformedFileNamesTheKey(_ text: String, key: String) throws {
        let error = try #require(try Self.loadError(text))
        #expect(error.key == key, "\(error)")
    }

    @Test func malformedFileNeverEchoesTokens() throws {
        let text = Self.file([#"{"role":"admin","name":"Operator","sha256":"\#(Token.admin)"}"#], peerCredential: "short-secret")
        let error = try #require(try Self.loadError(text))
        #expect(!error.description.contains("short-secret"))
        let second = try #require(try Self.loadError(Self.file([#"{"role":"admin","name":"Operator","sha256":"\#(Token.admin)"}"#])))
        #expect(!second.description.contains(Token.admin))
        #expect(!second.description.contains(Token.peer("jakobstad")))
    }

    // MARK: Against the manifest

    @Test func holdersMustBeMembers() throws {
        let manifest = try TestRegion.make().manifest
        try testSecrets().check(against: manifest)
        let stranger = Secrets(peerCredential: Token.peer("jakobstad"), accepted: [
            Secrets.Accepted(caller: .peer("larsmo"), token: Token.peer("larsmo")),
            Secrets.Accepted(caller: .peer("oravais"), token: "test-peer-token-oravais-001"),
        ])
        #expect(throws: ConfigError(key: "secrets.accept[1].node", reason: "oravais is not a member of region test-region")) {
            try stranger.check(against: manifest)
        }
        let office = Secrets(peerCredential: Token.peer("jakobstad"), accepted: [
            Secrets.Accepted(caller: .office(municipality: 905), token: "test-office-token-vaasa-01"),
        ])
        do {
            try office.check(against: manifest)
            Issue.record("an office credential of a non-member municipality passed")
        } catch {
            #expect(error.key == "secrets.accept[0].municipality")
            #expect(error.reason.contains("905"))
        }
    }

    // MARK: Holders from the Authorization header

    @Test(arguments: [
        (Token.peer("larsmo"), Caller.peer("larsmo")), (Token.peer("kronoby"), .peer("kronoby")),
        (Token.office, .office(municipality: 598)), (Token.larsmoOffice, .office(municipality: 440, name: "Test Person")),
        (Token.coordinator, .coordinator(name: "Test coordinator")), (Token.admin, .admin(name: "Test operator")),
        (Token.scrape, .scrape(name: "Test Prometheus")),
    ])
    func bearerTokenGivesItsHolder(token: String, holder: Caller) {
        #expect(testSecrets().caller(forAuthorization: "Bearer \(token)") == holder)
    }

    @Test(arguments: [
        nil, "", "Bearer", "Bearer ", "Bearer \(Token.unknown)", "Basic b2ZmaWNlOnNlY3JldA==", "Basic \(Token.office)",
        "bearer \(Token.office)", "Bearer  \(Token.office)", "Bearer \(Token.office) ", "Bearer \(Token.office.dropLast())",
        "Bearer \(Token.office)x", Token.office, "Token \(Token.office)",
        "Bearer \(SecretsTests.sha(Token.office))",
    ] as [String?])
    func anythingButAnExactBearerTokenGivesNoHolder(header: String?) {
        #expect(testSecrets().caller(forAuthorization: header) == nil)
    }

    @Test func nothingAcceptedMeansNoHolder() {
        let secrets = Secrets(peerCredential: Token.peer("jakobstad"), accepted: [])
        #expect(secrets.caller(forAuthorization: "Bearer \(Token.peer("jakobstad"))") == nil)
    }

    /// The token is hashed before comparison: padding it with zero bytes
    /// (lengths differing by 256) matches nothing.
    @Test func paddedTokenMatchesNothing() {
        let header = "Bearer " + Token.office + String(repeating: "\u{0}", count: 256)
        #expect(testSecrets().caller(forAuthorization: header) == nil)
    }

    @Test func callerDescriptionNamesNoPerson() {
        #expect(Caller.office(municipality: 440, name: "Test Person").description == "office 440")
        #expect(Caller.admin(name: "Test operator").description == "admin")
        #expect(Caller.scrape(name: "Test Prometheus").description == "scrape")
        #expect(Caller.peer("larsmo").description == "peer larsmo")
    }
}

/// Who may call what, through the real router: 401 without a known token
/// (with `WWW-Authenticate`), 403 for a role the endpoint does not open,
/// otherwise the endpoint's own answer.
@Suite struct AuthorizationTests {
    struct Endpoint: CustomStringConvertible {
        let method: HTTPMethod
        /// `{id}` stands for an existing client's id.
        let target: String
        /// Nil: open to everyone, no token needed.
        let roles: Set<Role>?
        /// The status an allowed caller gets.
        let success: HTTPStatus
        var json: String?
        var body: [UInt8]?
        var headers: HTTPHeaders = [:]

        var description: String { "\(method) \(target)" }
    }

    /// In the order they are called: the DELETE comes last so that the
    /// record exists for every call before it.
    static func endpoints(_ node: TestNode) -> [Endpoint] {
        let emptyBatch = WireFormat.encode(ChangeBatch(incarnation: "test-incarnation", nextPosition: 0, changes: []))
        return [
            Endpoint(method: .post, target: "/v1/clients", roles: [.office], success: .created, json: SampleJSON.client(number: 2)),
            Endpoint(method: .get, target: "/v1/clients", roles: [.office, .coordinator], success: .ok),
            Endpoint(method: .get, target: "/v1/clients/{id}", roles: [.office, .coordinator], success: .ok),
            Endpoint(method: .patch, target: "/v1/clients/{id}", roles: [.office], success: .ok, json: #"{"status":"assessed"}"#),
            Endpoint(method: .get, target: "/v1/conflicts", roles: [.office, .coordinator, .admin], success: .ok),
            Endpoint(method: .get, target: "/v1/status", roles: [.coordinator, .admin], success: .ok),
            Endpoint(method: .get, target: "/metrics", roles: [.admin, .scrape], success: .ok),
            Endpoint(method: .post, target: "/v1/sync/pull", roles: [.peer], success: .ok, json: node.pullBody()),
            Endpoint(method: .post, target: "/v1/sync/push", roles: [.peer], success: .ok, body: emptyBatch,
                     headers: node.pushHeaders(peer: "larsmo")),
            Endpoint(method: .post, target: "/v1/sync/notify", roles: [.peer], success: .accepted, json: #"{"node":"larsmo"}"#),
            Endpoint(method: .get, target: "/v1/sync/state?node=larsmo", roles: [.peer], success: .ok),
            Endpoint(method: .get, target: "/healthz", roles: nil, success: .ok),
            Endpoint(method: .get, target: "/v1/directory", roles: nil, success: .ok),
            Endpoint(method: .get, target: "/directory", roles: nil, success: .ok),
            // Allowed callers reach the handler: no conflict is open on that field, 404.
            Endpoint(method: .post, target: "/v1/conflicts/clients:{id}:status/resolve", roles: [.office, .coordinator],
                     success: .notFound, json: #"{"value":"closed"}"#),
            Endpoint(method: .delete, target: "/v1/clients/{id}", roles: [.office], success: .noContent),
        ]
    }

    @Test(arguments: TestCaller.allCases)
    func accessMatrix(caller: TestCaller) async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        for endpoint in Self.endpoints(node) {
            let target = endpoint.target.replacingOccurrences(of: "{id}", with: id.lowercased)
            let response = try await node.send(endpoint.method, target, as: caller, json: endpoint.json, body: endpoint.body,
                                               headers: endpoint.headers)
            guard let roles = endpoint.roles else {
                #expect(response.status == endpoint.success, "\(caller) \(endpoint)")
                continue
            }
            guard let role = caller.role else {
                #expect(response.status == .unauthorized, "\(caller) \(endpoint)")
                #expect(response.headers["WWW-Authenticate"] == "Bearer", "\(caller) \(endpoint)")
                #expect(response.hasErrorShape, "\(caller) \(endpoint)")
                #expect(response.errorCode == "unauthorized", "\(caller) \(endpoint)")
                continue
            }
            if roles.contains(role) {
                #expect(response.status == endpoint.success, "\(caller) \(endpoint): \(response.status.code) \(response.errorCode ?? "")")
            } else {
                #expect(response.status == .forbidden, "\(caller) \(endpoint)")
                #expect(response.hasErrorShape, "\(caller) \(endpoint)")
                #expect(response.errorCode == "forbidden", "\(caller) \(endpoint)")
                #expect(response.errorMessage?.contains(role.rawValue) == true, "\(caller) \(endpoint)")
                #expect(response.headers["WWW-Authenticate"] == nil, "\(caller) \(endpoint)")
            }
        }
        // A refused write changed nothing; the office's went through.
        let log = await node.syncState.logPosition
        #expect(log == (caller == .office ? 4 : 1), "\(caller)")
    }

    @Test(arguments: [
        nil, "", "Bearer", "Bearer \(Token.unknown)", "Basic b2ZmaWNlOnNlY3JldA==", "bearer \(Token.office)",
    ] as [String?])
    func malformedOrUnknownAuthorizationIs401(header: String?) async throws {
        let node = try TestNode()
        for target in ["/v1/clients", "/v1/status", "/v1/conflicts", "/v1/sync/state?node=larsmo"] {
            let response = try await node.send(.get, target, authorization: header)
            #expect(response.status == .unauthorized, "\(target)")
            #expect(response.headers["WWW-Authenticate"] == "Bearer")
            #expect(response.headers["Content-Type"] == "application/json")
            #expect(response.errorCode == "unauthorized")
        }
        #expect(try await node.send(.get, "/healthz", authorization: header).status == .ok)
    }

    @Test func everyRecordKindAndActionIsGuarded() async throws {
        let node = try TestNode()
        let id = UUID().lowercased
        for kind in ["services", "clients", "placements"] {
            for (method, target) in [(HTTPMethod.post, "/v1/\(kind)"), (.patch, "/v1/\(kind)/\(id)"), (.delete, "/v1/\(kind)/\(id)"),
                                     (.post, "/v1/\(kind)/\(id)/restore"), (.post, "/v1/\(kind)/\(id)/erase")] {
                for caller in [TestCaller.coordinator, .admin, .peer] {
                    let response = try await node.send(method, target, as: caller, json: "{}")
                    #expect(response.status == .forbidden, "\(caller) \(method) \(target)")
                }
                #expect(try await node.send(method, target, as: .none, json: "{}").status == .unauthorized)
            }
            #expect(try await node.send(.get, "/v1/\(kind)", as: .admin).status == .forbidden)
            #expect(try await node.send(.get, "/v1/\(kind)", as: .coordinator).status == .ok)
        }
    }
}
