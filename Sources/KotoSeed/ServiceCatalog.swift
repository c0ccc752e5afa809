import Foundation
import KotoCore

/// A generated service with what the enrolment generator needs to pick it.
struct CatalogService {
    let office: Int
    let service: Service
    /// Day numbers of the service's period (`end` nil: open-ended).
    let start: Int?
    let end: Int?

    var category: ServiceCategory { service.category }

    /// Whether a client can be referred on `day` and start on `startDay`.
    func accepts(referral day: Int, start startDay: Int) -> Bool {
        guard service.status != .draft else { return false }
        if let start, day < start - 60 || startDay < start { return false }
        if let end, startDay > end { return false }
        return true
    }
}

/// The services of the region: every office has its municipal basics
/// (guidance, initial assessment, early childhood education, preparatory
/// education, social and health services of the wellbeing services county,
/// employment services, civic orientation, a language course and a language
/// café), and Jakobstad, as the regional centre, most of the training and
/// the regional services. About 80 services in all.
struct ServiceCatalog {
    private(set) var services: [CatalogService] = []
    private var random: SplitMix64
    private let today: LocalDate
    private let todayNumber: Int

    init(seed: UInt64, today: LocalDate) {
        random = SplitMix64(seed: seed, stream: 1)
        self.today = today
        todayNumber = Days.number(today)
    }

    static let allCodes = Office.all.map(\.code)
    static let wellbeingCounty = "Pohjanmaan hyvinvointialue – Välfärdsområdet i Österbotten"
    static let employmentArea = "Jakobstadsregionens sysselsättningsområde – Pietarsaaren seudun työllisyysalue"

    private enum Kind {
        /// Open-ended service (advice, assessment, social and health services).
        case ongoing
        /// A programme with limited places that can be full.
        case course
    }

    mutating func build() -> [CatalogService] {
        for (index, office) in Office.all.enumerated() {
            addMunicipalBasics(index, office)
        }
        addJakobstadServices()
        addOtherOfficesServices()
        return services
    }

    private mutating func addMunicipalBasics(_ index: Int, _ office: Office) {
        let fi = office.nameFi, sv = office.nameSv, slug = office.slug
        let isJakobstad = office.slug == "jakobstad"
        let languages = isJakobstad ? ["sv", "fi", "en", "ar", "uk"] : ["sv", "fi", "en"]
        add(index, "Maahanmuuttajien ohjaus ja neuvonta, \(fi)", "Handledning och rådgivning för inflyttare, \(sv)",
            office.providerName, .municipality, .guidanceAndAdvice, languages: languages,
            contact: "integration.\(slug)")
        add(index, "Alkukartoitus, \(fi)", "Inledande kartläggning, \(sv)",
            office.providerName, .municipality, .skillsAssessment, languages: languages,
            capacity: 40...120, contact: "kartlaggning.\(slug)")
        add(index, "Varhaiskasvatus, \(fi)", "Småbarnspedagogik, \(sv)",
            "Småbarnspedagogiken i \(sv)", .earlyChildhoodEducation, .earlyChildhoodEducation,
            languages: ["sv"], capacity: 20...80, contact: "smabarnspedagogik.\(slug)")
        add(index, "Perusopetukseen valmistava opetus, \(fi)", "Förberedande undervisning för den grundläggande utbildningen, \(sv)",
            "Grundskolorna i \(sv)", .school, .preparatoryBasicEducation,
            languages: ["sv"], capacity: 8...24, kind: .course, contact: "skola.\(slug)")
        add(index, "Maahanmuuttajien sosiaaliohjaus, \(fi)", "Socialhandledning för invandrare, \(sv)",
            Self.wellbeingCounty, .wellbeingServicesCounty, .social,
            languages: ["fi", "sv", "en"], contact: "socialhandledning.\(slug)")
        add(index, "Maahanmuuttajien terveystarkastus, \(fi)", "Hälsoundersökning för invandrare, \(sv)",
            Self.wellbeingCounty, .wellbeingServicesCounty, .health,
            languages: ["fi", "sv", "en"], contact: "halsovard.\(slug)")
        add(index, "Työllisyyspalvelut maahanmuuttajille, \(fi)", "Sysselsättningstjänster för invandrare, \(sv)",
            Self.employmentArea, .employmentAuthority, .employment,
            languages: ["fi", "sv", "en"], contact: "sysselsattning.\(slug)")
        add(index, "Yhteiskuntaorientaatio, \(fi)", "Samhällsorientering, \(sv)",
            "Medborgarinstitutet i \(sv)", .adultEducation, .civicOrientation,
            languages: ["ar", "fa", "uk", "so", "en", "sv"], capacity: 10...25, kind: .course,
            contact: "samhallsorientering.\(slug)")
        add(index, "Ruotsin kielen iltakurssi maahanmuuttajille, \(fi)", "Svenska för inflyttare, kvällskurs, \(sv)",
            "Medborgarinstitutet i \(sv)", .adultEducation, .languageCourse,
            languages: ["sv"], capacity: 12...20, kind: .course, contact: "kurser.\(slug)")
        add(index, "Kielikahvila, \(fi)", "Språkcafé, \(sv)",
            "Församlingen i \(sv)", .parish, .participation,
            languages: ["sv", "fi"], contact: "forsamling.\(slug)")
    }

