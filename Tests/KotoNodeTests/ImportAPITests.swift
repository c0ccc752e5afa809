import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import Testing
@testable import KotoNode

/// `POST /v1/import/{kind}`: every row checked, problems by row and column,
/// all or nothing (or the valid rows with skipInvalid), idempotent re-runs.
/// Failure messages give counts and codes, never a row's values.
@Suite struct ImportAPITests {
    static let header = "clientNumber;ownerMunicipality;givenName;familyName;birthDate;integrationLanguage;planStatus;status"

    /// A CSV of clients as Excel saves it: CRLF, `;`.
    static func clientsCSV(_ lines: [String], header: String = header) -> [UInt8] {
        Array(([header] + lines).map { $0 + "\r\n" }.joined().utf8)
    }

    static let validRows = [
        "IMP-1;598;Testi;Henkilö;1990-01-01;fi;none;new",
        "IMP-2;598;Malli;Asiakas;2.3.1985;sv;none;assessed",
    ]

    func importing(_ node: TestNode, _ body: [UInt8], kind: String = "clients", query: String = "", as caller: TestCaller = .office,
                   type: String = "text/csv") async throws -> HTTPResponse {
        try await node.send(.post, "/v1/import/\(kind)\(query.isEmpty ? "" : "?" + query)", as: caller, body: body,
                            headers: ["Content-Type": type])
    }

    func clientCount(_ node: TestNode) async throws -> Int { try await node.replica.withStore { try $0.count(.client) } }

    @Test func aDryRunReportsWhatItWouldDoAndWritesNothing() async throws {
        let node = try TestNode()
        let response = try await importing(node, Self.clientsCSV(Self.validRows), query: "dryRun=true")
        #expect(response.status == .ok)
        let report = try response.json
        #expect(report["dryRun"] == .bool(true))
        #expect(report["written"] == .bool(false))
        #expect(report["rowsRead"]?.int64Value == 2)
        #expect(report["created"]?.int64Value == 2)
        #expect(report["skipped"]?.int64Value == 0)
        #expect(report["problems"]?.arrayValue?.isEmpty == true)
        #expect(try await clientCount(node) == 0)
        #expect(await node.syncState.versionVector == VersionVector())
        #expect(node.access.recorded.isEmpty)
    }

    @Test func oneBadRowWritesNothingAndTheAnswerNamesItsRowAndColumn() async throws {
        let node = try TestNode()
        let rows = Self.validRows + ["IMP-3;598;Prov;Klient;31.2.1990;fi;none;new"]
        let response = try await importing(node, Self.clientsCSV(rows))
        #expect(response.status == .unprocessableContent)
        #expect(response.errorCode == "import_invalid")
        #expect(response.hasErrorShape)
        let problems = try #require(try response.json["error"]?["problems"]?.arrayValue)
        #expect(problems.count == 1)
        #expect(problems.first?["row"]?.int64Value == 4)
        #expect(problems.first?["field"]?.stringValue == "birthDate")
        #expect(problems.first?["reason"]?.stringValue == "must be a date YYYY-MM-DD")
        // The refused value is not quoted back.
        #expect(!String(decoding: response.body, as: UTF8.self).contains("31.2.1990"))
        #expect(try await clientCount(node) == 0)
        #expect(await node.syncState.versionVector == VersionVector())
        #expect(node.access.recorded.isEmpty)
    }

    @Test func skipInvalidWritesTheValidRowsAndListsTheSkipped() async throws {
        let node = try TestNode()
        let rows = [Self.validRows[0], "IMP-3;598;;Klient;1990-01-01;fi;none;new", Self.validRows[1], "IMP-4;598;Prov;Klient;1990-01-01;xx;none;new"]
        let response = try await importing(node, Self.clientsCSV(rows), query: "skipInvalid=true")
        #expect(response.status == .ok)
        let report = try response.json
        #expect(report["written"] == .bool(true))
        #expect(report["created"]?.int64Value == 2)
        #expect(report["skipped"]?.int64Value == 2)
        #expect(report["skippedRows"] == .array([.number(3), .number(5)]))
        let found: [JSONValue] = report["problems"]?.arrayValue ?? []
        let problems: [String] = found.map { item in "\(item["row"]?.int64Value ?? 0):\(item["column"]?.stringValue ?? "")" }
        #expect(problems == ["3:givenName", "5:integrationLanguage"])
        #expect(try await clientCount(node) == 2)
        // One write entry, naming exactly the created clients and the fields written.
        let writes = node.access.recorded.filter { $0.access.action == .write }
        #expect(writes.count == 1)
        let rowResults: [JSONValue] = report["rows"]?.arrayValue ?? []
        var created: Set<UUID> = []
        for item in rowResults where item["result"] == .string("created") {
            if let text = item["id"]?.stringValue, let id = UUID(uuidString: text) { created.insert(id) }
        }
        #expect(Set(writes.first?.access.ids ?? []) == created)
        #expect(writes.first?.access.kind == .client)
        #expect(writes.first?.access.fields == Self.header.split(separator: ";").map(String.init).sorted())
        #expect(writes.first?.access.route == "POST /v1/import/{kind}")
        #expect(writes.first?.caller == .office(municipality: 598))
    }

