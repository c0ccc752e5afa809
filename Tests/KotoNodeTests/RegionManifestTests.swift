import Foundation
import KotoCore
import KotoCrypto
import Testing
@testable import KotoNode

/// The region manifest: members, municipalities, public keys, and
/// refusals that name the key.
@Suite struct RegionManifestTests {
    static func parse(_ text: String) throws(ConfigError) -> RegionManifest {
        try RegionManifest.parse(Array(text.utf8))
    }

    static func error(_ text: String) -> ConfigError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    /// Two well-formed public keys nobody else uses.
    static let keys: [String] = (try? [SigningKey.generate().publicKey.text, SigningKey.generate().publicKey.text]) ?? []

    static func member(_ node: String = "jakobstad", code: String = "598", nameFi: String = #""Pietarsaari""#,
                       nameSv: String = #""Jakobstad""#, keys: String? = nil, extra: String = "") -> String {
        #"{"node":"\#(node)","municipality":\#(code),"nameFi":\#(nameFi),"nameSv":\#(nameSv),"publicKeys":\#(keys ?? #"["\#(Self.keys[0])"]"#)\#(extra)}"#
    }

    static let larsmo = #"{"node":"larsmo","municipality":440,"nameFi":"Luoto","nameSv":"Larsmo","publicKeys":["\#(keys[1])"]}"#

    static func manifest(_ members: [String], region: String = #""test-region""#) -> String {
        #"{"region":\#(region),"members":[\#(members.joined(separator: ","))]}"#
    }

    @Test func goodManifestParses() throws {
        let (expected, keys) = try TestRegion.make()
        let manifest = try Self.parse(TestRegion.manifestJSON(keys))
        #expect(manifest.region == "test-region")
        #expect(manifest.members.map(\.node) == ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"])
        #expect(manifest.members.map(\.municipality) == MunicipalityRegistry.ostrobothnianCoast.all)
        let larsmo = try #require(manifest.member("larsmo"))
        #expect(larsmo.municipality == Municipality(code: 440, slug: "larsmo", nameFi: "Luoto", nameSv: "Larsmo"))
        #expect(larsmo.publicKeys == [keys["larsmo"]!.publicKey])
        #expect(manifest.member("oravais") == nil)
        #expect(manifest.isMember("kronoby"))
        #expect(!manifest.isMember("oravais"))
        #expect(manifest.publicKeys == expected.publicKeys)
        #expect(manifest.publicKeys["kronoby"] == [keys["kronoby"]!.publicKey])
        // The registry validation uses: the members' municipalities, slug = node id.
        #expect(manifest.registry.all == manifest.members.map(\.municipality))
        #expect(manifest.registry.municipality(code: 893)?.slug == "nykarleby")
        #expect(manifest.registry.municipality(slug: "pedersore")?.nameFi == "Pedersören kunta")
        #expect(manifest.registry.municipality(code: 905) == nil)
    }

