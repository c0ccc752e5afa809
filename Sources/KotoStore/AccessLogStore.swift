import Foundation
public import KotoCrypto

/// Why the access log could not be opened or written.
public struct AccessLogError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}

/// The access log's own SQLite file (`access.sqlite` in the data
/// directory, mode 0600, WAL, synchronous FULL): append-only entries, each
/// chained to the one before by SHA-256, a signed head (the last entry's
/// seq and hash, so a cut-off tail shows) and, after a purge, a signed
/// checkpoint (the last removed entry's seq and hash, so the entries kept
/// still verify). Owns its connection: not Sendable, one owner (the node's
/// `AccessLog` actor) uses it.
public final class AccessLogStore {
    public let node: String
    public let path: String
    let database: Database
    private let signingKey: SigningKey
    /// Where the next entry links: the signed head, else the last entry or checkpoint, else genesis.
    private var head: (seq: UInt64, hash: [UInt8])

    static let schema: [String] = [
        """
        CREATE TABLE entries (
            seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, node TEXT NOT NULL,
            holder_role TEXT NOT NULL, holder_municipality INTEGER, holder_name TEXT,
            action TEXT NOT NULL, kind TEXT NOT NULL, ids TEXT NOT NULL, fields TEXT NOT NULL,
            route TEXT NOT NULL, purpose TEXT, previous_hash BLOB NOT NULL, hash BLOB NOT NULL)
        """,
        "CREATE INDEX entries_time ON entries (time)",
        """
        CREATE TABLE head (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            seq INTEGER NOT NULL, hash BLOB NOT NULL, signature BLOB NOT NULL)
        """,
        """
        CREATE TABLE checkpoint (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1), node TEXT NOT NULL,
            seq INTEGER NOT NULL, hash BLOB NOT NULL, time INTEGER NOT NULL, created INTEGER NOT NULL,
            signature BLOB NOT NULL)
        """,
    ]

    /// Opens (creating with mode 0600) the log at `path`; refuses a file others may read.
    public init(path: String, node: String, signingKey: SigningKey, synchronous: SynchronousMode = .full) throws {
        self.node = node
        self.path = path
        self.signingKey = signingKey
        try Self.prepareFile(path)
        let database = try Database(path: path, synchronous: synchronous)
        self.database = database
        // Removed entries leave no bytes in freed pages.
        try database.execute("PRAGMA secure_delete = ON")
        let version = try database.query("PRAGMA user_version") { Int($0.int64(0)) }.first ?? 0
        switch version {
        case 0:
            try database.transaction {
                for sql in Self.schema { try database.execute(sql) }
                try database.execute("PRAGMA user_version = 1")
            }
        case 1: break
        default: throw AccessLogError("\(path) has access log schema \(version); this build knows schema 1")
        }
        head = (0, AccessLogEncoding.genesis)
        head = try loadHead()
    }

    /// Creates the file owner-only before SQLite does (its WAL and shared-memory
    /// files take the database's mode), and refuses one with wider permissions.
    private static func prepareFile(_ path: String) throws {
        let files = FileManager.default
        if files.fileExists(atPath: path) {
            let mode = (try files.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? 0
            guard mode & 0o077 == 0 else {
                throw AccessLogError("\(path) has mode \(String(mode, radix: 8)); the access log must be 0600 (only its owner may read it)")
            }
        } else {
            guard files.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw AccessLogError("cannot create \(path)")
            }
        }
    }

    private func loadHead() throws -> (UInt64, [UInt8]) {
        if let stored = try database.query("SELECT seq, hash FROM head", row: { (UInt64($0.int64(0)), $0.blob(1) ?? []) }).first {
            return stored
        }
        if let last = try database.query("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1", row: {
            (UInt64($0.int64(0)), $0.blob(1) ?? [])
        }).first {
            return last
        }
        if let checkpoint = try checkpoint() { return (checkpoint.seq, checkpoint.hash) }
        return (0, AccessLogEncoding.genesis)
    }

    // MARK: Appending

    /// Appends one entry after the head, in one transaction with the new signed head.
    @discardableResult
    public func append(_ draft: AccessLogEntry.Draft) throws -> AccessLogEntry {
        try Self.check(draft)
        return try append([draft])[0]
    }

