import Foundation
import KotoCrypto
import KotoTestSupport
import Testing
@testable import KotoStore

/// The access log's chain: appended entries verify, and any change to the
/// file — a column of an entry, a removed or moved entry, the checkpoint,
/// the signed head — is found and the first broken entry named.
@Suite struct AccessLogStoreTests {
    static let node = "jakobstad"
    static var key: SigningKey { TestKeys.signing[node]! }
    static var publicKeys: [PublicKey] { [key.publicKey] }
    static let day: Int64 = 86_400_000
    /// 2026-12-01T00:00:00Z.
    static let base: Int64 = 1_796_083_200_000

    /// A log in its own directory and a raw connection to the same file for tampering.
    final class Fixture {
        let directory: TemporaryDirectory
        let store: AccessLogStore
        var path: String { directory.path("access.sqlite") }

        init() throws {
            directory = try TemporaryDirectory()
            store = try AccessLogStore(path: directory.path("access.sqlite"), node: AccessLogStoreTests.node,
                                       signingKey: AccessLogStoreTests.key, synchronous: .off)
        }

        /// Runs `sql` on a second connection, as someone editing the file would.
        func tamper(_ sql: String) throws {
            let raw = try Database(path: path, synchronous: .off)
            try raw.execute(sql)
        }

        func verify(keys: [PublicKey] = AccessLogStoreTests.publicKeys) throws -> AccessLogVerification {
            try store.verify(publicKeys: keys)
        }
    }

    static func draft(_ index: Int, time: Int64? = nil) -> AccessLogEntry.Draft {
        let id = String(format: "00000000-0000-4000-8000-%012d", index)
        return AccessLogEntry.Draft(
            timeMillis: time ?? base + Int64(index) * 1000,
            holder: index.isMultiple(of: 2) ? .init(role: "coordinator", municipality: nil, name: "Test coordinator")
                : .init(role: "office", municipality: 598, name: nil),
            action: "read", kind: "clients", ids: [id], fields: ["familyName", "givenName"], route: "GET /v1/clients/{id}",
            purpose: index.isMultiple(of: 3) ? nil : "case work")
    }

    /// A log of `count` entries.
    static func filled(_ count: Int = 5) throws -> Fixture {
        let fixture = try Fixture()
        for index in 1...count { try fixture.store.append(draft(index)) }
        return fixture
    }

