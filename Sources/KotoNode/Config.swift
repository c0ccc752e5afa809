import Foundation
public import KotoHTTP
public import KotoStore
import KotoCore

/// How this node talks to one peer.
public enum PeerMode: String, Sendable, CaseIterable {
    /// Pull from the peer (on notify and on the interval) and send it notify hints.
    case pull
    /// The peer cannot reach this node (a firewall): pull from it and also
    /// push to it the batches it would have pulled.
    case push
    /// Never contact the peer; it reaches this node (pulls and pushes).
    case passive
}

public struct PeerConfig: Sendable, Equatable {
    public var node: String
    public var url: String?
    public var mode: PeerMode

    public init(node: String, url: String?, mode: PeerMode = .pull) {
        self.node = node
        self.url = url
        self.mode = mode
    }
}

/// Client-side TLS for reaching peers through a TLS proxy.
public struct TLSConfig: Sendable, Equatable {
    public var caBundle: String?
    public var clientCertificate: String?
    public var clientKey: String?
}

/// A node's configuration, read from one JSON file. Unknown keys and bad
/// values are errors that name the key, so a typo never silently falls
/// back to a default.
public struct NodeConfig: Sendable {
    public var node: String
    public var host = "127.0.0.1"
    public var port = 7100
    public var dataDirectory: String
    public var secretsFile: String
    /// The region manifest: members, municipalities and public keys.
    public var regionManifest: String
    /// This node's Ed25519 private key (mode 0600).
    public var keyFile: String
    public var peers: [PeerConfig] = []
    public var syncInterval: Duration = .seconds(30)
    public var batchSize = 1000
    /// A new or wiped node bootstraps from a peer's snapshot when the peer
    /// holds at least this many changes (fewer are pulled as a log); a node
    /// every peer answers 410 `snapshot_required` bootstraps whatever the count.
    public var snapshotMinChanges: UInt64 = 50_000
    /// The most a snapshot download may take, and the most bytes it may hold.
    public var snapshotTimeout: Duration = .seconds(3600)
    public var maxSnapshotBytes = 64 << 30
    public var maxClockAhead: Duration = .seconds(300)
    public var backoffInitial: Duration = .seconds(1)
    public var backoffMax: Duration = .seconds(60)
    public var connectTimeout: Duration = .seconds(3)
    public var requestTimeout: Duration = .seconds(30)
    public var shutdownGrace: Duration = .seconds(10)
    public var synchronous: SynchronousMode = .full
    public var limits = HTTPServer.Limits()
    public var tls: TLSConfig?
    /// Loads the deterministic demo region's records of this office into an empty store.
    public var demoSeed: UInt64?
    /// The schema version this node announces to peers (tests of version mismatch set it).
    public var advertisedSchemaVersion = ReplicaStore.schemaVersion
    /// TEST ONLY: how far this node's wall clock is moved (ms, may be negative),
    /// for the region tests of clock skew. Never read from the config file:
    /// kotosyncd sets it from `KOTOSYNC_TEST_CLOCK_OFFSET_MS`, and only when
    /// `KOTOSYNC_TEST_HOOKS=1` is set too (see `TestHooks`).
    public var testClockOffsetMillis: Int64 = 0
    /// True when the test-only hook `TestHooks.compactionHorizonVariable` set `compaction.horizon` (logged at start).
    public var testCompactionHorizon = false
    /// Placement targets, deadline rules and the reports' clock (`reports`).
    public var reports = ReportSettings()
    /// How many years access-log entries are kept (`accessLog.retentionYears`); the daily purge removes older ones.
    public var accessLogRetentionYears = 5
    /// How long clients are kept and how often the retention job runs (`retention`).
    public var retention = RetentionSettings()
    /// Whether, how often and how far the change log is compacted (`compaction`).
    public var compaction = CompactionSettings()

    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("\(node).sqlite") }
    /// The access log's own file, beside the replica.
    public var accessLogPath: String { (dataDirectory as NSString).appendingPathComponent("access.sqlite") }

    public init(node: String, dataDirectory: String, secretsFile: String, regionManifest: String, keyFile: String) {
        self.node = node
        self.dataDirectory = dataDirectory
        self.secretsFile = secretsFile
        self.regionManifest = regionManifest
        self.keyFile = keyFile
    }
}

