import Foundation
import KotoCore
import Testing

private func roundTrip<R: Record>(_ record: R) throws -> R {
    try R(id: record.id, fields: record.fields)
}

/// `fields` names every field of the kind exactly once, with the schema's wire names.
private func expectFullMap<R: Record>(_ record: R, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(Set(record.fields.keys) == Set(R.kind.fields.map(\.name)), sourceLocation: sourceLocation)
    #expect(record.fields.count == R.kind.fields.count, sourceLocation: sourceLocation)
    #expect(RecordValidator().problems(in: record.fields, kind: R.kind).isEmpty, sourceLocation: sourceLocation)
}

@Suite struct RecordsTests {
    static let fullService = Service(
        id: Fixture.serviceID, nameFi: "Kotoutumiskoulutus (testi)", nameSv: "Integrationsutbildning (test)",
        providerName: "Testiopisto", providerType: .adultEducation, category: .integrationTraining,
        municipalities: [598, 893, 288], languages: ["fi", "sv", "en"], studyPath: .fast, capacity: 1_000_000,
        startDate: LocalDate(year: 2025, month: 1, day: 13), endDate: LocalDate(year: 2025, month: 6, day: 13),
        contact: "testi@example.invalid, 040 000 0000", status: .full, deleted: true)

    static let minimalService = Service(
        id: Fixture.serviceID, nameSv: "Testkurs", providerName: "Testare", providerType: .ngo, category: .other,
        municipalities: [440], studyPath: .none, status: .draft)

    static let fullClient = Client(
        id: Fixture.clientID, clientNumber: "TEST-0001", ownerMunicipality: 599, givenName: "Testi Ääkkönen",
        familyName: "Testinen-Esimerkki", birthDate: Fixture.birthDate, personalIdentityCode: Fixture.identityCode,
        arrivalDate: LocalDate(year: 2023, month: 3, day: 1), firstPermitDate: LocalDate(year: 2023, month: 2, day: 1),
        permitBasis: .quotaRefugee, integrationLanguage: .sv, motherTongue: "ar", interpreterLanguage: "ar",
        literacySupport: true, jobseeker: true, familyId: Fixture.familyID,
        assessmentDate: LocalDate(year: 2023, month: 3, day: 20), planStart: LocalDate(year: 2023, month: 4, day: 1),
        planEnd: LocalDate(year: 2026, month: 3, day: 31), planStatus: .active, status: .planActive,
        retentionUntil: LocalDate(year: 2040, month: 12, day: 31))

    static let minimalClient = Client(
        id: Fixture.clientID, clientNumber: "T-2", ownerMunicipality: 440, givenName: "Testi", familyName: "Testinen",
        birthDate: LocalDate(year: 2001, month: 1, day: 1)!, integrationLanguage: .fi, planStatus: .none, status: .new)

    static let enrolment = Placement(
        id: Fixture.placementID, type: .serviceEnrolment, clientId: Fixture.clientID, serviceId: Fixture.serviceID,
        referralDate: LocalDate(year: 2024, month: 12, day: 1), startDate: LocalDate(year: 2025, month: 1, day: 13),
        endDate: LocalDate(year: 2025, month: 6, day: 13), outcome: .furtherEducation, status: .enrolment(.completed))

    static let municipalPlacement = Placement(
        id: Fixture.placementID, type: .municipalPlacement, clientId: Fixture.clientID,
        startDate: LocalDate(year: 2024, month: 11, day: 15), municipality: 288, route: .familyReunification,
        offeredDate: LocalDate(year: 2024, month: 10, day: 1), arrivalDate: LocalDate(year: 2024, month: 11, day: 15),
        elyReference: "ELY-TEST-1", wellbeingCountyConsulted: true, status: .municipal(.housingArranged), deleted: true)

    @Test(arguments: [fullService, minimalService])
    func serviceRoundTrips(service: Service) throws {
        #expect(try roundTrip(service) == service)
        expectFullMap(service)
    }

    @Test(arguments: [fullClient, minimalClient])
    func clientRoundTrips(client: Client) throws {
        #expect(try roundTrip(client) == client)
        expectFullMap(client)
    }

    @Test(arguments: [enrolment, municipalPlacement,
                      Placement(id: Fixture.placementID, type: .municipalPlacement, clientId: Fixture.clientID,
                                municipality: 598, route: .quota, status: .municipal(.offered))])
    func placementRoundTrips(placement: Placement) throws {
        #expect(try roundTrip(placement) == placement)
        expectFullMap(placement)
    }

    @Test func kindsMatchTheSchema() {
        #expect(Service.kind == .service)
        #expect(Client.kind == .client)
        #expect(Placement.kind == .placement)
    }

    @Test func serviceFieldsUseWireSpellings() {
        let fields = Self.fullService.fields
        #expect(fields["municipalities"] == .text("598,893,288"))
        #expect(fields["languages"] == .text("fi,sv,en"))
        #expect(fields["providerType"] == .text("adult_education"))
        #expect(fields["category"] == .text("integration_training"))
        #expect(fields["startDate"] == .text("2025-01-13"))
        #expect(fields["capacity"] == .integer(1_000_000))
        #expect(fields["deleted"] == .bool(true))

        let minimal = Self.minimalService.fields
        #expect(minimal["languages"] == .null, "an empty list is null")
        #expect(minimal["nameFi"] == .null && minimal["capacity"] == .null && minimal["endDate"] == .null)
        #expect(minimal["deleted"] == .bool(false))
    }

