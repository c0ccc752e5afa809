import Foundation
import KotoCore
import Testing

@Suite struct ChangeTests {
    @Test func purgedKeepsEverythingButThePayload() {
        let change = Change(dot: Dot(origin: "larsmo", seq: 4), hlc: HLC(wallMillis: 9, counter: 1), record: .client,
                            rowID: Fixture.clientID, kind: .upsert, fields: ["givenName": .text("Testi")],
                            rowClock: VersionVector(["larsmo": 4, "kronoby": 2]))
        let purged = change.purged
        #expect(purged.fields.isEmpty)
        #expect(purged.dot == change.dot && purged.hlc == change.hlc && purged.record == change.record)
        #expect(purged.rowID == change.rowID && purged.kind == change.kind && purged.rowClock == change.rowClock)
    }

    @Test func uuidLowercasedIsTheCanonicalForm() {
        var rng = SeededRNG(seed: 5)
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