/// A configuration problem, naming the key (as a JSON path) and the reason.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let key: String
    public let reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String { key.isEmpty ? reason : "\(key): \(reason)" }
}

extension NodeConfig {
    /// Reads and checks a config file; relative paths in it are relative to the file.
    public static func load(path: String) throws(ConfigError) -> NodeConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(key: "", reason: "cannot read config file \(path)")
        }
        let base = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        return try parse(Array(data), baseDirectory: base.isEmpty ? "." : base)
    }

    public static func parse(_ bytes: [UInt8], baseDirectory: String) throws(ConfigError) -> NodeConfig {
        let json = try ObjectReader.parseJSON(bytes, key: "")
        var reader = try ObjectReader(json, path: "", allowed: ["node", "listen", "dataDirectory", "secretsFile", "regionManifest",
                                                                "keyFile", "peers", "sync", "durability", "shutdownGraceSeconds",
                                                                "limits", "tls", "demoSeed", "reports", "retention",
                                                                "accessLog", "compaction"])
        let node = try reader.string("node", required: true)!
        guard NodeID.isValid(node) else { throw ConfigError(key: "node", reason: "must be 1–64 characters of a-z, 0-9, - and _") }
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") ? path : ((baseDirectory as NSString).appendingPathComponent(path) as NSString).standardizingPath
        }
        var config = NodeConfig(node: node, dataDirectory: resolve(try reader.string("dataDirectory", required: true)!),
                                secretsFile: resolve(try reader.string("secretsFile", required: true)!),
                                regionManifest: resolve(try reader.string("regionManifest", required: true)!),
                                keyFile: resolve(try reader.string("keyFile", required: true)!))
        if var listen = try reader.object("listen", allowed: ["host", "port"]) {
            config.host = try listen.string("host") ?? config.host
            config.port = try listen.integer("port", in: 1...65535).map(Int.init) ?? config.port
            try listen.finish()
        }
        if let peers = try reader.array("peers") {
            var seen: Set<String> = [node]
            for (index, element) in peers.enumerated() {
                var peer = try ObjectReader(element, path: "peers[\(index)]", allowed: ["node", "url", "mode"])
                let peerNode = try peer.string("node", required: true)!
                guard NodeID.isValid(peerNode) else { throw ConfigError(key: "peers[\(index)].node", reason: "invalid node id") }
                guard seen.insert(peerNode).inserted else {
                    throw ConfigError(key: "peers[\(index)].node", reason: "names this node or a peer twice")
                }
                let modeText = try peer.string("mode") ?? PeerMode.pull.rawValue
                guard let mode = PeerMode(rawValue: modeText) else {
                    throw ConfigError(key: "peers[\(index)].mode", reason: "must be one of: pull, push, passive")
                }
                let url = try peer.string("url")
                if mode != .passive && url == nil {
                    throw ConfigError(key: "peers[\(index)].url", reason: "is required unless mode is passive")
                }
                if let url {
                    guard url.hasPrefix("http://") || url.hasPrefix("https://"), URL(string: url)?.host != nil else {
                        throw ConfigError(key: "peers[\(index)].url", reason: "must be an http:// or https:// URL")
                    }
                }
                try peer.finish()
                config.peers.append(PeerConfig(node: peerNode, url: url.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }, mode: mode))
            }
        }
        if var sync = try reader.object("sync", allowed: ["intervalSeconds", "batchSize", "maxClockAheadSeconds", "backoffInitialSeconds",
                                                           "backoffMaxSeconds", "connectTimeoutSeconds", "requestTimeoutSeconds",
                                                           "snapshotMinChanges", "snapshotTimeoutSeconds"]) {
            config.syncInterval = try sync.seconds("intervalSeconds") ?? config.syncInterval
            config.batchSize = try sync.integer("batchSize", in: 1...100_000).map(Int.init) ?? config.batchSize
            config.maxClockAhead = try sync.seconds("maxClockAheadSeconds") ?? config.maxClockAhead
            config.backoffInitial = try sync.seconds("backoffInitialSeconds") ?? config.backoffInitial
            config.backoffMax = try sync.seconds("backoffMaxSeconds") ?? config.backoffMax
            config.connectTimeout = try sync.seconds("connectTimeoutSeconds") ?? config.connectTimeout
            config.requestTimeout = try sync.seconds("requestTimeoutSeconds") ?? config.requestTimeout
            config.snapshotMinChanges = try sync.integer("snapshotMinChanges", in: 0...Int64.max).map { UInt64($0) } ?? config.snapshotMinChanges
            config.snapshotTimeout = try sync.seconds("snapshotTimeoutSeconds") ?? config.snapshotTimeout
            try sync.finish()
        }
        if let durability = try reader.string("durability") {
            guard let mode = SynchronousMode(rawValue: durability.uppercased()) else {
                throw ConfigError(key: "durability", reason: "must be one of: full, normal, off")
            }
            config.synchronous = mode
        }
        config.shutdownGrace = try reader.seconds("shutdownGraceSeconds") ?? config.shutdownGrace
        if var limits = try reader.object("limits", allowed: ["maxHeaderBytes", "maxHeaderCount", "maxBodyBytes", "idleTimeoutSeconds",
                                                               "readTimeoutSeconds", "writeTimeoutSeconds", "maxConnections", "maxWorkers"]) {
            var value = config.limits
            value.maxHeaderBytes = try limits.integer("maxHeaderBytes", in: 1024...1_048_576).map(Int.init) ?? value.maxHeaderBytes
            value.maxHeaderCount = try limits.integer("maxHeaderCount", in: 8...1000).map(Int.init) ?? value.maxHeaderCount
            value.maxBodyBytes = try limits.integer("maxBodyBytes", in: 1024...1_073_741_824).map(Int.init) ?? value.maxBodyBytes
            value.idleTimeout = try limits.seconds("idleTimeoutSeconds") ?? value.idleTimeout
            value.requestTimeout = try limits.seconds("readTimeoutSeconds") ?? value.requestTimeout
            value.writeTimeout = try limits.seconds("writeTimeoutSeconds") ?? value.writeTimeout
            value.maxConnections = try limits.integer("maxConnections", in: 1...100_000).map(Int.init) ?? value.maxConnections
            value.maxWorkers = try limits.integer("maxWorkers", in: 1...10_000).map(Int.init) ?? value.maxWorkers
            try limits.finish()
            config.limits = value
        }
        if var tls = try reader.object("tls", allowed: ["caBundle", "clientCertificate", "clientKey"]) {
            config.tls = TLSConfig(caBundle: try tls.string("caBundle").map(resolve),
                                   clientCertificate: try tls.string("clientCertificate").map(resolve),
                                   clientKey: try tls.string("clientKey").map(resolve))
            if (config.tls?.clientCertificate == nil) != (config.tls?.clientKey == nil) {
                throw ConfigError(key: "tls", reason: "clientCertificate and clientKey go together")
            }
            try tls.finish()
        }
        if let seed = try reader.integer("demoSeed", in: 0...Int64.max) { config.demoSeed = UInt64(seed) }
        if let reports = reader.raw("reports") { config.reports = try ReportSettings.parse(reports, key: "reports") }
        if var accessLog = try reader.object("accessLog", allowed: ["retentionYears"]) {
            config.accessLogRetentionYears = try accessLog.integer("retentionYears", in: 1...100).map(Int.init) ?? config.accessLogRetentionYears
            try accessLog.finish()
        }
        if let retention = reader.raw("retention") { config.retention = try RetentionSettings.parse(retention, key: "retention") }
        if let compaction = reader.raw("compaction") { config.compaction = try CompactionSettings.parse(compaction, key: "compaction") }
        try reader.finish()
        return config
    }

    /// The config against the region manifest (which `parse` does not read):
    /// this node and every peer must be members.
    public func check(against manifest: RegionManifest) throws(ConfigError) {
        guard manifest.isMember(node) else {
            throw ConfigError(key: "node", reason: "\(node) is not a member of region \(manifest.region) (\(regionManifest))")
        }
        for (index, peer) in peers.enumerated() where !manifest.isMember(peer.node) {
            throw ConfigError(key: "peers[\(index)].node", reason: "\(peer.node) is not a member of region \(manifest.region)")
        }
        try reports.check(against: manifest.registry)
    }
}

