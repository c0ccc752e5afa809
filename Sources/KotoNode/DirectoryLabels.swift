import Foundation
import KotoCore

/// The languages the directory speaks: the region's two national languages and English.
enum DirectoryLanguage: String, CaseIterable, Sendable {
    case fi, sv, en

    /// The best of fi, sv and en an `Accept-Language` header asks for
    /// (highest `q`, earlier first on a tie; `q=0` refuses), or nil.
    static func preferred(by header: String?) -> DirectoryLanguage? {
        guard let header else { return nil }
        var best: (language: DirectoryLanguage, q: Double)?
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = parts.first?.lowercased(), !tag.isEmpty else { continue }
            let primary = String(tag.split(separator: "-").first ?? "")
            var q = 1.0
            for parameter in parts.dropFirst() where parameter.lowercased().hasPrefix("q=") {
                q = Double(parameter.dropFirst(2)) ?? 0
            }
            guard q > 0, let language = DirectoryLanguage(rawValue: primary) else { continue }
            if best == nil || q > best!.q { best = (language, q) }
        }
        return best?.language
    }

    /// The language's own name, for the language switch.
    var ownName: String {
        switch self {
        case .fi: "Suomeksi"
        case .sv: "På svenska"
        case .en: "In English"
        }
    }
}

/// The directory's words in one language: column labels, vocabularies,
/// municipality and language names, the page's texts.
struct DirectoryLabels: Sendable {
    let language: DirectoryLanguage

    init(_ language: DirectoryLanguage) { self.language = language }

    private func pick(_ fi: String, _ sv: String, _ en: String) -> String {
        switch language {
        case .fi: fi
        case .sv: sv
        case .en: en
        }
    }

    // MARK: Columns

    /// The column keys of `labels` in the JSON answer, in display order.
    static let columns = ["name", "providerName", "providerType", "category", "languages", "municipalities", "contact",
                          "studyPath", "capacity", "capacityStatus", "startDate", "endDate"]

    func column(_ key: String) -> String {
        switch key {
        case "name": pick("Palvelu", "Tjänst", "Service")
        case "providerName": pick("Järjestäjä", "Anordnare", "Provider")
        case "providerType": pick("Järjestäjän tyyppi", "Typ av anordnare", "Type of provider")
        case "category": pick("Palvelun laji", "Typ av tjänst", "Type of service")
        case "languages": pick("Kielet", "Språk", "Languages")
        case "municipalities": pick("Kunnat", "Kommuner", "Municipalities")
        case "contact": pick("Yhteystiedot", "Kontakt", "Contact")
        case "studyPath": pick("Opintopolku", "Studieväg", "Study path")
        case "capacity": pick("Paikkoja", "Platser", "Places")
        case "capacityStatus": pick("Tilanne", "Läge", "Availability")
        case "startDate": pick("Alkaa", "Börjar", "Starts")
        case "endDate": pick("Päättyy", "Slutar", "Ends")
        default: key
        }
    }

    // MARK: Vocabularies (unknown raw values show as they are)

    func category(_ raw: String) -> String {
        guard let category = ServiceCategory(rawValue: raw) else { return raw }
        return switch category {
        case .integrationTraining: pick("Kotoutumiskoulutus", "Integrationsutbildning", "Integration training")
        case .literacyTraining: pick("Lukutaitokoulutus", "Läs- och skrivutbildning", "Literacy training")
        case .languageCourse: pick("Kielikurssi", "Språkkurs", "Language course")
        case .adultBasicEducation: pick("Aikuisten perusopetus", "Grundläggande utbildning för vuxna", "Basic education for adults")
        case .preparatoryBasicEducation:
            pick("Perusopetukseen valmistava opetus", "Förberedande undervisning för den grundläggande utbildningen", "Preparatory basic education")
        case .earlyChildhoodEducation: pick("Varhaiskasvatus", "Småbarnspedagogik", "Early childhood education")
        case .civicOrientation: pick("Yhteiskuntaorientaatio", "Samhällsorientering", "Civic orientation")
        case .guidanceAndAdvice: pick("Ohjaus ja neuvonta", "Handledning och rådgivning", "Guidance and advice")
        case .skillsAssessment: pick("Osaamisen kartoitus", "Kartläggning av kompetens", "Skills assessment")
        case .social: pick("Sosiaalipalvelut", "Socialtjänster", "Social services")
        case .health: pick("Terveyspalvelut", "Hälsotjänster", "Health services")
        case .housing: pick("Asuminen", "Boende", "Housing")
        case .employment: pick("Työllisyyspalvelut", "Sysselsättningstjänster", "Employment services")
        case .participation: pick("Osallisuus ja vapaa-aika", "Delaktighet och fritid", "Participation and leisure")
        case .interpretation: pick("Tulkkaus", "Tolkning", "Interpreting")
        case .other: pick("Muu palvelu", "Annan tjänst", "Other service")
        }
    }

