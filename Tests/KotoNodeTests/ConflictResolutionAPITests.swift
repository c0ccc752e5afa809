import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// `POST /v1/conflicts/{id}/resolve` on a node: ids as `GET /v1/conflicts`
/// lists them, who may resolve what, the error answers, and a resolution
/// that replicates and closes the conflict at the peer too.
@Suite struct ConflictResolutionAPITests {
    /// The test node (jakobstad, office 598) and larsmo as a bare peer store.
    struct Pair {
        let node: TestNode
        let larsmo: PeerStore

        init() throws {
            node = try TestNode()
            larsmo = try PeerStore(node: "larsmo")
        }

        /// Makes the node and larsmo write `field` of the record concurrently
        /// (the node through the API as its office); returns the conflict id.
        /// `writer`: the office whose record it is (Jakobstad's unless named).
        func conflict(_ kind: RecordKind, _ id: UUID, _ field: String, ours: String, theirs: FieldValue, writer: TestCaller = .office,
                      sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            try await node.pull(into: larsmo.store)
            let patched = try await node.send(.patch, "/v1/\(kind.table)/\(id.lowercased)", as: writer, json: "{\"\(field)\":\(ours)}")
            try #require(patched.status == .ok, "PATCH answered \(patched.status.code)", sourceLocation: sourceLocation)
            try larsmo.store.update(kind, id: id, fields: [field: theirs])
            try #require(try await node.push(from: larsmo.store).status == .ok, sourceLocation: sourceLocation)
            let conflictID = "\(kind.table):\(id.lowercased):\(field)"
            let listed = try await node.send(.get, "/v1/conflicts", as: .coordinator).json["items"]?.arrayValue ?? []
            try #require(listed.contains { $0["id"] == .string(conflictID) }, "the conflict is listed", sourceLocation: sourceLocation)
            return conflictID
        }

        func resolve(_ conflictID: String, as caller: TestCaller, json: String) async throws -> HTTPResponse {
            try await node.send(.post, "/v1/conflicts/\(conflictID)/resolve", as: caller, json: json)
        }

        /// Resolves with a raw bearer token (the Larsmo office's, which `TestCaller` has no case for).
        func resolve(_ conflictID: String, token: String, json: String) async throws -> HTTPResponse {
            let request = try HTTPRequest(method: .post, target: "/v1/conflicts/\(conflictID)/resolve",
                                          headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
                                          body: Array(json.utf8))
            return await node.router.handle(request)
        }

        var openConflicts: Int {
            get async throws { try await node.replica.withStore { try $0.openConflictCount() } }
        }
    }

