import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import Testing
@testable import KotoNode

/// The Koto-digi export and a data subject's export: what they hold, who
/// may ask, and that each is recorded as an export before it leaves.
@Suite struct PortabilityExportTests {
    /// Two clients of Jakobstad (one with assessment and plan), one of Larsmo; an enrolment and a municipal placement.
    func seeded() async throws -> (node: TestNode, planned: UUID, other: UUID, larsmo: UUID, enrolment: UUID, placement: UUID) {
        let node = try TestNode()
        let planned = try await node.create(.client, SampleJSON.client(number: 1, extra: #""assessmentDate":"2026-02-10","planStart":"2026-03-01","planEnd":"2027-02-28""#))
        let patched = try await node.send(.patch, "/v1/clients/\(planned.lowercased)", as: .office, json: #"{"planStatus":"active","status":"plan_active"}"#)
        #expect(patched.status == .ok)
        let other = try await node.create(.client, SampleJSON.client(number: 2))
        let service = try await node.create(.service, SampleJSON.service(number: 1))
        let enrolment = try await node.create(.placement, SampleJSON.enrolment(client: planned, service: service))
        // Larsmo's own office writes Larsmo's client and its placement.
        let larsmo = try await createAsLarsmo(node, .client, SampleJSON.client(number: 3, owner: 440))
        let placement = try await createAsLarsmo(node, .placement, """
            {"type":"municipal_placement","clientId":"\(larsmo.lowercased)","municipality":440,"route":"quota","status":"offered","offeredDate":"2026-04-01"}
            """)
        return (node, planned, other, larsmo, enrolment, placement)
    }

    func createAsLarsmo(_ node: TestNode, _ kind: RecordKind, _ json: String) async throws -> UUID {
        let response = await node.router.handle(try HTTPRequest(method: .post, target: "/v1/\(kind.table)", headers: [
            "Authorization": "Bearer \(Token.larsmoOffice)", "Content-Type": "application/json"], body: Array(json.utf8)))
        #expect(response.status == .created, "Larsmo's create of a \(kind) answered \(response.status.code)")
        return try #require(try response.json["id"]?.stringValue.flatMap(UUID.init(uuidString:)))
    }

    @Test func theCoordinatorsKotoDigiJSONHoldsEveryClientWithDatesAndStatusesAndTheirPlacements() async throws {
        let (node, planned, other, larsmo, enrolment, placement) = try await seeded()
        let response = try await node.send(.get, "/v1/export/koto-digi", as: .coordinator, headers: ["X-Purpose": "migration"])
        #expect(response.status == .ok)
        let body = try response.json
        #expect(body["export"] == .string("koto-digi"))
        #expect(body["scope"]?["municipality"] == .null)
        let clients = body["clients"]?.arrayValue ?? []
        #expect(Set(clients.compactMap { $0["id"]?.stringValue }) == Set([planned, other, larsmo].map(\.lowercased)))
        let first = try #require(clients.first { $0["id"] == .string(planned.lowercased) })
        #expect(first["assessmentDate"] == .string("2026-02-10"))
        #expect(first["planStart"] == .string("2026-03-01"))
        #expect(first["planEnd"] == .string("2027-02-28"))
        #expect(first["planStatus"] == .string("active"))
        #expect(first["status"] == .string("plan_active"))
        #expect(first.objectMembers?.map(\.0) == ["id"] + KotoDigiExport.clientFields)
        let placements = body["placements"]?.arrayValue ?? []
        #expect(Set(placements.compactMap { $0["id"]?.stringValue }) == Set([enrolment, placement].map(\.lowercased)))
        let joined = try #require(placements.first { $0["id"] == .string(enrolment.lowercased) })
        #expect(joined["clientNumber"] == .string("T-1"))
        #expect(joined["serviceName"] == .string("Testikurssi 1"))
        #expect(joined["serviceCategory"] == .string("language_course"))
        let municipal = try #require(placements.first { $0["id"] == .string(placement.lowercased) })
        #expect(municipal["type"] == .string("municipal_placement"))
        #expect(municipal["offeredDate"] == .string("2026-04-01"))

        let exports = node.access.recorded.filter { $0.access.action == .export }
        #expect(exports.count == 2)
        let clientEntry = try #require(exports.first { $0.access.kind == .client })
        #expect(Set(clientEntry.access.ids) == Set([planned, other, larsmo]))
        #expect(clientEntry.access.fields == KotoDigiExport.clientFields.sorted())
        #expect(clientEntry.access.purpose == "migration")
        #expect(clientEntry.access.route == "GET /v1/export/koto-digi")
        #expect(clientEntry.caller == .coordinator(name: "Test coordinator"))
        let placementEntry = try #require(exports.first { $0.access.kind == .placement })
        #expect(Set(placementEntry.access.ids) == Set([enrolment, placement]))
    }

    @Test func anOfficeExportsOnlyItsOwnClientsAndTheirPlacements() async throws {
        let (node, planned, other, _, enrolment, _) = try await seeded()
        let response = try await node.send(.get, "/v1/export/koto-digi", as: .office)
        #expect(response.status == .ok)
        let body = try response.json
        #expect(body["scope"]?["municipality"] == .number(598))
        #expect(Set((body["clients"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }) == Set([planned, other].map(\.lowercased)))
        #expect((body["placements"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue } == [enrolment.lowercased])
    }

    @Test func theKotoDigiCSVHoldsOneTableWithSchemaNamedColumns() async throws {
        let (node, planned, _, _, enrolment, _) = try await seeded()
        let clients = try await node.send(.get, "/v1/export/koto-digi?format=csv", as: .office)
        #expect(clients.status == .ok)
        #expect(clients.headers["Content-Type"] == "text/csv; charset=utf-8")
        let table = CSVReader.read(clients.body)
        #expect(table.encoding == .utf8WithBOM)
        #expect(table.header == ["id"] + KotoDigiExport.clientFields)
        let row = try #require(table.records.first { $0.cells.first == planned.lowercased })
        #expect(row.cells[table.header.firstIndex(of: "planEnd")!] == "2027-02-28")
        #expect(row.cells[table.header.firstIndex(of: "assessmentDate")!] == "2026-02-10")

        let placements = try await node.send(.get, "/v1/export/koto-digi?format=csv&table=placements", as: .office,
                                              headers: ["Accept": "text/csv"])
        let placementTable = CSVReader.read(placements.body)
        #expect(placementTable.header == ["id"] + KotoDigiExport.placementFields + KotoDigiExport.placementJoined)
        #expect(placementTable.records.map { $0.cells[0] } == [enrolment.lowercased])
        let last = node.access.recorded.suffix(2).map(\.access.kind)
        #expect(last == [.client, .placement], "the placements table records the client numbers it names and the placements")
        #expect(node.access.recorded.suffix(2).first?.access.fields == ["clientNumber"])

        let bad = try await node.send(.get, "/v1/export/koto-digi?format=csv&table=services", as: .office)
        #expect(bad.status == .badRequest)
        #expect(bad.problemFields == ["table"])
        let jsonTable = try await node.send(.get, "/v1/export/koto-digi?table=placements", as: .office)
        #expect(jsonTable.status == .badRequest)
    }

    @Test(arguments: [TestCaller.admin, .peer, .scrape])
    func noOtherRoleExports(caller: TestCaller) async throws {
        let (node, planned, _, _, _, _) = try await seeded()
        #expect(try await node.send(.get, "/v1/export/koto-digi", as: caller).status == .forbidden)
        #expect(try await node.send(.get, "/v1/subjects/\(planned.lowercased)", as: caller).status == .forbidden)
        #expect(node.access.recorded.allSatisfy { $0.access.action != .export })
    }

    @Test func aSubjectExportHoldsTheWholeRecordAndEveryPlacementDeletedOnesIncluded() async throws {
        let (node, planned, _, _, enrolment, _) = try await seeded()
        let service = try await node.create(.service, SampleJSON.service(number: 2))
        let dropped = try await node.create(.placement, SampleJSON.enrolment(client: planned, service: service))
        #expect(try await node.send(.delete, "/v1/placements/\(dropped.lowercased)", as: .office).status == .noContent)
        let response = try await node.send(.get, "/v1/subjects/\(planned.lowercased)", as: .office)
        #expect(response.status == .ok)
        let body = try response.json
        #expect(body["subject"] == .string(planned.lowercased))
        let stored = try #require(try await node.replica.withStore { try $0.record(.client, id: planned) })
        #expect(body["client"] == APIResponse.record(stored))
        #expect(Set((body["placements"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }) == Set([enrolment, dropped].map(\.lowercased)))
        let exports = node.access.recorded.filter { $0.access.action == .export }
        #expect(exports.map(\.access.kind) == [.client, .placement])
        #expect(exports.first?.access.ids == [planned])
        #expect(exports.first?.access.route == "GET /v1/subjects/{clientId}")
        #expect(exports.first?.access.fields.contains("givenName") == true)
        #expect(exports.first?.access.fields.contains("personalIdentityCode") == false, "a field without a value is not disclosed")
        #expect(Set(exports.last?.access.ids ?? []) == Set([enrolment, dropped]))
    }

    @Test func anotherMunicipalitysOfficeMayNotExportASubjectButTheCoordinatorMay() async throws {
        let (node, planned, _, _, _, _) = try await seeded()
        // Larsmo's office wrote its own records while seeding; only what follows counts.
        let larsmoBefore = node.access.recorded.filter { $0.caller.municipality == 440 }.count
        let own = try await node.send(.get, "/v1/subjects/\(planned.lowercased)", as: .office)
        #expect(own.status == .ok)
        let larsmo = await node.router.handle(try HTTPRequest(method: .get, target: "/v1/subjects/\(planned.lowercased)",
                                                               headers: ["Authorization": "Bearer \(Token.larsmoOffice)"]))
        #expect(larsmo.status == .forbidden)
        #expect(larsmo.errorCode == "forbidden_scope")
        #expect(larsmo.problemFields == ["clientId"])
        #expect(try await node.send(.get, "/v1/subjects/\(planned.lowercased)", as: .coordinator).status == .ok)
        #expect(try await node.send(.get, "/v1/subjects/\(UUID().uuidString.lowercased())", as: .coordinator).status == .notFound)
        #expect(try await node.send(.get, "/v1/subjects/not-an-id", as: .coordinator).status == .notFound)
        #expect(node.access.recorded.filter { $0.caller.municipality == 440 }.count == larsmoBefore, "a refused export is not recorded as one")
    }
}
