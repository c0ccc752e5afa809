import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// Refuses every record: the access log is unavailable.
private final class FailingRecorder: AccessRecorder {
    struct Unavailable: Error {}
    func record(_ access: PersonalDataAccess, by caller: Caller) async throws { throw Unavailable() }
}

/// The API calls `access.record` at every read returning client personal
/// fields (with the ids and field names shown), every CSV export, every
/// write, erase and resolution — and not for minimised reads.
@Suite struct AccessRecordingTests {
    static let personal = RecordKind.client.fields.filter(\.personal).map(\.name).sorted()
    static let placementPersonal = ["familyName", "givenName", "interpreterLanguage", "literacySupport", "motherTongue", "permitBasis"]

    @Test func aFullReadIsRecordedWithTheIdsFieldsRouteAndPurpose() async throws {
        let fixture = try await ScopeFixture()
        let node = fixture.node
        let id = fixture.ids[.client]![.own]!
        let before = node.access.recorded.count
        let response = try await node.send(.get, "/v1/clients/\(id.lowercased)", as: .office, headers: ["X-Purpose": "case review"])
        #expect(response.status == .ok)
        let entries = node.access.recorded.dropFirst(before)
        #expect(entries.count == 1)
        let entry = try #require(entries.first)
        #expect(entry.access == PersonalDataAccess(action: .read, kind: .client, ids: [id], fields: Self.personal,
                                                   route: "GET /v1/clients/{id}", purpose: "case review"))
        #expect(entry.caller == .office(municipality: 598))
    }

    @Test func minimisedReadsAreNotRecordedAndPlacementViewsRecordTheirFields() async throws {
        let fixture = try await ScopeFixture()
        let node = fixture.node
        let other = fixture.ids[.client]![.other]!, tied = fixture.ids[.client]![.tied]!
        var before = node.access.recorded.count
        #expect(try await node.send(.get, "/v1/clients/\(other.lowercased)", as: .office).status == .ok)
        #expect(node.access.recorded.count == before, "a minimised view is not a personal-data read")
        #expect(try await node.send(.get, "/v1/clients/\(tied.lowercased)", as: .office).status == .ok)
        #expect(node.access.recorded.dropFirst(before).map(\.access) == [
            PersonalDataAccess(action: .read, kind: .client, ids: [tied], fields: Self.placementPersonal, route: "GET /v1/clients/{id}"),
        ])
        // Services and placements hold no personal field: not recorded as reads.
        before = node.access.recorded.count
        #expect(try await node.send(.get, "/v1/placements", as: .office).status == .ok)
        #expect(try await node.send(.get, "/v1/services", as: .office).status == .ok)
        #expect(node.access.recorded.count == before)
    }

    @Test func aListRecordsOneEntryPerViewWithEveryIdShown() async throws {
        let fixture = try await ScopeFixture()
        let node = fixture.node
        let before = node.access.recorded.count
        #expect(try await node.send(.get, "/v1/clients", as: .office).status == .ok)
        let entries = node.access.recorded.dropFirst(before).map(\.access)
        #expect(Set(entries.map(\.ids)) == [[fixture.ids[.client]![.own]!], [fixture.ids[.client]![.tied]!]])
        #expect(Set(entries.map(\.fields)) == [Self.personal, Self.placementPersonal])
        #expect(entries.allSatisfy { $0.action == .read && $0.route == "GET /v1/clients" })
        // The coordinator reads all three in full: one entry.
        let start = node.access.recorded.count
        #expect(try await node.send(.get, "/v1/clients", as: .coordinator).status == .ok)
        let coordinator = node.access.recorded.dropFirst(start)
        #expect(coordinator.map(\.access.fields) == [Self.personal])
        #expect(Set(coordinator.first?.access.ids ?? []) == Set(fixture.ids[.client]!.values))
    }

    @Test func csvExportsAreRecordedAsExportsWithThePurposeOfTheLink() async throws {
        let fixture = try await ScopeFixture()
        let node = fixture.node
        let before = node.access.recorded.count
        #expect(try await node.send(.get, "/v1/clients?format=csv&purpose=annual%20report", as: .office).status == .ok)
        let entries = node.access.recorded.dropFirst(before).map(\.access)
        #expect(entries.allSatisfy { $0.action == .export && $0.purpose == "annual report" && $0.route == "GET /v1/clients" })
        #expect(Set(entries.flatMap(\.ids)) == Set(fixture.ids[.client]!.values), "every client in the file, minimised ones too")
        #expect(entries.first { $0.ids == [fixture.ids[.client]![.other]!] }?.fields == [], "a minimised row discloses no personal field")
        let placements = node.access.recorded.count
        #expect(try await node.send(.get, "/v1/placements?format=csv", as: .coordinator).status == .ok)
        #expect(node.access.recorded.dropFirst(placements).map(\.access.action) == [.export])
    }

    @Test func writesErasesAndResolutionsAreRecorded() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        let created = try #require(node.access.recorded.first { $0.access.action == .write }?.access)
        #expect(created.ids == [id] && created.route == "POST /v1/clients")
        #expect(created.fields == ["birthDate", "clientNumber", "familyName", "givenName", "integrationLanguage", "ownerMunicipality",
                                   "planStatus", "status"])
        var before = node.access.recorded.count
        #expect(try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office, json: #"{"status":"assessed"}"#,
                                    headers: ["X-Purpose": "assessment done"]).status == .ok)
        let patch = node.access.recorded.dropFirst(before).map(\.access)
        #expect(patch.first == PersonalDataAccess(action: .write, kind: .client, ids: [id], fields: ["status"],
                                                  route: "PATCH /v1/clients/{id}", purpose: "assessment done"))
        #expect(patch.dropFirst().map(\.action) == [.read], "the answer shows the record: a read")
        before = node.access.recorded.count
        #expect(try await node.send(.post, "/v1/clients/\(id.lowercased)/erase", as: .office).status == .ok)
        let erase = node.access.recorded.dropFirst(before).map(\.access)
        #expect(erase.map(\.action) == [.erase], "the erased record shows nothing personal")
        #expect(erase.first?.fields == Self.personal && erase.first?.ids == [id])
        // A refused write records nothing.
        before = node.access.recorded.count
        let other = try await node.create(.client, SampleJSON.client(number: 2, owner: 893))
        #expect(try await node.send(.patch, "/v1/clients/\(other.lowercased)", as: .office, json: #"{"status":"closed"}"#).status == .forbidden)
        #expect(!node.access.recorded.dropFirst(before).contains { $0.caller == .office(municipality: 598) && $0.access.ids == [other] })

        let pair = try ConflictResolutionAPITests.Pair()
        let client = try await pair.node.create(.client, SampleJSON.client())
        let conflict = try await pair.conflict(.client, client, "familyName", ours: #""Testa""#, theirs: .text("Testb"))
        before = pair.node.access.recorded.count
        #expect(try await pair.resolve(conflict, as: .coordinator, json: #"{"value":"Testc"}"#).status == .ok)
        let resolved = pair.node.access.recorded.dropFirst(before)
        #expect(resolved.first?.access == PersonalDataAccess(action: .write, kind: .client, ids: [client], fields: ["familyName"],
                                                              route: "POST /v1/conflicts/{id}/resolve"))
        #expect(resolved.first?.caller == .coordinator(name: "Test coordinator"))
    }

    @Test func conflictValuesOfPersonalFieldsAreRecordedAsReads() async throws {
        let pair = try ConflictResolutionAPITests.Pair()
        let client = try await pair.node.create(.client, SampleJSON.client())
        _ = try await pair.conflict(.client, client, "givenName", ours: #""Testa""#, theirs: .text("Testb"))
        var before = pair.node.access.recorded.count
        #expect(try await pair.node.send(.get, "/v1/conflicts", as: .coordinator).status == .ok)
        #expect(pair.node.access.recorded.dropFirst(before).map(\.access) == [
            PersonalDataAccess(action: .read, kind: .client, ids: [client], fields: ["givenName"], route: "GET /v1/conflicts"),
        ])
        before = pair.node.access.recorded.count
        #expect(try await pair.node.send(.get, "/v1/conflicts", as: .admin).status == .ok)
        #expect(pair.node.access.recorded.count == before, "the admin is shown no personal value")
    }

    @Test(arguments: [
        ("X-Purpose", String(repeating: "a", count: 201)), ("X-Purpose", "line\u{7}bell"), ("purpose", "tab%09inside"),
    ])
    func aBadPurposeIsRefusedNamingWhereItCameFrom(_ place: String, _ text: String) async throws {
        let fixture = try await ScopeFixture()
        let id = fixture.ids[.client]![.own]!.lowercased
        let before = fixture.node.access.recorded.count
        let response = place == "X-Purpose"
            ? try await fixture.node.send(.get, "/v1/clients/\(id)", as: .office, headers: ["X-Purpose": text])
            : try await fixture.node.send(.get, "/v1/clients/\(id)?purpose=\(text)", as: .office)
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_purpose")
        #expect(response.problemFields == [place])
        #expect(fixture.node.access.recorded.count == before)
    }

    /// Fail closed: when recording fails, the read answers 500 and shows nothing.
    @Test func aReadIsNotAnsweredWhenRecordingFails() async throws {
        let fixture = try await ScopeFixture()
        let node = fixture.node
        let api = API(config: node.config, replica: node.replica, scheduler: node.scheduler, secrets: testSecrets(),
                      manifest: node.manifest, access: FailingRecorder())
        let router = api.router()
        for target in ["/v1/clients/\(fixture.ids[.client]![.own]!.lowercased)", "/v1/clients", "/v1/clients?format=csv"] {
            let request = try HTTPRequest(method: .get, target: target, headers: ["Authorization": "Bearer \(Token.office)"])
            let response = await router.handle(request)
            #expect(response.status == .internalServerError, "\(target)")
            #expect(!response.bodyText.contains("Testi") && !response.bodyText.contains("010190"), "\(target) shows nothing")
        }
        // A minimised read records nothing, so it is still answered.
        let request = try HTTPRequest(method: .get, target: "/v1/clients/\(fixture.ids[.client]![.other]!.lowercased)",
                                      headers: ["Authorization": "Bearer \(Token.office)"])
        #expect(await router.handle(request).status == .ok)
    }
}