    private mutating func addJakobstadServices() {
        let j = Office.jakobstad
        let region = Self.allCodes
        let adultFi = "Pietarsaaren seudun aikuiskoulutuskeskus"
        let adultSv = "Vuxeninstitutet i Jakobstadsregionen"
        let paths: [(StudyPath, String, String)] = [
            (.slow, "hidas polku", "långsam studieväg"),
            (.basic, "peruspolku", "grundläggande studieväg"),
            (.fast, "nopea polku", "snabb studieväg"),
        ]
        for (path, fi, sv) in paths {
            add(j, "Kotoutumiskoulutus suomeksi, \(fi)", "Integrationsutbildning på finska, \(sv)",
                adultFi, .adultEducation, .integrationTraining, served: [598, 599, 440],
                languages: ["fi"], path: path, capacity: 14...24, kind: .course, contact: "kotoutumiskoulutus.jakobstad")
            add(j, "Kotoutumiskoulutus ruotsiksi, \(fi)", "Integrationsutbildning på svenska, \(sv)",
                adultSv, .adultEducation, .integrationTraining, served: [598, 599, 440],
                languages: ["sv"], path: path, capacity: 14...24, kind: .course, contact: "integrationsutbildning.jakobstad")
        }
        add(j, "Lukutaitokoulutus suomeksi", "Läs- och skrivutbildning på finska",
            adultFi, .adultEducation, .literacyTraining, served: [598, 599],
            languages: ["fi"], path: .slow, capacity: 10...16, kind: .course, contact: "lukutaito.jakobstad")
        add(j, "Lukutaitokoulutus ruotsiksi", "Läs- och skrivutbildning på svenska",
            adultSv, .adultEducation, .literacyTraining, served: [598, 599, 440],
            languages: ["sv"], path: .slow, capacity: 10...16, kind: .course, contact: "lasochskriv.jakobstad")
        add(j, "Aikuisten perusopetus suomeksi", "Grundläggande utbildning för vuxna på finska",
            adultFi, .adultEducation, .adultBasicEducation, served: region,
            languages: ["fi"], capacity: 15...30, kind: .course, contact: "perusopetus.jakobstad")
        add(j, "Aikuisten perusopetus ruotsiksi", "Grundläggande utbildning för vuxna på svenska",
            adultSv, .adultEducation, .adultBasicEducation, served: region,
            languages: ["sv"], capacity: 15...30, kind: .course, contact: "grundlaggande.jakobstad")
        add(j, "Varhaiskasvatus suomeksi, Pietarsaari", "Småbarnspedagogik på finska, Jakobstad",
            "Pietarsaaren varhaiskasvatus", .earlyChildhoodEducation, .earlyChildhoodEducation,
            languages: ["fi"], capacity: 20...60, contact: "varhaiskasvatus.jakobstad")
        add(j, "Perusopetukseen valmistava opetus suomeksi, Pietarsaari", "Förberedande undervisning på finska, Jakobstad",
            "Pietarsaaren suomenkieliset koulut", .school, .preparatoryBasicEducation,
            languages: ["fi"], capacity: 8...24, kind: .course, contact: "koulut.jakobstad")
        add(j, "Suomen kielen jatkokurssi", "Finska, fortsättningskurs",
            "Pietarsaaren työväenopisto", .adultEducation, .languageCourse,
            languages: ["fi"], capacity: 12...20, kind: .course, contact: "tyovaenopisto.jakobstad")
        add(j, "Vuokra-asuntojen neuvonta", "Rådgivning om hyresbostäder",
            "Stadens hyresbostäder i Jakobstad", .municipality, .housing,
            languages: ["sv", "fi", "en"], contact: "bostad.jakobstad")
        add(j, "Tulkkauspalvelu", "Tolktjänst",
            "Regionala tolkcentralen", .other, .interpretation, served: region,
            languages: ["ar", "fa", "ps", "so", "ti", "uk", "ru", "ku", "th", "vi"], contact: "tolk.jakobstad")
        add(j, "Kelan palvelut maahanmuuttajille", "FPA:s tjänster för invandrare",
            "Kela – FPA", .kela, .guidanceAndAdvice, served: region,
            languages: ["fi", "sv", "en"], contact: "fpa.jakobstad")
        add(j, "Kohtaamispaikka", "Mötesplatsen",
            "Mångkulturella föreningen i Jakobstadsregionen rf", .ngo, .participation,
            languages: ["sv", "fi", "en", "ar"], contact: "motesplatsen.jakobstad")
        add(j, "Digituki maahanmuuttajille", "Digistöd för inflyttare",
            "Mångkulturella föreningen i Jakobstadsregionen rf", .ngo, .other,
            languages: ["sv", "fi", "en", "ar", "uk"], contact: "digistod.jakobstad")
        add(j, "Työkokeilu ja palkkatuki", "Arbetsprövning och lönesubvention",
            Self.employmentArea, .employmentAuthority, .employment, served: region,
            languages: ["fi", "sv"], contact: "arbetsprovning.jakobstad")
        // The integration training of the old model, replaced by the study paths.
        add(j, "Kotoutumiskoulutus (vanha malli)", "Integrationsutbildning (gammal modell)",
            adultSv, .adultEducation, .integrationTraining, served: [598, 599, 440],
            languages: ["sv", "fi"], path: .basic, capacity: 20...30, kind: .course,
            contact: "integrationsutbildning.jakobstad", status: .discontinued,
            endDate: Days.number(year: today.year - 2, month: 12, day: 31))
        // A service still being planned: no enrolments yet.
        add(j, "Työelämän ruotsi, ammattikielen kurssi", "Yrkessvenska för inflyttare",
            adultSv, .adultEducation, .languageCourse, served: region,
            languages: ["sv"], capacity: 12...18, kind: .course, contact: "yrkessvenska.jakobstad",
            status: .draft, startDate: todayNumber + random.int(45...180))
    }

