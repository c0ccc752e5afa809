public import Foundation
public import KotoCore

/// Fictional, obviously made-up test data.
public enum Sample {
    public static let givenNames = ["Testi", "Exempel", "Malli", "Prov", "Demo", "Fiktiv"]
    public static let familyNames = ["Henkilö", "Person", "Asiakas", "Klient", "Nimetön"]
    public static let languages = ["ar", "fa", "uk", "ru", "so", "ti", "en", "ku"]
    public static let codes: [Int64] = [598, 893, 288, 599, 440]

    public static func client<G: RandomNumberGenerator>(_ rng: inout G, number: Int) -> FieldMap {
        let birth = LocalDate(year: Int.random(in: 1950...2015, using: &rng), month: Int.random(in: 1...12, using: &rng),
                              day: Int.random(in: 1...28, using: &rng))!
        var fields: FieldMap = [
            "clientNumber": .text("T-\(number)"),
            "ownerMunicipality": .integer(codes.randomElement(using: &rng)!),
            "givenName": .text(givenNames.randomElement(using: &rng)!),
            "familyName": .text(familyNames.randomElement(using: &rng)!),
            "birthDate": .text(birth.description),
            "integrationLanguage": .text(Bool.random(using: &rng) ? "fi" : "sv"),
            "planStatus": .text("none"),
            "status": .text("new"),
        ]
        if Bool.random(using: &rng) {
            fields["personalIdentityCode"] = .text(PersonalIdentityCode.make(birthDate: birth, individual: Int.random(in: 900...999, using: &rng)))
        }
        return fields
    }

    public static func service<G: RandomNumberGenerator>(_ rng: inout G, number: Int) -> FieldMap {
        [
            "nameFi": .text("Kotoutumiskoulutus \(number)"),
            "nameSv": .text("Integrationsutbildning \(number)"),
            "providerName": .text("Testiopisto"),
            "providerType": .text(ProviderType.allCases.randomElement(using: &rng)!.rawValue),
            "category": .text(ServiceCategory.allCases.randomElement(using: &rng)!.rawValue),
            "municipalities": .text("598,599"),
            "studyPath": .text("basic"),
            "capacity": .integer(Int64.random(in: 0...40, using: &rng)),
            "status": .text("active"),
        ]
    }

    public static func enrolment(client: UUID, service: UUID) -> FieldMap {
        ["type": .text("service_enrolment"), "clientId": .text(client.lowercased), "serviceId": .text(service.lowercased),
         "status": .text("proposed")]
    }

    /// Fields that many writers touch, so concurrent writes overlap; each
    /// value valid on its own whatever the rest of the record holds.
    public static func update<G: RandomNumberGenerator>(_ kind: RecordKind, _ rng: inout G) -> FieldMap {
        var fields: FieldMap = [:]
        let choices: [(String, (inout G) -> FieldValue)]
        switch kind {
        case .client:
            choices = [
                ("status", { .text(ClientStatus.allCases.randomElement(using: &$0)!.rawValue) }),
                ("jobseeker", { .bool(Bool.random(using: &$0)) }),
                ("familyName", { .text(familyNames.randomElement(using: &$0)!) }),
                ("motherTongue", { .text(languages.randomElement(using: &$0)!) }),
                ("interpreterLanguage", { Bool.random(using: &$0) ? .null : .text(languages.randomElement(using: &$0)!) }),
            ]
        case .service:
            choices = [
                ("status", { .text(ServiceStatus.allCases.randomElement(using: &$0)!.rawValue) }),
                ("capacity", { .integer(Int64.random(in: 0...60, using: &$0)) }),
                ("contact", { .text("palvelu\(Int.random(in: 1...9, using: &$0))@example.invalid") }),
                ("languages", { .text(["fi", "sv", "fi,sv", "fi,sv,en"].randomElement(using: &$0)!) }),
            ]
        case .placement:
            choices = [
                ("status", { .text(EnrolmentStatus.allCases.randomElement(using: &$0)!.rawValue) }),
                ("outcome", { Bool.random(using: &$0) ? .null : .text(EnrolmentOutcome.allCases.randomElement(using: &$0)!.rawValue) }),
            ]
        }
        let count = Int.random(in: 1...min(3, choices.count), using: &rng)
        for (name, make) in choices.shuffled(using: &rng).prefix(count) {
            fields[name] = make(&rng)
        }
        return fields
    }

    /// A fixed, valid, obviously fictional client.
    public static func fixedClient(number: Int, owner: Int64 = 598, integrationLanguage: String = "fi") -> FieldMap {
        [
            "clientNumber": .text("T-\(number)"),
            "ownerMunicipality": .integer(owner),
            "givenName": .text("Testi"),
            "familyName": .text("Henkilö"),
            "birthDate": .text("1990-01-01"),
            "integrationLanguage": .text(integrationLanguage),
            "planStatus": .text("none"),
            "status": .text("new"),
        ]
    }

    /// A fixed, valid, obviously fictional service.
    public static func fixedService(number: Int, municipalities: String = "598,599", category: String = "language_course") -> FieldMap {
        [
            "nameFi": .text("Testikurssi \(number)"),
            "providerName": .text("Testiopisto"),
            "providerType": .text("adult_education"),
            "category": .text(category),
            "municipalities": .text(municipalities),
            "studyPath": .text("basic"),
            "status": .text("active"),
        ]
    }
}
