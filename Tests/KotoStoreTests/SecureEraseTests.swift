import Foundation
import KotoCore
import KotoTestSupport
import Testing
@testable import KotoStore

/// Erase leaves no byte: `secure_delete` on every connection, and the WAL
/// checkpointed and truncated after every erase, local or applied from a
/// peer, even with the node's read-only connection open beside the writer.
@Suite struct SecureEraseTests {
    /// A client whose name and identity code occur nowhere else, and those values' bytes.
    struct Distinctive {
        let givenName: String
        let familyName: String
        let code: String

        init() {
            let tag = String(UInt32.random(in: 100_000...999_999))
            givenName = "Qyzäl\(tag)"
            familyName = "Wörmtrux\(tag)"
            let birth = LocalDate(year: 1987, month: 3, day: 14)!
            code = PersonalIdentityCode.make(birthDate: birth, individual: Int.random(in: 100...899))
        }

        var fields: FieldMap {
            var fields = Sample.fixedClient(number: 7)
            fields["givenName"] = .text(givenName)
            fields["familyName"] = .text(familyName)
            fields["birthDate"] = .text("1987-03-14")
            fields["personalIdentityCode"] = .text(code)
            return fields
        }

        var values: [String] { [givenName, familyName, code] }
    }

    /// The values found in any file of `directory`, as UTF-8 or UTF-16 (LE or BE) bytes.
    static func leftovers(of values: [String], in directory: String) throws -> [String] {
        var found: [String] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(file)")))
            for (index, value) in values.enumerated() {
                for (encoding, pattern) in encodings(value) where contains(bytes, pattern) {
                    found.append("value \(index) in \(file) as \(encoding)")
                }
            }
        }
        return found
    }

    static func encodings(_ value: String) -> [(String, [UInt8])] {
        let units = Array(value.utf16)
        return [("UTF-8", Array(value.utf8)),
                ("UTF-16LE", units.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }),
                ("UTF-16BE", units.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })]
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }

    static func walSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber)?.intValue ?? 0
    }

    @Test func secureDeleteIsOnForTheWriterAndTheReadOnlyConnection() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let reader = try ReadOnlyReplica(path: harness.path("jakobstad.sqlite"))
        for database in [store.database, reader.view.database] {
            #expect(try database.query("PRAGMA secure_delete") { $0.int64(0) } == [1])
            try database.requireSecureDelete()
        }
    }

    @Test func aConnectionWithoutSecureDeleteIsRefused() throws {
        let harness = try StoreHarness()
        let database = try Database(path: harness.path("plain.sqlite"))
        try database.execute("PRAGMA secure_delete = OFF")
        #expect(throws: SQLiteError.self) { try database.requireSecureDelete() }
    }

    @Test func aLocalEraseLeavesNoByteOfTheClientInTheDatabaseWALOrSHM() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let path = harness.path("jakobstad.sqlite")
        let reader = try ReadOnlyReplica(path: path)
        let client = Distinctive(), id = UUID()
        try store.create(.client, id: id, fields: client.fields)
        let renamed = "Zörnquist\(client.code.prefix(6))"
        try store.update(.client, id: id, fields: ["familyName": .text(renamed)])
        let values = client.values + [renamed]
        // The node's reader has read the client (its connection saw those pages).
        #expect(try reader.view.record(.client, id: id)?.fields["givenName"] == .text(client.givenName))
        #expect(try !Self.leftovers(of: values, in: harness.directory.path).isEmpty, "the values are on disk before the erase")

        try store.erase(.client, id: id)
        #expect(!store.erasedContentPending)
        #expect(Self.walSize(path) == 0, "the WAL is truncated after the erase")
        let found = try Self.leftovers(of: values, in: harness.directory.path)
        #expect(found.isEmpty, "left after the erase: \(found.joined(separator: "; "))")
        #expect(try reader.view.record(.client, id: id)?.erased == true)
    }

    @Test func aReaderOnAnOlderSnapshotDefersTheTruncationUntilItEnds() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let path = harness.path("jakobstad.sqlite")
        let reader = try ReadOnlyReplica(path: path)
        let client = Distinctive(), id = UUID()
        try store.create(.client, id: id, fields: client.fields)
        // The reader holds a snapshot from before the erase.
        try reader.view.database.execute("BEGIN")
        _ = try reader.view.count(.client)
        try store.erase(.client, id: id)
        #expect(store.erasedContentPending, "the checkpoint could not finish past the reader's snapshot")
        #expect(Self.walSize(path) > 0)
        try reader.view.database.execute("COMMIT")

        let result = try store.wipeErasedContent()
        #expect(result.completed)
        #expect(!store.erasedContentPending)
        #expect(Self.walSize(path) == 0)
        let found = try Self.leftovers(of: client.values, in: harness.directory.path)
        #expect(found.isEmpty, "left after the retried checkpoint: \(found.joined(separator: "; "))")
    }

    @Test func anEraseAppliedFromAPeerLeavesNoByteThereEither() throws {
        let harness = try StoreHarness()
        let origin = try harness.open("jakobstad")
        let replica = try harness.open("nykarleby")
        let path = harness.path("nykarleby.sqlite")
        let reader = try ReadOnlyReplica(path: path)
        let client = Distinctive(), id = UUID(), service = UUID()
        try origin.create(.client, id: id, fields: client.fields)
        try origin.create(.service, id: service, fields: Sample.fixedService(number: 1))
        try origin.create(.placement, id: UUID(), fields: Sample.enrolment(client: id, service: service))
        try pullAll(replica, from: origin)
        // A concurrent write at the replica: an open conflict holding another name.
        let rival = "Xüllberg\(client.code.suffix(4))"
        try replica.update(.client, id: id, fields: ["givenName": .text(rival)])
        try origin.update(.client, id: id, fields: ["givenName": .text(client.givenName + "x")])
        try pullAll(replica, from: origin)
        #expect(try replica.openConflictCount() > 0)
        _ = try reader.view.record(.client, id: id)
        let values = client.values + [rival]

        try origin.erase(.client, id: id)
        try pullAll(replica, from: origin)
        #expect(try replica.record(.client, id: id)?.erased == true)
        #expect(try replica.openConflictCount() == 0)
        #expect(Self.walSize(path) == 0, "the WAL is truncated after the applied erase")
        let directory = harness.directory.path
        let found = try Self.leftovers(of: values, in: directory).filter { $0.contains("nykarleby") }
        #expect(found.isEmpty, "left at the replica: \(found.joined(separator: "; "))")
        // The origin wrote the rival value too (it pulled nothing back, so it never held it): its files are clean of the rest.
        let atOrigin = try Self.leftovers(of: client.values, in: directory).filter { $0.contains("jakobstad") }
        #expect(atOrigin.isEmpty, "left at the origin: \(atOrigin.joined(separator: "; "))")
    }
}
