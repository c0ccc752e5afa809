import Foundation
import Glibc
import KotoCore

/// Who a caller is. Each role opens one family of endpoints.
public enum Role: String, Sendable, CaseIterable {
    /// Other nodes: the sync endpoints only.
    case peer
    /// Office staff: read and write records.
    case office
    /// The regional coordinator: reads everything.
    case coordinator
    /// Operators: sync status.
    case admin
}

/// Bearer tokens per role and the token this node presents to its peers,
/// read from a secrets file that must not be world-readable.
public struct Secrets: Sendable {
    public var tokens: [Role: [String]]
    public var peerToken: String

    public init(tokens: [Role: [String]], peerToken: String) {
        self.tokens = tokens
        self.peerToken = peerToken
    }

    public static func load(path: String) throws(ConfigError) -> Secrets {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ConfigError(key: "secretsFile", reason: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IROTH == 0 && info.st_mode & S_IWOTH == 0 else {
            throw ConfigError(key: "secretsFile", reason: "\(path) is readable or writable by others; chmod o-rw it")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(key: "secretsFile", reason: "cannot read \(path)")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(Array(data))
        } catch {
            throw ConfigError(key: "secretsFile", reason: error.description)
        }
        var reader = try ObjectReader(json, path: "secrets", allowed: ["peerToken", "tokens"])
        let peerToken = try reader.string("peerToken", required: true)!
        guard peerToken.utf8.count >= 16 else {
            throw ConfigError(key: "secrets.peerToken", reason: "must be at least 16 characters")
        }
        var tokens: [Role: [String]] = [:]
        if var roles = try reader.object("tokens", allowed: Role.allCases.map(\.rawValue)) {
            for role in Role.allCases {
                guard let list = try roles.array(role.rawValue) else { continue }
                tokens[role] = try list.enumerated().map { (index, item) throws(ConfigError) -> String in
                    guard let token = item.stringValue, token.utf8.count >= 16 else {
                        throw ConfigError(key: "secrets.tokens.\(role.rawValue)[\(index)]", reason: "must be a string of at least 16 characters")
                    }
                    return token
                }
            }
            try roles.finish()
        }
        try reader.finish()
        return Secrets(tokens: tokens, peerToken: peerToken)
    }

    /// The caller's role for an `Authorization` header value, comparing
    /// against every token in constant time so timing reveals nothing.
    public func role(forAuthorization header: String?) -> Role? {
        guard let header, header.hasPrefix("Bearer ") else { return nil }
        let presented = Array(header.utf8.dropFirst(7))
        var found: Role?
        for role in Role.allCases {
            for token in tokens[role] ?? [] where Self.constantTimeEquals(presented, Array(token.utf8)) {
                if found == nil { found = role }
            }
        }
        return found
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        // Every byte of the longer input is compared whatever the lengths;
        // the length check keeps its full width.
        var difference: UInt8 = 0
        let length = max(a.count, b.count)
        for index in 0..<length {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}
