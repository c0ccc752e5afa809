import Foundation
import Glibc
import KotoCore
import KotoCrypto

/// What a node accepts and what it presents, read from a secrets file whose
/// mode is at most 0600 (nothing for group or others):
///
///     { "peerCredential": "<this node's own outgoing peer token>",
///       "accept": [ { "role": "peer", "node": "nykarleby", "sha256": "<hex>" },
///                   { "role": "office", "municipality": 598, "name": "optional", "sha256": "..." },
///                   { "role": "coordinator", "name": "Regional coordinator", "sha256": "..." },
///                   { "role": "admin", "name": "Operator", "sha256": "..." },
///                   { "role": "scrape", "name": "Prometheus", "sha256": "..." } ] }
///
/// It holds only SHA-256 digests of the credentials it accepts, each bound
/// to its holder, and one usable token: the node's own peer credential.
/// Another node's usable token has no place in it.
public struct Secrets: Sendable {
    /// One accepted credential: the digest of its token and who holds it.
    public struct Accepted: Sendable, Equatable {
        public let caller: Caller
        /// SHA-256 of the token (32 bytes).
        public let digest: [UInt8]

        public init(caller: Caller, digest: [UInt8]) {
            self.caller = caller
            self.digest = digest
        }

        /// For a token given in plain text (tests and tools): stores only its digest.
        public init(caller: Caller, token: String) {
            self.init(caller: caller, digest: SHA256.hash(Array(token.utf8)))
        }
    }

    /// The token this node presents to its peers.
    public let peerCredential: String
    public let accepted: [Accepted]

    public init(peerCredential: String, accepted: [Accepted]) {
        self.peerCredential = peerCredential
        self.accepted = accepted
    }

    /// Reads the file, refusing it when its mode grants anything to group
    /// or others. Errors name the key and never quote a token.
    public static func load(path: String) throws(ConfigError) -> Secrets {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ConfigError(key: "secretsFile", reason: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let mode = info.st_mode & 0o7777
        guard mode & ~0o600 == 0 else {
            throw ConfigError(key: "secretsFile", reason: "\(path) has mode \(String(format: "%04o", mode)), wider than 0600 "
                              + "(it must grant nothing to group or others); chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(key: "secretsFile", reason: "cannot read \(path)")
        }
        return try parse(Array(data))
    }

    public static func parse(_ bytes: [UInt8]) throws(ConfigError) -> Secrets {
        let json = try ObjectReader.parseJSON(bytes, key: "secretsFile")
        var reader = try ObjectReader(json, path: "secrets", allowed: ["peerCredential", "accept"])
        let peerCredential = try reader.string("peerCredential", required: true)!
        guard peerCredential.utf8.count >= 16 else {
            throw ConfigError(key: "secrets.peerCredential", reason: "must be at least 16 characters")
        }
        let items = try reader.array("accept") ?? []
        try reader.finish()
        let ownDigest = SHA256.hash(Array(peerCredential.utf8))
        var accepted: [Accepted] = []
        for (index, item) in items.enumerated() {
            let entry = try parseEntry(item, path: "secrets.accept[\(index)]")
            if let first = accepted.firstIndex(where: { constantTimeEquals($0.digest, entry.digest) }) {
                throw ConfigError(key: "secrets.accept[\(index)].sha256", reason: "is the same digest as accept[\(first)]; each credential has one holder")
            }
            if constantTimeEquals(entry.digest, ownDigest) {
                throw ConfigError(key: "secrets.accept[\(index)].sha256",
                                  reason: "is the digest of this node's own peerCredential; no other holder may present it")
            }
            accepted.append(entry)
        }
        return Secrets(peerCredential: peerCredential, accepted: accepted)
    }

    /// Keys each role's entry has besides `role` and `sha256`.
    private static let holderKeys: [Role: Set<String>] = [
        .peer: ["node"], .office: ["municipality", "name"], .coordinator: ["name"], .admin: ["name"], .scrape: ["name"],
    ]

    private static func parseEntry(_ item: JSONValue, path: String) throws(ConfigError) -> Accepted {
        var entry = try ObjectReader(item, path: path, allowed: ["role", "node", "municipality", "name", "sha256"])
        let roleText = try entry.string("role", required: true)!
        guard let role = Role(rawValue: roleText) else {
            throw ConfigError(key: "\(path).role", reason: "must be one of: peer, office, coordinator, admin, scrape")
        }
        let allowed = holderKeys[role] ?? []
        if let extra = (item.objectMembers ?? []).first(where: { !["role", "sha256"].contains($0.0) && !allowed.contains($0.0) }) {
            throw ConfigError(key: "\(path).\(extra.0)", reason: "does not belong to a \(role.rawValue) credential")
        }
        let caller: Caller
        switch role {
        case .peer:
            let node = try entry.string("node", required: true)!
            guard NodeID.isValid(node) else { throw ConfigError(key: "\(path).node", reason: "invalid node id") }
            caller = .peer(node)
        case .office:
            guard let code = try entry.integer("municipality", in: 1...999) else {
                throw ConfigError(key: "\(path).municipality", reason: "is required")
            }
            caller = .office(municipality: Int(code), name: try entry.string("name"))
        case .coordinator:
            caller = .coordinator(name: try entry.string("name", required: true)!)
        case .admin:
            caller = .admin(name: try entry.string("name", required: true)!)
        case .scrape:
            caller = .scrape(name: try entry.string("name", required: true)!)
        }
        let hex = try entry.string("sha256", required: true)!
        guard let digest = Self.digest(hex: hex) else {
            throw ConfigError(key: "\(path).sha256", reason: "must be 64 hexadecimal characters: the SHA-256 of the token")
        }
        try entry.finish()
        return Accepted(caller: caller, digest: digest)
    }

    /// 32 bytes from 64 hex digits (either case), or nil.
    static func digest(hex: String) -> [UInt8]? {
        guard let bytes = bytes(fromHex: hex), bytes.count == 32 else { return nil }
        return bytes
    }

    /// The holder of the bearer token in an `Authorization` header value, or
    /// nil. The presented token is hashed and its digest compared with every
    /// accepted digest in constant time, with no early exit, so timing
    /// reveals neither which credential matched nor how far.
    public func caller(forAuthorization header: String?) -> Caller? {
        guard let header, header.hasPrefix("Bearer ") else { return nil }
        let presented = Array(header.utf8.dropFirst(7))
        guard !presented.isEmpty else { return nil }
        let digest = SHA256.hash(presented)
        var found: Caller?
        for entry in accepted {
            let equal = constantTimeEquals(digest, entry.digest)
            if equal && found == nil { found = entry.caller }
        }
        return found
    }

    /// Every peer credential names a member node and every office credential
    /// a member's municipality.
    public func check(against manifest: RegionManifest) throws(ConfigError) {
        let codes = Set(manifest.members.map(\.municipality.code))
        for (index, entry) in accepted.enumerated() {
            if let node = entry.caller.node, !manifest.isMember(node) {
                throw ConfigError(key: "secrets.accept[\(index)].node", reason: "\(node) is not a member of region \(manifest.region)")
            }
            if let code = entry.caller.municipality, !codes.contains(code) {
                throw ConfigError(key: "secrets.accept[\(index)].municipality",
                                  reason: "\(code) is not the municipality of a member of region \(manifest.region)")
            }
        }
    }
}
