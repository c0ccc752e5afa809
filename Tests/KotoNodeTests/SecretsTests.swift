import Foundation
import KotoCore
import KotoHTTP
import Testing
@testable import KotoNode

/// The secrets file (roles, peer token, permissions) and bearer-token checks.
@Suite struct SecretsTests {
    static let fileText = """
        {
          "peerToken": "\(Token.peer)",
          "tokens": {
            "peer": ["\(Token.peer)"],
            "office": ["\(Token.office)", "test-office-token-000000002"],
            "coordinator": ["\(Token.coordinator)"],
            "admin": ["\(Token.admin)"]
          }
        }
        """

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

    @Test func loadsRolesAndPeerToken() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("secrets.json", Self.fileText, permissions: 0o600)
        let secrets = try Secrets.load(path: path)
        #expect(secrets.peerToken == Token.peer)
        #expect(secrets.tokens[.peer] == [Token.peer])
        #expect(secrets.tokens[.office] == [Token.office, "test-office-token-000000002"])
        #expect(secrets.tokens[.coordinator] == [Token.coordinator])
        #expect(secrets.tokens[.admin] == [Token.admin])
        #expect(secrets.role(forAuthorization: "Bearer test-office-token-000000002") == .office)
    }

    @Test(arguments: [0o600, 0o400, 0o640])
    func privateFileIsAccepted(permissions: Int) throws {
        #expect(try Self.loadError(Self.fileText, permissions: permissions) == nil)
    }

    @Test(arguments: [0o644, 0o604, 0o602, 0o666])
    func fileOthersCanReadOrWriteIsRefused(permissions: Int) throws {
        let error = try #require(try Self.loadError(Self.fileText, permissions: permissions))
        #expect(error.key == "secretsFile")
        #expect(error.reason.contains("readable or writable by others"))
        #expect(error.reason.contains("chmod o-rw"))
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

    @Test func shortPeerTokenIsRefused() throws {
        let text = Self.fileText.replacingOccurrences(of: "\"peerToken\": \"\(Token.peer)\"", with: "\"peerToken\": \"short\"")
        let error = try #require(try Self.loadError(text))
        #expect(error.key == "secrets.peerToken")
    }

    @Test func shortTokenIsRefused() throws {
        let text = #"{"peerToken":"\#(Token.peer)","tokens":{"office":["\#(Token.office)","short-token-15c"]}}"#
        let error = try #require(try Self.loadError(text))
        #expect(error.key == "secrets.tokens.office[1]")
        #expect(error.reason.contains("16"))
    }

    @Test func sixteenCharacterTokenIsEnough() throws {
        let text = #"{"peerToken":"\#(Token.peer)","tokens":{"admin":["0123456789abcdef"]}}"#
        #expect(try Self.loadError(text) == nil)
    }

    @Test(arguments: [
        (#"{"tokens":{}}"#, "secrets.peerToken"),
        (#"{"peerToken":"\#(Token.peer)","tokens":{"auditor":["\#(Token.admin)"]}}"#, "secrets.tokens.auditor"),
        (#"{"peerToken":"\#(Token.peer)","token":{}}"#, "secrets.token"),
        (#"{"peerToken":"\#(Token.peer)","tokens":{"admin":"\#(Token.admin)"}}"#, "secrets.tokens.admin"),
        (#"{"peerToken":"\#(Token.peer)","tokens":{"admin":[12345678901234567]}}"#, "secrets.tokens.admin[0]"),
        ("[]", "secrets"),
        ("{", "secretsFile"),
    ])
    func malformedFileNamesTheKey(_ text: String, key: String) throws {
        let error = try #require(try Self.loadError(text))
        #expect(error.key == key, "\(error)")
    }

    @Test func malformedFileNeverEchoesTokens() throws {
        let text = #"{"peerToken":"\#(Token.peer)","tokens":{"office":["\#(Token.office)","short-secret"]}}"#
        let error = try #require(try Self.loadError(text))
        #expect(!error.description.contains("short-secret"))
        #expect(!error.description.contains(Token.office))
    }

    // MARK: Roles from the Authorization header

    @Test(arguments: Role.allCases)
    func bearerTokenOfEachRoleGivesThatRole(role: Role) {
        #expect(testSecrets.role(forAuthorization: "Bearer \(Token.of(role))") == role)
    }

    @Test(arguments: [
        nil, "", "Bearer", "Bearer ", "Bearer \(Token.unknown)", "Basic b2ZmaWNlOnNlY3JldA==", "Basic \(Token.office)",
        "bearer \(Token.office)", "Bearer  \(Token.office)", "Bearer \(Token.office) ", "Bearer \(Token.office.dropLast())",
        "Bearer \(Token.office)x", Token.office, "Token \(Token.office)",
    ] as [String?])
    func anythingButAnExactBearerTokenGivesNoRole(header: String?) {
        #expect(testSecrets.role(forAuthorization: header) == nil)
    }

    @Test func tokenListedUnderTwoRolesGetsTheFirstRoleInDeclarationOrder() {
        let shared = "test-shared-token-000000001"
        let secrets = Secrets(tokens: [.admin: [shared], .office: [shared]], peerToken: Token.peer)
        #expect(secrets.role(forAuthorization: "Bearer \(shared)") == .office)
    }

    @Test func noTokensMeansNoRole() {
        let secrets = Secrets(tokens: [:], peerToken: Token.peer)
        #expect(secrets.role(forAuthorization: "Bearer \(Token.peer)") == nil)
    }

    // MARK: Constant-time comparison

    @Test func constantTimeEqualsCompares() {
        func equal(_ a: String, _ b: String) -> Bool { Secrets.constantTimeEquals(Array(a.utf8), Array(b.utf8)) }
        #expect(equal("", ""))
        #expect(equal(Token.office, Token.office))
        #expect(!equal(Token.office, Token.admin))
        #expect(!equal("abcdefghijklmnop", "abcdefghijklmnoq"))
        #expect(!equal("xbcdefghijklmnop", "abcdefghijklmnop"))
        // Prefixes and extensions, both ways round.
        #expect(!equal("abcdefgh", "abcdefghijklmnop"))
        #expect(!equal("abcdefghijklmnop", "abcdefgh"))
        #expect(!equal("", "a"))
        #expect(!equal("a", ""))
        #expect(!equal("abc", "abc\u{0}"))
        #expect(!equal("abc\u{0}", "abc"))
    }

    /// Lengths are folded into a `UInt8` by truncation, so two inputs whose
    /// lengths differ by a multiple of 256 compare only on the shorter one's
    /// bytes plus zero padding.
    @Test func constantTimeEqualsWithLengthsDifferingBy256() {
        let token = Array(Token.office.utf8)
        let padded = token + [UInt8](repeating: 0, count: 256)
        // Booleans first, so a failure does not print the token bytes.
        let paddedEqualsToken = Secrets.constantTimeEquals(padded, token)
        let tokenEqualsPadded = Secrets.constantTimeEquals(token, padded)
        let emptyEqualsZeros = Secrets.constantTimeEquals([], [UInt8](repeating: 0, count: 256))
        let paddedHeaderRole = testSecrets.role(forAuthorization: "Bearer " + Token.office + String(repeating: "\u{0}", count: 256))
        #expect(!paddedEqualsToken)
        #expect(!tokenEqualsPadded)
        #expect(!emptyEqualsZeros)
        #expect(paddedHeaderRole == nil)
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
            Endpoint(method: .post, target: "/v1/sync/pull", roles: [.peer], success: .ok, json: node.pullBody()),
            Endpoint(method: .post, target: "/v1/sync/push", roles: [.peer], success: .ok, body: emptyBatch,
                     headers: node.pushHeaders(peer: "larsmo")),
            Endpoint(method: .post, target: "/v1/sync/notify", roles: [.peer], success: .accepted, json: #"{"node":"larsmo"}"#),
            Endpoint(method: .get, target: "/v1/sync/state?node=larsmo", roles: [.peer], success: .ok),
            Endpoint(method: .get, target: "/healthz", roles: nil, success: .ok),
            Endpoint(method: .delete, target: "/v1/clients/{id}", roles: [.office], success: .noContent),
        ]
    }

    @Test(arguments: Caller.allCases)
    func accessMatrix(caller: Caller) async throws {
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
                for caller in [Caller.coordinator, .admin, .peer] {
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
