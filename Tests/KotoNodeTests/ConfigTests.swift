import Foundation
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// `NodeConfig.parse` / `load`: every key, defaults, path resolution, and
/// errors that name the offending key.
@Suite struct ConfigTests {
    static let base = "/srv/kotosync/etc"

    /// The smallest valid config, with `extra` members appended.
    static func minimal(_ extra: String = "") -> String {
        #"{"node":"jakobstad","dataDirectory":"data","secretsFile":"secrets.json","regionManifest":"region.json","#
            + #""keyFile":"jakobstad.key""# + (extra.isEmpty ? "" : ",\(extra)") + "}"
    }

    static func parse(_ text: String, base: String = ConfigTests.base) throws(ConfigError) -> NodeConfig {
        try NodeConfig.parse(Array(text.utf8), baseDirectory: base)
    }

    /// The error parsing `text` throws, or nil when it parses.
    static func error(_ text: String) -> ConfigError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Valid configs

    @Test func fullConfigSetsEveryKey() throws {
        let text = """
            {
              "node": "jakobstad",
              "listen": {"host": "0.0.0.0", "port": 7443},
              "dataDirectory": "/var/lib/kotosync",
              "secretsFile": "/etc/kotosync/secrets.json",
              "regionManifest": "/etc/kotosync/region.json",
              "keyFile": "keys/jakobstad.key",
              "peers": [
                {"node": "nykarleby", "url": "https://nykarleby.example.invalid:7443/", "mode": "pull"},
                {"node": "kronoby", "url": "http://kronoby.example.invalid:7100", "mode": "push"},
                {"node": "larsmo", "mode": "passive"},
                {"node": "pedersore", "url": "http://pedersore.example.invalid"}
              ],
              "sync": {
                "intervalSeconds": 12,
                "batchSize": 250,
                "maxClockAheadSeconds": 90,
                "backoffInitialSeconds": 0.25,
                "backoffMaxSeconds": 45,
                "connectTimeoutSeconds": 2,
                "requestTimeoutSeconds": 20
              },
              "durability": "normal",
              "shutdownGraceSeconds": 4,
              "limits": {
                "maxHeaderBytes": 8192,
                "maxHeaderCount": 50,
                "maxBodyBytes": 2097152,
                "idleTimeoutSeconds": 15,
                "readTimeoutSeconds": 25,
                "writeTimeoutSeconds": 35,
                "maxConnections": 64
              },
              "tls": {"caBundle": "tls/ca.pem", "clientCertificate": "tls/node.pem", "clientKey": "tls/node.key"},
              "demoSeed": 2026
            }
            """
        let config = try Self.parse(text)
        #expect(config.node == "jakobstad")
        #expect(config.host == "0.0.0.0")
        #expect(config.port == 7443)
        #expect(config.dataDirectory == "/var/lib/kotosync")
        #expect(config.secretsFile == "/etc/kotosync/secrets.json")
        #expect(config.regionManifest == "/etc/kotosync/region.json")
        #expect(config.keyFile == "\(Self.base)/keys/jakobstad.key")
        #expect(config.databasePath == "/var/lib/kotosync/jakobstad.sqlite")
        #expect(config.peers == [
            PeerConfig(node: "nykarleby", url: "https://nykarleby.example.invalid:7443", mode: .pull),
            PeerConfig(node: "kronoby", url: "http://kronoby.example.invalid:7100", mode: .push),
            PeerConfig(node: "larsmo", url: nil, mode: .passive),
            PeerConfig(node: "pedersore", url: "http://pedersore.example.invalid", mode: .pull),
        ])
        #expect(config.syncInterval == .seconds(12))
        #expect(config.batchSize == 250)
        #expect(config.maxClockAhead == .seconds(90))
        #expect(config.backoffInitial == .milliseconds(250))
        #expect(config.backoffMax == .seconds(45))
        #expect(config.connectTimeout == .seconds(2))
        #expect(config.requestTimeout == .seconds(20))
        #expect(config.synchronous == .normal)
        #expect(config.shutdownGrace == .seconds(4))
        #expect(config.limits == HTTPServer.Limits(maxHeaderBytes: 8192, maxHeaderCount: 50, maxBodyBytes: 2_097_152,
                                                   idleTimeout: .seconds(15), requestTimeout: .seconds(25),
                                                   writeTimeout: .seconds(35), maxConnections: 64))
        #expect(config.tls == TLSConfig(caBundle: "\(Self.base)/tls/ca.pem", clientCertificate: "\(Self.base)/tls/node.pem",
                                        clientKey: "\(Self.base)/tls/node.key"))
        #expect(config.demoSeed == 2026)
        #expect(config.advertisedSchemaVersion == ReplicaStore.schemaVersion)
    }

    @Test func defaultsApplyToAMinimalConfig() throws {
        let config = try Self.parse(Self.minimal())
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 7100)
        #expect(config.peers.isEmpty)
        #expect(config.syncInterval == .seconds(30))
        #expect(config.batchSize == 1000)
        #expect(config.maxClockAhead == .seconds(300))
        #expect(config.backoffInitial == .seconds(1))
        #expect(config.backoffMax == .seconds(60))
        #expect(config.connectTimeout == .seconds(3))
        #expect(config.requestTimeout == .seconds(30))
        #expect(config.shutdownGrace == .seconds(10))
        #expect(config.synchronous == .full)
        #expect(config.limits == HTTPServer.Limits())
        #expect(config.tls == nil)
        #expect(config.demoSeed == nil)
    }

    @Test func partialSectionsKeepTheOtherDefaults() throws {
        let config = try Self.parse(Self.minimal(#""listen":{"port":7200},"sync":{"batchSize":10},"limits":{"maxConnections":3}"#))
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 7200)
        #expect(config.batchSize == 10)
        #expect(config.syncInterval == .seconds(30))
        #expect(config.limits.maxConnections == 3)
        #expect(config.limits.maxBodyBytes == HTTPServer.Limits().maxBodyBytes)
        #expect(config.limits.maxWorkers == HTTPServer.Limits().maxWorkers)
        let workers = try Self.parse(Self.minimal(#""limits":{"maxWorkers":7}"#))
        #expect(workers.limits.maxWorkers == 7)
        #expect(workers.limits.maxConnections == HTTPServer.Limits().maxConnections)
    }

    @Test func nullMembersMeanTheDefault() throws {
        let config = try Self.parse(Self.minimal(#""durability":null,"demoSeed":null,"listen":{"port":null}"#))
        #expect(config.synchronous == .full)
        #expect(config.demoSeed == nil)
        #expect(config.port == 7100)
    }

    @Test(arguments: [("full", SynchronousMode.full), ("NORMAL", .normal), ("off", .off), ("Full", .full)])
    func durabilityIsCaseInsensitive(text: String, mode: SynchronousMode) throws {
        #expect(try Self.parse(Self.minimal(#""durability":"\#(text)""#)).synchronous == mode)
    }

    @Test func relativePathsResolveAgainstTheConfigFilesDirectory() throws {
        let config = try Self.parse(#"{"node":"jakobstad","dataDirectory":"../data/./x","secretsFile":"secrets.json","#
            + #""regionManifest":"../region.json","keyFile":"./keys/jakobstad.key","tls":{"caBundle":"ca.pem"}}"#)
        #expect(config.dataDirectory == "/srv/kotosync/data/x")
        #expect(config.secretsFile == "/srv/kotosync/etc/secrets.json")
        #expect(config.regionManifest == "/srv/kotosync/region.json")
        #expect(config.keyFile == "/srv/kotosync/etc/keys/jakobstad.key")
        #expect(config.tls?.caBundle == "/srv/kotosync/etc/ca.pem")
        #expect(config.tls?.clientCertificate == nil)
    }

    @Test func loadResolvesAgainstTheFilesOwnDirectory() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("etc"), withIntermediateDirectories: true)
        let file = try directory.write("etc/node.json", Self.minimal(), permissions: 0o644)
        let config = try NodeConfig.load(path: file)
        let etc = (directory.path("etc") as NSString).standardizingPath
        #expect(config.dataDirectory == "\(etc)/data")
        #expect(config.secretsFile == "\(etc)/secrets.json")
        #expect(config.regionManifest == "\(etc)/region.json")
        #expect(config.keyFile == "\(etc)/jakobstad.key")
    }

    @Test func passivePeerURLIsCheckedWhenGiven() {
        let error = Self.error(Self.minimal(#""peers":[{"node":"larsmo","mode":"passive","url":"ftp://x"}]"#))
        #expect(error?.key == "peers[0].url")
    }

    @Test func loadOfAMissingFileSaysWhichFile() {
        let path = "/nonexistent/kotosync-\(UUID().uuidString)/node.json"
        do {
            _ = try NodeConfig.load(path: path)
            Issue.record("a missing file loaded")
        } catch {
            #expect(error.reason.contains(path))
        }
    }

    // MARK: Demo configs

    static let offices = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"]

    @Test(arguments: ConfigTests.offices)
    func demoConfigParsesWithTheOtherFourOfficesAsPeers(office: String) throws {
        let demo = packageRoot.appendingPathComponent("Config/demo")
        let config = try NodeConfig.load(path: demo.appendingPathComponent("\(office).json").path)
        #expect(config.node == office)
        #expect(Set(config.peers.map(\.node)) == Set(Self.offices).subtracting([office]))
        #expect(config.peers.count == 4)
        #expect(config.peers.allSatisfy { $0.mode == .pull && $0.url?.hasPrefix("http://127.0.0.1:") == true })
        #expect(config.secretsFile == demo.appendingPathComponent("secrets/\(office).json").standardizedFileURL.path)
        #expect(config.regionManifest == demo.appendingPathComponent("region.json").standardizedFileURL.path)
        #expect(config.keyFile == demo.appendingPathComponent("keys/\(office).key").standardizedFileURL.path)
        #expect(config.dataDirectory == packageRoot.appendingPathComponent(".demo/data").standardizedFileURL.path)
        #expect(config.demoSeed != nil)
        // Each office's port is the one its peers dial.
        #expect(config.peers.allSatisfy { !$0.url!.hasSuffix(":\(config.port)") })
    }

    @Test func everyDemoConfigFileIsCovered() throws {
        let demo = packageRoot.appendingPathComponent("Config/demo").path
        let files = try FileManager.default.contentsOfDirectory(atPath: demo).filter { $0.hasSuffix(".json") && !["region.json", "credentials.json"].contains($0) }
        #expect(Set(files) == Set(Self.offices.map { "\($0).json" }))
        // The peers' URLs agree with each office's own listen port.
        var ports: [String: Int] = [:]
        var dialled: [String: Set<String>] = [:]
        for office in Self.offices {
            let config = try NodeConfig.load(path: "\(demo)/\(office).json")
            ports[office] = config.port
            for peer in config.peers { dialled[peer.node, default: []].insert(peer.url ?? "") }
        }
        for office in Self.offices {
            #expect(dialled[office] == ["http://127.0.0.1:\(ports[office] ?? -1)"], "\(office)")
        }
    }

    @Test(arguments: ConfigTests.offices)
    func productionConfigNamesTheRegionManifestAndItsKey(office: String) throws {
        let config = try NodeConfig.load(path: packageRoot.appendingPathComponent("Config/\(office).json").path)
        #expect(config.node == office)
        #expect(config.regionManifest == "/etc/kotosync/region.json")
        #expect(config.keyFile == "/etc/kotosync/\(office).key")
        #expect(config.secretsFile == "/etc/kotosync/secrets.json")
        let manifest = try RegionManifest.load(path: packageRoot.appendingPathComponent("Config/region.json").path)
        try config.check(against: manifest)
    }

    // MARK: Against the region manifest

    @Test func nodeAndPeersMustBeManifestMembers() throws {
        let manifest = try TestRegion.make().manifest
        var config = try Self.parse(Self.minimal(#""peers":[{"node":"larsmo","url":"http://a"},{"node":"kronoby","mode":"passive"}]"#))
        try config.check(against: manifest)

        config.peers.append(PeerConfig(node: "oravais", url: "http://o"))
        #expect(throws: ConfigError(key: "peers[2].node", reason: "oravais is not a member of region test-region")) {
            try config.check(against: manifest)
        }
        config.node = "vora"
        do {
            try config.check(against: manifest)
            Issue.record("a node outside the manifest passed")
        } catch {
            #expect(error.key == "node")
            #expect(error.reason.contains("vora is not a member of region test-region"))
        }
    }

    // MARK: Errors name the key

    typealias Case = KeyErrorCase

    static let errorCases: [Case] = [
        Case(name: "unknown top-level key", json: minimal(#""verbose":true"#), key: "verbose"),
        Case(name: "unknown sync key", json: minimal(#""sync":{"intervalSecs":5}"#), key: "sync.intervalSecs"),
        Case(name: "unknown listen key", json: minimal(#""listen":{"adress":"::1"}"#), key: "listen.adress"),
        Case(name: "unknown limits key", json: minimal(#""limits":{"maxBody":1}"#), key: "limits.maxBody"),
        Case(name: "unknown tls key", json: minimal(#""tls":{"ca":"x"}"#), key: "tls.ca"),
        Case(name: "unknown key of a passive peer",
             json: minimal(#""peers":[{"node":"larsmo","mode":"passive"},{"node":"kronoby","mode":"passive","urll":"http://x"}]"#),
             key: "peers[1].urll"),
        Case(name: "missing node", json: #"{"dataDirectory":"d","secretsFile":"s","regionManifest":"r","keyFile":"k"}"#, key: "node"),
        Case(name: "missing regionManifest", json: #"{"node":"jakobstad","dataDirectory":"d","secretsFile":"s","keyFile":"k"}"#,
             key: "regionManifest"),
        Case(name: "missing keyFile", json: #"{"node":"jakobstad","dataDirectory":"d","secretsFile":"s","regionManifest":"r"}"#,
             key: "keyFile"),
        Case(name: "empty keyFile", json: #"{"node":"jakobstad","dataDirectory":"d","secretsFile":"s","regionManifest":"r","keyFile":""}"#,
             key: "keyFile"),
        Case(name: "regionManifest not a string",
             json: #"{"node":"jakobstad","dataDirectory":"d","secretsFile":"s","regionManifest":["r"],"keyFile":"k"}"#, key: "regionManifest"),
        Case(name: "missing dataDirectory", json: #"{"node":"jakobstad","secretsFile":"s"}"#, key: "dataDirectory"),
        Case(name: "missing secretsFile", json: #"{"node":"jakobstad","dataDirectory":"d"}"#, key: "secretsFile"),
        Case(name: "empty dataDirectory", json: #"{"node":"jakobstad","dataDirectory":"","secretsFile":"s"}"#, key: "dataDirectory"),
        Case(name: "node not a string", json: #"{"node":5,"dataDirectory":"d","secretsFile":"s"}"#, key: "node"),
        Case(name: "node with upper case", json: #"{"node":"Jakobstad","dataDirectory":"d","secretsFile":"s"}"#, key: "node"),
        Case(name: "node with a slash", json: #"{"node":"../etc","dataDirectory":"d","secretsFile":"s"}"#, key: "node"),
        Case(name: "node too long", json: #"{"node":"\#(String(repeating: "a", count: 65))","dataDirectory":"d","secretsFile":"s"}"#,
             key: "node"),
        Case(name: "port 0", json: minimal(#""listen":{"port":0}"#), key: "listen.port"),
        Case(name: "port 70000", json: minimal(#""listen":{"port":70000}"#), key: "listen.port"),
        Case(name: "port as a string", json: minimal(#""listen":{"port":"80"}"#), key: "listen.port"),
        Case(name: "port with a fraction", json: minimal(#""listen":{"port":80.5}"#), key: "listen.port"),
        Case(name: "listen not an object", json: minimal(#""listen":7100"#), key: "listen"),
        Case(name: "peers not an array", json: minimal(#""peers":{"node":"larsmo"}"#), key: "peers"),
        Case(name: "peer not an object", json: minimal(#""peers":["larsmo"]"#), key: "peers[0]"),
        Case(name: "peer without node", json: minimal(#""peers":[{"url":"http://x"}]"#), key: "peers[0].node"),
        Case(name: "peer with invalid node id", json: minimal(#""peers":[{"node":"Lars Mo","url":"http://x"}]"#),
             key: "peers[0].node"),
        Case(name: "pull peer without url", json: minimal(#""peers":[{"node":"larsmo"}]"#), key: "peers[0].url"),
        Case(name: "push peer without url", json: minimal(#""peers":[{"node":"larsmo","url":"http://x"},{"node":"kronoby","mode":"push"}]"#),
             key: "peers[1].url"),
        Case(name: "ftp url", json: minimal(#""peers":[{"node":"larsmo","url":"ftp://larsmo.example.invalid"}]"#), key: "peers[0].url"),
        Case(name: "url without scheme", json: minimal(#""peers":[{"node":"larsmo","url":"larsmo.example.invalid:7100"}]"#),
             key: "peers[0].url"),
        Case(name: "url without host", json: minimal(#""peers":[{"node":"larsmo","url":"http://"}]"#), key: "peers[0].url"),
        Case(name: "unknown mode", json: minimal(#""peers":[{"node":"larsmo","url":"http://x","mode":"both"}]"#), key: "peers[0].mode"),
        Case(name: "duplicate peer",
             json: minimal(#""peers":[{"node":"larsmo","url":"http://a"},{"node":"larsmo","url":"http://b"}]"#), key: "peers[1].node"),
        Case(name: "peer equal to self", json: minimal(#""peers":[{"node":"jakobstad","url":"http://a"}]"#), key: "peers[0].node"),
        Case(name: "bad durability", json: minimal(#""durability":"paranoid""#), key: "durability"),
        Case(name: "durability not a string", json: minimal(#""durability":1"#), key: "durability"),
        Case(name: "zero interval", json: minimal(#""sync":{"intervalSeconds":0}"#), key: "sync.intervalSeconds"),
        Case(name: "negative backoff", json: minimal(#""sync":{"backoffMaxSeconds":-1}"#), key: "sync.backoffMaxSeconds"),
        Case(name: "seconds as a string", json: minimal(#""sync":{"connectTimeoutSeconds":"3"}"#), key: "sync.connectTimeoutSeconds"),
        Case(name: "zero shutdown grace", json: minimal(#""shutdownGraceSeconds":0"#), key: "shutdownGraceSeconds"),
        Case(name: "negative idle timeout", json: minimal(#""limits":{"idleTimeoutSeconds":-5}"#), key: "limits.idleTimeoutSeconds"),
        Case(name: "batch size 0", json: minimal(#""sync":{"batchSize":0}"#), key: "sync.batchSize"),
        Case(name: "tiny maxBodyBytes", json: minimal(#""limits":{"maxBodyBytes":10}"#), key: "limits.maxBodyBytes"),
        Case(name: "client certificate without key", json: minimal(#""tls":{"clientCertificate":"c.pem"}"#), key: "tls"),
        Case(name: "negative demo seed", json: minimal(#""demoSeed":-1"#), key: "demoSeed"),
    ]

    @Test(arguments: ConfigTests.errorCases)
    func errorNamesTheKey(_ testCase: Case) {
        let error = Self.error(testCase.json)
        #expect(error?.key == testCase.key, "\(error.map(String.init(describing:)) ?? "parsed")")
        #expect(error?.reason.isEmpty == false)
        // The description leads with the key, so an operator sees where to look.
        #expect(error?.description.hasPrefix("\(testCase.key): ") == true)
    }

    @Test func reasonsSayWhatIsWrong() {
        #expect(Self.error(Self.minimal(#""verbose":true"#))?.reason == "unknown key")
        #expect(Self.error(#"{"dataDirectory":"d","secretsFile":"s"}"#)?.reason == "is required")
        #expect(Self.error(Self.minimal(#""listen":{"port":70000}"#))?.reason == "must be between 1 and 65535")
        #expect(Self.error(Self.minimal(#""listen":{"port":"80"}"#))?.reason == "must be an integer")
        #expect(Self.error(Self.minimal(#""peers":[{"node":"larsmo"}]"#))?.reason.contains("passive") == true)
        #expect(Self.error(Self.minimal(#""peers":[{"node":"larsmo","url":"ftp://x"}]"#))?.reason.contains("http://") == true)
        #expect(Self.error(Self.minimal(#""durability":"paranoid""#))?.reason == "must be one of: full, normal, off")
        #expect(Self.error(Self.minimal(#""sync":{"intervalSeconds":-3}"#))?.reason.contains("greater than 0") == true)
    }

    @Test func passivePeerNeedsNoURL() throws {
        let config = try Self.parse(Self.minimal(#""peers":[{"node":"larsmo","mode":"passive"}]"#))
        #expect(config.peers == [PeerConfig(node: "larsmo", url: nil, mode: .passive)])
    }

    @Test(arguments: ["[]", "42", #""jakobstad""#, "null", "true"])
    func nonObjectDocumentIsRefused(_ text: String) {
        let error = Self.error(text)
        #expect(error?.key == "")
        #expect(error?.reason == "must be a JSON object")
    }

    @Test(arguments: [
        (#"{"node":"jakobstad",}"#, 20),
        (#"{"node":"jakobstad""#, 19),
        ("", 0),
        (#"{"node":"a","node":"b"}"#, 12),
    ])
    func invalidJSONSaysWhereByByteOffset(_ text: String, offset: Int) {
        let error = Self.error(text)
        #expect(error?.key == "")
        #expect(error?.reason.hasPrefix("invalid JSON at byte \(offset):") == true, "\(error?.reason ?? "parsed")")
    }

    /// A misspelt required key should be reported as the unknown key it is:
    /// the operator typed `urll`, and "url is required" sends them looking
    /// for a key that they believe is there.
    @Test func misspeltRequiredKeyIsNamedAsUnknown() {
        let peer = Self.error(Self.minimal(#""peers":[{"node":"larsmo","mode":"passive"},{"node":"kronoby","urll":"http://x"}]"#))
        #expect(peer?.key == "peers[1].urll")
        let top = Self.error(#"{"node":"jakobstad","dataDirectroy":"d","secretsFile":"s"}"#)
        #expect(top?.key == "dataDirectroy")
    }
}