    private mutating func addOtherOfficesServices() {
        func index(_ slug: String) -> Int { Office.all.firstIndex { $0.slug == slug } ?? 0 }
        let nykarleby = index("nykarleby"), kronoby = index("kronoby")
        let pedersore = index("pedersore"), larsmo = index("larsmo")
        let adultSv = "Vuxeninstitutet i Jakobstadsregionen"
        for (office, path) in [(nykarleby, StudyPath.basic), (nykarleby, .slow), (pedersore, .basic),
                               (pedersore, .slow), (larsmo, .basic), (kronoby, .basic)] {
            let place = Office.all[office]
            let (fi, sv) = path == .slow ? ("hidas polku", "långsam studieväg") : ("peruspolku", "grundläggande studieväg")
            add(office, "Kotoutumiskoulutus ruotsiksi, \(fi), \(place.nameFi)",
                "Integrationsutbildning på svenska, \(sv), \(place.nameSv)",
                adultSv, .adultEducation, .integrationTraining,
                languages: ["sv"], path: path, capacity: 12...20, kind: .course,
                contact: "integrationsutbildning.\(place.slug)")
        }
        for office in [nykarleby, pedersore] {
            let place = Office.all[office]
            add(office, "Lukutaitokoulutus ruotsiksi, \(place.nameFi)", "Läs- och skrivutbildning på svenska, \(place.nameSv)",
                adultSv, .adultEducation, .literacyTraining,
                languages: ["sv"], path: .slow, capacity: 8...14, kind: .course, contact: "lasochskriv.\(place.slug)")
            add(office, "Vuokra-asuntojen neuvonta, \(place.nameFi)", "Rådgivning om hyresbostäder, \(place.nameSv)",
                place.providerName, .municipality, .housing,
                languages: ["sv", "fi"], contact: "bostad.\(place.slug)")
        }
        add(nykarleby, "Aikuisten perusopetus ruotsiksi, Uusikaarlepyy", "Grundläggande utbildning för vuxna, Nykarleby",
            adultSv, .adultEducation, .adultBasicEducation, served: [893, 288],
            languages: ["sv"], capacity: 10...20, kind: .course, contact: "grundlaggande.nykarleby")
        add(nykarleby, "Kelan asiointipiste, Uusikaarlepyy", "FPA:s servicepunkt, Nykarleby",
            "Kela – FPA", .kela, .guidanceAndAdvice, served: [893, 288],
            languages: ["sv", "fi"], contact: "fpa.nykarleby")
        add(pedersore, "Etätulkkaus, Pedersöre", "Distanstolkning, Pedersöre",
            Self.wellbeingCounty, .wellbeingServicesCounty, .interpretation, served: [599, 440],
            languages: ["ar", "fa", "so", "uk", "ru", "ku"], contact: "tolk.pedersore")
        add(larsmo, "Liikuntaryhmä kaikille, Luoto", "Motion för alla, Larsmo",
            "Idrottsföreningen i Larsmo rf", .ngo, .participation,
            languages: ["sv", "fi", "en"], contact: "motion.larsmo")
        add(kronoby, "Ajokorttiopetus selkoruotsiksi, Kruunupyy", "Körkortsundervisning på lättläst svenska, Kronoby",
            "Föreningen Nya kronobybor rf", .ngo, .other,
            languages: ["sv", "en"], capacity: 6...12, kind: .course, contact: "korkort.kronoby")
        // A course on summer break.
        if let course = services.lastIndex(where: { $0.office == larsmo && $0.category == .languageCourse }) {
            services[course] = with(services[course], status: .paused)
        }
    }