    @Test func clientFieldsUseWireSpellings() {
        let fields = Self.fullClient.fields
        #expect(fields["familyId"] == .text("00000000-0000-4000-8000-0000000000fa"), "lowercase UUID")
        #expect(fields["ownerMunicipality"] == .integer(599))
        #expect(fields["status"] == .text("plan_active"))
        #expect(fields["permitBasis"] == .text("quota_refugee"))
        #expect(fields["literacySupport"] == .bool(true))
        #expect(Self.minimalClient.fields["literacySupport"] == .bool(false))
        #expect(Self.minimalClient.fields["permitBasis"] == .null)
    }

    @Test func placementStatusFollowsTheType() {
        #expect(Placement.Status(rawValue: "waiting", type: .serviceEnrolment) == .enrolment(.waiting))
        #expect(Placement.Status(rawValue: "moved_away", type: .municipalPlacement) == .municipal(.movedAway))
        #expect(Placement.Status(rawValue: "arrived", type: .serviceEnrolment) == nil)
        #expect(Placement.Status(rawValue: "waiting", type: .municipalPlacement) == nil)
        #expect(Placement.Status.municipal(.housingArranged).rawValue == "housing_arranged")
        #expect(Self.enrolment.fields["status"] == .text("completed"))
        #expect(Self.enrolment.fields["clientId"] == .text(Fixture.clientID.lowercased))
    }

    @Test func wellbeingConsultationFalseIsNullSoEnrolmentsStayValid() throws {
        #expect(Self.enrolment.fields["wellbeingCountyConsulted"] == .null)
        #expect(Self.municipalPlacement.fields["wellbeingCountyConsulted"] == .bool(true))
        let explicitFalse = Fixture.with(Fixture.municipalPlacement, ["wellbeingCountyConsulted": .bool(false)])
        #expect(try Placement(id: Fixture.placementID, fields: explicitFalse).wellbeingCountyConsulted == false)
    }

    @Test func readsTheSourceMap() throws {
        let service = try Service(id: Fixture.serviceID, fields: Fixture.service)
        #expect(service.municipalities == [598, 893])
        #expect(service.languages == ["fi", "sv"])
        #expect(service.capacity == 20)
        #expect(service.endDate == LocalDate(year: 2025, month: 6, day: 13))
        #expect(service.nameSv == nil && !service.deleted)

        let client = try Client(id: Fixture.clientID, fields: Fixture.client)
        #expect(client.birthDate == Fixture.birthDate)
        #expect(client.personalIdentityCode == Fixture.identityCode)
        #expect(client.literacySupport && !client.jobseeker, "absent bool reads as false")
        #expect(client.planStatus == .active && client.status == .planActive)

        let enrolment = try Placement(id: Fixture.placementID, fields: Fixture.enrolment)
        #expect(enrolment.serviceId == Fixture.serviceID && enrolment.status == .enrolment(.active))
        let placement = try Placement(id: Fixture.placementID, fields: Fixture.municipalPlacement)
        #expect(placement.municipality == 288 && placement.route == .quota && placement.status == .municipal(.arrived))

        // The full map agrees with the source on every value the source gave.
        for (source, fields) in [(Fixture.service, service.fields), (Fixture.client, client.fields),
                                 (Fixture.enrolment, enrolment.fields), (Fixture.municipalPlacement, placement.fields)] {
            for (name, value) in source {
                #expect(fields[name] == value, "field \(name)")
            }
        }
    }

    @Test func emptyLanguageTextReadsAsAnEmptyList() throws {
        let service = try Service(id: Fixture.serviceID, fields: Fixture.with(Fixture.service, ["languages": .text("")]))
        #expect(service.languages.isEmpty)
        #expect(try roundTrip(service) == service)
    }

    @Test func invalidMapThrowsEveryProblem() {
        let fields = Fixture.with(Fixture.service, [
            "providerType": .text("guild"), "capacity": .integer(-5), "municipalities": .text("598,1"),
            "endDate": .text("2024-12-31"), "studyPath": .null, "bogus": .bool(true),
        ])
        let expected = RecordValidator().problems(in: fields, kind: .service)
        #expect(Set(expected.map(\.field)) == ["providerType", "capacity", "municipalities", "endDate", "studyPath", "bogus"])
        do {
            _ = try Service(id: Fixture.serviceID, fields: fields)
            Issue.record("accepted an invalid service")
        } catch {
            #expect(error.problems == expected)
        }
    }

    @Test func typedRecordsRejectOtherKindsAndInvalidValues() {
        #expect(throws: ValidationError.self) { try Service(id: Fixture.serviceID, fields: Fixture.client) }
        #expect(throws: ValidationError.self) { try Client(id: Fixture.clientID, fields: [:]) }
        #expect(throws: ValidationError.self) {
            try Placement(id: Fixture.placementID, fields: Fixture.with(Fixture.enrolment, ["status": .text("arrived")]))
        }
        var client = Self.fullClient
        client.personalIdentityCode = PersonalIdentityCode.make(birthDate: LocalDate(year: 1990, month: 5, day: 18)!,
                                                                individual: 902)
        #expect(throws: ValidationError.self) { try roundTrip(client) }
        var service = Self.minimalService
        service.municipalities = []
        #expect(service.fields["municipalities"] == .null)
        #expect(throws: ValidationError.self) { try roundTrip(service) }
    }

    @Test func clientDescriptionsHidePersonalData() {
        let client = Self.fullClient
        var dumped = ""
        dump(client, to: &dumped)
        for text in [client.description, String(reflecting: client), "\(client)", dumped] {
            #expect(text.contains(Fixture.clientID.lowercased))
            for secret in ["Testi", "Testinen", Fixture.identityCode, "1990", "TEST-0001"] {
                #expect(!text.contains(secret))
            }
        }
    }
}
