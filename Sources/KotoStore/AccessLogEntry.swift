import Foundation
import KotoCrypto

/// One line of the access log (Act 906/2019 §17): who (`holder`) did what
/// (`action`) to which records (`kind`, `ids`, `fields`), on which route,
/// why (`purpose`), when (`timeMillis`, UTC) and on which node. Identifiers
/// and field names only, never a field's value. `hash` seals the entry and
/// the one before it (`previousHash`), so a changed, removed or reordered
/// entry breaks the chain (see `AccessLogEncoding`).
public struct AccessLogEntry: Sendable, Equatable {
    /// Who held the credential: role, municipality (offices) and name, as the credential names them.
    public struct Holder: Sendable, Equatable {
        public var role: String
        public var municipality: Int?
        public var name: String?

        public init(role: String, municipality: Int?, name: String?) {
            self.role = role
            self.municipality = municipality
            self.name = name
        }
    }

    /// Everything of an entry but its place in the chain: what `append` takes.
    public struct Draft: Sendable, Equatable {
        public var timeMillis: Int64
        public var holder: Holder
        public var action: String
        /// The record kind's table name (`clients`).
        public var kind: String
        /// Lowercase record ids.
        public var ids: [String]
        public var fields: [String]
        /// `GET /v1/clients/{id}`: the method and the route's pattern, never the request's own path.
        public var route: String
        public var purpose: String?

        public init(timeMillis: Int64, holder: Holder, action: String, kind: String, ids: [String], fields: [String],
                    route: String, purpose: String?) {
            self.timeMillis = timeMillis
            self.holder = holder
            self.action = action
            self.kind = kind
            self.ids = ids
            self.fields = fields
            self.route = route
            self.purpose = purpose
        }
    }

    public var seq: UInt64
    public var timeMillis: Int64
    public var node: String
    public var holder: Holder
    public var action: String
    public var kind: String
    public var ids: [String]
    public var fields: [String]
    public var route: String
    public var purpose: String?
    public var previousHash: [UInt8]
    public var hash: [UInt8]

    public init(seq: UInt64, node: String, draft: Draft, previousHash: [UInt8], hash: [UInt8]) {
        self.seq = seq
        self.timeMillis = draft.timeMillis
        self.node = node
        self.holder = draft.holder
        self.action = draft.action
        self.kind = draft.kind
        self.ids = draft.ids
        self.fields = draft.fields
        self.route = draft.route
        self.purpose = draft.purpose
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The hash this entry's contents and `previousHash` give (what `hash` must equal).
    public var computedHash: [UInt8] { SHA256.hash(AccessLogEncoding.entry(self)) }
}

/// The signed statement a purge leaves: the seq, hash and time of the last
/// entry it removed, so the first entry kept still links to something the
/// node vouches for. `signature` is the node's Ed25519 signature of
/// `AccessLogEncoding.checkpoint`.
public struct AccessLogCheckpoint: Sendable, Equatable {
    public var node: String
    public var seq: UInt64
    public var hash: [UInt8]
    public var timeMillis: Int64
    /// When the purge ran.
    public var createdMillis: Int64
    public var signature: [UInt8]

    public init(node: String, seq: UInt64, hash: [UInt8], timeMillis: Int64, createdMillis: Int64, signature: [UInt8]) {
        self.node = node
        self.seq = seq
        self.hash = hash
        self.timeMillis = timeMillis
        self.createdMillis = createdMillis
        self.signature = signature
    }

    /// The bytes `signature` signs.
    public var signedBytes: [UInt8] { AccessLogEncoding.checkpoint(self) }
}

/// The canonical byte encodings the access log hashes and signs. Each is a
/// domain tag line, then every value in a fixed order, each written as a
/// 4-byte big-endian length and its UTF-8 bytes (an absent value as the
/// length `0xFFFFFFFF` and no bytes); a list is its element count (4 bytes,
/// big-endian) followed by its elements so encoded; integers are decimal
/// text; hashes are their 32 raw bytes. No two different entries encode
/// alike, so the hash of the encoding pins every column.
///
/// Entry (`hash = SHA-256(entry)`): `kotosync access log entry v1\n`, seq,
/// time (UTC milliseconds), node, holder role, holder municipality (or
/// absent), holder name (or absent), action, kind, ids (list), fields
/// (list), route, purpose (or absent), previousHash.
///
/// Checkpoint (signed with Ed25519): `kotosync access log checkpoint v1\n`,
/// node, seq, hash, time (UTC milliseconds) of the last removed entry, and
/// when the purge ran.
///
/// Head (signed): `kotosync access log head v1\n`, node, seq, hash of the
/// last entry appended: a cut-off tail does not end where the head says.
public enum AccessLogEncoding {
    /// The `previousHash` of the first entry of a log never purged.
    public static let genesis = [UInt8](repeating: 0, count: SHA256.byteCount)

    public static func entry(_ entry: AccessLogEntry) -> [UInt8] {
        var writer = Writer(tag: "kotosync access log entry v1\n")
        writer.integer(Int64(entry.seq))
        writer.integer(entry.timeMillis)
        writer.text(entry.node)
        writer.text(entry.holder.role)
        writer.text(entry.holder.municipality.map(String.init))
        writer.text(entry.holder.name)
        writer.text(entry.action)
        writer.text(entry.kind)
        writer.list(entry.ids)
        writer.list(entry.fields)
        writer.text(entry.route)
        writer.text(entry.purpose)
        writer.bytes(entry.previousHash)
        return writer.output
    }

    public static func checkpoint(_ checkpoint: AccessLogCheckpoint) -> [UInt8] {
        var writer = Writer(tag: "kotosync access log checkpoint v1\n")
        writer.text(checkpoint.node)
        writer.integer(Int64(checkpoint.seq))
        writer.bytes(checkpoint.hash)
        writer.integer(checkpoint.timeMillis)
        writer.integer(checkpoint.createdMillis)
        return writer.output
    }

    public static func head(node: String, seq: UInt64, hash: [UInt8]) -> [UInt8] {
        var writer = Writer(tag: "kotosync access log head v1\n")
        writer.text(node)
        writer.integer(Int64(seq))
        writer.bytes(hash)
        return writer.output
    }

    private struct Writer {
        var output: [UInt8]

        init(tag: String) { output = Array(tag.utf8) }

        mutating func length(_ count: UInt32) {
            output += [UInt8(count >> 24), UInt8((count >> 16) & 0xff), UInt8((count >> 8) & 0xff), UInt8(count & 0xff)]
        }

        mutating func bytes(_ bytes: [UInt8]) {
            length(UInt32(bytes.count))
            output += bytes
        }

        mutating func text(_ text: String?) {
            guard let text else { return length(0xFFFF_FFFF) }
            bytes(Array(text.utf8))
        }

        mutating func integer(_ number: Int64) { text(String(number)) }

        mutating func list(_ items: [String]) {
            length(UInt32(items.count))
            for item in items { text(item) }
        }
    }
}