    @Test func appendedEntriesChainAndVerify() throws {
        let fixture = try Self.filled()
        let entries = try fixture.store.allEntries()
        #expect(entries.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(entries[0].previousHash == AccessLogEncoding.genesis)
        for (earlier, later) in zip(entries, entries.dropFirst()) { #expect(later.previousHash == earlier.hash) }
        for entry in entries {
            #expect(entry.hash == SHA256.hash(AccessLogEncoding.entry(entry)))
            #expect(entry.node == Self.node)
        }
        #expect(entries[1].holder == .init(role: "coordinator", municipality: nil, name: "Test coordinator"))
        #expect(entries[2].purpose == nil && entries[0].purpose == "case work")
        let result = try fixture.verify()
        #expect(result.ok, "\(String(describing: result.broken))")
        #expect(result.entries == 5 && result.firstSeq == 1 && result.lastSeq == 5 && result.checkpoint == nil)

        // Reopened, the log goes on where it stopped.
        let reopened = try AccessLogStore(path: fixture.path, node: Self.node, signingKey: Self.key, synchronous: .off)
        let sixth = try reopened.append(Self.draft(6))
        #expect(sixth.seq == 6 && sixth.previousHash == entries[4].hash)
        #expect(try reopened.verify(publicKeys: Self.publicKeys).ok)
    }

    @Test func readsByPeriodAndByRecord() throws {
        let fixture = try Fixture()
        try fixture.store.append(Self.draft(1, time: Self.base - 1))
        try fixture.store.append(Self.draft(2, time: Self.base))
        try fixture.store.append(Self.draft(3, time: Self.base + Self.day - 1))
        try fixture.store.append(Self.draft(4, time: Self.base + Self.day))
        #expect(try fixture.store.entries(fromMillis: Self.base, toMillis: Self.base + Self.day).map(\.seq) == [2, 3])
        let id = Self.draft(3).ids[0]
        #expect(try fixture.store.entries(naming: [id]).map(\.seq) == [3])
        #expect(try fixture.store.entries(naming: [id, Self.draft(1).ids[0]]).map(\.seq) == [1, 3])
        #expect(try fixture.store.entries(naming: ["00000000-0000-4000-8000-000000000099"]).isEmpty)
    }

    /// Per column, a change the entry's hash no longer matches.
    static let columnChanges: [(column: String, sql: String)] = [
        ("time", "time = time + 1"),
        ("node", "node = 'nykarleby'"),
        ("holder_role", "holder_role = 'admin'"),
        ("holder_municipality", "holder_municipality = CASE WHEN holder_municipality IS NULL THEN 440 ELSE NULL END"),
        ("holder_name", "holder_name = CASE WHEN holder_name IS NULL THEN 'Someone' ELSE holder_name || 'x' END"),
        ("action", "action = 'export'"),
        ("kind", "kind = 'placements'"),
        ("ids", "ids = '00000000-0000-4000-8000-000000000099'"),
        ("fields", "fields = 'givenName'"),
        ("route", "route = 'GET /v1/clients'"),
        ("purpose", "purpose = CASE WHEN purpose IS NULL THEN 'x' ELSE NULL END"),
        ("previous_hash", "previous_hash = randomblob(32)"),
        ("hash", "hash = randomblob(32)"),
    ]

    @Test(arguments: columnChanges.map(\.column))
    func changingAnyColumnOfAnyEntryIsNamed(_ column: String) throws {
        let sql = try #require(Self.columnChanges.first { $0.column == column }?.sql)
        for seq in 1...5 {
            let fixture = try Self.filled()
            try fixture.tamper("UPDATE entries SET \(sql) WHERE seq = \(seq)")
            let broken = try #require(try fixture.verify().broken, "a change of \(column) in entry \(seq) went unnoticed")
            #expect(broken.seq == UInt64(seq), "\(column) of entry \(seq): named \(broken.seq)")
            #expect(broken.problem == .hashMismatch, "\(column) of entry \(seq): \(broken.problem)")
        }
    }

    @Test func aChangedEntryWithARecomputedHashBreaksTheLinkAfterIt() throws {
        for seq in 1...5 {
            let fixture = try Self.filled()
            var entry = try #require(try fixture.store.allEntries().first { $0.seq == UInt64(seq) })
            entry.action = "erase"
            let forged = SHA256.hex(entry.computedHash)
            try fixture.tamper("UPDATE entries SET action = 'erase', hash = x'\(forged)' WHERE seq = \(seq)")
            let broken = try #require(try fixture.verify().broken)
            if seq < 5 {
                #expect(broken.seq == UInt64(seq + 1) && broken.problem == .previousHashMismatch, "\(broken)")
            } else {
                // The last entry: the signed head names the hash it had.
                #expect(broken.seq == 5 && broken.problem == .headMismatch, "\(broken)")
            }
        }
    }

    @Test(arguments: [1, 3, 5])
    func aDeletedEntryIsNamed(_ seq: Int) throws {
        let fixture = try Self.filled()
        try fixture.tamper("DELETE FROM entries WHERE seq = \(seq)")
        let broken = try #require(try fixture.verify().broken)
        // The entry after the hole; a removed last entry is missing before the signed head.
        #expect(broken.seq == UInt64(seq == 5 ? 5 : seq + 1), "\(broken)")
        #expect(broken.problem == .seqGap, "\(broken)")
    }

    @Test func reorderedEntriesAreNamed() throws {
        let fixture = try Self.filled()
        try fixture.tamper("UPDATE entries SET seq = -2 WHERE seq = 2; UPDATE entries SET seq = 2 WHERE seq = 3; UPDATE entries SET seq = 3 WHERE seq = -2")
        let broken = try #require(try fixture.verify().broken)
        #expect(broken.seq == 2 && broken.problem == .hashMismatch, "\(broken)")

        let swapped = try Self.filled()
        // Whole rows moved, hashes and all: the links no longer run in seq order.
        try swapped.tamper("""
            CREATE TABLE moved AS SELECT * FROM entries WHERE seq IN (2, 3);
            DELETE FROM entries WHERE seq IN (2, 3);
            INSERT INTO entries SELECT CASE seq WHEN 2 THEN 3 ELSE 2 END, time, node, holder_role, holder_municipality, holder_name,
                action, kind, ids, fields, route, purpose, previous_hash, hash FROM moved;
            """)
        let moved = try #require(try swapped.verify().broken)
        #expect(moved.seq == 2, "\(moved)")
    }

    @Test func appendedForgeryAndHeadEditsAreNamed() throws {
        let forged = try Self.filled()
        try forged.tamper("""
            INSERT INTO entries SELECT seq + 1, time, node, holder_role, holder_municipality, holder_name, action, kind, ids, fields,
                route, purpose, hash, hash FROM entries WHERE seq = 5
            """)
        let extra = try #require(try forged.verify().broken)
        #expect(extra.seq == 6, "\(extra)")

        let head = try Self.filled()
        try head.tamper("UPDATE head SET signature = randomblob(64)")
        let broken = try #require(try head.verify().broken)
        #expect(broken.problem == .badHeadSignature && broken.seq == 5, "\(broken)")

        // Signed by another node's key: not this node's.
        let other = try Self.filled()
        let wrongKeys = [TestKeys.signing["larsmo"]!.publicKey]
        #expect(try other.verify(keys: wrongKeys).broken?.problem == .badHeadSignature)
    }

    // MARK: Retention

    @Test func purgeLeavesACheckpointTheRestVerifiesFrom() throws {
        let fixture = try Fixture()
        for index in 1...4 { try fixture.store.append(Self.draft(index, time: Self.base - 400 * Self.day + Int64(index))) }
        for index in 5...7 { try fixture.store.append(Self.draft(index, time: Self.base + Int64(index))) }
        let before = try fixture.store.allEntries()
        let (removed, checkpoint) = try fixture.store.purge(olderThan: Self.base, nowMillis: Self.base + Self.day)
        #expect(removed == 4)
        let kept = try #require(checkpoint)
        #expect(kept.seq == 4 && kept.hash == before[3].hash && kept.timeMillis == before[3].timeMillis)
        #expect(Self.key.publicKey.verify(signature: kept.signature, message: AccessLogEncoding.checkpoint(kept)))
        #expect(try fixture.store.allEntries().map(\.seq) == [5, 6, 7])
        let result = try fixture.verify()
        #expect(result.ok, "\(String(describing: result.broken))")
        #expect(result.firstSeq == 5 && result.checkpoint == kept)

        // Nothing old left: nothing removed, the checkpoint stays.
        #expect(try fixture.store.purge(olderThan: Self.base, nowMillis: Self.base + 2 * Self.day).removed == 0)
        #expect(try fixture.store.checkpoint() == kept)
        try fixture.store.append(Self.draft(8))
        #expect(try fixture.verify().ok)

        // Everything old: the checkpoint is the head.
        let (all, last) = try fixture.store.purge(olderThan: Self.base + 10 * Self.day, nowMillis: Self.base + 11 * Self.day)
        #expect(all == 4 && last?.seq == 8)
        let empty = try fixture.verify()
        #expect(empty.ok && empty.entries == 0, "\(String(describing: empty.broken))")
        #expect(try fixture.store.append(Self.draft(9)).seq == 9)
        #expect(try fixture.verify().ok)
    }

    @Test func purgeRemovesOnlyAnUnbrokenRunOfOldEntries() throws {
        let fixture = try Fixture()
        try fixture.store.append(Self.draft(1, time: Self.base - 10 * Self.day))
        try fixture.store.append(Self.draft(2, time: Self.base + 1))
        // A clock stepped back: older than the cutoff, but after a kept entry.
        try fixture.store.append(Self.draft(3, time: Self.base - 5 * Self.day))
        #expect(try fixture.store.purge(olderThan: Self.base, nowMillis: Self.base).removed == 1)
        #expect(try fixture.store.allEntries().map(\.seq) == [2, 3])
        #expect(try fixture.verify().ok)
    }

    static let checkpointChanges = [
        "seq = seq - 1", "hash = randomblob(32)", "time = time + 1", "created = created + 1", "node = 'larsmo'",
        "signature = randomblob(64)",
    ]

    @Test(arguments: checkpointChanges)
    func anEditedCheckpointIsNamed(_ change: String) throws {
        let fixture = try Fixture()
        for index in 1...3 { try fixture.store.append(Self.draft(index, time: Self.base - 100 * Self.day)) }
        try fixture.store.append(Self.draft(4, time: Self.base))
        try fixture.store.purge(olderThan: Self.base, nowMillis: Self.base)
        #expect(try fixture.verify().ok)
        try fixture.tamper("UPDATE checkpoint SET \(change)")
        let broken = try #require(try fixture.verify().broken, "\(change) went unnoticed")
        #expect(broken.problem == .badCheckpointSignature, "\(change): \(broken)")
        #expect(broken.seq == (change.hasPrefix("seq") ? 2 : 3), "\(change): \(broken)")
    }

    @Test func aRemovedCheckpointIsNamed() throws {
        let fixture = try Fixture()
        for index in 1...3 { try fixture.store.append(Self.draft(index, time: Self.base - 100 * Self.day)) }
        try fixture.store.append(Self.draft(4, time: Self.base))
        try fixture.store.purge(olderThan: Self.base, nowMillis: Self.base)
        try fixture.tamper("DELETE FROM checkpoint")
        let broken = try #require(try fixture.verify().broken)
        #expect(broken.seq == 4 && broken.problem == .seqGap, "\(broken)")
    }

    // MARK: The file

    @Test func theFileIsOwnerOnlyAndAWiderOneIsRefused() throws {
        let fixture = try Self.filled(1)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: fixture.path)[.posixPermissions] as? NSNumber)
        #expect(mode.intValue & 0o777 == 0o600)
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: fixture.path + suffix) {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: fixture.path + suffix)[.posixPermissions] as? NSNumber)
            #expect(mode.intValue & 0o077 == 0, "\(suffix) mode \(String(mode.intValue, radix: 8))")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: fixture.path)
        #expect(throws: AccessLogError.self) {
            try AccessLogStore(path: fixture.path, node: Self.node, signingKey: Self.key, synchronous: .off)
        }
    }

    @Test func anEntryWithACommaInAnIdIsRefused() throws {
        let fixture = try Fixture()
        var draft = Self.draft(1)
        draft.fields = ["a,b"]
        #expect(throws: AccessLogError.self) { try fixture.store.append(draft) }
        #expect(try fixture.store.count == 0)
    }

    /// The documented encoding, rebuilt here byte by byte: a reader of docs/audit.md can recompute a hash.
    @Test func theEntryEncodingIsTheDocumentedOne() throws {
        let draft = AccessLogEntry.Draft(timeMillis: 1_796_133_600_123, holder: .init(role: "office", municipality: 598, name: nil),
                                         action: "read", kind: "clients", ids: ["0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10"],
                                         fields: ["familyName", "givenName"], route: "GET /v1/clients/{id}", purpose: nil)
        let entry = AccessLogEntry(seq: 12, node: "jakobstad", draft: draft, previousHash: AccessLogEncoding.genesis, hash: [])
        func field(_ text: String?) -> [UInt8] {
            guard let text else { return [0xff, 0xff, 0xff, 0xff] }
            let bytes = Array(text.utf8)
            return [0, 0, 0, UInt8(bytes.count)] + bytes
        }
        var expected = Array("kotosync access log entry v1\n".utf8)
        expected += field("12") + field("1796133600123") + field("jakobstad") + field("office") + field("598") + field(nil)
        expected += field("read") + field("clients")
        expected += [0, 0, 0, 1] + field("0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10")
        expected += [0, 0, 0, 2] + field("familyName") + field("givenName")
        expected += field("GET /v1/clients/{id}") + field(nil) + [0, 0, 0, 32] + AccessLogEncoding.genesis
        #expect(AccessLogEncoding.entry(entry) == expected)
        #expect(entry.computedHash == SHA256.hash(expected))
    }
}
