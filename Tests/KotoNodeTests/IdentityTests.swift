import Foundation
import Glibc
import KotoCore
import KotoCrypto
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// Credentials bound to their holders at the sync endpoints, issuing
/// credentials and keys, and a node refusing to start outside its region.
@Suite struct CredentialBindingTests {
    /// Each sync endpoint, called with `caller`'s credential while claiming to be `claimed`.
    static func requests(_ node: TestNode, claiming claimed: String) -> [(String, HTTPMethod, String, String?, [UInt8]?, HTTPHeaders)] {
        let emptyBatch = WireFormat.encode(ChangeBatch(incarnation: "test-incarnation", nextPosition: 0, changes: []))
        return [
            ("pull", .post, "/v1/sync/pull", node.pullBody(peer: claimed), nil, [:]),
            ("push", .post, "/v1/sync/push", nil, emptyBatch, node.pushHeaders(peer: claimed)),
            ("notify", .post, "/v1/sync/notify", #"{"node":"\#(claimed)"}"#, nil, [:]),
            ("state", .get, "/v1/sync/state?node=\(claimed)", nil, nil, [:]),
        ]
    }

    @Test func kronobysCredentialCannotActAsLarsmo() async throws {
        let node = try TestNode()
        for (name, method, target, json, body, headers) in Self.requests(node, claiming: "larsmo") {
            let response = try await node.send(method, target, as: .peerOf("kronoby"), json: json, body: body, headers: headers)
            #expect(response.status == .forbidden, "\(name)")
            #expect(response.errorCode == "credential_mismatch", "\(name)")
            #expect(response.errorMessage == "the credential belongs to kronoby, not larsmo", "\(name)")
            #expect(response.hasErrorShape, "\(name)")
        }
        // Nothing was recorded against larsmo, and larsmo's own credential works.
        #expect(try await node.replica.peerCursor("larsmo") == nil)
        for (name, method, target, json, body, headers) in Self.requests(node, claiming: "larsmo") {
            let response = try await node.send(method, target, as: .peerOf("larsmo"), json: json, body: body, headers: headers)
            #expect(response.status.code < 300, "\(name): \(response.status.code) \(response.errorCode ?? "")")
        }
    }

    /// A mismatched credential must not even reach the version check, which
    /// records a failure against the claimed peer.
    @Test func mismatchedCredentialRecordsNothingAgainstTheClaimedPeer() async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/sync/pull", as: .peerOf("kronoby"),
                                           json: node.pullBody(peer: "larsmo", schemaVersion: 99))
        #expect(response.errorCode == "credential_mismatch")
        #expect(try await node.replica.peerCursor("larsmo") == nil)
    }

    @Test func claimingANodeOutsideTheRegionIs403() async throws {
        let node = try TestNode()
        for (name, method, target, json, body, headers) in Self.requests(node, claiming: "oravais") {
            let response = try await node.send(method, target, as: .peerOf("kronoby"), json: json, body: body, headers: headers)
            #expect(response.status == .forbidden, "\(name)")
            #expect(response.errorCode == "not_a_member", "\(name)")
            #expect(response.errorMessage?.contains("oravais is not a member of region test-region") == true, "\(name)")
        }
    }

    /// Even a credential genuinely held by a non-member (a secrets file that
    /// was never checked against the manifest) opens nothing.
    @Test func aNonMembersOwnCredentialIs403() async throws {
        let node = try TestNode()
        let secrets = Secrets(peerCredential: Token.peer("jakobstad"),
                              accepted: [Secrets.Accepted(caller: .peer("oravais"), token: "test-peer-token-oravais-001")])
        let api = API(config: node.config, replica: node.replica, scheduler: node.scheduler, secrets: secrets, manifest: node.manifest,
                      access: node.access)
        let request = try HTTPRequest(method: .post, target: "/v1/sync/notify",
                                      headers: ["Authorization": "Bearer test-peer-token-oravais-001", "Content-Type": "application/json"],
                                      body: Array(#"{"node":"oravais"}"#.utf8))
        let response = await api.router().handle(request)
        #expect(response.status == .forbidden)
        #expect(response.errorCode == "not_a_member")
    }

    @Test(arguments: [nil, "Bearer \(Token.unknown)", "Bearer \(Token.peer("jakobstad"))", "Bearer \(Token.peer("oravais"))"] as [String?])
    func unknownTokenAtASyncEndpointIs401(authorization: String?) async throws {
        let node = try TestNode()
        for (name, method, target, json, body, headers) in Self.requests(node, claiming: "larsmo") {
            var all = headers
            all["Authorization"] = authorization
            if json != nil { all["Content-Type"] = "application/json" }
            let request = try HTTPRequest(method: method, target: target, headers: all, body: body ?? json.map { Array($0.utf8) } ?? [])
            let response = await node.router.handle(request)
            #expect(response.status == .unauthorized, "\(name)")
            #expect(response.errorCode == "unauthorized", "\(name)")
        }
    }

    @Test func staffCredentialsAtSyncEndpointsAreRefusedByRole() async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/sync/pull", as: .office, json: node.pullBody())
        #expect(response.status == .forbidden)
        #expect(response.errorCode == "forbidden")
    }

    /// Handlers learn who asks: the office credential carries its municipality.
    @Test func handlersReceiveTheHolder() async throws {
        let node = try TestNode()
        var router = Router()
        router.get("/whoami", node.api.endpoint([.office, .coordinator, .admin, .peer]) { _, caller in
            HTTPResponse(status: .ok, body: Array(caller.acceptEntry(sha256: "-").serialized.utf8))
        })
        func whoami(_ token: String) async throws -> JSONValue {
            try await router.handle(try HTTPRequest(method: .get, target: "/whoami", headers: ["Authorization": "Bearer \(token)"])).json
        }
        let larsmoOffice = try await whoami(Token.larsmoOffice)
        #expect(larsmoOffice["role"] == .string("office"))
        #expect(larsmoOffice["municipality"] == .number(440))
        #expect(larsmoOffice["name"] == .string("Test Person"))
        #expect(try await whoami(Token.office)["municipality"] == .number(598))
        #expect(try await whoami(Token.peer("pedersore"))["node"] == .string("pedersore"))
        #expect(try await whoami(Token.coordinator)["name"] == .string("Test coordinator"))
    }
}

