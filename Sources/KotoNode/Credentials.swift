import Foundation
public import KotoCore
public import KotoCrypto

/// Who a caller is. Each role opens one family of endpoints.
public enum Role: String, Sendable, CaseIterable {
    /// Other nodes: the sync endpoints only.
    case peer
    /// Office staff: read and write records.
    case office
    /// The regional coordinator: reads everything.
    case coordinator
    /// Operators: sync status, metrics.
    case admin
    /// A metrics scraper (Prometheus): `GET /metrics` only.
    case scrape
}

/// The holder of a credential: its role and who it names — a peer's node,
/// an office's municipality (and optionally a person), a coordinator's or
/// admin's name. A credential opens nothing but what its holder may do, and
/// a peer credential speaks only for its own node.
public struct Caller: Sendable, Equatable, CustomStringConvertible {
    public let role: Role
    /// The node a peer credential belongs to (peers only).
    public let node: String?
    /// The municipality code an office credential belongs to (offices only).
    public let municipality: Int?
    /// The holder's name: required for coordinators, admins and scrapers, optional for offices, none for peers.
    public let name: String?

    private init(role: Role, node: String? = nil, municipality: Int? = nil, name: String? = nil) {
        self.role = role
        self.node = node
        self.municipality = municipality
        self.name = name
    }

    public static func peer(_ node: String) -> Caller { Caller(role: .peer, node: node) }
    public static func office(municipality: Int, name: String? = nil) -> Caller { Caller(role: .office, municipality: municipality, name: name) }
    public static func coordinator(name: String) -> Caller { Caller(role: .coordinator, name: name) }
    public static func admin(name: String) -> Caller { Caller(role: .admin, name: name) }
    public static func scrape(name: String) -> Caller { Caller(role: .scrape, name: name) }
    /// The node's own retention job, as the holder the access log names for
    /// its erasures: it acts for the municipality whose node runs it (an
    /// office of that municipality may erase its clients too). No credential
    /// carries it; `node` names the node whose job it is.
    public static func retentionJob(node: String, municipality: Int) -> Caller {
        Caller(role: .office, node: node, municipality: municipality, name: "retention job")
    }

    /// Role and node or municipality, never the person's name (logs must not carry personal data).
    public var description: String {
        switch role {
        case .peer: "peer \(node ?? "?")"
        case .office: "office \(municipality.map(String.init) ?? "?")"
        case .coordinator, .admin, .scrape: role.rawValue
        }
    }

    /// The entry naming this holder in a secrets file's `accept` list, for a token with this digest.
    public func acceptEntry(sha256 digest: String) -> JSONValue {
        var members: [(String, JSONValue)] = [("role", .string(role.rawValue))]
        if let node { members.append(("node", .string(node))) }
        if let municipality { members.append(("municipality", .number(Double(municipality)))) }
        if let name { members.append(("name", .string(name))) }
        members.append(("sha256", .string(digest)))
        return .object(members)
    }
}

/// A fresh bearer token for one holder and the entry that makes nodes accept it.
public struct IssuedCredential: Sendable {
    /// `ks_` and 32 random bytes in base64url: shown once, kept by the holder only.
    public let token: String
    public let caller: Caller

    public init(token: String, caller: Caller) {
        self.token = token
        self.caller = caller
    }

    /// A new random token (32 bytes from the system's CSPRNG).
    public static func issue(for caller: Caller) -> IssuedCredential {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let base64url = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return IssuedCredential(token: "ks_" + base64url, caller: caller)
    }

    /// Lowercase hex of the SHA-256 of the token: what accepting nodes store.
    public var digest: String { SHA256.hex(SHA256.hash(Array(token.utf8))) }

    /// The JSON line for the accepting nodes' `accept` lists.
    public var acceptEntry: String { caller.acceptEntry(sha256: digest).serialized }

