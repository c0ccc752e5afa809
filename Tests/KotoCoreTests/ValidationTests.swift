import Foundation
import KotoCore
import Testing

@Suite struct ValidationTests {
    let validator = RecordValidator()

    /// The problems `fields` has as `kind`, as (field, reason) pairs.
    func problems(_ fields: FieldMap, _ kind: RecordKind) -> [FieldProblem] {
        validator.problems(in: fields, kind: kind)
    }

    func fieldsWithProblems(_ fields: FieldMap, _ kind: RecordKind) -> Set<String> {
        Set(problems(fields, kind).map(\.field))
    }

    @Test(arguments: [
        (Fixture.service, RecordKind.service),
        (Fixture.client, .client),
        (Fixture.enrolment, .placement),
        (Fixture.municipalPlacement, .placement),
    ])
    func validRecordPasses(fields: FieldMap, kind: RecordKind) throws {
        #expect(problems(fields, kind).isEmpty)
        try validator.validate(fields, kind: kind)
    }

    @Test func minimalRecordsPass() {
        let service: FieldMap = [
            "nameSv": .text("Testkurs"), "providerName": .text("Testare"), "providerType": .text("ngo"),
            "category": .text("other"), "municipalities": .text("440"), "studyPath": .text("none"),
            "status": .text("draft"),
        ]
        #expect(problems(service, .service).isEmpty)
        let client: FieldMap = [
            "clientNumber": .text("T-2"), "ownerMunicipality": .integer(440), "givenName": .text("Testi"),
            "familyName": .text("Testinen"), "birthDate": .text("2001-01-01"), "integrationLanguage": .text("fi"),
            "planStatus": .text("none"), "status": .text("new"),
        ]
        #expect(problems(client, .client).isEmpty)
    }

    @Test func wrongEnumValueIsReported() {
        let found = problems(Fixture.with(Fixture.service, ["category": .text("astrology")]), .service)
        #expect(found.map(\.field) == ["category"])
        #expect(found.first?.reason.hasPrefix("must be one of:") == true)
        #expect(fieldsWithProblems(Fixture.with(Fixture.client, ["permitBasis": .text("tourist")]), .client) == ["permitBasis"])
    }

    @Test func endBeforeStartIsReportedOnTheLaterField() {
        let service = Fixture.with(Fixture.service, ["startDate": .text("2025-06-01"), "endDate": .text("2025-05-31")])
        #expect(problems(service, .service) == [FieldProblem(field: "endDate", reason: "must not be before startDate")])
        // The same day is fine.
        #expect(problems(Fixture.with(service, ["endDate": .text("2025-06-01")]), .service).isEmpty)

        let client = Fixture.with(Fixture.client, ["planEnd": .text("2023-03-31")])
        #expect(problems(client, .client) == [FieldProblem(field: "planEnd", reason: "must not be before planStart")])
        let arrival = Fixture.with(Fixture.client, ["arrivalDate": .text("1980-01-01")])
        #expect(problems(arrival, .client) == [FieldProblem(field: "arrivalDate", reason: "must not be before birthDate")])
    }

    @Test func capacityBelowZeroIsReported() {
        let found = problems(Fixture.with(Fixture.service, ["capacity": .integer(-1)]), .service)
        #expect(found == [FieldProblem(field: "capacity", reason: "must be at least 0")])
        #expect(problems(Fixture.with(Fixture.service, ["capacity": .integer(0)]), .service).isEmpty)
        #expect(fieldsWithProblems(Fixture.with(Fixture.service, ["capacity": .integer(1_000_001)]), .service) == ["capacity"])
    }

    @Test func unknownMunicipalityCodeIsReported() {
        let owner = problems(Fixture.with(Fixture.client, ["ownerMunicipality": .integer(91)]), .client)
        #expect(owner == [FieldProblem(field: "ownerMunicipality", reason: "unknown municipality code")])
        for codes in ["598,91", "598,", ",598", "abc", "598 ,893"] {
            let found = problems(Fixture.with(Fixture.service, ["municipalities": .text(codes)]), .service)
            #expect(found.map(\.field) == ["municipalities"], "codes case \(codes.count)")
        }
        let placement = problems(Fixture.with(Fixture.municipalPlacement, ["municipality": .integer(0)]), .placement)
        #expect(placement.map(\.field) == ["municipality"])
    }