@Suite struct IssuingTests {
    @Test(arguments: [Caller.peer("nykarleby"), .office(municipality: 598), .office(municipality: 440, name: "Demo office Larsmo"),
                      .coordinator(name: "Regional coordinator"), .admin(name: "Operator")])
    func issuedCredentialIsAcceptedAsItsHolder(holder: Caller) throws {
        let issued = IssuedCredential.issue(for: holder)
        // ks_ and 32 bytes in base64url without padding.
        #expect(issued.token.hasPrefix("ks_"))
        #expect(issued.token.utf8.count == 3 + 43)
        #expect(issued.token.dropFirst(3).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        // The printed digest is the SHA-256 of the printed token.
        #expect(issued.digest == SHA256.hex(SHA256.hash(Array(issued.token.utf8))))
        let entry = try JSONValue.parse(issued.acceptEntry)
        #expect(entry["sha256"] == .string(issued.digest))
        #expect(entry["role"] == .string(holder.role.rawValue))
        #expect(!issued.acceptEntry.contains(issued.token))
        // Pasted into a secrets file, it opens exactly for its holder.
        let file = #"{"peerCredential":"\#(Token.peer("jakobstad"))","accept":[\#(issued.acceptEntry)]}"#
        let secrets = try Secrets.parse(Array(file.utf8))
        #expect(secrets.caller(forAuthorization: "Bearer \(issued.token)") == holder)
        #expect(issued.instructions.contains(issued.token))
        #expect(issued.instructions.contains(issued.acceptEntry))
        #expect(issued.instructions.contains("peerCredential") == (holder.role == .peer))
    }

    @Test func everyIssuedTokenIsNew() {
        let tokens = (0..<50).map { _ in IssuedCredential.issue(for: .admin(name: "Operator")).token }
        #expect(Set(tokens).count == 50)
    }

    @Test(arguments: [
        (["--role", "peer", "--node", "nykarleby"], Caller.peer("nykarleby")),
        (["--node", "larsmo", "--role", "peer"], .peer("larsmo")),
        (["--role", "office", "--municipality", "598"], .office(municipality: 598)),
        (["--role", "office", "--municipality", "440", "--name", "Anna Test"], .office(municipality: 440, name: "Anna Test")),
        (["--role", "coordinator", "--name", "Regional coordinator"], .coordinator(name: "Regional coordinator")),
        (["--role", "admin", "--name", "Operator"], .admin(name: "Operator")),
        (["--role", "scrape", "--name", "Prometheus"], .scrape(name: "Prometheus")),
    ])
    func credentialArgumentsNameTheHolder(arguments: [String], holder: Caller) throws {
        #expect(try Commands.parseCredentialHolder(arguments) == holder)
    }

