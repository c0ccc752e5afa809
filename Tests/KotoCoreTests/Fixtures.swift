import Foundation
import KotoCore

/// Shared, obviously fictional test data.
enum Fixture {
    static let serviceID = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!
    static let clientID = UUID(uuidString: "00000000-0000-4000-8000-000000000002")!
    static let placementID = UUID(uuidString: "00000000-0000-4000-8000-000000000003")!
    static let familyID = UUID(uuidString: "00000000-0000-4000-8000-0000000000fa")!

    /// Fictional birth date and the identity code `make` derives for it.
    static let birthDate = LocalDate(year: 1990, month: 5, day: 17)!
    static let identityCode = PersonalIdentityCode.make(birthDate: birthDate, individual: 902)

    static func date(_ text: String) -> FieldValue { .text(text) }

    static let service: FieldMap = [
        "nameFi": .text("Kotoutumiskoulutus (testi)"),
        "providerName": .text("Testiopisto"),
        "providerType": .text("adult_education"),
        "category": .text("integration_training"),
        "municipalities": .text("598,893"),
        "languages": .text("fi,sv"),
        "studyPath": .text("basic"),
        "capacity": .integer(20),
        "startDate": date("2025-01-13"),
        "endDate": date("2025-06-13"),
        "status": .text("active"),
    ]

    static let client: FieldMap = [
        "clientNumber": .text("TEST-0001"),
        "ownerMunicipality": .integer(598),
        "givenName": .text("Testi"),
        "familyName": .text("Testinen"),
        "birthDate": .text(birthDate.description),
        "personalIdentityCode": .text(identityCode),
        "arrivalDate": date("2023-03-01"),
        "integrationLanguage": .text("sv"),
        "motherTongue": .text("ar"),
        "literacySupport": .bool(true),
        "planStatus": .text("active"),
        "planStart": date("2023-04-01"),
        "planEnd": date("2026-03-31"),
        "status": .text("plan_active"),
    ]

    static let enrolment: FieldMap = [
        "type": .text("service_enrolment"),
        "clientId": .text(clientID.lowercased),
        "serviceId": .text(serviceID.lowercased),
        "referralDate": date("2024-12-01"),
        "startDate": date("2025-01-13"),
        "status": .text("active"),
    ]

    static let municipalPlacement: FieldMap = [
        "type": .text("municipal_placement"),
        "clientId": .text(clientID.lowercased),
        "municipality": .integer(288),
        "route": .text("quota"),
        "offeredDate": date("2024-10-01"),
        "arrivalDate": date("2024-11-15"),
        "elyReference": .text("ELY-TEST-1"),
        "wellbeingCountyConsulted": .bool(true),
        "status": .text("arrived"),
    ]

    /// `base` with `changes` laid over it (a `.null` entry stays as an explicit null).
    static func with(_ base: FieldMap, _ changes: FieldMap) -> FieldMap {
        base.merging(changes) { _, new in new }
    }
}
