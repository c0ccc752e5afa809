import Foundation
import KotoCore
import KotoCrypto
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
                "Kotosync-Node": claimed, "Kotosync-Protocol": "3",
                "Kotosync-Schema": String(try #require(try await target.status()["schemaVersion"]?.int64Value)),
                "Kotosync-Log-Position": String(logPosition),
            ]
            let response = try await target.client.send(.post, target.url + "/v1/sync/push", headers: headers,
                                                        body: WireFormat.encode(batch))
            return APIResult(status: response.status.code, body: response.body, headers: response.headers)
        }

        /// A change forged as larsmo's next dot. The attacker knows larsmo's
        /// chain head (every sync answer carries it), so the link is right; it
        /// holds no larsmo key, so it signs with one of its own.
        static func forgedLarsmoBatch(nextSeq: UInt64, previousLink: [UInt8]) throws -> ChangeBatch {
            let dot = Dot(origin: "larsmo", seq: nextSeq)
            let fields: FieldMap = ["nameFi": .text("Testipalvelu forged"), "providerName": .text("Provider forged"),
                                    "providerType": .text("municipality"), "category": .text("language_course"),
                                    "municipalities": .text("440"), "studyPath": .text("basic"), "status": .text("active")]
            let unlinked = Change(dot: dot, hlc: HLC(wallMillis: UInt64(Date().timeIntervalSince1970 * 1000)), record: .service,
                                  rowID: UUID(), kind: .upsert, fields: fields, rowClock: RowClock(["larsmo": nextSeq]))
            let link = SHA256.hash(parts: [previousLink, ChainFormat.header(unlinked), SHA256.hash(ChainFormat.payload(unlinked))])
            let signature = try SigningKey.generate().sign(ChainFormat.signedMessage(link))
            let change = unlinked.linked(chainHash: link, signature: signature)
            return ChangeBatch(incarnation: "attacker", nextPosition: 1, changes: [change],
                               heads: ["larsmo": ChainHead(seq: nextSeq, hash: link)],
                               senderClockMillis: UInt64(Date().timeIntervalSince1970 * 1000))
        }

        /// The chain head `target` holds for `origin`, as its sync state tells any peer.
        static func head(of origin: String, at target: RegionNode, credential: String) async throws -> [UInt8] {
            let response = try await target.client.send(.get, target.url + "/v1/sync/state?node=kronoby",
                                                        headers: ["Authorization": "Bearer \(credential)"])
            let json = try JSONValue.parse(response.body)
            let hex = try #require(json["heads"]?[origin]?["hash"]?.stringValue, "state answer without heads: HTTP \(response.status.code)")
            return try #require(bytes(fromHex: hex))
        }

        @Test("kronoby's leaked credential cannot push a change forged as larsmo's; an empty push with a huge position is 400")
        func forgedPushesAreRefused() async throws {
            try await withRegion { region in
                let jakobstad = region["jakobstad"], larsmo = region["larsmo"]
                let credential = try #require(region["kronoby"].tokens.peers["kronoby"])
                try expectCreated(try await larsmo.create(.service, Fixture.service(office: "larsmo", label: "honest")), "honest write")
                try await region.waitConverged()
                let before = try await jakobstad.status()
                let larsmoSeq = UInt64(try #require(before["versionVector"]?["larsmo"]?.int64Value))
                let previous = try await Self.head(of: "larsmo", at: jakobstad, credential: credential)
                let forged = try Self.forgedLarsmoBatch(nextSeq: larsmoSeq + 1, previousLink: previous)

                let asLarsmo = try await Self.push(forged, to: jakobstad, credential: credential, claimed: "larsmo", logPosition: 1)
                #expect(asLarsmo.status == 403)
                #expect(asLarsmo.errorCode == "credential_mismatch")

                let asKronoby = try await Self.push(forged, to: jakobstad, credential: credential, claimed: "kronoby", logPosition: 1)
                #expect(asKronoby.status == 409)
                #expect(asKronoby.errorCode == "batch_refused")
                #expect(asKronoby.errorMessage?.contains("the signature on larsmo:\(larsmoSeq + 1) does not verify") == true,
                        "message: \(asKronoby.errorMessage ?? "none")")

                // A made-up link does not even continue larsmo's chain.
                var garbled = forged.changes[0]
                garbled.chainHash = [UInt8](repeating: 0x42, count: 32)
                let unlinked = try await Self.push(ChangeBatch(incarnation: "attacker", nextPosition: 1, changes: [garbled]),
                                                   to: jakobstad, credential: credential, claimed: "kronoby", logPosition: 1)
                #expect(unlinked.status == 409 && unlinked.errorCode == "batch_refused")
                #expect(unlinked.errorMessage?.contains("does not continue larsmo's chain") == true,
                        "message: \(unlinked.errorMessage ?? "none")")

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
