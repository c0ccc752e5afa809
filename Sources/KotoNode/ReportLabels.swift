import Foundation
import KotoCore
import KotoHTTP

extension ReportLanguage {
    /// `?lang=` if given (another value is a problem naming `lang`), else the
    /// first supported language of `Accept-Language` by preference, else Finnish.
    static func requested(by request: HTTPRequest, problems: inout [FieldProblem]) -> ReportLanguage {
        if let text = request.query("lang") {
            guard let language = ReportLanguage(rawValue: text) else {
                problems.append(FieldProblem(field: "lang", reason: "must be one of: fi, sv, en"))
                return .fi
            }
            return language
        }
        return request.headers["Accept-Language"].flatMap(negotiate) ?? .fi
    }

    /// The supported language an `Accept-Language` value prefers most
    /// (highest q, the earlier on a tie; `sv-FI` counts as `sv`, `*` as Finnish).
    static func negotiate(_ header: String) -> ReportLanguage? {
        var best: (language: ReportLanguage, q: Double)?
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = parts.first?.lowercased(), !tag.isEmpty else { continue }
            var q = 1.0
            for parameter in parts.dropFirst() where parameter.lowercased().hasPrefix("q=") {
                q = Double(parameter.dropFirst(2)) ?? 0
            }
            let primary = String(tag.split(separator: "-").first ?? "")
            guard q > 0, let language = primary == "*" ? .fi : ReportLanguage(rawValue: primary) else { continue }
            if best == nil || q > best!.q { best = (language, q) }
        }
        return best?.language
    }
}

/// The labels the reports and exports show: column labels (by column key or
/// record field name) and table titles (by `<report>.<table>`).
enum ReportLabels {
    static func column(_ key: String, _ language: ReportLanguage) -> String { columns[key]?[language] ?? key }
    static func title(_ key: String, _ language: ReportLanguage) -> String { titles[key]?[language] ?? key }

    private static func text(_ fi: String, _ sv: String, _ en: String) -> LocalizedText { LocalizedText(fi: fi, sv: sv, en: en) }