    func providerType(_ raw: String) -> String {
        guard let type = ProviderType(rawValue: raw) else { return raw }
        return switch type {
        case .municipality: pick("Kunta", "Kommun", "Municipality")
        case .employmentAuthority: pick("Työllisyysviranomainen", "Sysselsättningsmyndighet", "Employment authority")
        case .wellbeingServicesCounty: pick("Hyvinvointialue", "Välfärdsområde", "Wellbeing services county")
        case .school: pick("Koulu", "Skola", "School")
        case .earlyChildhoodEducation: pick("Varhaiskasvatus", "Småbarnspedagogik", "Early childhood education")
        case .adultEducation: pick("Aikuiskoulutus", "Vuxenutbildning", "Adult education")
        case .ngo: pick("Järjestö", "Organisation", "Non-governmental organisation")
        case .parish: pick("Seurakunta", "Församling", "Parish")
        case .kela: pick("Kela", "FPA", "Kela")
        case .other: pick("Muu", "Annan", "Other")
        }
    }

    func studyPath(_ raw: String) -> String {
        guard let path = StudyPath(rawValue: raw) else { return raw }
        return switch path {
        case .slow: pick("Hidas opintopolku", "Långsam studieväg", "Slow study path")
        case .basic: pick("Perusopintopolku", "Grundläggande studieväg", "Basic study path")
        case .fast: pick("Nopea opintopolku", "Snabb studieväg", "Fast study path")
        case .none: pick("Ei opintopolkua", "Ingen studieväg", "No study path")
        }
    }

    func capacityStatus(full: Bool) -> String {
        full ? pick("Täynnä", "Fullbokad", "Full") : pick("Tilaa vapaana", "Platser lediga", "Places available")
    }

    /// Finnish: the Finnish name; Swedish: the Swedish name; English: the
    /// official names, Swedish first (the region's municipalities are
    /// bilingual with a Swedish-speaking majority), "Jakobstad (Pietarsaari)".
    func municipalityName(_ municipality: Municipality) -> String {
        switch language {
        case .fi: municipality.nameFi
        case .sv: municipality.nameSv
        case .en: municipality.nameSv == municipality.nameFi ? municipality.nameSv : "\(municipality.nameSv) (\(municipality.nameFi))"
        }
    }

    /// The name of an ISO 639-1 language in this language; the code itself when unknown.
    func languageName(_ code: String) -> String {
        guard let names = Self.languageNames[code] else { return code }
        return pick(names.0, names.1, names.2)
    }

    /// Languages the region's services are given in, and their neighbours.
    private static let languageNames: [String: (String, String, String)] = [
        "fi": ("suomi", "finska", "Finnish"), "sv": ("ruotsi", "svenska", "Swedish"), "en": ("englanti", "engelska", "English"),
        "ar": ("arabia", "arabiska", "Arabic"), "uk": ("ukraina", "ukrainska", "Ukrainian"), "ru": ("venäjä", "ryska", "Russian"),
        "fa": ("persia", "persiska", "Persian"), "so": ("somali", "somaliska", "Somali"), "ku": ("kurdi", "kurdiska", "Kurdish"),
        "ps": ("pašto", "pashto", "Pashto"), "ti": ("tigrinja", "tigrinja", "Tigrinya"), "tr": ("turkki", "turkiska", "Turkish"),
        "de": ("saksa", "tyska", "German"), "fr": ("ranska", "franska", "French"), "es": ("espanja", "spanska", "Spanish"),
        "et": ("viro", "estniska", "Estonian"), "zh": ("kiina", "kinesiska", "Chinese"), "vi": ("vietnam", "vietnamesiska", "Vietnamese"),
        "th": ("thai", "thailändska", "Thai"), "sq": ("albania", "albanska", "Albanian"), "se": ("pohjoissaame", "nordsamiska", "Northern Sami"),
    ]

    // MARK: The page

