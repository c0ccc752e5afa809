import Foundation
import KotoCore

/// Service enrolments: each client who has become an office's client is
/// referred to some of that office's services (never another office's, so
/// every reference resolves on the owning node), depending on age, permit
/// basis, literacy, job seeking and integration plan.
struct EnrolmentGenerator {
    private var random: SplitMix64
    private let todayNumber: Int
    /// Services by office and category, in catalog order.
    private let byOfficeAndCategory: [[[CatalogService]]]

    init(seed: UInt64, today: LocalDate, services: [CatalogService]) {
        random = SplitMix64(seed: seed, stream: 3)
        todayNumber = Days.number(today)
        var table = Array(repeating: Array(repeating: [CatalogService](), count: ServiceCategory.allCases.count),
                          count: Office.all.count)
        for entry in services {
            guard let category = ServiceCategory.allCases.firstIndex(of: entry.category) else { continue }
            table[entry.office][category].append(entry)
        }
        byOfficeAndCategory = table
    }

    /// A referral rule: the chance a client is referred, and when (days after
    /// the anchor, or after the assessment where there is one).
    private struct Need {
        let category: ServiceCategory
        let chance: Double
        let afterAssessment: Bool
        let delay: ClosedRange<Int>
        /// Typical length of the enrolment in days.
        let length: Int
        var path: StudyPath? = nil
    }

    mutating func build(for clients: [ClientFacts]) -> [SeedRecord] {
        var records: [SeedRecord] = []
        for client in clients {
            guard let anchor = client.anchor else { continue }
            for need in needs(of: client) where random.chance(need.chance) {
                if let record = enrol(client, anchor: anchor, need: need) { records.append(record) }
            }
        }
        return records
    }

    private mutating func needs(of client: ClientFacts) -> [Need] {
        let age = client.ageAtAnchor
        let refugee = Background.isRefugee(client.basis)
        var needs: [Need] = []
        func add(_ category: ServiceCategory, _ chance: Double, after: Bool = false, _ delay: ClosedRange<Int>,
                 _ length: Int, path: StudyPath? = nil) {
            needs.append(Need(category: category, chance: chance, afterAssessment: after, delay: delay,
                              length: length, path: path))
        }
        if (1...5).contains(age) { add(.earlyChildhoodEducation, 0.7, 14...120, 730) }
        if (6...15).contains(age) { add(.preparatoryBasicEducation, 0.8, 7...60, 365) }
        if refugee || client.placed { add(.health, 0.55, 7...60, 14) }
        guard age >= 16 else { return needs }

        add(.skillsAssessment, client.hasPlan ? 0.55 : 0.06, 7...45, 30)
        if client.hasPlan, age <= 64 {
            let path: StudyPath = client.literacySupport
                ? .slow : random.weighted([(StudyPath.basic, 50), (.fast, 30), (.slow, 20)])
            add(.integrationTraining, refugee ? 0.7 : 0.45, after: true, 14...120, 300, path: path)
        }
        if client.literacySupport { add(.literacyTraining, 0.7, after: true, 14...120, 365) }
        add(.civicOrientation, refugee ? 0.35 : 0.08, 30...240, 60)
        add(.guidanceAndAdvice, refugee ? 0.3 : 0.08, 0...30, 180)
        if client.jobseeker { add(.employment, refugee ? 0.4 : 0.25, 120...900, 365) }
        add(.languageCourse, 0.06, 180...1500, 90)
        if age <= 30 { add(.adultBasicEducation, refugee ? 0.12 : 0.02, 180...900, 730) }
        if refugee { add(.social, 0.3, 0...90, 365) } else { add(.social, 0.02, 0...365, 180) }
        add(.housing, client.placed ? 0.2 : 0.02, 0...60, 90)
        add(.participation, refugee ? 0.15 : 0.05, 30...1000, 180)
        if client.needsInterpreter { add(.interpretation, 0.1, 0...60, 30) }
        add(.other, 0.03, 60...1200, 60)
        return needs
    }