    @Test func aReRunCreatesNothingNewAndAChangedRowUpdatesOnlyItsChangedFields() async throws {
        let node = try TestNode()
        let file = Self.clientsCSV(Self.validRows)
        #expect(try await importing(node, file).status == .ok)
        let vector = await node.syncState.versionVector
        let again = try await importing(node, file)
        #expect(again.status == .ok)
        #expect(try again.json["created"]?.int64Value == 0)
        #expect(try again.json["unchanged"]?.int64Value == 2)
        #expect(try again.json["written"] == .bool(false))
        #expect(await node.syncState.versionVector == vector, "an unchanged re-run writes no change")
        #expect(try await clientCount(node) == 2)

        let changed = Self.clientsCSV([Self.validRows[0], "IMP-2;598;Malli;Asiakas;2.3.1985;sv;none;closed"])
        let update = try await importing(node, changed)
        #expect(try update.json["updated"]?.int64Value == 1)
        #expect(try update.json["unchanged"]?.int64Value == 1)
        #expect(try await clientCount(node) == 2)
        let id = try #require(try update.json["rows"]?.arrayValue?[1]["id"]?.stringValue.flatMap(UUID.init(uuidString:)))
        let record = try #require(try await node.replica.withStore { try $0.record(.client, id: id) })
        #expect(record.fields["status"] == .text("closed"))
        let last = try #require(node.access.recorded.last)
        #expect(last.access.ids == [id])
        #expect(last.access.fields == ["status"])
    }

    @Test func aClientNumberTwiceInOneFileIsAProblemOfTheSecondRow() async throws {
        let node = try TestNode()
        let response = try await importing(node, Self.clientsCSV([Self.validRows[0], Self.validRows[0]]))
        #expect(response.status == .unprocessableContent)
        #expect(response.problems == [FieldProblem(field: "clientNumber", reason: "repeats the record of row 2")])
        #expect(try await clientCount(node) == 0)
    }

    @Test func anOfficeImportsOnlyItsOwnMunicipalitysClients() async throws {
        let node = try TestNode()
        let rows = [Self.validRows[0], "IMP-9;440;Prov;Klient;1990-01-01;sv;none;new"]
        let response = try await importing(node, Self.clientsCSV(rows), query: "dryRun=true")
        let problems = try response.json["problems"]?.arrayValue ?? []
        #expect(problems.count == 1)
        #expect(problems.first?["row"]?.int64Value == 3)
        #expect(problems.first?["column"]?.stringValue == "ownerMunicipality")
        #expect(problems.first?["reason"]?.stringValue == "office 598 may import only clients of municipality 598")
        // Without the column, an office's clients are its own.
        let header = "clientNumber;givenName;familyName;birthDate;integrationLanguage;planStatus;status"
        let implicit = try await importing(node, Self.clientsCSV(["IMP-5;Testi;Henkilö;1990-01-01;fi;none;new"], header: header))
        #expect(implicit.status == .ok)
        let id = try #require(try implicit.json["rows"]?.arrayValue?.first?["id"]?.stringValue.flatMap(UUID.init(uuidString:)))
        #expect(try await node.replica.withStore { try $0.record(.client, id: id) }?.fields["ownerMunicipality"] == .integer(598))
    }

    @Test(arguments: [TestCaller.coordinator, .admin, .peer, .none])
    func onlyAnOfficeImports(caller: TestCaller) async throws {
        let node = try TestNode()
        let response = try await importing(node, Self.clientsCSV(Self.validRows), as: caller)
        #expect(response.status == (caller == .none ? .unauthorized : .forbidden))
        #expect(try await clientCount(node) == 0)
    }