    /// Appends `drafts` after the head, in order, in one transaction (one
    /// fsync) with one signed head after the last: the access log's group
    /// commit. Every draft must pass `check` first; throws (and appends
    /// none) when the transaction fails.
    public func append(_ drafts: [AccessLogEntry.Draft]) throws -> [AccessLogEntry] {
        guard !drafts.isEmpty else { return [] }
        var entries: [AccessLogEntry] = []
        entries.reserveCapacity(drafts.count)
        var previous = head
        for draft in drafts {
            var entry = AccessLogEntry(seq: previous.seq + 1, node: node, draft: draft, previousHash: previous.hash, hash: [])
            entry.hash = entry.computedHash
            entries.append(entry)
            previous = (entry.seq, entry.hash)
        }
        let signature = try signingKey.sign(AccessLogEncoding.head(node: node, seq: previous.seq, hash: previous.hash))
        try database.transaction {
            for entry in entries {
                try database.run("""
                    INSERT INTO entries (seq, time, node, holder_role, holder_municipality, holder_name, action, kind, ids, fields,
                                         route, purpose, previous_hash, hash)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    .integer(Int64(entry.seq)), .integer(entry.timeMillis), .text(entry.node), .text(entry.holder.role),
                    entry.holder.municipality.map { .integer(Int64($0)) } ?? .null, entry.holder.name.map { .text($0) } ?? .null,
                    .text(entry.action), .text(entry.kind), .text(entry.ids.joined(separator: ",")),
                    .text(entry.fields.joined(separator: ",")), .text(entry.route), entry.purpose.map { .text($0) } ?? .null,
                    .blob(entry.previousHash), .blob(entry.hash))
            }
            try saveHead(seq: previous.seq, hash: previous.hash, signature: signature)
        }
        head = previous
        return entries
    }

    /// Refuses a draft the log cannot hold (an id or field name that is empty or holds a comma).
    public static func check(_ draft: AccessLogEntry.Draft) throws {
        for item in draft.ids + draft.fields where item.isEmpty || item.contains(",") {
            throw AccessLogError("an access log id or field name must be non-empty and hold no comma")
        }
    }

    private func saveHead(seq: UInt64, hash: [UInt8], signature: [UInt8]) throws {
        try database.run("""
            INSERT INTO head (singleton, seq, hash, signature) VALUES (1, ?, ?, ?)
            ON CONFLICT (singleton) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, signature = excluded.signature
            """, .integer(Int64(seq)), .blob(hash), .blob(signature))
    }

    // MARK: Reading

    private static let columns = """
        seq, time, node, holder_role, holder_municipality, holder_name, action, kind, ids, fields, route, purpose, previous_hash, hash
        """

    private static func entry(_ row: Statement) -> AccessLogEntry {
        func list(_ column: Int32) -> [String] {
            (row.string(column) ?? "").split(separator: ",", omittingEmptySubsequences: true).map(String.init)
        }
        let holder = AccessLogEntry.Holder(role: row.string(3) ?? "", municipality: row.isNull(4) ? nil : Int(row.int64(4)),
                                           name: row.isNull(5) ? nil : row.string(5))
        let draft = AccessLogEntry.Draft(timeMillis: row.int64(1), holder: holder, action: row.string(6) ?? "",
                                         kind: row.string(7) ?? "", ids: list(8), fields: list(9), route: row.string(10) ?? "",
                                         purpose: row.isNull(11) ? nil : row.string(11))
        return AccessLogEntry(seq: UInt64(bitPattern: row.int64(0)), node: row.string(2) ?? "", draft: draft,
                              previousHash: row.blob(12) ?? [], hash: row.blob(13) ?? [])
    }

    /// Entries with `from <= time < to` (UTC milliseconds), in seq order.
    public func entries(fromMillis: Int64, toMillis: Int64) throws -> [AccessLogEntry] {
        try database.query("SELECT \(Self.columns) FROM entries WHERE time >= ? AND time < ? ORDER BY seq",
                           [.integer(fromMillis), .integer(toMillis)], row: Self.entry)
    }

    /// Every entry naming any of `ids` (lowercase), in seq order: who accessed those records.
    public func entries(naming ids: Set<String>) throws -> [AccessLogEntry] {
        guard !ids.isEmpty else { return [] }
        let conditions = Array(repeating: "instr(ids, ?) > 0", count: ids.count).joined(separator: " OR ")
        let found = try database.query("SELECT \(Self.columns) FROM entries WHERE \(conditions) ORDER BY seq",
                                       ids.sorted().map { .text($0) }, row: Self.entry)
        return found.filter { !ids.isDisjoint(with: $0.ids) }
    }

    /// Every entry, in seq order.
    public func allEntries() throws -> [AccessLogEntry] {
        try database.query("SELECT \(Self.columns) FROM entries ORDER BY seq", row: Self.entry)
    }

    public var count: Int {
        get throws { Int(try database.query("SELECT count(*) FROM entries") { $0.int64(0) }.first ?? 0) }
    }

    /// The checkpoint the last purge left, if any.
    public func checkpoint() throws -> AccessLogCheckpoint? {
        try database.query("SELECT node, seq, hash, time, created, signature FROM checkpoint") { row in
            AccessLogCheckpoint(node: row.string(0) ?? "", seq: UInt64(bitPattern: row.int64(1)), hash: row.blob(2) ?? [],
                                timeMillis: row.int64(3), createdMillis: row.int64(4), signature: row.blob(5) ?? [])
        }.first
    }

    // MARK: Retention

    /// Removes the longest run of oldest entries all older than `cutoffMillis`
    /// and, in the same transaction, replaces the checkpoint with one for
    /// the last entry removed, signed; nothing when no entry is that old.
    @discardableResult
    public func purge(olderThan cutoffMillis: Int64, nowMillis: Int64) throws -> (removed: Int, checkpoint: AccessLogCheckpoint?) {
        try database.transaction {
            let keptFrom = try database.query("SELECT min(seq) FROM entries WHERE time >= ?", [.integer(cutoffMillis)]) { row in
                row.isNull(0) ? nil : UInt64(row.int64(0))
            }.first ?? nil
            let condition = keptFrom.map { "seq < \($0)" } ?? "1"
            guard let last = try database.query("SELECT seq, hash, time FROM entries WHERE \(condition) ORDER BY seq DESC LIMIT 1", row: {
                (UInt64($0.int64(0)), $0.blob(1) ?? [], $0.int64(2))
            }).first else { return (0, nil) }
            var checkpoint = AccessLogCheckpoint(node: node, seq: last.0, hash: last.1, timeMillis: last.2, createdMillis: nowMillis,
                                                 signature: [])
            checkpoint.signature = try signingKey.sign(checkpoint.signedBytes)
            try database.run("DELETE FROM entries WHERE seq <= ?", .integer(Int64(last.0)))
            let removed = database.changes
            try database.run("""
                INSERT INTO checkpoint (singleton, node, seq, hash, time, created, signature) VALUES (1, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (singleton) DO UPDATE SET node = excluded.node, seq = excluded.seq, hash = excluded.hash,
                    time = excluded.time, created = excluded.created, signature = excluded.signature
                """, .text(node), .integer(Int64(checkpoint.seq)), .blob(checkpoint.hash), .integer(checkpoint.timeMillis),
                .integer(checkpoint.createdMillis), .blob(checkpoint.signature))
            return (removed, checkpoint)
        }
    }

    /// Moves the log's content out of the WAL into the main file and empties the WAL.
    public func checkpointWAL() throws {
        try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    // MARK: Verification

    /// Walks the chain from the checkpoint (or genesis) to the signed head
    /// and names the first entry that breaks it; `publicKeys` are this
    /// node's keys in the region manifest (any of them may have signed).
    public func verify(publicKeys: [PublicKey]) throws -> AccessLogVerification {
        try database.readTransaction {
            var result = AccessLogVerification(entries: 0, firstSeq: nil, lastSeq: nil, checkpoint: try checkpoint(), broken: nil)
            func signed(_ signature: [UInt8], _ message: [UInt8]) -> Bool {
                publicKeys.contains { $0.verify(signature: signature, message: message) }
            }
            var expected: (seq: UInt64, hash: [UInt8]) = (1, AccessLogEncoding.genesis)
            if let checkpoint = result.checkpoint {
                guard checkpoint.node == node, signed(checkpoint.signature, checkpoint.signedBytes) else {
                    result.broken = .init(seq: checkpoint.seq, problem: .badCheckpointSignature,
                                          message: "the checkpoint at seq \(checkpoint.seq) does not carry a valid signature of node \(node)")
                    return result
                }
                expected = (checkpoint.seq + 1, checkpoint.hash)
            }
            let statement = try database.statement("SELECT \(Self.columns) FROM entries ORDER BY seq")
            defer { statement.reset() }
            while try statement.step() {
                let entry = Self.entry(statement)
                if result.firstSeq == nil { result.firstSeq = entry.seq }
                result.lastSeq = entry.seq
                result.entries += 1
                if entry.seq != expected.seq {
                    let what = entry.seq > expected.seq
                        ? "entries \(expected.seq)\(entry.seq - 1 > expected.seq ? " to \(entry.seq - 1)" : "") are missing"
                        : "it repeats or goes back from seq \(expected.seq - 1)"
                    result.broken = .init(seq: entry.seq, problem: .seqGap, message: "entry \(entry.seq) follows no entry \(entry.seq &- 1): \(what)")
                    return result
                }
                if entry.computedHash != entry.hash {
                    result.broken = .init(seq: entry.seq, problem: .hashMismatch,
                                          message: "entry \(entry.seq)'s hash does not match its contents: it was changed after it was written")
                    return result
                }
                if entry.previousHash != expected.hash {
                    let before = expected.seq == 1 ? "the start of the log" : (result.entries == 1 ? "the checkpoint" : "entry \(expected.seq - 1)")
                    result.broken = .init(seq: entry.seq, problem: .previousHashMismatch,
                                          message: "entry \(entry.seq)'s previousHash is not the hash of \(before)")
                    return result
                }
                if entry.node != node {
                    result.broken = .init(seq: entry.seq, problem: .hashMismatch, message: "entry \(entry.seq) names node \(entry.node), not \(node)")
                    return result
                }
                expected = (entry.seq + 1, entry.hash)
            }
            let stored = try database.query("SELECT seq, hash, signature FROM head") { (UInt64($0.int64(0)), $0.blob(1) ?? [], $0.blob(2) ?? []) }.first
            let last = (seq: expected.seq - 1, hash: expected.hash)
            guard let (headSeq, headHash, signature) = stored else {
                if result.entries > 0 {
                    result.broken = .init(seq: last.seq, problem: .headMismatch, message: "the log holds entries but no signed head")
                }
                return result
            }
            guard signed(signature, AccessLogEncoding.head(node: node, seq: headSeq, hash: headHash)) else {
                result.broken = .init(seq: headSeq, problem: .badHeadSignature,
                                      message: "the head at seq \(headSeq) does not carry a valid signature of node \(node)")
                return result
            }
            if headSeq > last.seq {
                result.broken = .init(seq: last.seq + 1, problem: .seqGap,
                                      message: "entries \(last.seq + 1)\(headSeq > last.seq + 1 ? " to \(headSeq)" : "") are missing: the signed head is at seq \(headSeq)")
            } else if headSeq < last.seq {
                result.broken = .init(seq: headSeq + 1, problem: .headMismatch,
                                      message: "entry \(headSeq + 1) comes after the signed head (seq \(headSeq)): it was not written by this node")
            } else if headHash != last.hash {
                result.broken = .init(seq: last.seq, problem: .headMismatch,
                                      message: "entry \(last.seq)'s hash is not the one the signed head names")
            }
            return result
        }
    }
}

/// What `verify` found: how many entries, from which seq to which, the
/// checkpoint they start from, and the first break if there is one.
public struct AccessLogVerification: Sendable, Equatable {
    public enum Problem: String, Sendable, CaseIterable {
        /// The entry's stored hash is not the hash of its contents.
        case hashMismatch = "hash_mismatch"
        /// The entry's previousHash is not the hash of the entry (or checkpoint) before it.
        case previousHashMismatch = "previous_hash_mismatch"
        /// Seqs do not follow one another: entries were removed or moved.
        case seqGap = "seq_gap"
        /// The purge's checkpoint was changed or forged.
        case badCheckpointSignature = "bad_checkpoint_signature"
        /// The signed head (the last entry's seq and hash) was changed or forged.
        case badHeadSignature = "bad_head_signature"
        /// The entries end elsewhere than where the signed head says.
        case headMismatch = "head_mismatch"
    }

    public struct Break: Sendable, Equatable {
        public let seq: UInt64
        public let problem: Problem
        public let message: String
    }

    public var entries: Int
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    public var checkpoint: AccessLogCheckpoint?
    public var broken: Break?

    public var ok: Bool { broken == nil }
}
