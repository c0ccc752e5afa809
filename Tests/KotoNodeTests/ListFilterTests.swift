import Foundation
import KotoCore
import KotoHTTP
import Testing
@testable import KotoNode

/// List filters are checked like record fields: a value no record can hold
/// is an error naming the field (and, for a vocabulary, what it allows),
/// never a silently empty list.
@Suite struct ListFilterTests {
    @Test func anImpossibleVocabularyValueIsRefusedWithTheAllowedValues() async throws {
        let node = try TestNode()
        _ = try await node.create(.client, SampleJSON.client())
        let response = try await node.send(.get, "/v1/clients?status=no-such-status", as: .coordinator)
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_query")
        let problem = try #require(response.problems.first { $0.field == "status" })
        let allowed = try #require(RecordKind.client.field(named: "status").flatMap { spec -> [String]? in
            if case .choice(let values) = spec.type { return values }
            return nil
        })
        #expect(problem.reason == "must be one of: " + allowed.joined(separator: ", "))
    }

    @Test func anUnknownFieldAMalformedDateAndAStrangerMunicipalityAreRefused() async throws {
        let node = try TestNode()
        let response = try await node.send(.get, "/v1/clients?shoeSize=42&arrivalDate=2026-13-40&ownerMunicipality=12345", as: .coordinator)
        #expect(response.status == .badRequest)
        #expect(response.problemFields == ["shoeSize", "arrivalDate", "ownerMunicipality"])
        let services = try await node.send(.get, "/v1/services?municipalities=999", as: .coordinator)
        #expect(services.status == .badRequest)
        #expect(services.problemFields == ["municipalities"])
    }

    @Test func validFiltersStillAnswerTheMatchingRecords() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        let status = try #require(try await node.send(.get, "/v1/clients/\(id.lowercased)", as: .coordinator).json["fields"]?["status"]?.stringValue)
        let response = try await node.send(.get, "/v1/clients?status=\(status)", as: .coordinator)
        #expect(response.status == .ok)
        #expect(try response.json.itemIDs == [id.lowercased])
    }
}