    /// What `kotosyncd credential new` prints.
    public var instructions: String {
        var text = """
            token (shown once; give it to its holder only, keep no copy):
            \(token)

            add this entry to the "accept" list of every node it must open:
            \(acceptEntry)

            """
        if caller.role == .peer, let node = caller.node {
            text += """

                the token itself goes into \(node)'s own secrets file as "peerCredential" (and nowhere else).

                """
        }
        return text
    }
}

/// A command line that does not say what to do; the message says why.
public struct UsageError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}

/// `kotosyncd credential new` and `kotosyncd keygen`: argument parsing and work, kept out of `main`.
public enum Commands {
    /// The holder named by the arguments of `credential new` (after `new`):
    /// `--role peer --node NODE`, `--role office --municipality CODE [--name NAME]`,
    /// `--role coordinator --name NAME`, `--role admin --name NAME` or `--role scrape --name NAME`.
    public static func parseCredentialHolder(_ arguments: [String]) throws(UsageError) -> Caller {
        var values: [String: String] = [:]
        var rest = arguments[...]
        while let option = rest.popFirst() {
            guard ["--role", "--node", "--municipality", "--name"].contains(option) else {
                throw UsageError("unknown argument \(option) to credential new; see --help")
            }
            guard let value = rest.popFirst(), !value.hasPrefix("--") else { throw UsageError("\(option) needs a value") }
            guard values[option] == nil else { throw UsageError("\(option) given twice") }
            values[option] = value
        }
        guard let roleText = values["--role"] else { throw UsageError("credential new needs --role peer|office|coordinator|admin|scrape") }
        guard let role = Role(rawValue: roleText) else {
            throw UsageError("--role must be one of: peer, office, coordinator, admin, scrape")
        }
        func refuse(_ options: [String]) throws(UsageError) {
            if let extra = options.first(where: { values[$0] != nil }) {
                throw UsageError("\(extra) does not apply to --role \(role.rawValue)")
            }
        }
        func name(required: Bool) throws(UsageError) -> String? {
            guard let name = values["--name"] else {
                if required { throw UsageError("--role \(role.rawValue) needs --name NAME (who holds it)") }
                return nil
            }
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw UsageError("--name must not be empty") }
            return name
        }
        switch role {
        case .peer:
            try refuse(["--municipality", "--name"])
            guard let node = values["--node"] else { throw UsageError("--role peer needs --node NODE (the node that presents it)") }
            guard NodeID.isValid(node) else { throw UsageError("--node must be 1–64 characters of a-z, 0-9, - and _") }
            return .peer(node)
        case .office:
            try refuse(["--node"])
            guard let text = values["--municipality"] else { throw UsageError("--role office needs --municipality CODE") }
            guard let code = Int(text), (1...999).contains(code) else { throw UsageError("--municipality must be a code from 1 to 999") }
            return .office(municipality: code, name: try name(required: false))
        case .coordinator, .admin, .scrape:
            try refuse(["--node", "--municipality"])
            let holder = try name(required: true)!
            switch role {
            case .admin: return .admin(name: holder)
            case .scrape: return .scrape(name: holder)
            default: return .coordinator(name: holder)
            }
        }
    }

    /// The path of `keygen --out PATH`.
    public static func parseKeygen(_ arguments: [String]) throws(UsageError) -> String {
        guard arguments.count == 2, arguments[0] == "--out" else {
            throw UsageError(arguments.first == "--out" ? "--out needs a path" : "keygen takes --out PATH; see --help")
        }
        guard !arguments[1].isEmpty, !arguments[1].hasPrefix("--") else { throw UsageError("--out needs a path") }
        return arguments[1]
    }

    /// Writes a new signing key to `path` (mode 0600, never over an existing
    /// file) and returns the manifest line with its public key.
    public static func keygen(out path: String) throws(CryptoError) -> String {
        let key = try SigningKey.generate()
        try key.write(to: path)
        return manifestLine(for: key.publicKey)
    }

    /// `"publicKeys": ["ed25519:..."]`, the line a member's manifest entry needs.
    public static func manifestLine(for key: PublicKey) -> String {
        "\"publicKeys\": [\(JSONValue.string(key.text).serialized)]"
    }
}