    @Test func conflictsAreListedWithTheirResolveId() async throws {
        let pair = try Pair()
        let id = try await pair.node.create(.client, SampleJSON.client())
        let conflictID = try await pair.conflict(.client, id, "status", ours: #""assessed""#, theirs: .text("closed"))
        let items = try await pair.node.send(.get, "/v1/conflicts", as: .coordinator).json["items"]?.arrayValue ?? []
        #expect(items.count == 1)
        #expect(items.first?["id"] == .string(conflictID))
        #expect(items.first?["rowId"] == .string(id.lowercased))
        #expect(items.first?["kind"] == .string("client"))
        #expect(items.first?["field"] == .string("status"))
        // The record's own view lists its conflicts the same way.
        let record = try await pair.node.send(.get, "/v1/clients/\(id.lowercased)", as: .coordinator).json
        #expect(record["conflicts"]?.arrayValue?.first?["id"] == .string(conflictID))
    }

    @Test func aResolutionAnswersTheRecordAndClosesTheConflictAtThePeerToo() async throws {
        let pair = try Pair()
        let id = try await pair.node.create(.client, SampleJSON.client())
        let conflictID = try await pair.conflict(.client, id, "status", ours: #""assessed""#, theirs: .text("closed"))

        let resolved = try await pair.resolve(conflictID, as: .coordinator, json: #"{"value":"assessment_pending"}"#)
        #expect(resolved.status == .ok)
        #expect(resolved.headers["Content-Type"] == "application/json")
        let body = try resolved.json
        #expect(body["fields"]?["status"] == .string("assessment_pending"))
        #expect(body["openConflicts"] == .number(0))
        #expect(body["conflicts"] == .array([]))
        #expect(body["stamps"]?["status"]?["origin"] == .string("jakobstad"))
        let shown = try await pair.node.send(.get, "/v1/clients/\(id.lowercased)", as: .coordinator).json
        #expect(body == shown, "the answer is the record as GET shows it")
        #expect(try await pair.node.send(.get, "/v1/conflicts", as: .coordinator).json["items"] == .array([]))
        #expect(try await pair.openConflicts == 0)

        // Once larsmo pulls the resolution, the conflict is closed there too and the replicas agree.
        try await pair.node.pull(into: pair.larsmo.store)
        #expect(try pair.larsmo.store.openConflicts().isEmpty)
        #expect(try pair.larsmo.store.record(.client, id: id)?.fields["status"] == .text("assessment_pending"))
        let digest = await pair.node.replica.digest
        #expect(digest.digest == pair.larsmo.store.stateDigest)
        let dump = try await pair.node.replica.withStore { try $0.canonicalDump() }
        let same = try dump == pair.larsmo.store.canonicalDump()
        #expect(same)

        // Resolved: the id names no open conflict any more.
        let again = try await pair.resolve(conflictID, as: .coordinator, json: #"{"value":"closed"}"#)
        #expect(again.status == .notFound)
        #expect(again.errorCode == "not_found")
    }

    @Test func anUnknownIdAnswers404AndWritesNothing() async throws {
        let pair = try Pair()
        let id = try await pair.node.create(.client, SampleJSON.client())
        _ = try await pair.conflict(.client, id, "status", ours: #""assessed""#, theirs: .text("closed"))
        let before = await pair.node.syncState
        let row = id.lowercased
        for conflictID in ["nonsense", "clients:\(row)", "clients:not-a-uuid:status", "people:\(row):status", "clients:\(row):nope",
                           "clients:\(row):jobseeker", "clients:\(UUID().lowercased):status", "services:\(row):status",
                           "clients:\(row):status:extra", "clients%3A\(row)%3Ajobseeker"] {
            let response = try await pair.resolve(conflictID, as: .coordinator, json: #"{"value":"closed"}"#)
            #expect(response.status == .notFound, "\(conflictID)")
            #expect(response.errorCode == "not_found", "\(conflictID)")
            #expect(response.hasErrorShape)
        }
        #expect(await pair.node.syncState == before, "nothing was written")
        #expect(try await pair.openConflicts == 1)
    }

    @Test func anInvalidValueAnswers422NamingTheField() async throws {
        let pair = try Pair()
        let id = try await pair.node.create(.client, SampleJSON.client())
        let conflictID = try await pair.conflict(.client, id, "status", ours: #""assessed""#, theirs: .text("closed"))
        let before = await pair.node.syncState
        for (json, fields) in [(#"{"value":"no_such_status"}"#, ["status"]), (#"{"value":7}"#, ["status"]),
                               (#"{"value":null}"#, ["status"]), ("{}", ["value"]), (#"{"value":"closed","also":1}"#, ["also"]),
                               ("[]", ["(body)"])] as [(String, Set<String>)] {
            let response = try await pair.resolve(conflictID, as: .coordinator, json: json)
            #expect(response.status == .unprocessableContent, "\(json)")
            #expect(response.errorCode == "validation_failed", "\(json)")
            #expect(response.problemFields == fields, "\(json)")
        }
        let notJSON = try await pair.resolve(conflictID, as: .coordinator, json: "value=closed")
        #expect(notJSON.status == .badRequest)
        #expect(notJSON.errorCode == "invalid_json")
        #expect(await pair.node.syncState == before, "nothing was written")
        #expect(try await pair.openConflicts == 1)
    }

    @Test func onlyTheCoordinatorAndTheRecordsOwnOfficeMayResolve() async throws {
        let pair = try Pair()
        let client = try await pair.node.create(.client, SampleJSON.client(owner: 598))
        let service = try await pair.node.create(.service, SampleJSON.service(municipalities: "[598,599]"))
        let placement = try await pair.node.create(.placement, SampleJSON.enrolment(client: client, service: service))
        let conflicts = [
            try await pair.conflict(.client, client, "status", ours: #""assessed""#, theirs: .text("closed")),
            try await pair.conflict(.service, service, "capacity", ours: "10", theirs: .integer(12)),
            try await pair.conflict(.placement, placement, "status", ours: #""referred""#, theirs: .text("waiting")),
        ]
        let values = [#"{"value":"closed"}"#, #"{"value":11}"#, #"{"value":"active"}"#]
        let before = await pair.node.syncState
        for (conflictID, value) in zip(conflicts, values) {
            // Larsmo's office (440): none of these records is Larsmo's.
            let larsmo = try await pair.resolve(conflictID, token: Token.larsmoOffice, json: value)
            #expect(larsmo.status == .forbidden, "\(conflictID)")
            #expect(larsmo.errorCode == "forbidden_scope")
            let message = larsmo.errorMessage ?? ""
            #expect(message.contains("598") && message.contains("440"), "the answer names the record's scope and the caller's")
            for caller in [TestCaller.admin, .peer] {
                #expect(try await pair.resolve(conflictID, as: caller, json: value).status == .forbidden, "\(caller)")
            }
            #expect(try await pair.resolve(conflictID, as: .none, json: value).status == .unauthorized)
        }
        #expect(await pair.node.syncState == before, "nothing was written")
        #expect(try await pair.openConflicts == 3)

        // Jakobstad's office (598) resolves all three.
        for (conflictID, value) in zip(conflicts, values) {
            let response = try await pair.resolve(conflictID, as: .office, json: value)
            #expect(response.status == .ok, "\(conflictID)")
        }
        #expect(try await pair.openConflicts == 0)
        let shown = try await pair.node.send(.get, "/v1/services/\(service.lowercased)", as: .coordinator).json
        #expect(shown["fields"]?["capacity"] == .number(11))
    }

    @Test func larsmosOfficeResolvesLarsmosClientsAndAContestedOwner() async throws {
        let pair = try Pair()
        let own = try await pair.node.create(.client, SampleJSON.client(number: 1, owner: 440))
        let contested = try await pair.node.create(.client, SampleJSON.client(number: 2, owner: 598))
        let status = try await pair.conflict(.client, own, "status", ours: #""assessed""#, theirs: .text("closed"), writer: .officeOf(440))
        // Whose client it is, is itself contested: either side's office may settle it.
        let owner = try await pair.conflict(.client, contested, "ownerMunicipality", ours: "598", theirs: .integer(440))
        let services = try await pair.node.create(.service, SampleJSON.service(municipalities: "[598]"))
        let served = try await pair.conflict(.service, services, "municipalities", ours: "[598]", theirs: .text("440,598"))

        #expect(try await pair.resolve(status, token: Token.larsmoOffice, json: #"{"value":"closed"}"#).status == .ok)
        let settled = try await pair.resolve(owner, token: Token.larsmoOffice, json: #"{"value":440}"#)
        #expect(settled.status == .ok)
        #expect(try settled.json["fields"]?["ownerMunicipality"] == .number(440))
        let widened = try await pair.resolve(served, token: Token.larsmoOffice, json: #"{"value":[598,440]}"#)
        #expect(widened.status == .ok)
        #expect(try widened.json["fields"]?["municipalities"] == .array([.number(598), .number(440)]))
        #expect(try await pair.openConflicts == 0)
    }
}