    @Test func municipalityListRejectsDuplicatesAndNonCanonicalCodes() {
        for codes in ["598,598", "598,0598", "598,+598", "+598", "0598"] {
            #expect(fieldsWithProblems(Fixture.with(Fixture.service, ["municipalities": .text(codes)]), .service)
                == ["municipalities"])
        }
        let empty = problems(Fixture.with(Fixture.service, ["municipalities": .text("")]), .service)
        #expect(empty == [FieldProblem(field: "municipalities", reason: "must name at least one municipality")])
    }

    @Test func languageCodesAreChecked() {
        for bad in ["FI", "fin", "f", "fi,", "fi,fi", "fi sv"] {
            #expect(fieldsWithProblems(Fixture.with(Fixture.service, ["languages": .text(bad)]), .service) == ["languages"])
        }
        #expect(fieldsWithProblems(Fixture.with(Fixture.client, ["motherTongue": .text("Arabic")]), .client) == ["motherTongue"])
    }

    @Test func malformedIdentityCodeIsReported() {
        let code = "170590-902X" // wrong check character
        #expect(!PersonalIdentityCode.isValid(code))
        let found = problems(Fixture.with(Fixture.client, ["personalIdentityCode": .text(code)]), .client)
        #expect(found == [FieldProblem(field: "personalIdentityCode", reason: "malformed personal identity code")])
    }

    @Test func identityCodeNotMatchingBirthDateIsReported() {
        let other = PersonalIdentityCode.make(birthDate: LocalDate(year: 1990, month: 5, day: 18)!, individual: 902)
        let found = problems(Fixture.with(Fixture.client, ["personalIdentityCode": .text(other)]), .client)
        #expect(found == [FieldProblem(field: "personalIdentityCode", reason: "does not match birthDate")])
    }

    @Test func stringOverItsLengthLimitIsReported() {
        let name = String(repeating: "Ä", count: 101)
        let found = problems(Fixture.with(Fixture.client, ["givenName": .text(name)]), .client)
        #expect(found == [FieldProblem(field: "givenName", reason: "is longer than 100 characters")])
        // The limit counts characters, not bytes: 100 two-byte characters fit.
        #expect(problems(Fixture.with(Fixture.client, ["givenName": .text(String(name.dropFirst()))]), .client).isEmpty)
    }

    @Test func missingRequiredFieldsAreReported() {
        var client = Fixture.client
        client["familyName"] = nil
        client["birthDate"] = .null
        let found = problems(client, .client)
        #expect(found.contains(FieldProblem(field: "familyName", reason: "is required")))
        #expect(found.contains(FieldProblem(field: "birthDate", reason: "is required")))
        #expect(Set(found.map(\.field)) == ["familyName", "birthDate"])
        let blank = problems(Fixture.with(Fixture.client, ["clientNumber": .text("  ")]), .client)
        #expect(blank == [FieldProblem(field: "clientNumber", reason: "must not be empty")])
    }

    @Test func serviceNeedsAFinnishOrSwedishName() {
        var service = Fixture.service
        service["nameFi"] = nil
        #expect(problems(service, .service) == [FieldProblem(field: "nameFi", reason: "a Finnish or Swedish name is required")])
        service["nameSv"] = .text("Testkurs")
        #expect(problems(service, .service).isEmpty)
    }

    @Test func wrongValueTypeIsReported() {
        let cases: [(String, FieldValue, String)] = [
            ("capacity", .text("20"), "must be an integer"),
            ("providerName", .integer(7), "must be a string"),
            ("startDate", .bool(true), "must be a string"),
            ("deleted", .text("true"), "must be true or false"),
            ("municipalities", .integer(598), "must be a string"),
        ]
        for (field, value, reason) in cases {
            let found = problems(Fixture.with(Fixture.service, [field: value]), .service)
            #expect(found == [FieldProblem(field: field, reason: reason)])
        }
        #expect(problems(Fixture.with(Fixture.service, ["startDate": .text("13.1.2025")]), .service)
            == [FieldProblem(field: "startDate", reason: "must be a date YYYY-MM-DD")])
        #expect(problems(Fixture.with(Fixture.enrolment, ["clientId": .text(Fixture.familyID.uuidString)]), .placement)
            == [FieldProblem(field: "clientId", reason: "must be a UUID")], "uppercase UUIDs are not canonical")
    }

    @Test func unknownFieldNameIsReported() {
        let found = problems(Fixture.with(Fixture.service, ["colour": .text("blue")]), .service)
        #expect(found == [FieldProblem(field: "colour", reason: "unknown field")])
        // A field of another kind is unknown here too.
        #expect(fieldsWithProblems(Fixture.with(Fixture.service, ["givenName": .text("Testi")]), .service) == ["givenName"])
    }

    @Test func enrolmentRules() {
        var enrolment = Fixture.enrolment
        enrolment["serviceId"] = nil
        #expect(problems(enrolment, .placement) == [FieldProblem(field: "serviceId", reason: "is required for a service enrolment")])

        let municipalOnly = Fixture.with(Fixture.enrolment, [
            "municipality": .integer(598), "route": .text("quota"), "offeredDate": .text("2024-01-01"),
            "elyReference": .text("ELY-TEST"), "wellbeingCountyConsulted": .bool(false),
        ])
        let found = problems(municipalOnly, .placement)
        #expect(Set(found.map(\.field)) == ["municipality", "route", "offeredDate", "elyReference", "wellbeingCountyConsulted"])
        #expect(found.allSatisfy { $0.reason == "applies only to a municipal placement" })

        let status = problems(Fixture.with(Fixture.enrolment, ["status": .text("arrived")]), .placement)
        #expect(status.map(\.field) == ["status"])
        #expect(status.first?.reason.contains("waiting") == true)

        let order = problems(Fixture.with(Fixture.enrolment, ["referralDate": .text("2025-02-01")]), .placement)
        #expect(order == [FieldProblem(field: "startDate", reason: "must not be before referralDate")])
    }

    @Test func municipalPlacementRules() {
        var placement = Fixture.municipalPlacement
        placement["municipality"] = nil
        placement["route"] = .null
        #expect(problems(placement, .placement) == [
            FieldProblem(field: "municipality", reason: "is required for a municipal placement"),
            FieldProblem(field: "route", reason: "is required for a municipal placement"),
        ])

        let enrolmentOnly = Fixture.with(Fixture.municipalPlacement, [
            "serviceId": .text(Fixture.serviceID.lowercased), "referralDate": .text("2024-01-01"),
            "outcome": .text("completed"),
        ])
        let found = problems(enrolmentOnly, .placement)
        #expect(Set(found.map(\.field)) == ["serviceId", "referralDate", "outcome"])
        #expect(found.allSatisfy { $0.reason == "applies only to a service enrolment" })

        let status = problems(Fixture.with(Fixture.municipalPlacement, ["status": .text("waiting")]), .placement)
        #expect(status.map(\.field) == ["status"])
        #expect(status.first?.reason.contains("housing_arranged") == true)

        let order = problems(Fixture.with(Fixture.municipalPlacement, ["arrivalDate": .text("2024-09-30")]), .placement)
        #expect(order == [FieldProblem(field: "arrivalDate", reason: "must not be before offeredDate")])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let client = Fixture.with(Fixture.client, [
            "ownerMunicipality": .integer(1),
            "givenName": .null,
            "personalIdentityCode": .text("not-a-code"),
            "integrationLanguage": .text("en"),
            "jobseeker": .text("yes"),
            "familyId": .text("family-1"),
            "planEnd": .text("2020-01-01"),
            "shoeSize": .integer(44),
        ])
        #expect(fieldsWithProblems(client, .client) == [
            "ownerMunicipality", "givenName", "personalIdentityCode", "integrationLanguage",
            "jobseeker", "familyId", "planEnd", "shoeSize",
        ])
        #expect(throws: ValidationError.self) { try validator.validate(client, kind: .client) }
        do {
            try validator.validate(client, kind: .client)
        } catch {
            #expect(error.problems.count == 8)
            #expect(error.problems == problems(client, .client))
        }
    }

    @Test func reasonsNeverQuoteTheValue() {
        let secrets = [
            "givenName": "Zyxwvutsrq" + String(repeating: "q", count: 100),
            "personalIdentityCode": "170590Q902X",
            "familyName": "Qwertyuiop" + String(repeating: "p", count: 100),
            "motherTongue": "Xyzzyish",
            "permitBasis": "Plughbasis",
            "birthDate": "1990-13-45",
            "clientNumber": "ZZ-SECRET-" + String(repeating: "9", count: 40),
        ]
        let client = Fixture.with(Fixture.client, secrets.mapValues { .text($0) })
        let found = problems(client, .client)
        #expect(Set(found.map(\.field)) == Set(secrets.keys))
        let description = ValidationError(found).description
        for secret in secrets.values {
            #expect(!description.contains(secret))
            #expect(found.allSatisfy { !$0.reason.contains(secret) && !$0.description.contains(secret) })
        }
        #expect(!description.contains("Zyxw") && !description.contains("Xyzzy") && !description.contains("170590"))
    }

    @Test func identityCodeMismatchDoesNotQuoteEitherDate() {
        let other = PersonalIdentityCode.make(birthDate: LocalDate(year: 1991, month: 6, day: 18)!, individual: 903)
        let found = problems(Fixture.with(Fixture.client, ["personalIdentityCode": .text(other)]), .client)
        let description = ValidationError(found).description
        #expect(!description.contains(other))
        #expect(!description.contains("1990") && !description.contains("1991") && !description.contains("180691"))
    }
}