/// Reads members of one JSON object and, at `finish()`, refuses any member
/// nobody asked for.
struct ObjectReader {
    /// Parses a configuration file's bytes; a syntax error is a `ConfigError` naming `key`.
    static func parseJSON(_ bytes: [UInt8], key: String) throws(ConfigError) -> JSONValue {
        do {
            return try JSONValue.parse(bytes)
        } catch {
            throw ConfigError(key: key, reason: error.description)
        }
    }

    private let members: [(String, JSONValue)]
    private let path: String
    private var used: Set<String> = []

    /// `allowed`: the keys this object may have; any other is reported at
    /// once, before a misspelt required key could be reported as missing.
    init(_ value: JSONValue, path: String, allowed: [String]) throws(ConfigError) {
        guard let members = value.objectMembers else {
            throw ConfigError(key: path, reason: "must be a JSON object")
        }
        self.members = members
        self.path = path
        if let unknown = members.first(where: { !allowed.contains($0.0) }) {
            throw ConfigError(key: key(unknown.0), reason: "unknown key")
        }
    }

    private func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    private mutating func value(_ name: String) -> JSONValue? {
        used.insert(name)
        guard let value = members.first(where: { $0.0 == name })?.1 else { return nil }
        if case .null = value { return nil }
        return value
    }