    var title: String { pick("Kotoutumispalvelut", "Integrationstjänster", "Integration services") }
    var intro: String {
        pick("Alueen kuntien kotoutumispalvelut yhdessä paikassa: kurssit, neuvonta ja tuki.",
             "Regionens integrationstjänster på ett ställe: kurser, rådgivning och stöd.",
             "The region's integration services in one place: courses, advice and support.")
    }
    var languageSwitch: String { pick("Kieli", "Språk", "Language") }
    var filtersHeading: String { pick("Rajaa palveluja", "Avgränsa tjänsterna", "Filter the services") }
    var municipalityFilter: String { pick("Kunta", "Kommun", "Municipality") }
    var languageFilter: String { pick("Palvelun kieli", "Tjänstens språk", "Language of the service") }
    var categoryFilter: String { pick("Palvelun laji", "Typ av tjänst", "Type of service") }
    var textFilter: String { pick("Hakusana", "Sökord", "Search words") }
    var textHint: String {
        pick("Hakee palvelun nimestä, järjestäjästä ja yhteystiedoista.",
             "Söker i tjänstens namn, anordnare och kontaktuppgifter.",
             "Searches the service's name, provider and contact details.")
    }
    var allMunicipalities: String { pick("Kaikki kunnat", "Alla kommuner", "All municipalities") }
    var allLanguages: String { pick("Kaikki kielet", "Alla språk", "All languages") }
    var allCategories: String { pick("Kaikki lajit", "Alla typer", "All types") }
    var search: String { pick("Hae", "Sök", "Search") }
    var clear: String { pick("Tyhjennä haku", "Töm sökningen", "Clear the search") }
    var noResults: String {
        pick("Hakuehtoja vastaavia palveluja ei löytynyt.", "Inga tjänster motsvarar sökningen.", "No services match the search.")
    }
    var problemsHeading: String { pick("Hakuehdoissa on virhe", "Sökningen innehåller ett fel", "The search has an error") }
    var activeFilters: String { pick("Rajaukset", "Avgränsningar", "Filters") }
    var noFilters: String { pick("Kaikki palvelut", "Alla tjänster", "All services") }
    var retrieved: String { pick("Tiedot haettu", "Uppgifterna hämtade", "Retrieved") }

    func count(_ count: Int) -> String {
        count == 1 ? pick("1 palvelu", "1 tjänst", "1 service")
            : pick("\(count) palvelua", "\(count) tjänster", "\(count) services")
    }

    func problem(_ problem: DirectoryQuery.Problem) -> String {
        let field: String = switch problem.field {
        case "municipality": municipalityFilter
        case "language": languageFilter
        case "category": categoryFilter
        case "q": textFilter
        case "lang": languageSwitch
        default: problem.field
        }
        let reason: String = switch problem.issue {
        case .unknownMunicipality: pick("tuntematon kunta", "okänd kommun", "unknown municipality")
        case .malformedLanguage:
            pick("kielikoodin pitää olla kaksi pientä kirjainta (ISO 639-1), esimerkiksi sv",
                 "språkkoden ska vara två små bokstäver (ISO 639-1), till exempel sv",
                 "a language code is two lowercase letters (ISO 639-1), for example sv")
        case .unknownCategory: pick("tuntematon palvelun laji", "okänd typ av tjänst", "unknown type of service")
        case .textTooLong:
            pick("enintään \(DirectoryQuery.maxTextLength) merkkiä", "högst \(DirectoryQuery.maxTextLength) tecken",
                 "at most \(DirectoryQuery.maxTextLength) characters")
        case .unknownDisplayLanguage: pick("kielen pitää olla fi, sv tai en", "språket ska vara fi, sv eller en", "must be fi, sv or en")
        case .unknownParameter: pick("tuntematon hakuehto", "okänt sökvillkor", "not a search option of this page")
        case .repeated: pick("annettu useammin kuin kerran", "angivet mer än en gång", "given more than once")
        }
        return "\(field): \(reason)"
    }

    /// A date `YYYY-MM-DD` as people here write it: `1.9.2026` in Finnish
    /// and Swedish, ISO in English (unambiguous for every reader).
    func date(_ iso: String) -> String {
        guard language != .en, let date = LocalDate(iso) else { return iso }
        return "\(date.day).\(date.month).\(date.year)"
    }

    /// Orders names as the Finnish and Swedish alphabets do: case-insensitive, å ä ö after z.
    static func sortKey(_ name: String) -> String {
        var key = ""
        for character in name.lowercased() {
            switch character {
            case "å": key += "\u{FFF1}"
            case "ä", "æ": key += "\u{FFF2}"
            case "ö", "ø": key += "\u{FFF3}"
            default: key.append(character)
            }
        }
        return key
    }
}