    /// Report column keys and every record field name (for list exports); a
    /// name shared by several kinds (`status`, `startDate`) has one label.
    static let columns: [String: LocalizedText] = [
        // Report columns
        "municipality": text("Kunta", "Kommun", "Municipality"),
        "count": text("Määrä", "Antal", "Count"),
        "rule": text("Määräaika", "Tidsfrist", "Time limit"),
        "dueDate": text("Eräpäivä", "Förfallodag", "Due date"),
        "daysLeft": text("Päiviä jäljellä", "Dagar kvar", "Days left"),
        "state": text("Tilanne", "Läge", "State"),
        "overdue": text("Myöhässä", "Försenade", "Overdue"),
        "dueSoon": text("Erääntyy pian", "Förfaller snart", "Due soon"),
        "ok": text("Ajallaan", "I tid", "On time"),
        "year": text("Vuosi", "År", "Year"),
        "target": text("Tavoite", "Mål", "Target"),
        "offered": text("Tarjottu", "Erbjudna", "Offered"),
        "accepted": text("Hyväksytty", "Godkända", "Accepted"),
        "arrived": text("Saapunut", "Anlända", "Arrived"),
        "cancelled": text("Peruttu", "Annullerade", "Cancelled"),
        "total": text("Yhteensä", "Totalt", "Total"),
        "name": text("Nimi", "Namn", "Name"),
        "active": text("Aktiiviset", "Aktiva", "Active"),
        "waiting": text("Jonossa", "Väntande", "Waiting"),
        "utilisation": text("Käyttöaste", "Beläggningsgrad", "Utilisation"),
        "language": text("Kieli", "Språk", "Language"),
        "services": text("Palveluja", "Tjänster", "Services"),
        "placementId": text("Sijoituksen tunniste", "Placeringens id", "Placement id"),
        "field": text("Kenttä", "Fält", "Field"),
        "missingId": text("Puuttuva tunniste", "Saknat id", "Missing id"),
        "reason": text("Syy", "Orsak", "Reason"),
        "kind": text("Tietuelaji", "Posttyp", "Record kind"),
        "id": text("Tunniste", "Id", "Id"),
        "view": text("Näkymä", "Vy", "View"),
        "firstSeen": text("Havaittu ensin", "Först sedd", "First seen"),
        "rowId": text("Tietueen tunniste", "Postens id", "Record id"),
        "conflictValue": text("Kilpaileva arvo", "Konkurrerande värde", "Competing value"),
        "dot": text("Muutos", "Ändring", "Change"),
        "winner": text("Voittava muutos", "Vinnande ändring", "Winning change"),
        "ageDays": text("Ikä (päivää)", "Ålder (dagar)", "Age (days)"),
        // Record fields (services)
        "nameFi": text("Nimi (suomi)", "Namn (finska)", "Name (Finnish)"),
        "nameSv": text("Nimi (ruotsi)", "Namn (svenska)", "Name (Swedish)"),
        "providerName": text("Palveluntuottaja", "Tjänsteproducent", "Provider"),
        "providerType": text("Palveluntuottajan tyyppi", "Typ av tjänsteproducent", "Provider type"),
        "category": text("Luokka", "Kategori", "Category"),
        "municipalities": text("Kunnat", "Kommuner", "Municipalities"),
        "languages": text("Kielet", "Språk", "Languages"),
        "studyPath": text("Opintopolku", "Studieväg", "Study path"),
        "capacity": text("Kapasiteetti", "Kapacitet", "Capacity"),
        "startDate": text("Alkamispäivä", "Startdatum", "Start date"),
        "endDate": text("Päättymispäivä", "Slutdatum", "End date"),
        "contact": text("Yhteystiedot", "Kontaktuppgifter", "Contact"),
        "status": text("Tila", "Status", "Status"),
        "deleted": text("Poistettu", "Raderad", "Deleted"),
        // Clients
        "clientNumber": text("Asiakasnumero", "Klientnummer", "Client number"),
        "ownerMunicipality": text("Vastuukunta", "Ansvarig kommun", "Responsible municipality"),
        "givenName": text("Etunimi", "Förnamn", "Given name"),
        "familyName": text("Sukunimi", "Efternamn", "Family name"),
        "birthDate": text("Syntymäaika", "Födelsedatum", "Date of birth"),
        "personalIdentityCode": text("Henkilötunnus", "Personbeteckning", "Personal identity code"),
        "arrivalDate": text("Saapumispäivä", "Ankomstdatum", "Arrival date"),
        "firstPermitDate": text("Ensimmäisen oleskeluluvan päivä", "Datum för första uppehållstillståndet", "First residence permit date"),
        "permitBasis": text("Oleskeluperuste", "Uppehållsgrund", "Permit basis"),
        "integrationLanguage": text("Kotoutumiskieli", "Integrationsspråk", "Integration language"),
        "motherTongue": text("Äidinkieli", "Modersmål", "Mother tongue"),
        "interpreterLanguage": text("Tulkkauskieli", "Tolkspråk", "Interpreter language"),
        "literacySupport": text("Luku- ja kirjoitustaidon tuki", "Stöd i läs- och skrivkunnighet", "Literacy support"),
        "jobseeker": text("Työnhakija", "Arbetssökande", "Jobseeker"),
        "familyId": text("Perheen tunniste", "Familjens id", "Family id"),
        "assessmentDate": text("Arvioinnin päivä", "Datum för bedömningen", "Assessment date"),
        "planStart": text("Suunnitelman alku", "Planens början", "Plan start"),
        "planEnd": text("Suunnitelman loppu", "Planens slut", "Plan end"),
        "planStatus": text("Suunnitelman tila", "Planens status", "Plan status"),
        "retentionUntil": text("Säilytetään asti", "Bevaras till", "Retained until"),
        // Placements
        "type": text("Tyyppi", "Typ", "Type"),
        "clientId": text("Asiakkaan tunniste", "Klientens id", "Client id"),
        "serviceId": text("Palvelun tunniste", "Tjänstens id", "Service id"),
        "referralDate": text("Ohjauspäivä", "Hänvisningsdatum", "Referral date"),
        "outcome": text("Tulos", "Resultat", "Outcome"),
        "route": text("Tulotapa", "Ankomstväg", "Route"),
        "offeredDate": text("Tarjouspäivä", "Erbjudandedatum", "Offered date"),
        "elyReference": text("ELY-keskuksen viite", "NTM-centralens referens", "ELY Centre reference"),
        "wellbeingCountyConsulted": text("Hyvinvointialuetta kuultu", "Välfärdsområdet hört", "Wellbeing services county consulted"),
    ]

    static let titles: [String: LocalizedText] = [
        "overview.clients": text("Asiakkaat kunnittain, oleskeluperusteittain ja tiloittain",
                                 "Klienter per kommun, uppehållsgrund och status", "Clients by municipality, permit basis and status"),
        "overview.placements": text("Sijoitukset tyypeittäin ja tiloittain", "Placeringar per typ och status", "Placements by type and status"),
        "overview.services": text("Palvelut luokittain", "Tjänster per kategori", "Services by category"),
        "deadlines.clients": text("Asiakkaiden seuraavat määräajat", "Klienternas nästa tidsfrister", "Clients' next time limits"),
        "deadlines.summary": text("Määräajat kunnittain", "Tidsfrister per kommun", "Time limits by municipality"),
        "placements.municipalities": text("Kuntapaikat kunnittain suhteessa tavoitteeseen", "Kommunplaceringar per kommun mot målet",
                                          "Municipal placements by municipality against the target"),
        "services.services": text("Palveluiden käyttöaste", "Tjänsternas beläggning", "Service utilisation"),
        "services.coverage": text("Palvelukattavuus luokittain, kielittäin ja kunnittain", "Tjänstetäckning per kategori, språk och kommun",
                                  "Service coverage by category, language and municipality"),
        "integrity.dangling": text("Viittaukset poistettuihin tai puuttuviin tietueisiin", "Hänvisningar till raderade eller saknade poster",
                                   "References to deleted or missing records"),
        "integrity.duplicateClientNumbers": text("Päällekkäiset asiakasnumerot", "Dubbla klientnummer", "Duplicate client numbers"),
        "integrity.conflicts": text("Avoimet ristiriidat iän mukaan", "Öppna konflikter efter ålder", "Open conflicts by age"),
        "services": text("Palvelut", "Tjänster", "Services"),
        "clients": text("Asiakkaat", "Klienter", "Clients"),
        "placements": text("Sijoitukset", "Placeringar", "Placements"),
    ]
}
