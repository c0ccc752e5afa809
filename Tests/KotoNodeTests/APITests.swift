import Foundation
import KotoCore
import KotoHTTP
import Testing
@testable import KotoNode

/// The records API as an office uses it: create, read, patch, delete,
/// restore, erase, list with filters and paging, and its error answers.
@Suite struct APITests {
    // MARK: Create

    @Test func createsEachKind() async throws {
        let node = try TestNode()

        let service = try await node.send(.post, "/v1/services", as: .office,
                                          json: SampleJSON.service(extra: #""languages":["fi","sv"],"capacity":12"#))
        #expect(service.status == .created)
        #expect(service.headers["Content-Type"] == "application/json")
        let serviceJSON = try service.json
        let serviceID = try #require(serviceJSON["id"]?.stringValue)
        #expect(service.headers["Location"] == "/v1/services/\(serviceID)")
        #expect(serviceJSON["kind"] == .string("service"))
        #expect(serviceJSON["deleted"] == .bool(false))
        #expect(serviceJSON["erased"] == .bool(false))
        let serviceFields = try #require(serviceJSON["fields"])
        #expect(serviceFields["nameFi"] == .string("Testikurssi 1"))
        #expect(serviceFields["municipalities"] == .array([.number(598), .number(599)]))
        #expect(serviceFields["languages"] == .array([.string("fi"), .string("sv")]))
        #expect(serviceFields["capacity"] == .number(12))
        #expect(serviceFields["nameSv"] == .null)
        #expect(serviceFields["deleted"] == .bool(false))

        let client = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(extra: #""jobseeker":true"#))
        #expect(client.status == .created)
        let clientJSON = try client.json
        let clientID = try #require(clientJSON["id"]?.stringValue)
        #expect(client.headers["Location"] == "/v1/clients/\(clientID)")
        #expect(clientJSON["kind"] == .string("client"))
        #expect(clientJSON["fields"]?["clientNumber"] == .string("T-1"))
        #expect(clientJSON["fields"]?["ownerMunicipality"] == .number(598))
        #expect(clientJSON["fields"]?["birthDate"] == .string("1990-01-01"))
        #expect(clientJSON["fields"]?["jobseeker"] == .bool(true))
        #expect(clientJSON["fields"]?["personalIdentityCode"] == .null)

        let placement = try await node.send(.post, "/v1/placements", as: .office,
                                            json: SampleJSON.enrolment(client: try #require(UUID(uuidString: clientID)),
                                                                       service: try #require(UUID(uuidString: serviceID))))
        #expect(placement.status == .created)
        let placementJSON = try placement.json
        let placementID = try #require(placementJSON["id"]?.stringValue)
        #expect(placement.headers["Location"] == "/v1/placements/\(placementID)")
        #expect(placementJSON["fields"]?["clientId"] == .string(clientID))
        #expect(placementJSON["fields"]?["serviceId"] == .string(serviceID))
        #expect(placementJSON["fields"]?["status"] == .string("proposed"))

        for (table, id) in [("services", serviceID), ("clients", clientID), ("placements", placementID)] {
            let list = try await node.send(.get, "/v1/\(table)", as: .coordinator)
            #expect(list.status == .ok)
            #expect(try list.json.itemIDs == [id], "\(table)")
            #expect(try list.json["next"] == .null)
        }
        #expect(await node.syncState.logPosition == 3)
    }

    @Test func listFieldsAcceptCommaSeparatedTextToo() async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/services", as: .office,
                                           json: SampleJSON.service(municipalities: #""598,893""#))
        #expect(response.status == .created)
        #expect(try response.json["fields"]?["municipalities"] == .array([.number(598), .number(893)]))
    }

    @Test func createWithExplicitID() async throws {
        let node = try TestNode()
        let id = UUID()
        // Upper case is accepted; the record is named in lower case.
        let response = try await node.send(.post, "/v1/clients", as: .office,
                                           json: SampleJSON.client(extra: #""id":"\#(id.uuidString.uppercased())""#))
        #expect(response.status == .created)
        #expect(try response.json["id"] == .string(id.lowercased))
        #expect(response.headers["Location"] == "/v1/clients/\(id.lowercased)")
        #expect(try await node.send(.get, "/v1/clients/\(id.lowercased)", as: .office).status == .ok)
    }

    @Test func duplicateIDIs409() async throws {
        let node = try TestNode()
        let id = UUID().lowercased
        #expect(try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(extra: #""id":"\#(id)""#)).status == .created)
        let again = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(number: 2, extra: #""id":"\#(id)""#))
        #expect(again.status == .conflict)
        #expect(again.errorCode == "already_exists")
        #expect(again.hasErrorShape)
        #expect(try await node.send(.get, "/v1/clients/\(id)", as: .office).json["fields"]?["clientNumber"] == .string("T-1"))
        #expect(await node.syncState.logPosition == 1)
    }

    @Test(arguments: [#"{"clientNumber":"#, "", "nonsense", #"{"a":1}{"b":2}"#, #"{"a":1,"a":2}"#])
    func invalidJSONIs400(_ body: String) async throws {
        let node = try TestNode()
        for (method, target) in [(HTTPMethod.post, "/v1/clients"), (.patch, "/v1/clients/\(try await node.create(.client, SampleJSON.client()).lowercased)")] {
            let response = try await node.send(method, target, as: .office, json: body)
            #expect(response.status == .badRequest, "\(method)")
            #expect(response.errorCode == "invalid_json")
            #expect(response.errorMessage?.contains("at byte") == true)
            #expect(response.hasErrorShape)
        }
    }

    @Test func idThatIsNoUUIDIs422() async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(extra: #""id":"client-1""#))
        #expect(response.status == .unprocessableContent)
        #expect(response.problemFields == ["id"])
    }

    @Test func typeShapeAndSchemaProblemsAreAllListedAndNothingIsWritten() async throws {
        let node = try TestNode()
        let body = """
            {"givenName":5,"familyName":"Henkilö","birthDate":"1990-13-45","ownerMunicipality":12345,"integrationLanguage":"fi",\
            "planStatus":"none","status":"nonsense","jobseeker":"yes","favouriteColour":"blue","motherTongue":"ARABIC"}
            """
        let response = try await node.send(.post, "/v1/clients", as: .office, json: body)
        #expect(response.status == .unprocessableContent)
        #expect(response.errorCode == "validation_failed")
        let problems = response.problems
        #expect(problems.allSatisfy { !$0.reason.isEmpty })
        // Type (givenName, jobseeker), unknown field, vocabulary, date, registry, format, required.
        #expect(response.problemFields == ["givenName", "jobseeker", "favouriteColour", "status", "birthDate", "ownerMunicipality",
                                           "motherTongue", "clientNumber"])
        #expect(problems.first { $0.field == "favouriteColour" }?.reason == "unknown field")
        #expect(problems.first { $0.field == "clientNumber" }?.reason == "is required")
        #expect(problems.first { $0.field == "givenName" }?.reason.contains("string") == true)
        #expect(response.errorMessage == "\(problems.count) problems with the record")
        // Each field once.
        #expect(problems.count == response.problemFields.count)
        #expect(try await node.send(.get, "/v1/clients", as: .office).json.itemIDs.isEmpty)
        #expect(await node.syncState.logPosition == 0)
    }

    @Test func schemaOnlyProblemsAreAllListed() async throws {
        let node = try TestNode()
        // Every value has the right JSON type; the schema refuses several.
        let body = SampleJSON.client(extra: #""planStart":"2024-05-01","planEnd":"2024-01-01","arrivalDate":"1980-01-01""#)
            .replacingOccurrences(of: #""planStatus":"none""#, with: #""planStatus":"paused""#)
        let response = try await node.send(.post, "/v1/clients", as: .office, json: body)
        #expect(response.status == .unprocessableContent)
        #expect(response.problemFields == ["planStatus", "planEnd", "arrivalDate"])
        #expect(try await node.send(.get, "/v1/clients", as: .office).json.itemIDs.isEmpty)
    }

    @Test func nonObjectBodyIs422() async throws {
        let node = try TestNode()
        let response = try await node.send(.post, "/v1/services", as: .office, json: "[1,2]")
        #expect(response.status == .unprocessableContent)
        #expect(response.problemFields.contains("(body)"))
    }

    @Test func validationAnswerNeverQuotesPersonalData() async throws {
        let node = try TestNode()
        let longName = String(repeating: "Kuvitteellinen", count: 8)
        let otherCode = PersonalIdentityCode.make(birthDate: LocalDate(year: 1985, month: 5, day: 5)!, individual: 987)
        let bodies = [
            // Schema problems only: a too-long given name, an identity code of another birth date.
            SampleJSON.client(extra: #""personalIdentityCode":"\#(otherCode)""#)
                .replacingOccurrences(of: #""givenName":"Testi""#, with: #""givenName":"\#(longName)""#),
            // A type problem too, which takes the other path through the handler.
            SampleJSON.client(extra: #""personalIdentityCode":"XX0199-TEST","jobseeker":"Fiktiivinen-Arvo""#)
                .replacingOccurrences(of: #""familyName":"Henkilö""#, with: #""familyName":"Esimerkkinen-Olematon""#)
                .replacingOccurrences(of: #""givenName":"Testi""#, with: #""givenName":["Keksitty"]"#),
        ]
        for body in bodies {
            let response = try await node.send(.post, "/v1/clients", as: .office, json: body)
            #expect(response.status == .unprocessableContent)
            #expect(!response.problems.isEmpty)
            let text = response.bodyText
            for secret in [longName, otherCode, "XX0199-TEST", "Fiktiivinen-Arvo", "Esimerkkinen", "Keksitty", "Kuvitteellinen"] {
                #expect(!text.contains(secret), "the answer quotes a submitted value")
            }
        }
    }

    /// A create with a type problem should list every problem the store
    /// would also report, so the office fixes all of them in one go.
    @Test func createWithATypeProblemStillListsStoreSideProblems() async throws {
        let node = try TestNode()
        let missing = UUID().lowercased
        let body = #"{"type":"service_enrolment","clientId":"\#(missing)","serviceId":"\#(UUID().lowercased)","status":"proposed","referralDate":5}"#
        let response = try await node.send(.post, "/v1/placements", as: .office, json: body)
        #expect(response.status == .unprocessableContent)
        #expect(response.problemFields.contains("referralDate"))
        #expect(response.problemFields.contains("clientId"))
        #expect(response.problemFields.contains("serviceId"))
        let deleted = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(extra: #""deleted":true,"jobseeker":1"#))
        #expect(deleted.status == .unprocessableContent)
        #expect(deleted.problemFields.contains("jobseeker"))
        #expect(deleted.problemFields.contains("deleted"))
        // Without the type problem the store reports it.
        let alone = try await node.send(.post, "/v1/clients", as: .office, json: SampleJSON.client(extra: #""deleted":true"#))
        #expect(alone.status == .unprocessableContent)
        #expect(alone.problemFields == ["deleted"])
    }

    @Test func placementReferencingAMissingClientIs422OnClientId() async throws {
        let node = try TestNode()
        let service = try await node.create(.service, SampleJSON.service())
        let response = try await node.send(.post, "/v1/placements", as: .office, json: SampleJSON.enrolment(client: UUID(), service: service))
        #expect(response.status == .unprocessableContent)
        #expect(response.problemFields == ["clientId"])
        #expect(response.problems.first?.reason == "no such client")
        // A deleted client counts as missing, and so does a missing service.
        let client = try await node.create(.client, SampleJSON.client())
        #expect(try await node.send(.delete, "/v1/clients/\(client.lowercased)", as: .office).status == .noContent)
        let deleted = try await node.send(.post, "/v1/placements", as: .office, json: SampleJSON.enrolment(client: client, service: UUID()))
        #expect(deleted.problemFields == ["clientId", "serviceId"])
        #expect(try await node.send(.get, "/v1/placements?includeDeleted=true", as: .office).json.itemIDs.isEmpty)
    }

    // MARK: Read

    @Test func getOneShowsStampsRowClockAndConflicts() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        let response = try await node.send(.get, "/v1/clients/\(id.lowercased)", as: .coordinator)
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == "application/json")
        let json = try response.json
        #expect(json["id"] == .string(id.lowercased))
        #expect(json["rowClock"] == .object([("jakobstad", .number(1))]))
        #expect(json["conflicts"] == .array([]))
        #expect(json["openConflicts"] == .number(0))
        let stamps = try #require(json["stamps"]?.objectMembers)
        #expect(Set(stamps.map(\.0)) == Set(RecordKind.client.fields.map(\.name)))
        let status = try #require(json["stamps"]?["status"])
        #expect(status["origin"] == .string("jakobstad"))
        #expect(status["seq"] == .number(1))
        #expect(status["hlc"]?.stringValue?.isEmpty == false)
        // The list answer is the short form.
        let item = try #require(try await node.send(.get, "/v1/clients", as: .office).json["items"]?.arrayValue?.first)
        #expect(item["stamps"] == nil)
        #expect(item["id"] == .string(id.lowercased))
    }

    @Test(arguments: [UUID().lowercased, "not-a-uuid", "12345", UUID().lowercased + "0"])
    func unknownOrMalformedIDIs404(id: String) async throws {
        let node = try TestNode()
        try await node.create(.client, SampleJSON.client())
        for (method, target) in [(HTTPMethod.get, "/v1/clients/\(id)"), (.patch, "/v1/clients/\(id)"), (.delete, "/v1/clients/\(id)"),
                                 (.post, "/v1/clients/\(id)/restore"), (.post, "/v1/clients/\(id)/erase")] {
            let response = try await node.send(method, target, as: .office, json: method == .patch ? #"{"status":"closed"}"# : nil)
            #expect(response.status == .notFound, "\(method) \(target)")
            #expect(response.errorCode == "not_found")
            #expect(response.hasErrorShape)
        }
        #expect(await node.syncState.logPosition == 1)
    }

    @Test func recordOfAnotherKindIsNotFound() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        #expect(try await node.send(.get, "/v1/services/\(id.lowercased)", as: .office).status == .notFound)
    }

    // MARK: Patch

    @Test func patchWritesOnlyTheGivenFields() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client(extra: #""motherTongue":"ar""#))
        let response = try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office,
                                           json: #"{"status":"assessed","jobseeker":true,"motherTongue":null}"#)
        #expect(response.status == .ok)
        let json = try response.json
        #expect(json["fields"]?["status"] == .string("assessed"))
        #expect(json["fields"]?["jobseeker"] == .bool(true))
        #expect(json["fields"]?["motherTongue"] == .null)
        #expect(json["fields"]?["givenName"] == .string("Testi"))
        #expect(json["fields"]?["clientNumber"] == .string("T-1"))
        #expect(json["stamps"]?["status"]?["seq"] == .number(2))
        #expect(json["stamps"]?["givenName"]?["seq"] == .number(1))
        #expect(json["rowClock"] == .object([("jakobstad", .number(2))]))
        // The change carries only what was written.
        let log = try await node.log()
        #expect(log.changes.last.map { Set($0.fields.keys) } == ["status", "jobseeker", "motherTongue"])
    }

    @Test func patchWithNoFieldsIs422() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        let response = try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office, json: "{}")
        #expect(response.status == .unprocessableContent)
        #expect(response.errorCode == "validation_failed")
        #expect(response.problemFields == ["(body)"])
        #expect(await node.syncState.logPosition == 1)
    }

    @Test func patchWithAProblemWritesNothing() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        for body in [#"{"status":"gone fishing"}"#, #"{"jobseeker":"yes"}"#, #"{"clientNumber":null}"#, #"{"id":"x"}"#,
                     #"{"deleted":true}"#, #"{"planEnd":"1980-01-01","planStart":"1990-01-01"}"#] {
            let response = try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office, json: body)
            #expect(response.status == .unprocessableContent, "\(body)")
            #expect(!response.problems.isEmpty)
        }
        #expect(await node.syncState.logPosition == 1)
    }

    /// Like create, a patch should list every problem at once: its type
    /// problems and the schema problems of the other fields it writes.
    @Test func patchListsTypeAndSchemaProblemsTogether() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client())
        let response = try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office,
                                           json: #"{"jobseeker":"yes","status":"gone fishing"}"#)
        #expect(response.status == .unprocessableContent)
        #expect(response.problemFields.contains("jobseeker"))
        #expect(response.problemFields == ["jobseeker", "status"])
    }

    @Test func patchOfAnUnknownRecordIs404() async throws {
        let node = try TestNode()
        let response = try await node.send(.patch, "/v1/clients/\(UUID().lowercased)", as: .office, json: #"{"status":"closed"}"#)
        #expect(response.status == .notFound)
        #expect(response.errorCode == "not_found")
    }

    // MARK: Delete, restore, erase

    @Test func deleteHidesAndRestoreShowsAgain() async throws {
        let node = try TestNode()
        let kept = try await node.create(.client, SampleJSON.client(number: 1))
        let id = try await node.create(.client, SampleJSON.client(number: 2))
        let deleted = try await node.send(.delete, "/v1/clients/\(id.lowercased)", as: .office)
        #expect(deleted.status == .noContent)
        #expect(deleted.body.isEmpty)

        #expect(try await node.send(.get, "/v1/clients", as: .office).json.itemIDs == [kept.lowercased])
        let one = try await node.send(.get, "/v1/clients/\(id.lowercased)", as: .office)
        #expect(one.status == .ok)
        #expect(try one.json["deleted"] == .bool(true))
        let all = try await node.send(.get, "/v1/clients?includeDeleted=true", as: .office).json.itemIDs
        #expect(Set(all) == [kept.lowercased, id.lowercased])

        // A deleted record takes no patch and no second delete.
        #expect(try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office, json: #"{"status":"closed"}"#).status == .notFound)
        #expect(try await node.send(.delete, "/v1/clients/\(id.lowercased)", as: .office).status == .notFound)

        let restored = try await node.send(.post, "/v1/clients/\(id.lowercased)/restore", as: .office)
        #expect(restored.status == .ok)
        #expect(try restored.json["deleted"] == .bool(false))
        #expect(try restored.json["fields"]?["clientNumber"] == .string("T-2"))
        #expect(Set(try await node.send(.get, "/v1/clients", as: .office).json.itemIDs) == [kept.lowercased, id.lowercased])
        #expect(try await node.send(.patch, "/v1/clients/\(id.lowercased)", as: .office, json: #"{"status":"closed"}"#).status == .ok)
    }

    @Test func eraseClearsFieldsAndLaterWritesAre410() async throws {
        let node = try TestNode()
        let id = try await node.create(.client, SampleJSON.client(extra: #""motherTongue":"ar""#))
        let erased = try await node.send(.post, "/v1/clients/\(id.lowercased)/erase", as: .office)
        #expect(erased.status == .ok)
        let json = try erased.json
        #expect(json["erased"] == .bool(true))
        let fields = try #require(json["fields"]?.objectMembers)
        #expect(fields.allSatisfy { $0.1 == .null || $0.1 == .array([]) }, "erased fields still hold values")
        #expect(!erased.bodyText.contains("Testi"))
        #expect(!erased.bodyText.contains("Henkilö"))

        for (method, target) in [(HTTPMethod.patch, "/v1/clients/\(id.lowercased)"), (.delete, "/v1/clients/\(id.lowercased)"),
                                 (.post, "/v1/clients/\(id.lowercased)/restore"), (.post, "/v1/clients/\(id.lowercased)/erase")] {
            let response = try await node.send(method, target, as: .office, json: method == .patch ? #"{"status":"closed"}"# : nil)
            #expect(response.status == .gone, "\(method) \(target)")
            #expect(response.errorCode == "erased")
        }
        // Erased records leave the lists unless asked for.
        #expect(try await node.send(.get, "/v1/clients", as: .office).json.itemIDs.isEmpty)
        #expect(try await node.send(.get, "/v1/clients?includeErased=true", as: .office).json.itemIDs == [id.lowercased])
        #expect(try await node.send(.get, "/v1/clients/\(id.lowercased)", as: .office).json["erased"] == .bool(true))
        #expect(await node.syncState.logPosition == 2)
    }

    // MARK: List

    @Test func listFilters() async throws {
        let node = try TestNode()
        let first = try await node.create(.client, SampleJSON.client(number: 1, owner: 598, extra: #""jobseeker":true"#))
        let second = try await node.create(.client, SampleJSON.client(number: 2, owner: 893, extra: #""jobseeker":false"#))
        let third = try await node.create(.client, SampleJSON.client(number: 3, owner: 598)
            .replacingOccurrences(of: #""integrationLanguage":"fi""#, with: #""integrationLanguage":"sv""#))
        func ids(_ target: String) async throws -> Set<String> {
            let response = try await node.send(.get, target, as: .coordinator)
            #expect(response.status == .ok, "\(target)")
            return Set(try response.json.itemIDs)
        }
        #expect(try await ids("/v1/clients?ownerMunicipality=598") == [first.lowercased, third.lowercased])
        #expect(try await ids("/v1/clients?ownerMunicipality=893") == [second.lowercased])
        #expect(try await ids("/v1/clients?integrationLanguage=sv") == [third.lowercased])
        #expect(try await ids("/v1/clients?clientNumber=T-2") == [second.lowercased])
        #expect(try await ids("/v1/clients?jobseeker=true") == [first.lowercased])
        #expect(try await ids("/v1/clients?ownerMunicipality=598&integrationLanguage=fi") == [first.lowercased])
        #expect(try await ids("/v1/clients?ownerMunicipality=440").isEmpty)

        let both = try await node.create(.service, SampleJSON.service(number: 1, municipalities: "[598,599]",
                                                                       extra: #""languages":["fi","sv"]"#))
        let north = try await node.create(.service, SampleJSON.service(number: 2, municipalities: "[893]", extra: #""languages":["sv"]"#))
        let wide = try await node.create(.service, SampleJSON.service(number: 3, municipalities: "[288,599]"))
        #expect(try await ids("/v1/services?municipalities=599") == [both.lowercased, wide.lowercased])
        #expect(try await ids("/v1/services?municipalities=893") == [north.lowercased])
        // A part of a code is no code: refused, not matched as a substring of 599.
        let partial = try await node.send(.get, "/v1/services?municipalities=59", as: .coordinator)
        #expect(partial.status == .badRequest && partial.problemFields == ["municipalities"])
        #expect(try await ids("/v1/services?languages=sv") == [both.lowercased, north.lowercased])
        #expect(try await ids("/v1/services?languages=fi&municipalities=598") == [both.lowercased])
    }

    /// The typed model reads a null `jobseeker` (or `literacySupport`,
    /// `wellbeingCountyConsulted`) as false, and the API creates records
    /// with it null when not given; `?jobseeker=false` should find them.
    @Test func booleanFilterFalseMatchesUnsetFlags() async throws {
        let node = try TestNode()
        let unset = try await node.create(.client, SampleJSON.client(number: 1))
        let explicit = try await node.create(.client, SampleJSON.client(number: 2, extra: #""jobseeker":false"#))
        let response = try await node.send(.get, "/v1/clients?jobseeker=false", as: .office)
        #expect(response.status == .ok)
        let found = Set(try response.json.itemIDs)
        #expect(found.contains(explicit.lowercased))
        #expect(found.contains(unset.lowercased))
    }

    @Test func idFiltersAcceptUpperCaseLikePathsDo() async throws {
        let node = try TestNode()
        let client = try await node.create(.client, SampleJSON.client())
        let service = try await node.create(.service, SampleJSON.service())
        let placement = try await node.create(.placement, SampleJSON.enrolment(client: client, service: service))
        #expect(try await node.send(.get, "/v1/clients/\(client.uuidString.uppercased())", as: .office).status == .ok)
        let lower = try await node.send(.get, "/v1/placements?clientId=\(client.lowercased)", as: .office).json.itemIDs
        #expect(lower == [placement.lowercased])
        let upper = try await node.send(.get, "/v1/placements?clientId=\(client.uuidString.uppercased())", as: .office).json.itemIDs
        #expect(upper == [placement.lowercased])
    }

    @Test func pagingReturnsEveryRecordOnce() async throws {
        let node = try TestNode()
        var created: Set<String> = []
        for number in 1...7 {
            created.insert(try await node.create(.client, SampleJSON.client(number: number)).lowercased)
        }
        var seen: [String] = []
        var after: String?
        var pages = 0
        repeat {
            let target = "/v1/clients?limit=3" + (after.map { "&after=\($0)" } ?? "")
            let json = try await node.send(.get, target, as: .office).json
            let ids = json.itemIDs
            #expect(ids.count <= 3)
            #expect(ids == ids.sorted())
            seen += ids
            after = json["next"]?.stringValue
            if after != nil { #expect(after == ids.last) }
            pages += 1
        } while after != nil && pages < 10
        #expect(pages == 3)
        #expect(seen.count == 7)
        #expect(Set(seen) == created)
        // Exactly a page's worth leaves no next.
        let exact = try await node.send(.get, "/v1/clients?limit=7", as: .office).json
        #expect(exact.itemIDs.count == 7)
        #expect(exact["next"] == .null)
        // Upper-case `after` works the same.
        let sorted = created.sorted()
        let upper = try await node.send(.get, "/v1/clients?after=\(sorted[4].uppercased())", as: .office).json
        #expect(upper.itemIDs == Array(sorted[5...]))
    }

    @Test(arguments: [
        ("limit=0", ["limit"]), ("limit=1001", ["limit"]), ("limit=ten", ["limit"]), ("after=c-7", ["after"]),
        ("colour=red", ["colour"]), ("ownerMunicipality=abc", ["ownerMunicipality"]), ("jobseeker=maybe", ["jobseeker"]),
        ("limit=-1&after=x&nickname=T", ["limit", "after", "nickname"]),
        ("includeDeleted=yes", ["includeDeleted"]), ("conflicted=1", ["conflicted"]),
    ])
    func invalidQueryIs400NamingTheParameter(query: String, fields: [String]) async throws {
        let node = try TestNode()
        let response = try await node.send(.get, "/v1/clients?\(query)", as: .office)
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_query")
        #expect(response.problems.map(\.field) == fields)
        #expect(response.problems.allSatisfy { !$0.reason.isEmpty })
    }

    @Test func conflictsEndpointFiltersByKind() async throws {
        let node = try TestNode()
        for kind in ["clients", "client", "services", "placements"] {
            let response = try await node.send(.get, "/v1/conflicts?kind=\(kind)", as: .coordinator)
            #expect(response.status == .ok, "\(kind)")
            #expect(try response.json["items"] == .array([]))
        }
        let bad = try await node.send(.get, "/v1/conflicts?kind=people", as: .coordinator)
        #expect(bad.status == .badRequest)
        #expect(bad.errorCode == "invalid_query")
        #expect(bad.problemFields == ["kind"])
    }
}
