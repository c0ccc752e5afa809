import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import Testing
@testable import KotoNode

/// The peer side of the sync protocol: pull, push, notify and state, their
/// refusals, and the restore catch-up that holds local writes back.
@Suite struct SyncAPITests {
    // MARK: Pull

    @Test func pullWithAnotherSchemaVersionIs409NamingBothVersions() async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(schemaVersion: 99))
        #expect(response.status == .conflict)
        #expect(response.errorCode == "version_mismatch")
        #expect(response.hasErrorShape)
        let message = try #require(response.errorMessage)
        #expect(message.contains("schema version differs"))
        #expect(message.contains("jakobstad has \(node.config.advertisedSchemaVersion)"))
        #expect(message.contains("larsmo 99"))
        #expect(!message.contains("protocol"))
        // The refusal is remembered against the peer (the status shows it).
        let cursor = try await node.replica.peerCursor("larsmo")
        #expect(cursor?.lastError == message)
        #expect(cursor?.consecutiveFailures == 1)
    }

    @Test func pullWithAnotherProtocolVersionIs409() async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(protocolVersion: SyncProtocol.version + 1))
        #expect(response.status == .conflict)
        #expect(response.errorCode == "version_mismatch")
        let message = try #require(response.errorMessage)
        #expect(message.contains("protocol version differs: jakobstad speaks \(SyncProtocol.version), larsmo \(SyncProtocol.version + 1)"))
        #expect(!message.contains("schema"))

        let both = try await node.send(.post, "/v1/sync/pull", as: .peer,
                                       json: node.pullBody(protocolVersion: 7, schemaVersion: 99))
        #expect(both.status == .conflict)
        #expect(both.errorMessage?.contains("protocol version differs") == true)
        #expect(both.errorMessage?.contains("schema version differs") == true)
    }

    @Test func nodeAdvertisingAnotherSchemaRefusesCurrentPeers() async throws {
        let node = try TestNode { $0.advertisedSchemaVersion = 99 }
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer,
                                           json: node.pullBody(schemaVersion: ReplicaStore.schemaVersion))
        #expect(response.status == .conflict)
        #expect(response.errorMessage?.contains("jakobstad has 99, larsmo \(ReplicaStore.schemaVersion)") == true)
        #expect(try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(schemaVersion: 99)).status == .ok)
    }

    static let validPull: [(String, JSONValue)] = [
        ("node", .string("larsmo")), ("protocol", .number(Double(SyncProtocol.version))),
        ("schema", .number(Double(ReplicaStore.schemaVersion))), ("versionVector", .object([])), ("since", .number(0)),
        ("limit", .number(100)),
    ]

    /// A valid pull body with `member` replaced (or removed, for nil).
    static func pullBody(_ member: String, _ value: JSONValue?) -> String {
        var members = validPull.filter { $0.0 != member }
        if let value { members.append((member, value)) }
        return JSONValue.object(members).serialized
    }

    @Test(arguments: [
        ("node", nil), ("node", .string("Lars Mo")), ("node", .number(1)),
        ("protocol", nil), ("protocol", .string("1")), ("protocol", .number(1.5)),
        ("schema", nil), ("schema", .string("x")),
        ("versionVector", nil), ("versionVector", .array([])), ("versionVector", .object([("larsmo", .number(-1))])),
        ("versionVector", .object([("LARSMO", .number(1))])), ("versionVector", .object([("larsmo", .string("1"))])),
        ("since", nil), ("since", .number(-1)), ("since", .string("0")),
        ("limit", nil), ("limit", .number(0)), ("limit", .number(100_001)),
    ] as [(String, JSONValue?)])
    func malformedPullIs400NamingTheField(field: String, value: JSONValue?) async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer, json: Self.pullBody(field, value))
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_request")
        #expect(response.problemFields == [field])
        #expect(response.errorMessage?.hasPrefix("\(field):") == true)
    }

    @Test(arguments: ["", "{", "[]", "null"])
    func pullBodyThatIsNoObjectIs400(body: String) async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/sync/pull", as: .peer, json: body)
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_json" || response.errorCode == "invalid_request")
    }

    @Test func pullAnswersTheBatchInTheWireFormat() async throws {
        let node = try TestNode()
        try await node.create(.client, SampleJSON.client(number: 1))
        try await node.create(.service, SampleJSON.service(number: 1))
        try await node.create(.client, SampleJSON.client(number: 2))
        let expected = try await node.log()
        let incarnation = await node.syncState.incarnation

        let response = try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody())
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == SyncProtocol.batchContentType)
        #expect(response.headers[SyncProtocol.Header.logPosition] == "3")
        #expect(response.headers[SyncProtocol.Header.node] == "jakobstad")
        let batch = try WireFormat.decode(response.body)
        // Everything but the sender's clock, read anew for each batch.
        #expect(batch.changes == expected.changes)
        #expect(batch.heads == expected.heads)
        #expect(batch.stateDigest == expected.stateDigest)
        #expect(batch.senderClockMillis >= expected.senderClockMillis)
        #expect(batch.changes.count == 3)
        #expect(batch.changes.map(\.dot) == (1...3).map { Dot(origin: "jakobstad", seq: $0) })
        #expect(batch.incarnation == incarnation)
        #expect(batch.nextPosition == 3)

        // What the puller already holds is left out, and the limit is kept.
        let rest = try await node.send(.post, "/v1/sync/pull", as: .peer,
                                       json: node.pullBody(vector: VersionVector(["jakobstad": 2])))
        #expect(try WireFormat.decode(rest.body).changes.map(\.dot) == [Dot(origin: "jakobstad", seq: 3)])
        let limited = try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(limit: 1))
        let first = try WireFormat.decode(limited.body)
        #expect(first.changes.map(\.dot) == [Dot(origin: "jakobstad", seq: 1)])
        #expect(first.nextPosition == 1)
        #expect(limited.headers[SyncProtocol.Header.logPosition] == "3")
        let after = try await node.send(.post, "/v1/sync/pull", as: .peer, json: node.pullBody(since: 3))
        #expect(try WireFormat.decode(after.body).changes.isEmpty)
    }

    @Test func pulledBatchConvergesAPeer() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        #expect(try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office, json: #"{"status":"assessed"}"#).status == .ok)
        let peer = try PeerStore(node: "larsmo")
        try await node.pull(into: peer.store)
        #expect(peer.store.versionVector == VersionVector(["jakobstad": 2]))
        #expect(try peer.store.record(.client, id: id)?.fields["status"] == .text("assessed"))
        // A second pull brings nothing new.
        try await node.pull(into: peer.store)
        #expect(peer.store.logPosition == 2)
    }

    // MARK: Push

    @Test func pushAppliesTheBatchAndAnswersPeerState() async throws {
        let node = try TestNode()
        let peer = try PeerStore(node: "larsmo")
        let first = try peer.store.create(.service, fields: ["nameFi": .text("Testikurssi"), "providerName": .text("Testiopisto"),
                                                             "providerType": .text("ngo"), "category": .text("social"),
                                                             "municipalities": .text("440"), "studyPath": .text("none"),
                                                             "status": .text("active")])
        let clientFields: FieldMap = ["clientNumber": .text("T-9"), "ownerMunicipality": .integer(440), "givenName": .text("Testi"),
                                      "familyName": .text("Henkilö"), "birthDate": .text("1990-01-01"),
                                      "integrationLanguage": .text("sv"), "planStatus": .text("none"), "status": .text("new")]
        let second = try peer.store.create(.client, fields: clientFields)

        let response = try await node.push(from: peer.store)
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == "application/json")
        let state = try #require(PeerState.parse(try response.json))
        #expect(state.node == "jakobstad")
        #expect(state.protocolVersion == SyncProtocol.version)
        #expect(state.schemaVersion == node.config.advertisedSchemaVersion)
        #expect(state.versionVector == VersionVector(["larsmo": 2]))
        #expect(state.logPosition == 2)
        let incarnation = await node.syncState.incarnation
        #expect(state.incarnation == incarnation)
        #expect(state.cursorPosition == 2)
        #expect(state.cursorIncarnation == peer.store.incarnation)

        let service = try await node.send(.get, "/v1/services/\(first.rowID.lowercased)", as: .office)
        #expect(service.status == .ok)
        #expect(try service.json["stamps"]?["status"]?["origin"] == .string("larsmo"))
        #expect(try await node.send(.get, "/v1/clients/\(second.rowID.lowercased)", as: .office).status == .ok)

        // Pushing the same batch again changes nothing.
        let batch = try peer.store.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        let again = try await node.send(.post, "/v1/sync/push", as: .peer, body: WireFormat.encode(batch),
                                        headers: node.pushHeaders(peer: "larsmo"))
        #expect(again.status == .ok)
        #expect(await node.syncState.logPosition == 2)
    }

    @Test(arguments: [[UInt8](), Array("not a batch".utf8), Array("KSYB".utf8), Array("KSYB".utf8) + [1, 0xFF, 0xFF, 0xFF]])
    func pushOfGarbageIs400(body: [UInt8]) async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/sync/push", as: .peer, body: body, headers: node.pushHeaders(peer: "larsmo"))
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_batch")
        #expect(response.hasErrorShape)
        #expect(await node.syncState.logPosition == 0)
    }

    @Test func pushOfABatchWithAGapIs409AndAppliesNothing() async throws {
        let node = try TestNode()
        let peer = try PeerStore(node: "larsmo")
        for number in 1...3 {
            try peer.store.create(.service, fields: ["nameFi": .text("Testikurssi \(number)"), "providerName": .text("Testiopisto"),
                                                     "providerType": .text("ngo"), "category": .text("social"),
                                                     "municipalities": .text("440"), "studyPath": .text("none"),
                                                     "status": .text("active")])
        }
        let whole = try peer.store.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        let gapped = ChangeBatch(incarnation: whole.incarnation, nextPosition: whole.nextPosition, changes: Array(whole.changes.dropFirst()))
        let response = try await node.send(.post, "/v1/sync/push", as: .peer, body: WireFormat.encode(gapped),
                                           headers: node.pushHeaders(peer: "larsmo"))
        #expect(response.status == .conflict)
        #expect(response.errorCode == "batch_refused")
        #expect(response.errorMessage?.contains("gap") == true)
        #expect(await node.syncState.versionVector.isEmpty)
        #expect(try await node.send(.get, "/v1/services", as: .office).json.itemIDs.isEmpty)
        // The whole batch then goes through.
        #expect(try await node.push(from: peer.store).status == .ok)
        #expect(await node.syncState.versionVector == VersionVector(["larsmo": 3]))
    }

    /// A batch from a peer whose clock runs too far ahead is refused whole,
    /// and, as for a pulled batch, the refusal should show in this node's
    /// status: otherwise only the node with the wrong clock knows.
    @Test func pushFromAPeerWithAClockTooFarAheadIsRefusedAndShown() async throws {
        let node = try TestNode()
        let peer = try PeerStore(node: "larsmo", clockAhead: .seconds(3600))
        try peer.store.create(.client, fields: ["clientNumber": .text("T-1"), "ownerMunicipality": .integer(440),
                                                "givenName": .text("Testi"), "familyName": .text("Henkilö"),
                                                "birthDate": .text("1990-01-01"), "integrationLanguage": .text("sv"),
                                                "planStatus": .text("none"), "status": .text("new")])
        let response = try await node.push(from: peer.store)
        #expect(response.status == .conflict)
        #expect(response.errorCode == "batch_refused")
        #expect(response.errorMessage?.contains("ahead") == true)
        #expect(await node.syncState.versionVector.isEmpty)
        let cursor = try await node.replica.peerCursor("larsmo")
        #expect(cursor?.lastError?.contains("ahead") == true)
    }

    @Test(arguments: [nil, "", "Lars Mo", "jakobstad"] as [String?])
    func pushWithoutAValidNodeHeaderIs400(nodeHeader: String?) async throws {
        let node = try TestNode()
        let peer = try PeerStore(node: "larsmo")
        try peer.store.create(.client, fields: ["clientNumber": .text("T-1"), "ownerMunicipality": .integer(440),
                                                "givenName": .text("Testi"), "familyName": .text("Henkilö"),
                                                "birthDate": .text("1990-01-01"), "integrationLanguage": .text("sv"),
                                                "planStatus": .text("none"), "status": .text("new")])
        var headers = node.pushHeaders(peer: "larsmo")
        headers[SyncProtocol.Header.node] = nodeHeader
        let batch = try peer.store.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        let response = try await node.send(.post, "/v1/sync/push", as: .peer, body: WireFormat.encode(batch), headers: headers)
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_header")
        #expect(response.errorMessage?.contains(SyncProtocol.Header.node) == true)
        #expect(await node.syncState.logPosition == 0)
    }

    @Test func pushWithOtherVersionsIs409() async throws {
        let node = try TestNode()
        let batch = WireFormat.encode(ChangeBatch(incarnation: "x", nextPosition: 0, changes: []))
        var schema = node.pushHeaders(peer: "larsmo")
        schema[SyncProtocol.Header.schemaVersion] = "99"
        let wrongSchema = try await node.send(.post, "/v1/sync/push", as: .peer, body: batch, headers: schema)
        #expect(wrongSchema.status == .conflict)
        #expect(wrongSchema.errorCode == "version_mismatch")
        #expect(wrongSchema.errorMessage?.contains("larsmo 99") == true)
        var noProtocol = node.pushHeaders(peer: "larsmo")
        noProtocol[SyncProtocol.Header.protocolVersion] = nil
        let missing = try await node.send(.post, "/v1/sync/push", as: .peer, body: batch, headers: noProtocol)
        #expect(missing.status == .conflict)
        #expect(missing.errorMessage?.contains("larsmo none") == true)
    }

    // MARK: Notify and state

    @Test func notifyIsAccepted() async throws {
        let node = try TestNode(peers: [PeerConfig(node: "larsmo", url: nil, mode: .passive),
                                        PeerConfig(node: "nykarleby", url: "http://127.0.0.1:9", mode: .pull)])
        // Any member may hint, with its own credential, even one not configured as a peer.
        for sender in ["nykarleby", "larsmo", "pedersore"] {
            let response = try await node.send(.post, "/v1/sync/notify", as: .peerOf(sender), json: #"{"node":"\#(sender)"}"#)
            #expect(response.status == .accepted, "\(sender)")
            #expect(response.body.isEmpty)
        }
    }

    @Test(arguments: ["", "{}", #"{"node":5}"#, #"{"node":"Ny Karleby"}"#, "[]"])
    func notifyWithoutANodeIs400(body: String) async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/sync/notify", as: .peer, json: body)
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_request")
        #expect(response.problemFields == ["node"])
    }

    @Test func stateDescribesTheReplicaAndTheAskersCursor() async throws {
        let node = try TestNode()
        try await node.create(.client, SampleJSON.client())
        let response = try await node.send(.get, "/v1/sync/state?node=larsmo", as: .peer)
        #expect(response.status == .ok)
        let json = try response.json
        #expect(json["versionVector"] == .object([("jakobstad", .number(1))]))
        #expect(json["cursor"] == .object([("position", .number(0)), ("incarnation", .null)]))
        let state = try #require(PeerState.parse(json))
        #expect(state.node == "jakobstad")
        #expect(state.logPosition == 1)
        let incarnation = await node.syncState.incarnation
        #expect(state.incarnation == incarnation)

        // After a push from larsmo, its cursor in larsmo's log is reported.
        let peer = try PeerStore(node: "larsmo")
        try peer.store.create(.client, fields: ["clientNumber": .text("T-2"), "ownerMunicipality": .integer(440),
                                                "givenName": .text("Testi"), "familyName": .text("Henkilö"),
                                                "birthDate": .text("1990-01-01"), "integrationLanguage": .text("sv"),
                                                "planStatus": .text("none"), "status": .text("new")])
        #expect(try await node.push(from: peer.store).status == .ok)
        let after = try #require(PeerState.parse(try await node.send(.get, "/v1/sync/state?node=larsmo", as: .peer).json))
        #expect(after.cursorPosition == 1)
        #expect(after.cursorIncarnation == peer.store.incarnation)
        #expect(after.versionVector == VersionVector(["jakobstad": 1, "larsmo": 1]))
        // Another asker has no cursor.
        let other = try #require(PeerState.parse(try await node.send(.get, "/v1/sync/state?node=kronoby", as: .peerOf("kronoby")).json))
        #expect(other.cursorPosition == 0)
        #expect(other.cursorIncarnation == nil)
    }

    @Test(arguments: ["/v1/sync/state", "/v1/sync/state?node=", "/v1/sync/state?node=Lars%20Mo"])
    func stateWithoutAValidNodeIs400(target: String) async throws {
        let node = try TestNode()
        let response = try await node.send(.get, target, as: .peer)
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_query")
        #expect(response.problemFields == ["node"])
    }

    // MARK: Restore catch-up

    @Test func writesWaitUntilTheNodeHoldsItsOwnChangesAgain() async throws {
        // jakobstad wrote two changes that larsmo holds; then jakobstad's
        // database is lost and the node starts from an empty one.
        let before = try PeerStore(node: "jakobstad")
        let lost = try before.store.create(.client, fields: ["clientNumber": .text("T-1"), "ownerMunicipality": .integer(598),
                                                             "givenName": .text("Testi"), "familyName": .text("Henkilö"),
                                                             "birthDate": .text("1990-01-01"), "integrationLanguage": .text("fi"),
                                                             "planStatus": .text("none"), "status": .text("new")])
        try before.store.update(.client, id: lost.rowID, fields: ["status": .text("assessed")])
        let larsmo = try PeerStore(node: "larsmo")
        try larsmo.store.apply(try before.store.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100), from: "jakobstad")
        #expect(larsmo.store.versionVector["jakobstad"] == 2)

        let node = try TestNode()
        await node.replica.notePeerHolds(ownSeq: 2)
        #expect(await node.replica.pendingCatchUp == 2)
        let refused = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(number: 5))
        #expect(refused.status == .serviceUnavailable)
        #expect(refused.errorCode == "catching_up")
        #expect(refused.errorMessage?.contains("has 0 of 2") == true)
        #expect(refused.hasErrorShape)
        #expect(await node.syncState.logPosition == 0)
        // Reads still work, and so does every other kind of write: refused too.
        #expect(try await node.send(.get, "/v1/clients", as: .office).status == .ok)
        let status = try await node.send(.get, "/v1/status", as: .admin).json
        #expect(status["catchingUp"] == .number(2))
        #expect(status["seq"] == .number(0))

        // A peer claiming less than the node has changes nothing.
        await node.replica.notePeerHolds(ownSeq: 0)
        #expect(await node.replica.pendingCatchUp == 2)

        // larsmo pushes jakobstad's own changes back.
        #expect(try await node.push(from: larsmo.store).status == .ok)
        #expect(await node.replica.pendingCatchUp == nil)
        let created = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(number: 5))
        #expect(created.status == .created)
        // The new write takes the next seq: no dot is handed out twice.
        let last = try await node.log().changes.last
        #expect(last?.dot == Dot(origin: "jakobstad", seq: 3))
        #expect(try await node.send(.get, "/v1/clients/\(lost.rowID.lowercased)", as: .office).json["fields"]?["status"]
            == .string("assessed"))
        #expect(try await node.send(.get, "/v1/status", as: .admin).json["catchingUp"] == .bool(false))
    }

    @Test func catchingUpRefusesEveryKindOfLocalWrite() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        await node.replica.notePeerHolds(ownSeq: 5)
        let target = "/v1/clients/\(id.lowercased)"
        for (method, path, json) in [(HTTPMethod.patch, target, #"{"status":"closed"}"#), (.delete, target, nil),
                                     (.post, "\(target)/restore", nil), (.post, "\(target)/erase", nil),
                                     (.post, "/v1/services", SampleJSON.service())] as [(HTTPMethod, String, String?)] {
            let response = try await node.send(method, path, as: .office, json: json)
            #expect(response.status == .serviceUnavailable, "\(method) \(path)")
            #expect(response.errorCode == "catching_up")
        }
        #expect(await node.syncState.logPosition == 1)
    }
}
