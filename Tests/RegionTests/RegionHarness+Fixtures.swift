import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

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