    private func with(_ entry: CatalogService, status: ServiceStatus) -> CatalogService {
        var service = entry.service
        service.status = status
        return CatalogService(office: entry.office, service: service, start: entry.start, end: entry.end)
    }

    private mutating func add(_ office: Int, _ nameFi: String, _ nameSv: String, _ provider: String,
                              _ providerType: ProviderType, _ category: ServiceCategory, served: [Int]? = nil,
                              languages: [String], path: StudyPath = .none, capacity: ClosedRange<Int>? = nil,
                              kind: Kind = .ongoing, contact: String, status: ServiceStatus? = nil,
                              startDate: Int? = nil, endDate: Int? = nil) {
        let owner = Office.all[office]
        // The owner's municipality first: it names the owning office.
        var municipalities = [owner.code]
        for code in served ?? [] where code != owner.code { municipalities.append(code) }
        // Started well before the oldest client arrived (ten years ago).
        let start = startDate ?? Days.number(year: today.year - random.int(10...13),
                                             month: random.chance(0.5) ? 1 : 8, day: 1)
        let resolvedStatus: ServiceStatus
        if let status {
            resolvedStatus = status
        } else if kind == .course {
            resolvedStatus = random.chance(0.22) ? .full : .active
        } else {
            resolvedStatus = .active
        }
        let service = Service(
            id: random.uuid(), nameFi: nameFi, nameSv: nameSv, providerName: provider,
            providerType: providerType, category: category, municipalities: municipalities,
            languages: languages, studyPath: path, capacity: capacity.map { random.int($0) },
            startDate: Days.date(start), endDate: endDate.map { Days.date($0) },
            contact: "\(contact)@example.invalid", status: resolvedStatus)
        services.append(CatalogService(office: office, service: service, start: start, end: endDate))
    }
}
