import Foundation
public import KotoCore
public import KotoCrypto

/// The members of a region, as every node holds them: node id,
/// municipality and the Ed25519 public keys each member signs with.
/// Anything naming a node that is not listed here is refused; the
/// municipality registry that validation uses comes from here too.
///
/// File shape (unknown keys and bad values are errors naming the key):
///
///     { "region": "jakobstad-region",
///       "members": [ { "node": "jakobstad", "municipality": 598, "nameFi": "Pietarsaari",
///                      "nameSv": "Jakobstad", "publicKeys": ["ed25519:..."] }, ... ] }
public struct RegionManifest: Sendable {
    public struct Member: Sendable {
        public let node: String
        public let municipality: Municipality
        public let publicKeys: [PublicKey]

        public init(node: String, municipality: Municipality, publicKeys: [PublicKey]) {
            self.node = node
            self.municipality = municipality
            self.publicKeys = publicKeys
        }
    }

    public let region: String
    public let members: [Member]
    private let byNode: [String: Int]

    /// Checks what the file format checks: valid and unique node ids and
    /// municipality codes, at least one key each, no key shared by two members.
    public init(region: String, members: [Member]) throws(ConfigError) {
        guard NodeID.isValid(region) else {
            throw ConfigError(key: "manifest.region", reason: "must be 1–64 characters of a-z, 0-9, - and _")
        }
        guard !members.isEmpty else { throw ConfigError(key: "manifest.members", reason: "must list at least one member") }
        var byNode: [String: Int] = [:]
        var codes: [Int: Int] = [:]
        var keys: [PublicKey: Int] = [:]
        for (index, member) in members.enumerated() {
            let path = "manifest.members[\(index)]"
            guard NodeID.isValid(member.node) else {
                throw ConfigError(key: "\(path).node", reason: "must be 1–64 characters of a-z, 0-9, - and _")
            }
            if let first = byNode[member.node] {
                throw ConfigError(key: "\(path).node", reason: "\(member.node) is already members[\(first)]")
            }
            byNode[member.node] = index
            guard (1...999).contains(member.municipality.code) else {
                throw ConfigError(key: "\(path).municipality", reason: "must be between 1 and 999")
            }
            if let first = codes[member.municipality.code] {
                throw ConfigError(key: "\(path).municipality", reason: "\(member.municipality.code) is already the code of members[\(first)]")
            }
            codes[member.municipality.code] = index
            for (name, value) in [("nameFi", member.municipality.nameFi), ("nameSv", member.municipality.nameSv)]
            where value.trimmingCharacters(in: .whitespaces).isEmpty {
                throw ConfigError(key: "\(path).\(name)", reason: "must be a non-empty string")
            }
            guard !member.publicKeys.isEmpty else {
                throw ConfigError(key: "\(path).publicKeys", reason: "must list at least one public key")
            }
            for (keyIndex, key) in member.publicKeys.enumerated() {
                if let owner = keys[key] {
                    let reason = owner == index ? "is listed twice for \(member.node)"
                        : "is already a key of \(members[owner].node) (members[\(owner)]); no two members share a key"
                    throw ConfigError(key: "\(path).publicKeys[\(keyIndex)]", reason: reason)
                }
                keys[key] = index
            }
        }
        self.region = region
        self.members = members
        self.byNode = byNode
    }

    /// The member with this node id, or nil.
    public func member(_ node: String) -> Member? { byNode[node].map { members[$0] } }

    public func isMember(_ node: String) -> Bool { byNode[node] != nil }

    /// Each member's public keys by node id.
    public var publicKeys: [String: [PublicKey]] {
        Dictionary(uniqueKeysWithValues: members.map { ($0.node, $0.publicKeys) })
    }

    /// The municipalities records may name: the members' (slug = node id).
    public var registry: MunicipalityRegistry { MunicipalityRegistry(members.map(\.municipality)) }

    /// Reads and checks a manifest file; errors name the key (`manifest.members[2].publicKeys[0]`).
    public static func load(path: String) throws(ConfigError) -> RegionManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(key: "regionManifest", reason: "cannot read \(path)")
        }
        return try parse(Array(data))
    }

    public static func parse(_ bytes: [UInt8]) throws(ConfigError) -> RegionManifest {
        let json = try ObjectReader.parseJSON(bytes, key: "regionManifest")
        var reader = try ObjectReader(json, path: "manifest", allowed: ["region", "members"])
        let region = try reader.string("region", required: true)!
        guard let items = try reader.array("members") else {
            throw ConfigError(key: "manifest.members", reason: "is required")
        }
        try reader.finish()
        var members: [Member] = []
        for (index, item) in items.enumerated() {
            let path = "manifest.members[\(index)]"
            var entry = try ObjectReader(item, path: path, allowed: ["node", "municipality", "nameFi", "nameSv", "publicKeys"])
            let node = try entry.string("node", required: true)!
            guard let code = try entry.integer("municipality", in: 1...999) else {
                throw ConfigError(key: "\(path).municipality", reason: "is required")
            }
            let nameFi = try entry.string("nameFi", required: true)!
            let nameSv = try entry.string("nameSv", required: true)!
            guard let keyItems = try entry.array("publicKeys") else {
                throw ConfigError(key: "\(path).publicKeys", reason: "is required")
            }
            var keys: [PublicKey] = []
            for (keyIndex, keyItem) in keyItems.enumerated() {
                guard let text = keyItem.stringValue else {
                    throw ConfigError(key: "\(path).publicKeys[\(keyIndex)]", reason: "must be a string \"ed25519:<base64>\"")
                }
                do {
                    keys.append(try PublicKey(text: text))
                } catch {
                    throw ConfigError(key: "\(path).publicKeys[\(keyIndex)]", reason: error.description)
                }
            }
            try entry.finish()
            members.append(Member(node: node, municipality: Municipality(code: Int(code), slug: node, nameFi: nameFi, nameSv: nameSv),
                                  publicKeys: keys))
        }
        return try RegionManifest(region: region, members: members)
    }
}