    @Test func aMemberMayListSeveralKeys() throws {
        let manifest = try Self.parse(Self.manifest([Self.member(keys: #"["\#(Self.keys[0])","\#(Self.keys[1])"]"#)]))
        #expect(manifest.member("jakobstad")?.publicKeys.map(\.text) == Self.keys)
    }

    @Test func aSmallerRegionHasASmallerRegistry() throws {
        let manifest = try Self.parse(Self.manifest([Self.member(), Self.larsmo]))
        #expect(manifest.registry.all.map(\.code) == [598, 440])
        #expect(manifest.registry.municipality(code: 893) == nil)
    }

    typealias Case = KeyErrorCase

    static let errorCases: [Case] = [
        Case(name: "unknown top-level key", json: #"{"region":"r","members":[],"version":1}"#, key: "manifest.version"),
        Case(name: "missing region", json: #"{"members":[\#(member())]}"#, key: "manifest.region"),
        Case(name: "invalid region id", json: manifest([member()], region: #""Jakobstad region""#), key: "manifest.region"),
        Case(name: "missing members", json: #"{"region":"r"}"#, key: "manifest.members"),
        Case(name: "members not an array", json: #"{"region":"r","members":{}}"#, key: "manifest.members"),
        Case(name: "no members", json: manifest([]), key: "manifest.members"),
        Case(name: "member not an object", json: manifest([#""jakobstad""#]), key: "manifest.members[0]"),
        Case(name: "unknown member key", json: manifest([member(extra: #","url":"http://x""#)]), key: "manifest.members[0].url"),
        Case(name: "missing node", json: manifest([#"{"municipality":598,"nameFi":"P","nameSv":"J","publicKeys":["\#(keys[0])"]}"#]),
             key: "manifest.members[0].node"),
        Case(name: "invalid node id", json: manifest([larsmo, member("Jakob stad")]), key: "manifest.members[1].node"),
        Case(name: "duplicate node", json: manifest([member("larsmo"), larsmo]), key: "manifest.members[1].node"),
        Case(name: "missing municipality",
             json: manifest([#"{"node":"jakobstad","nameFi":"P","nameSv":"J","publicKeys":["\#(keys[0])"]}"#]),
             key: "manifest.members[0].municipality"),
        Case(name: "municipality 0", json: manifest([member(code: "0")]), key: "manifest.members[0].municipality"),
        Case(name: "municipality 1000", json: manifest([member(code: "1000")]), key: "manifest.members[0].municipality"),
        Case(name: "municipality as a string", json: manifest([member(code: #""598""#)]), key: "manifest.members[0].municipality"),
        Case(name: "duplicate municipality", json: manifest([larsmo, member(code: "440")]), key: "manifest.members[1].municipality"),
        Case(name: "missing nameFi", json: manifest([#"{"node":"jakobstad","municipality":598,"nameSv":"J","publicKeys":["\#(keys[0])"]}"#]),
             key: "manifest.members[0].nameFi"),
        Case(name: "empty nameFi", json: manifest([member(nameFi: #""""#)]), key: "manifest.members[0].nameFi"),
        Case(name: "blank nameSv", json: manifest([member(nameSv: #""  ""#)]), key: "manifest.members[0].nameSv"),
        Case(name: "nameSv not a string", json: manifest([member(nameSv: "7")]), key: "manifest.members[0].nameSv"),
        Case(name: "missing publicKeys", json: manifest([#"{"node":"jakobstad","municipality":598,"nameFi":"P","nameSv":"J"}"#]),
             key: "manifest.members[0].publicKeys"),
        Case(name: "no public keys", json: manifest([member(keys: "[]")]), key: "manifest.members[0].publicKeys"),
        Case(name: "publicKeys not an array", json: manifest([member(keys: #""\#(keys[0])""#)]), key: "manifest.members[0].publicKeys"),
        Case(name: "public key not a string", json: manifest([member(keys: "[1]")]), key: "manifest.members[0].publicKeys[0]"),
        Case(name: "public key without its algorithm", json: manifest([member(keys: #"["\#(keys[0].dropFirst(8))"]"#)]),
             key: "manifest.members[0].publicKeys[0]"),
        Case(name: "public key of the wrong length", json: manifest([member(keys: #"["\#(keys[0])","ed25519:AAAA"]"#)]),
             key: "manifest.members[0].publicKeys[1]"),
        Case(name: "public key of another algorithm", json: manifest([member(keys: #"["rsa:\#(keys[0].dropFirst(8))"]"#)]),
             key: "manifest.members[0].publicKeys[0]"),
        Case(name: "key listed twice for one member", json: manifest([member(keys: #"["\#(keys[0])","\#(keys[0])"]"#)]),
             key: "manifest.members[0].publicKeys[1]"),
        Case(name: "key shared by two members",
             json: manifest([member(), #"{"node":"larsmo","municipality":440,"nameFi":"L","nameSv":"L","publicKeys":["\#(keys[1])","\#(keys[0])"]}"#]),
             key: "manifest.members[1].publicKeys[1]"),
        Case(name: "not JSON", json: #"{"region":"r","#, key: "regionManifest"),
        Case(name: "not an object", json: "[]", key: "manifest"),
    ]

    @Test(arguments: RegionManifestTests.errorCases)
    func refusalNamesTheKey(_ testCase: Case) {
        let error = Self.error(testCase.json)
        #expect(error?.key == testCase.key, "\(error.map(String.init(describing:)) ?? "parsed")")
        #expect(error?.reason.isEmpty == false)
    }

    @Test func sharedKeyNamesTheOtherMember() {
        let shared = Self.manifest([Self.member(), #"{"node":"larsmo","municipality":440,"nameFi":"L","nameSv":"L","publicKeys":["\#(Self.keys[0])"]}"#])
        #expect(Self.error(shared)?.reason.contains("jakobstad") == true)
        #expect(Self.error(Self.manifest([Self.member("larsmo"), Self.larsmo]))?.reason.contains("members[0]") == true)
    }

    @Test func missingFileIsRefusedNamingIt() {
        let path = "/nonexistent/kotosync-\(UUID().uuidString)/region.json"
        do {
            _ = try RegionManifest.load(path: path)
            Issue.record("a missing manifest loaded")
        } catch {
            #expect(error.key == "regionManifest")
            #expect(error.reason.contains(path))
        }
    }

    // MARK: The committed manifests

    @Test(arguments: ["Config/region.json", "Config/demo/region.json"])
    func committedManifestListsTheFiveOffices(path: String) throws {
        let manifest = try RegionManifest.load(path: packageRoot.appendingPathComponent(path).path)
        #expect(manifest.region == "jakobstad-region")
        #expect(manifest.members.map(\.municipality) == MunicipalityRegistry.ostrobothnianCoast.all)
        #expect(manifest.members.allSatisfy { $0.publicKeys.count == 1 })
    }

    @Test func productionAndDemoKeysDiffer() throws {
        let production = try RegionManifest.load(path: packageRoot.appendingPathComponent("Config/region.json").path)
        let demo = try RegionManifest.load(path: packageRoot.appendingPathComponent("Config/demo/region.json").path)
        let demoKeys = Set(demo.members.flatMap(\.publicKeys))
        #expect(production.members.flatMap(\.publicKeys).allSatisfy { !demoKeys.contains($0) })
    }
}