    @Test func unknownAndRepeatedColumnsBlockTheWholeFileEvenWithSkipInvalid() async throws {
        let node = try TestNode()
        let file = Self.clientsCSV(Self.validRows.map { $0 + ";x;y" }, header: Self.header + ";shoeSize;Etunimi")
        let response = try await importing(node, file, query: "skipInvalid=true")
        #expect(response.status == .unprocessableContent)
        let problems = try #require(try response.json["error"]?["problems"]?.arrayValue)
        #expect(problems.map { $0["row"]?.int64Value } == [1, 1])
        #expect(problems.map { $0["field"]?.stringValue } == ["column 9", "givenName"])
        #expect(try await clientCount(node) == 0)
    }

    @Test func aFileWithoutAHeaderRowIsRefusedWithoutQuotingItsFirstRecord() async throws {
        let node = try TestNode()
        let response = try await importing(node, Array("IMP-1;598;Testi;Henkilö;1990-01-01;fi;none;new\r\n".utf8), query: "dryRun=true")
        #expect(response.status == .ok)
        let problems = try response.json["problems"]?.arrayValue ?? []
        #expect(problems.count == 8)
        #expect(problems.first?["reason"]?.stringValue == "names no field of clients (is the first row a header?)")
        let text = String(decoding: response.body, as: UTF8.self)
        for value in ["Testi", "Henkilö", "IMP-1", "1990-01-01"] { #expect(!text.contains(value), "the answer quotes no cell") }
        #expect(try await clientCount(node) == 0)
    }

    @Test func theFileMustBeCSVOrJSONAndReadable() async throws {
        let node = try TestNode()
        let plain = try await importing(node, Self.clientsCSV(Self.validRows), type: "text/plain")
        #expect(plain.status == .unsupportedMediaType)
        let broken = try await importing(node, Array("[{\"clientNumber\": ".utf8), type: "application/json")
        #expect(broken.status == .badRequest)
        #expect(broken.errorCode == "invalid_import_file")
        let unknownKind = try await importing(node, Self.clientsCSV(Self.validRows), kind: "widgets")
        #expect(unknownKind.status == .notFound)
        let badFlag = try await importing(node, Self.clientsCSV(Self.validRows), query: "dryRun=yes")
        #expect(badFlag.status == .badRequest)
        #expect(badFlag.problemFields == ["dryRun"])
    }

    @Test func moreThanTheMaximumRowsIs413() async throws {
        let node = try TestNode()
        var text = "clientNumber\r\n"
        text.reserveCapacity(API.maxImportRows * 8)
        for number in 0...API.maxImportRows { text += "N\(number)\r\n" }
        let response = try await importing(node, Array(text.utf8), query: "dryRun=true")
        #expect(response.status == .contentTooLarge)
        #expect(response.errorCode == "too_many_rows")
    }

    @Test func windows1252FilesImportWithTheirLetters() async throws {
        let node = try TestNode()
        // "IMP-7;598;Äijä;Öst€;..." in code page 1252.
        let line: [UInt8] = Array("IMP-7;598;".utf8) + [0xC4, 0x69, 0x6A, 0xE4] + Array(";".utf8) + [0xD6, 0x73, 0x74, 0x80]
            + Array(";1990-01-01;fi;none;new\r\n".utf8)
        let file = Array((Self.header + "\r\n").utf8) + line
        let response = try await importing(node, file)
        #expect(response.status == .ok)
        #expect(try response.json["encoding"]?.stringValue == "windows-1252")
        let id = try #require(try response.json["rows"]?.arrayValue?.first?["id"]?.stringValue.flatMap(UUID.init(uuidString:)))
        let record = try #require(try await node.replica.withStore { try $0.record(.client, id: id) })
        #expect(record.fields["givenName"] == .text("Äijä"))
        #expect(record.fields["familyName"] == .text("Öst€"))
    }

    @Test func jsonImportsTakeAnArrayItemsOrTheAPIsRecordShape() async throws {
        let node = try TestNode()
        let array = "[\(SampleJSON.client(number: 1)), \(SampleJSON.client(number: 2))]"
        let first = try await importing(node, Array(array.utf8), type: "application/json")
        #expect(first.status == .ok)
        #expect(try first.json["created"]?.int64Value == 2)
        #expect(try first.json["format"]?.stringValue == "json")
        // The list endpoint's answer re-imports as it is: every record unchanged.
        let list = try await node.send(.get, "/v1/clients", as: .office)
        let again = try await importing(node, list.body, type: "application/json")
        #expect(again.status == .ok)
        #expect(try again.json["unchanged"]?.int64Value == 2)
        #expect(try again.json["created"]?.int64Value == 0)
        let wrong = "{\"items\": [\(SampleJSON.client(number: 3, extra: "\"arrivalDate\": 19900101"))]}"
        let refused = try await importing(node, Array(wrong.utf8), type: "application/json")
        #expect(refused.status == .unprocessableContent)
        #expect(try refused.json["error"]?["problems"]?.arrayValue?.first?["row"]?.int64Value == 1)
        #expect(refused.problemFields == ["arrivalDate"])
    }

    @Test func anExportedCSVReImportsUnchangedAndIntoAnEmptyNodeAsTheSameRecords() async throws {
        let node = try TestNode()
        try await node.create(.client, SampleJSON.client(number: 1, extra: #""motherTongue":"ar","literacySupport":true,"planStart":"2026-01-05""#))
        try await node.create(.client, SampleJSON.client(number: 2, extra: #""familyId":"0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10""#))
        for language in ["fi", "sv", "en"] {
            let export = try await node.send(.get, "/v1/clients?format=csv&lang=\(language)", as: .office)
            #expect(export.status == .ok)
            let again = try await importing(node, export.body)
            #expect(again.status == .ok, "re-import of the \(language) export answered \(again.status.code) \(again.errorCode ?? "")")
            #expect(try again.json["unchanged"]?.int64Value == 2, "\(language)")
            #expect(try again.json["created"]?.int64Value == 0, "\(language)")
        }
        let export = try await node.send(.get, "/v1/clients?format=csv", as: .office)
        let empty = try TestNode(node: "nykarleby")
        let imported = try await importing(empty, export.body)
        #expect(imported.status == .ok)
        #expect(try imported.json["created"]?.int64Value == 2)
        let original = try await node.replica.withStore { try $0.list(.client).map { [$0.id.lowercased: $0.fields] } }
        let copied = try await empty.replica.withStore { try $0.list(.client).map { [$0.id.lowercased: $0.fields] } }
        #expect(original == copied, "the import holds the same ids and fields")
    }

    @Test func placementsNameTheirClientByNumberAndReRunIdempotently() async throws {
        let node = try TestNode()
        let client = try await node.create(.client, SampleJSON.client(number: 41))
        let service = try await node.create(.service, SampleJSON.service(number: 1))
        let header = "type;clientNumber;serviceId;referralDate;status"
        let file = Array("\(header)\r\nservice_enrolment;T-41;\(service.lowercased);1.9.2026;proposed\r\n".utf8)
        let first = try await importing(node, file, kind: "placements")
        #expect(first.status == .ok)
        #expect(try first.json["created"]?.int64Value == 1)
        let placements = try await node.replica.withStore { try $0.list(.placement) }
        #expect(placements.count == 1)
        #expect(placements.first?.fields["clientId"] == .text(client.lowercased))
        #expect(placements.first?.fields["referralDate"] == .text("2026-09-01"))
        let again = try await importing(node, file, kind: "placements")
        #expect(try again.json["unchanged"]?.int64Value == 1)
        #expect(try await node.replica.withStore { try $0.count(.placement) } == 1)
        let unknown = Array("\(header)\r\nservice_enrolment;T-404;\(service.lowercased);;proposed\r\n".utf8)
        let refused = try await importing(node, unknown, kind: "placements")
        #expect(refused.status == .unprocessableContent)
        #expect(refused.problems == [FieldProblem(field: "clientNumber", reason: "names no client in the replica")])
    }

    @Test func servicesMatchByProviderNameAndStartDate() async throws {
        let node = try TestNode()
        let header = "nameFi;providerName;providerType;category;municipalities;studyPath;startDate;status;capacity"
        let file = Array("\(header)\r\nSuomi 1;Testiopisto;adult_education;language_course;598, 599;basic;1.8.2026;active;12\r\n".utf8)
        #expect(try await importing(node, file, kind: "services").json["created"]?.int64Value == 1)
        let bigger = Array("\(header)\r\nSuomi 1;Testiopisto;adult_education;language_course;598,599;basic;2026-08-01;active;20\r\n".utf8)
        let update = try await importing(node, bigger, kind: "services")
        #expect(try update.json["updated"]?.int64Value == 1)
        #expect(try await node.replica.withStore { try $0.list(.service) }.first?.fields["capacity"] == .integer(20))
        let elsewhere = Array("\(header)\r\nSuomi 2;Testiopisto;adult_education;language_course;440;basic;;active;\r\n".utf8)
        let refused = try await importing(node, elsewhere, kind: "services")
        #expect(refused.problems == [FieldProblem(field: "municipalities", reason: "office 598 may import only services offered in municipality 598")])
    }
}