    @Test(arguments: [
        ([], "--role"),
        (["--role"], "--role needs a value"),
        (["--role", "auditor"], "--role must be one of"),
        (["--role", "peer"], "--node"),
        (["--role", "peer", "--node", "Lars Mo"], "--node must be"),
        (["--role", "peer", "--node", "larsmo", "--name", "x"], "--name does not apply to --role peer"),
        (["--role", "office"], "--municipality"),
        (["--role", "office", "--municipality", "0"], "1 to 999"),
        (["--role", "office", "--municipality", "Jakobstad"], "1 to 999"),
        (["--role", "office", "--municipality", "598", "--node", "jakobstad"], "--node does not apply"),
        (["--role", "coordinator"], "--name"),
        (["--role", "scrape"], "--role scrape needs --name"),
        (["--role", "scrape", "--name", "P", "--node", "jakobstad"], "--node does not apply to --role scrape"),
        (["--role", "admin", "--name", " "], "--name must not be empty"),
        (["--role", "admin", "--name", "A", "--name", "B"], "given twice"),
        (["--role", "admin", "--name", "A", "--verbose"], "unknown argument --verbose"),
        (["--role", "peer", "--node"], "--node needs a value"),
    ])
    func badCredentialArgumentsSayWhy(arguments: [String], message: String) {
        do {
            _ = try Commands.parseCredentialHolder(arguments)
            Issue.record("\(arguments) parsed")
        } catch {
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func keygenWritesAPrivateKeyOnceAndPrintsItsManifestLine() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("node.key")
        #expect(try Commands.parseKeygen(["--out", path]) == path)
        let line = try Commands.keygen(out: path)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        let key = try SigningKey.load(path: path)
        #expect(line == #""publicKeys": ["\#(key.publicKey.text)"]"#)
        // The line drops into a manifest member as it is.
        let manifest = try RegionManifest.parse(Array(
            #"{"region":"r","members":[{"node":"jakobstad","municipality":598,"nameFi":"P","nameSv":"J",\#(line)}]}"#.utf8))
        #expect(manifest.member("jakobstad")?.publicKeys == [key.publicKey])
        // A second run never overwrites the key.
        #expect(throws: CryptoError.self) { try Commands.keygen(out: path) }
        #expect(try SigningKey.load(path: path).publicKey == key.publicKey)
    }

    @Test(arguments: [[], ["--out"], ["--path", "x"], ["--out", "a", "b"], ["--out", "--force"]])
    func badKeygenArgumentsAreRefused(arguments: [String]) {
        #expect(throws: UsageError.self) { try Commands.parseKeygen(arguments) }
    }
}

/// A node refuses to start when it, a peer or its key is not the region's.
@Suite struct NodeIdentityTests {
    static func start(_ config: NodeConfig, secrets: Secrets) -> ConfigError? {
        Log.isEnabled = false
        var config = config
        config.port = 0
        config.synchronous = .off
        do {
            let node = try Node(config: config, secrets: secrets)
            node.shutdown()
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func aNodeWithItsOwnKeyStartsWithTheManifestsRegistry() throws {
        let directory = try TemporaryDirectory()
        let config = try TestRegion.writeNode("kronoby", in: directory)
        var running = config
        running.port = 0
        running.synchronous = .off
        let node = try Node(config: running, secrets: testSecrets(for: "kronoby"))
        defer { node.shutdown() }
        #expect(node.manifest.region == "test-region")
        #expect(node.manifest.member("kronoby")?.publicKeys == [node.signingKey.publicKey])
    }

    @Test func anotherNodesKeyRefusesTheStart() throws {
        let directory = try TemporaryDirectory()
        let config = try TestRegion.writeNode("kronoby", in: directory, keyOf: "larsmo")
        let error = try #require(Self.start(config, secrets: testSecrets(for: "kronoby")))
        #expect(error.key == "keyFile")
        #expect(error.reason.contains("is not among kronoby's public keys"))
        #expect(error.reason.contains(config.keyFile))
        // Nothing was created.
        #expect(!FileManager.default.fileExists(atPath: config.databasePath))
    }

    @Test func aKeyOthersCanReadRefusesTheStart() throws {
        let directory = try TemporaryDirectory()
        let config = try TestRegion.writeNode("kronoby", in: directory)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: config.keyFile)
        #expect(Self.start(config, secrets: testSecrets(for: "kronoby"))?.key == "keyFile")
    }

    @Test func aMissingKeyOrManifestRefusesTheStart() throws {
        let directory = try TemporaryDirectory()
        var config = try TestRegion.writeNode("kronoby", in: directory)
        config.keyFile = directory.path("absent.key")
        #expect(Self.start(config, secrets: testSecrets(for: "kronoby"))?.key == "keyFile")
        config.regionManifest = directory.path("absent.json")
        #expect(Self.start(config, secrets: testSecrets(for: "kronoby"))?.key == "regionManifest")
    }

    @Test func aNodeOutsideTheManifestRefusesToStart() throws {
        let directory = try TemporaryDirectory()
        var config = try TestRegion.writeNode("kronoby", in: directory)
        config.node = "oravais"
        let error = try #require(Self.start(config, secrets: testSecrets(for: "kronoby")))
        #expect(error.key == "node")
        #expect(error.reason.contains("oravais is not a member"))
    }

    @Test func aPeerOrHolderOutsideTheManifestRefusesTheStart() throws {
        let directory = try TemporaryDirectory()
        var config = try TestRegion.writeNode("kronoby", in: directory)
        config.peers = [PeerConfig(node: "larsmo", url: nil, mode: .passive), PeerConfig(node: "oravais", url: nil, mode: .passive)]
        #expect(Self.start(config, secrets: testSecrets(for: "kronoby"))?.key == "peers[1].node")
        config.peers = []
        let secrets = Secrets(peerCredential: Token.peer("kronoby"),
                              accepted: [Secrets.Accepted(caller: .peer("oravais"), token: "test-peer-token-oravais-001")])
        #expect(Self.start(config, secrets: secrets)?.key == "secrets.accept[0].node")
    }
}

/// The committed demo identity: the manifest, keys, per-node secrets and
/// the plain tokens the demo script and region tests use agree.
@Suite struct DemoIdentityTests {
    static let demo = packageRoot.appendingPathComponent("Config/demo")

    static func credentials() throws -> JSONValue {
        try JSONValue.parse(Array(try Data(contentsOf: demo.appendingPathComponent("credentials.json"))))
    }

    static func secrets(_ node: String) throws -> Secrets {
        try Secrets.parse(Array(try Data(contentsOf: demo.appendingPathComponent("secrets/\(node).json"))))
    }

    @Test(arguments: ConfigTests.offices)
    func demoNodeAcceptsTheOtherOfficesAndItsStaff(office: String) throws {
        let manifest = try RegionManifest.load(path: Self.demo.appendingPathComponent("region.json").path)
        let config = try NodeConfig.load(path: Self.demo.appendingPathComponent("\(office).json").path)
        try config.check(against: manifest)
        let secrets = try Self.secrets(office)
        try secrets.check(against: manifest)
        let credentials = try Self.credentials()
        #expect(secrets.peerCredential == credentials["peers"]?[office]?.stringValue)
        for other in ConfigTests.offices {
            let token = try #require(credentials["peers"]?[other]?.stringValue)
            let holder = secrets.caller(forAuthorization: "Bearer \(token)")
            #expect(holder == (other == office ? nil : Caller.peer(other)), "\(office) accepting \(other)")
        }
        for member in manifest.members {
            let token = try #require(credentials["offices"]?[String(member.municipality.code)]?.stringValue)
            let holder = try #require(secrets.caller(forAuthorization: "Bearer \(token)"))
            #expect(holder.role == .office)
            #expect(holder.municipality == member.municipality.code)
        }
        #expect(secrets.caller(forAuthorization: "Bearer \(try #require(credentials["coordinator"]?.stringValue))")?.role == .coordinator)
        #expect(secrets.caller(forAuthorization: "Bearer \(try #require(credentials["admin"]?.stringValue))")?.role == .admin)
        #expect(secrets.caller(forAuthorization: "Bearer \(try #require(credentials["scrape"]?.stringValue))")?.role == .scrape)
    }

    @Test func demoPeerCredentialsAreDistinct() throws {
        let peers = try #require(try Self.credentials()["peers"]?.objectMembers)
        #expect(Set(peers.map(\.0)) == Set(ConfigTests.offices))
        #expect(Set(peers.compactMap { $0.1.stringValue }).count == ConfigTests.offices.count)
    }

    /// Git does not keep the mode, so the key is copied to a 0600 file before loading.
    @Test(arguments: ConfigTests.offices)
    func demoKeyIsTheOneTheManifestLists(office: String) throws {
        let manifest = try RegionManifest.load(path: Self.demo.appendingPathComponent("region.json").path)
        let directory = try TemporaryDirectory()
        let path = directory.path("\(office).key")
        try FileManager.default.copyItem(atPath: Self.demo.appendingPathComponent("keys/\(office).key").path, toPath: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let key = try SigningKey.load(path: path)
        #expect(manifest.member(office)?.publicKeys.contains(key.publicKey) == true)
    }
}