    mutating func string(_ name: String, required: Bool = false) throws(ConfigError) -> String? {
        guard let value = value(name) else {
            if required { throw ConfigError(key: key(name), reason: "is required") }
            return nil
        }
        guard let text = value.stringValue, !text.isEmpty else { throw ConfigError(key: key(name), reason: "must be a non-empty string") }
        return text
    }

    mutating func integer(_ name: String, in range: ClosedRange<Int64>) throws(ConfigError) -> Int64? {
        guard let value = value(name) else { return nil }
        guard let number = value.int64Value else { throw ConfigError(key: key(name), reason: "must be an integer") }
        guard range.contains(number) else {
            throw ConfigError(key: key(name), reason: "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return number
    }

    mutating func seconds(_ name: String) throws(ConfigError) -> Duration? {
        guard let value = value(name) else { return nil }
        guard let number = value.doubleValue, number > 0, number <= 86_400 * 7 else {
            throw ConfigError(key: key(name), reason: "must be a number of seconds greater than 0")
        }
        return .milliseconds(Int64((number * 1000).rounded()))
    }

    mutating func bool(_ name: String) throws(ConfigError) -> Bool? {
        guard let value = value(name) else { return nil }
        guard let flag = value.boolValue else { throw ConfigError(key: key(name), reason: "must be true or false") }
        return flag
    }

    /// The member as JSON, for values whose shape the caller checks itself.
    mutating func raw(_ name: String) -> JSONValue? { value(name) }

    /// The JSON path of member `name` of this object, for the caller's own errors.
    func path(of name: String) -> String { key(name) }

    mutating func object(_ name: String, allowed: [String]) throws(ConfigError) -> ObjectReader? {
        guard let value = value(name) else { return nil }
        return try ObjectReader(value, path: key(name), allowed: allowed)
    }

    mutating func array(_ name: String) throws(ConfigError) -> [JSONValue]? {
        guard let value = value(name) else { return nil }
        guard let items = value.arrayValue else { throw ConfigError(key: key(name), reason: "must be an array") }
        return items
    }

    func finish() throws(ConfigError) {
        if let unknown = members.first(where: { !used.contains($0.0) }) {
            throw ConfigError(key: key(unknown.0), reason: "unknown key")
        }
    }
}
