import Foundation
import KotoCore
import KotoTestSupport
import Testing

@Suite struct ChangeTests {
    @Test func purgedKeepsEverythingButThePayload() {
        let link = [UInt8](repeating: 0xab, count: 32), signature = [UInt8](repeating: 0x5c, count: 64)
        let digest = [UInt8](repeating: 0x11, count: 32)
        let change = Change(dot: Dot(origin: "larsmo", seq: 4), hlc: HLC(wallMillis: 9, counter: 1), record: .client,
                            rowID: Fixture.clientID, kind: .upsert, fields: ["givenName": .text("Testi")],
                            rowClock: VersionVector(["larsmo": 4, "kronoby": 2]), chainHash: link, signature: signature)
        #expect(!change.isPurged && change.purgedPayloadDigest == nil)
        let purged = change.purged(payloadDigest: digest)
        #expect(purged.fields.isEmpty)
        #expect(purged.isPurged)
        #expect(purged.purgedPayloadDigest == digest)
        #expect(purged.dot == change.dot && purged.hlc == change.hlc && purged.record == change.record)
        #expect(purged.rowID == change.rowID && purged.kind == change.kind && purged.rowClock == change.rowClock)
        // The link and signature stay: a purged change still verifies.
        #expect(purged.chainHash == link && purged.signature == signature)
        #expect(purged != change)
    }

    @Test func anEraseHasNoPayloadToPurge() {
        let erase = Change(dot: Dot(origin: "kronoby", seq: 2), hlc: HLC(wallMillis: 10), record: .client, rowID: Fixture.clientID,
                           kind: .erase, fields: [:], rowClock: VersionVector(["kronoby": 2]))
        let purged = erase.purged(payloadDigest: [UInt8](repeating: 1, count: 32))
        #expect(purged == erase)
        #expect(!purged.isPurged)
    }

    @Test func deleteIsPurgedLikeAnUpsert() {
        let delete = Change(dot: Dot(origin: "kronoby", seq: 3), hlc: HLC(wallMillis: 10), record: .placement, rowID: Fixture.placementID,
                            kind: .delete, fields: ["deleted": .bool(true)], rowClock: VersionVector(["kronoby": 3]))
        let purged = delete.purged(payloadDigest: [UInt8](repeating: 2, count: 32))
        #expect(purged.isPurged && purged.fields.isEmpty && purged.kind == .delete)
    }

    @Test func linkedSetsTheLinkAndSignatureOnly() {
        let change = Change(dot: Dot(origin: "jakobstad", seq: 1), hlc: HLC(wallMillis: 1), record: .service, rowID: Fixture.serviceID,
                            kind: .upsert, fields: ["capacity": .integer(3)], rowClock: VersionVector(["jakobstad": 1]))
        #expect(change.chainHash.isEmpty && change.signature == nil)
        let link = [UInt8](repeating: 7, count: 32), signature = [UInt8](repeating: 9, count: 64)
        let linked = change.linked(chainHash: link, signature: signature)
        #expect(linked.chainHash == link && linked.signature == signature)
        #expect(linked.dot == change.dot && linked.hlc == change.hlc && linked.fields == change.fields
            && linked.rowClock == change.rowClock && linked.kind == change.kind && !linked.isPurged)
        let unsigned = linked.linked(chainHash: link, signature: nil)
        #expect(unsigned.signature == nil && unsigned.chainHash == link)
    }

    @Test func uuidLowercasedIsTheCanonicalForm() {
        var rng = SeededGenerator(state: 5)
        for _ in 0..<200 {
            var bytes: [UInt8] = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes[0] = bytes[0] | 0xa0 // make sure hex letters occur
            let id = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                                 bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
            #expect(id.lowercased == id.uuidString.lowercased())
            #expect(UUID(uuidString: id.lowercased) == id)
            #expect(RecordValidator().check(.text(id.lowercased), against: FieldSpec("id", "id", .uuid)).isEmpty)
        }
        #expect(Fixture.familyID.lowercased == "00000000-0000-4000-8000-0000000000fa")
    }
}