    private mutating func enrol(_ client: ClientFacts, anchor: Int, need: Need) -> SeedRecord? {
        let base = need.afterAssessment ? (client.assessment ?? anchor + 30) : anchor
        let referral = base + random.int(need.delay)
        guard referral <= todayNumber, referral <= client.closure ?? Int.max else { return nil }
        let lag = switch need.category {
        case .skillsAssessment, .health, .interpretation, .guidanceAndAdvice, .social: random.int(0...21)
        default: random.int(14...90)
        }
        let start = referral + lag
        guard let service = pick(client, need: need, referral: referral, start: start) else { return nil }

        var length = need.length * random.int(80...120) / 100
        if need.category == .integrationTraining {
            length = switch service.service.studyPath {
            case .slow: random.int(540...720)
            case .fast: random.int(200...280)
            default: random.int(300...420)
            }
        }
        var plannedEnd = start + max(1, length)
        if let end = service.end { plannedEnd = min(plannedEnd, end) }

        var referralDate: Int? = referral
        var startDate: Int? = start
        var endDate: Int?
        var outcome: EnrolmentOutcome?
        let status: EnrolmentStatus
        if random.chance(0.04) {
            status = .declined
            startDate = nil
        } else if let closure = client.closure, closure < plannedEnd {
            // Left the service before finishing (or before starting).
            if start > closure {
                status = .declined
                startDate = nil
            } else {
                status = .discontinued
                endDate = max(start, closure)
                outcome = client.movedAway ? .movedAway : .interrupted
            }
        } else if start > todayNumber {
            switch random.below(3) {
            case 0:
                status = .proposed
                referralDate = nil
            case 1: status = .referred
            default: status = .waiting
            }
        } else if plannedEnd > todayNumber {
            status = random.chance(0.9) ? .active : .suspended
        } else {
            endDate = plannedEnd
            if random.chance(0.85) {
                status = .completed
                outcome = completedOutcome(need.category)
            } else {
                status = .discontinued
                outcome = random.weighted([(EnrolmentOutcome.interrupted, 65), (.movedAway, 15), (.employed, 15),
                                           (.other, 5)])
            }
        }
        let placement = Placement(
            id: random.uuid(), type: .serviceEnrolment, clientId: client.id, serviceId: service.service.id,
            referralDate: referralDate.map { Days.date($0) }, startDate: startDate.map { Days.date($0) },
            endDate: endDate.map { Days.date($0) }, outcome: outcome, status: .enrolment(status))
        return SeedRecord(kind: .placement, id: placement.id, fields: placement.fields,
                          owner: Office.all[client.office].slug)
    }

    /// One of the client's office's services of the category, preferring the
    /// client's integration language and study path.
    private mutating func pick(_ client: ClientFacts, need: Need, referral: Int, start: Int) -> CatalogService? {
        guard let category = ServiceCategory.allCases.firstIndex(of: need.category) else { return nil }
        let open = byOfficeAndCategory[client.office][category].filter { $0.accepts(referral: referral, start: start) }
        guard !open.isEmpty else { return nil }
        let language = client.integrationLanguage.rawValue
        var best = open.filter { $0.service.languages.contains(language) }
        if best.isEmpty { best = open }
        if let path = need.path {
            let onPath = best.filter { $0.service.studyPath == path }
            if !onPath.isEmpty { best = onPath }
        }
        return random.pick(best)
    }

    private mutating func completedOutcome(_ category: ServiceCategory) -> EnrolmentOutcome {
        switch category {
        case .integrationTraining, .literacyTraining, .adultBasicEducation, .languageCourse:
            random.weighted([(EnrolmentOutcome.completed, 55), (.furtherEducation, 25), (.employed, 15), (.other, 5)])
        case .employment:
            random.weighted([(EnrolmentOutcome.employed, 45), (.completed, 35), (.furtherEducation, 10), (.other, 10)])
        default:
            random.chance(0.9) ? .completed : .other
        }
    }
}
