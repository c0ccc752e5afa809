import Foundation
import KotoCore
import KotoHTTP
import Testing

extension Region {
    /// An attacker holding kronoby's peer credential (but no region key) against real daemons.
    @Suite("Region: adversaries")
    struct Adversary {
        /// Pushes `batch` to `target` with kronoby's peer credential, claiming to be `claimed`.
        static func push(_ batch: ChangeBatch, to target: RegionNode, credential: String, claimed: String,
                         logPosition: UInt64) async throws -> APIResult {
            let headers: HTTPHeaders = [
                "Authorization": "Bearer \(credential)", "Content-Type": "application/x-kotosync-batch",
                "Kotosync-Node": claimed, "Kotosync-Protocol": "2",
                "Kotosync-Schema": String(try #require(try await target.status()["schemaVersion"]?.int64Value)),
                "Kotosync-Log-Position": String(logPosition),
            ]
            let response = try await target.client.send(.post, target.url + "/v1/sync/push", headers: headers,
                                                        body: WireFormat.encode(batch))
            return APIResult(status: response.status.code, body: response.body, headers: response.headers)
        }

        /// A change forged as larsmo's next dot: an unknown chain link and a signature made with no larsmo key.
        static func forgedLarsmoBatch(nextSeq: UInt64) -> ChangeBatch {
            let dot = Dot(origin: "larsmo", seq: nextSeq)
            let fields: FieldMap = ["nameFi": .text("Testipalvelu forged"), "providerName": .text("Provider forged"),
                                    "providerType": .text("municipality"), "category": .text("language_course"),
                                    "municipalities": .text("440"), "studyPath": .text("basic"), "status": .text("active")]
            let change = Change(dot: dot, hlc: HLC(wallMillis: UInt64(Date().timeIntervalSince1970 * 1000)), record: .service,
                                rowID: UUID(), kind: .upsert, fields: fields, rowClock: RowClock(["larsmo": nextSeq]),
                                chainHash: [UInt8](repeating: 0x42, count: 32), signature: [UInt8](repeating: 0x17, count: 64))
            return ChangeBatch(incarnation: "attacker", nextPosition: 1, changes: [change],
                               heads: ["larsmo": ChainHead(seq: nextSeq, hash: change.chainHash)],
                               senderClockMillis: UInt64(Date().timeIntervalSince1970 * 1000))
        }

        @Test("kronoby's leaked credential cannot push a change forged as larsmo's; an empty push with a huge position is 400")
        func forgedPushesAreRefused() async throws {
            try await withRegion { region in
                let jakobstad = region["jakobstad"], larsmo = region["larsmo"]
                let credential = region["kronoby"].tokens.peer
                try expectCreated(try await larsmo.create(.service, Fixture.service(office: "larsmo", label: "honest")), "honest write")
                try await region.waitConverged()
                let before = try await jakobstad.status()
                let larsmoSeq = UInt64(try #require(before["versionVector"]?["larsmo"]?.int64Value))
                let forged = Self.forgedLarsmoBatch(nextSeq: larsmoSeq + 1)

                let asLarsmo = try await Self.push(forged, to: jakobstad, credential: credential, claimed: "larsmo", logPosition: 1)
                #expect(asLarsmo.status == 403)
                #expect(asLarsmo.errorCode == "credential_mismatch")

                let asKronoby = try await Self.push(forged, to: jakobstad, credential: credential, claimed: "kronoby", logPosition: 1)
                #expect(asKronoby.status == 409)
                #expect(asKronoby.errorCode == "batch_refused")
                #expect(asKronoby.errorMessage?.contains("signature") == true, "message: \(asKronoby.errorMessage ?? "none")")

                // Nothing applied anywhere.
                for node in region.all {
                    #expect(try await node.holds(of: "larsmo") == Int64(larsmoSeq), "\(node.name) holds a forged larsmo change")
                }

                // An empty push with a huge nextPosition.
                let huge = ChangeBatch(incarnation: try #require(try await region["kronoby"].status()["incarnation"]?.stringValue),
                                       nextPosition: 1_000_000_000, changes: [])
                let attack = try await Self.push(huge, to: jakobstad, credential: credential, claimed: "kronoby", logPosition: 3)
                #expect(attack.status == 400)
                #expect(attack.errorCode == "invalid_position")

                // The honest region still converges, and jakobstad still pulls kronoby's changes.
                let fromKronoby = newID()
                try expectCreated(try await region["kronoby"].create(.service, Fixture.service(id: fromKronoby, office: "kronoby",
                                                                                                 label: "after-attack")), "kronoby write")
                try expectCreated(try await larsmo.create(.service, Fixture.service(office: "larsmo", label: "after-attack")), "larsmo write")
                try await region.waitConverged()
                #expect(try await jakobstad.record(.service, fromKronoby) != nil)
                #expect(try await jakobstad.peerStatus("kronoby")?["state"]?.stringValue == "ok")
            }
        }
    }
}
