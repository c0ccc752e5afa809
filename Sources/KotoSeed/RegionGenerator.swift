import Foundation
import KotoCore

/// What the enrolment generator needs to know about a generated client.
struct ClientFacts {
    let id: UUID
    let office: Int
    let basis: PermitBasis
    let placed: Bool
    let integrationLanguage: IntegrationLanguage
    /// Age in whole years at `anchor`.
    let ageAtAnchor: Int
    /// Day the client became the office's client (arrival in the municipality
    /// for a placed refugee, arrival in Finland otherwise); nil while a
    /// placement is still pending or after it was cancelled.
    let anchor: Int?
    let assessment: Int?
    /// Day the client left the service (closed or moved away).
    let closure: Int?
    let movedAway: Bool
    let hasPlan: Bool
    let literacySupport: Bool
    let jobseeker: Bool
    let needsInterpreter: Bool
}

/// A household arriving together: shares the family id, the permit basis,
/// the mother tongue, the integration language and the dates.
private struct Household {
    let office: Int
    let basis: PermitBasis
    let size: Int
    let motherTongue: String
    let integrationLanguage: IntegrationLanguage
    let needsInterpreter: Bool
    /// Arrival in Finland; nil when the household hasn't come yet.
    let arrival: Int?
    let firstPermit: Int?
    let placement: PlacementPlan?
}

/// A municipal placement as planned for a whole household.
private struct PlacementPlan {
    let route: PlacementRoute
    let offered: Int
    /// Arrival in the municipality, when it has happened.
    let arrived: Int?
    let movedAway: Int?
    let status: MunicipalPlacementStatus
    let elyReference: String
    let wellbeingCountyConsulted: Bool
}

struct RegionGenerator {
    let seed: UInt64
    let today: LocalDate
    let todayNumber: Int

    private var random: SplitMix64
    private var clients: [SeedRecord] = []
    private var facts: [ClientFacts] = []
    private var municipalPlacements: [SeedRecord] = []
    private var usedIdentityCodes: Set<String> = []
    private var clientSerial = 0
    private var officeSerials: [Int]

    /// The first day temporary protection was granted to people fleeing Ukraine.
    private let temporaryProtectionStart = Days.number(year: 2022, month: 3, day: 4)

    init(seed: UInt64, today: LocalDate) {
        self.seed = seed
        self.today = today
        todayNumber = Days.number(today)
        random = SplitMix64(seed: seed, stream: 2)
        officeSerials = Array(repeating: 0, count: Office.all.count)
    }

    mutating func run() -> DemoData {
        var catalog = ServiceCatalog(seed: seed, today: today)
        let services = catalog.build()

        let placementCounts = planPlacements()
        let placed = placementCounts.map { $0.reduce(0, +) }
        let totalPlaced = placed.reduce(0, +)
        // Refugee-background clients without a placement in the five years:
        // placed earlier, or moved here from another municipality.
        let refugeeTarget = random.int(452...468)
        let unplaced = share(max(refugeeTarget - totalPlaced, 12), by: Office.all.map { Double($0.clientTarget) })

        for (index, office) in Office.all.enumerated() {
            let total = office.clientTarget + random.int(-office.clientJitter...office.clientJitter)
            let firstYear = today.year - placementCounts[index].count + 1
            for (offset, count) in placementCounts[index].enumerated() {
                placeRefugees(office: index, year: firstYear + offset, count: count)
            }
            addUnplacedRefugees(office: index, count: unplaced[index])
            addOtherImmigrants(office: index, count: total - placed[index] - unplaced[index])
        }

        var enrolments = EnrolmentGenerator(seed: seed, today: today, services: services)
        let enrolmentRecords = enrolments.build(for: facts)
        let serviceRecords = services.map { entry in
            SeedRecord(kind: .service, id: entry.service.id, fields: entry.service.fields,
                       owner: Office.all[entry.office].slug)
        }
        return DemoData(today: today, services: serviceRecords, clients: clients,
                        placements: municipalPlacements + enrolmentRecords)
    }

    // MARK: - Municipal placements

    /// Placements per office (outer) and year (inner, oldest first; the last
    /// is the `today` year): 92–108 in each of the four full years, split by
    /// the offices' shares, and in the `today` year exactly 23 in Jakobstad
    /// with the others in proportion.
    private mutating func planPlacements() -> [[Int]] {
        let offices = Office.all
        var counts = Array(repeating: [Int](), count: offices.count)
        let jakobstad = Office.jakobstad
        let jakobstadShare = offices[jakobstad].placementShare
        for _ in 0..<4 {
            let total = random.int(92...108)
            var others = 0
            var year = Array(repeating: 0, count: offices.count)
            for index in offices.indices where index != jakobstad {
                year[index] = Int((Double(total) * offices[index].placementShare * (0.8 + 0.4 * random.unit())).rounded())
                others += year[index]
            }
            year[jakobstad] = total - others
            for index in offices.indices { counts[index].append(year[index]) }
        }
        for index in offices.indices {
            if index == jakobstad {
                counts[index].append(DemoRegion.jakobstadPlacementsThisYear)
            } else {
                let ratio = offices[index].placementShare / jakobstadShare
                counts[index].append(Int((Double(DemoRegion.jakobstadPlacementsThisYear) * ratio
                    * (0.8 + 0.4 * random.unit())).rounded()))
            }
        }
        return counts
    }

    /// `count` refugees placed in `office` in `year`, in households.
    private mutating func placeRefugees(office: Int, year: Int, count: Int) {
        var remaining = count
        let yearStart = Days.number(year: year, month: 1, day: 1)
        let yearEnd = min(Days.number(year: year, month: 12, day: 31), todayNumber)
        while remaining > 0 {
            let offered = yearStart + random.below(max(1, yearEnd - yearStart + 1))
            let route = placementRoute(offered: offered)
            let size = min(remaining, householdSize(route: route))
            remaining -= size

            let basis: PermitBasis = switch route {
            case .quota: .quotaRefugee
            case .receptionCentre, .familyReunification: .internationalProtection
            case .temporaryProtection: .temporaryProtection
            }
            // Arrival in the municipality, if it has happened by today.
            let planned = offered + random.int(21...150)
            var status: MunicipalPlacementStatus
            var arrived: Int?
            var movedAway: Int?
            if random.chance(0.03) {
                status = .cancelled
            } else if planned <= todayNumber {
                status = .arrived
                arrived = planned
                if todayNumber - planned > 365, random.chance(0.1) {
                    status = .movedAway
                    movedAway = planned + random.int(180...(todayNumber - planned))
                }
            } else {
                let waiting = planned - todayNumber
                status = waiting > 75 ? .offered : (waiting > 30 ? .accepted : .housingArranged)
            }
            // Arrival in Finland and the first permit, by route.
            var finland: Int?
            var permit: Int
            switch route {
            case .quota:
                finland = arrived
                permit = offered - random.int(30...200)
            case .familyReunification:
                finland = arrived
                permit = offered - random.int(30...120)
            case .receptionCentre:
                finland = offered - random.int(180...720)
                permit = offered - random.int(14...90)
            case .temporaryProtection:
                let earliest = temporaryProtectionStart
                let came = max(earliest, offered - random.int(200...400))
                finland = min(came, offered)
                permit = min(offered, came + random.int(3...30))
            }
            if let arrival = finland { permit = max(permit, arrival - 400) }
            let wellbeing = year >= 2023 && random.chance(0.9)
            let plan = PlacementPlan(
                route: route, offered: offered, arrived: arrived, movedAway: movedAway, status: status,
                elyReference: "ELY/\(random.int(1000...9999))/\(year)", wellbeingCountyConsulted: wellbeing)
            let household = makeHousehold(office: office, basis: basis, route: route, size: size,
                                          arrival: finland, permit: permit, placement: plan)
            addMembers(of: household)
        }
    }

    private mutating func placementRoute(offered: Int) -> PlacementRoute {
        var routes: [(PlacementRoute, Double)] = [(.quota, 52), (.receptionCentre, 20), (.familyReunification, 8)]
        // Temporary protection only since spring 2022, and allowing a year in a reception centre first.
        if offered >= temporaryProtectionStart + 90 { routes.append((.temporaryProtection, 30)) }
        return random.weighted(routes)
    }

    // MARK: - Other clients

    /// Refugee-background clients without a placement in the last five years.
    private mutating func addUnplacedRefugees(office: Int, count: Int) {
        var remaining = count
        while remaining > 0 {
            var options: [(PermitBasis, Double)] = [(.quotaRefugee, 30), (.internationalProtection, 50)]
            let latestTemporary = todayNumber - 30
            if latestTemporary > temporaryProtectionStart { options.append((.temporaryProtection, 20)) }
            let basis = random.weighted(options)
            let size = min(remaining, householdSize(route: nil))
            remaining -= size
            let arrival: Int, permit: Int
            switch basis {
            case .temporaryProtection:
                arrival = temporaryProtectionStart + random.below(latestTemporary - temporaryProtectionStart + 1)
                permit = min(todayNumber, arrival + random.int(3...30))
            case .quotaRefugee:
                arrival = todayNumber - random.int(1825...3600)
                permit = arrival - random.int(30...200)
            default:
                arrival = todayNumber - random.int(730...3600)
                permit = min(todayNumber, arrival + random.int(120...600))
            }
            let household = makeHousehold(office: office, basis: basis, route: nil, size: size,
                                          arrival: arrival, permit: permit, placement: nil)
            addMembers(of: household)
        }
    }

    /// Family, work, study, EU and other immigrants.
    private mutating func addOtherImmigrants(office: Int, count: Int) {
        var remaining = count
        while remaining > 0 {
            let basis = random.weighted([(PermitBasis.family, 30), (.work, 30), (.study, 8),
                                         (.euRegistration, 25), (.other, 7)])
            let size = min(remaining, householdSize(basis: basis))
            remaining -= size
            // Within ten years, weighted towards recent arrivals.
            let arrival = todayNumber - Int(3650 * pow(random.unit(), 1.3))
            var permit: Int?
            switch basis {
            case .euRegistration:
                let registered = arrival + random.int(7...120)
                permit = registered <= todayNumber ? registered : nil
            case .work, .study: permit = arrival - random.int(20...120)
            case .family: permit = arrival - random.int(30...240)
            default: permit = random.chance(0.8) ? arrival - random.int(30...365) : nil
            }
            let household = makeHousehold(office: office, basis: basis, route: nil, size: size,
                                          arrival: arrival, permit: permit, placement: nil)
            addMembers(of: household)
        }
    }

    private mutating func householdSize(route: PlacementRoute?) -> Int {
        if route == .familyReunification { return random.weighted([(1, 30), (2, 30), (3, 25), (4, 15)]) }
        return random.weighted([(1, 32), (2, 14), (3, 14), (4, 15), (5, 13), (6, 8), (7, 4)])
    }

    private mutating func householdSize(basis: PermitBasis) -> Int {
        switch basis {
        case .work: random.weighted([(1, 60), (2, 20), (3, 12), (4, 8)])
        case .study: random.weighted([(1, 90), (2, 10)])
        case .euRegistration: random.weighted([(1, 50), (2, 25), (3, 15), (4, 10)])
        case .family: random.weighted([(1, 55), (2, 20), (3, 15), (4, 10)])
        default: random.weighted([(1, 75), (2, 15), (3, 10)])
        }
    }

    private mutating func makeHousehold(office: Int, basis: PermitBasis, route: PlacementRoute?, size: Int,
                                        arrival: Int?, permit: Int?, placement: PlacementPlan?) -> Household {
        let interpreter: Double = switch basis {
        case .quotaRefugee, .internationalProtection: 0.7
        case .temporaryProtection: 0.5
        case .study: 0.05
        default: 0.2
        }
        let tongue = random.weighted(MotherTongues.weights(for: basis, route: route))
        return Household(
            office: office, basis: basis, size: size, motherTongue: tongue,
            integrationLanguage: random.chance(Office.all[office].swedishShare) ? .sv : .fi,
            needsInterpreter: tongue != "en" && random.chance(interpreter),
            arrival: arrival, firstPermit: permit.map { min($0, todayNumber) }, placement: placement)
    }

    // MARK: - Members

    private mutating func addMembers(of household: Household) {
        let familyId: UUID? = household.size > 1 ? random.uuid() : nil
        // Anchor for ages: children were born before the household came.
        let cameOn = household.arrival ?? household.placement?.offered ?? todayNumber
        let yearsHere = max(0, (todayNumber - cameOn) / 365)
        let headAge = adultAge(for: household.basis)
        var roles: [Int] = [headAge]
        if household.size >= 2 {
            let couple = household.size == 2 ? random.chance(0.7) : random.chance(0.8)
            if couple { roles.append(max(18, headAge + random.int(-8...5))) }
        }
        while roles.count < household.size {
            let oldest = min(17, headAge - 18)
            if oldest >= yearsHere {
                roles.append(random.int(yearsHere...oldest))
            } else {
                // No room for a child born before arrival: an adult relative instead.
                roles.append(random.int(18...30) + yearsHere)
            }
        }
        for age in roles {
            addClient(household: household, age: age, familyId: familyId, cameOn: cameOn)
        }
    }

    private mutating func adultAge(for basis: PermitBasis) -> Int {
        switch basis {
        case .work: 21 + random.below(20) + random.below(20)
        case .study: 19 + random.below(8) + random.below(8)
        case .family: 19 + random.below(22) + random.below(22)
        case .euRegistration: 20 + random.below(22) + random.below(22)
        case .other: random.chance(0.2) ? random.int(60...80) : 18 + random.below(24) + random.below(24)
        default: 19 + random.below(23) + random.below(23)
        }
    }

    private mutating func addClient(household: Household, age: Int, familyId: UUID?, cameOn: Int) {
        let office = Office.all[household.office]
        clientSerial += 1
        officeSerials[household.office] += 1
        let serial = clientSerial
        let id = random.uuid()

        var birth = todayNumber - age * 365 - age / 4 - random.below(365)
        if birth >= cameOn { birth = cameOn - random.int(1...300) }
        let birthDate = Days.date(birth)
        var permit = household.firstPermit
        if let value = permit, value < birth { permit = birth + random.int(0...60) }
        if let value = permit, value > todayNumber { permit = nil }

        let placement = household.placement
        let arrivedHere = placement == nil ? household.arrival : placement?.arrived
        let ageAtAnchor = max(0, age - (todayNumber - (arrivedHere ?? todayNumber)) / 365)

        // Personal identity code: about 40 % of those already here.
        var identityCode: String?
        if household.arrival != nil, random.chance(0.41) {
            for _ in 0..<20 {
                let code = PersonalIdentityCode.make(birthDate: birthDate, individual: random.int(900...999))
                if usedIdentityCodes.insert(code).inserted {
                    identityCode = code
                    break
                }
            }
        }

        let literacyChance: Double = switch household.basis {
        case .quotaRefugee: 0.3
        case .internationalProtection: 0.22
        case .temporaryProtection: 0.02
        default: 0.03
        }
        let literacy = age >= 16 && random.chance(literacyChance)
        let jobseekerChance: Double = switch household.basis {
        case .quotaRefugee, .internationalProtection: 0.62
        case .temporaryProtection: 0.55
        case .family: 0.55
        case .work: 0.1
        case .study: 0.15
        case .euRegistration: 0.25
        case .other: 0.4
        }
        let jobseeker = (17...64).contains(age) && random.chance(jobseekerChance)
        let interpreter = household.needsInterpreter && age >= 12

        let course = lifeCourse(household: household, age: age, ageAtAnchor: ageAtAnchor, anchor: arrivedHere)

        let client = Client(
            id: id,
            clientNumber: "\(office.code)-\(pad(officeSerials[household.office], 5))",
            ownerMunicipality: office.code,
            givenName: "\(household.integrationLanguage == .sv ? "Exempel" : "Testi")-\(serial)",
            familyName: "Asiakas-\(pad(serial, 4))",
            birthDate: birthDate, personalIdentityCode: identityCode,
            arrivalDate: household.arrival.map { Days.date(max($0, birth)) },
            firstPermitDate: permit.map { Days.date($0) },
            permitBasis: household.basis, integrationLanguage: household.integrationLanguage,
            motherTongue: household.motherTongue, interpreterLanguage: interpreter ? household.motherTongue : nil,
            literacySupport: literacy, jobseeker: jobseeker, familyId: familyId,
            assessmentDate: course.assessment.map { Days.date($0) },
            planStart: course.planStart.map { Days.date($0) }, planEnd: course.planEnd.map { Days.date($0) },
            planStatus: course.planStatus, status: course.status,
            retentionUntil: Days.date(course.closure != nil || course.status == .closed
                ? todayNumber + random.int(730...1825) : todayNumber + random.int(1825...3650)))
        clients.append(SeedRecord(kind: .client, id: id, fields: client.fields, owner: office.slug))
        facts.append(ClientFacts(
            id: id, office: household.office, basis: household.basis, placed: placement != nil,
            integrationLanguage: household.integrationLanguage, ageAtAnchor: ageAtAnchor,
            anchor: course.active ? arrivedHere : nil, assessment: course.assessment, closure: course.closure,
            movedAway: course.status == .movedAway, hasPlan: course.planStart != nil || course.wantsPlan,
            literacySupport: literacy, jobseeker: jobseeker, needsInterpreter: interpreter))

        if let placement {
            let record = Placement(
                id: random.uuid(), type: .municipalPlacement, clientId: id,
                startDate: placement.arrived.map { Days.date($0) },
                endDate: placement.movedAway.map { Days.date($0) },
                municipality: office.code, route: placement.route,
                offeredDate: Days.date(placement.offered), arrivalDate: placement.arrived.map { Days.date($0) },
                elyReference: placement.elyReference,
                wellbeingCountyConsulted: placement.wellbeingCountyConsulted,
                status: .municipal(placement.status))
            municipalPlacements.append(SeedRecord(kind: .placement, id: record.id, fields: record.fields,
                                                  owner: office.slug))
        }
    }

    // MARK: - Status and plan

    private struct LifeCourse {
        var status: ClientStatus = .new
        var planStatus: PlanStatus = .none
        var assessment: Int?
        var planStart: Int?
        var planEnd: Int?
        var closure: Int?
        /// Whether the client is (or was) a client here at all: false while a
        /// placement is pending or after it was cancelled.
        var active = true
        var wantsPlan = false
    }

    /// Client status, assessment and integration plan as of today, from the
    /// time since the client became the office's client.
    private mutating func lifeCourse(household: Household, age: Int, ageAtAnchor: Int, anchor: Int?) -> LifeCourse {
        var course = LifeCourse()
        if let placement = household.placement, placement.status == .cancelled {
            course.status = .closed
            course.closure = min(todayNumber, placement.offered + random.int(14...60))
            course.active = false
            return course
        }
        guard let anchor else {
            course.active = false  // placement pending
            return course
        }
        let eligible = ageAtAnchor >= 16
        let planChance: Double = switch household.basis {
        case .quotaRefugee, .internationalProtection, .temporaryProtection: 0.95
        case .family: 0.8
        case .other: 0.6
        case .euRegistration: 0.4
        case .work, .study: 0.3
        }
        let wantsPlan = eligible && random.chance(planChance)
        course.wantsPlan = wantsPlan
        let elapsed = todayNumber - anchor

        if let moved = household.placement?.movedAway {
            course.status = .movedAway
            course.closure = moved
            let assessed = anchor + random.int(14...45)
            if assessed < moved { course.assessment = assessed }
            if wantsPlan, let assessed = course.assessment, moved - assessed > 60 {
                course.planStart = assessed + random.int(7...40)
                course.planEnd = moved
                course.planStatus = .interrupted
            }
            return course
        }

        switch elapsed {
        case ..<30:
            course.status = random.chance(0.5) ? .new : .assessmentPending
        case 30..<100:
            if random.chance(0.3) {
                course.status = .assessmentPending
            } else {
                course.status = .assessed
                course.assessment = anchor + random.int(14...min(elapsed, 60))
                if wantsPlan && random.chance(0.6) { course.planStatus = .draft }
            }
        case 100..<1095:
            let assessed = anchor + random.int(14...60)
            course.assessment = assessed
            if wantsPlan {
                let start = assessed + random.int(7...40)
                course.status = .planActive
                course.planStatus = random.chance(0.85) ? .active : .underReview
                course.planStart = start
                course.planEnd = max(start + 365 * random.int(1...3), todayNumber + random.int(30...400))
            } else if random.chance(0.3) {
                course.status = .closed
                course.closure = assessed + random.below(max(1, todayNumber - assessed))
            } else {
                course.status = .assessed
            }
        default:
            let assessed = anchor + random.int(14...60)
            course.assessment = assessed
            if wantsPlan {
                let start = assessed + random.int(7...40)
                let end = min(start + random.int(700...1095), todayNumber - 1)
                course.planStart = start
                course.planEnd = max(start, end)
                course.planStatus = random.weighted([(PlanStatus.completed, 65), (.expired, 20), (.interrupted, 15)])
                course.status = random.weighted([(ClientStatus.planEnded, 55), (.closed, 35), (.movedAway, 10)])
                if course.status != .planEnded {
                    course.closure = min(todayNumber, max(start, end) + random.int(0...180))
                }
            } else {
                course.status = random.weighted([(ClientStatus.closed, 60), (.assessed, 30), (.movedAway, 10)])
                if course.status != .assessed {
                    course.closure = assessed + random.below(max(1, todayNumber - assessed))
                }
            }
        }
        return course
    }

    // MARK: - Helpers

    /// Splits `total` in proportion to `weights` (largest remainder), exactly.
    private func share(_ total: Int, by weights: [Double]) -> [Int] {
        let sum = weights.reduce(0, +)
        let exact = weights.map { Double(total) * $0 / sum }
        var parts = exact.map { Int($0) }
        var left = total - parts.reduce(0, +)
        let order = exact.indices.sorted { (exact[$0] - Double(parts[$0]), -$0) > (exact[$1] - Double(parts[$1]), -$1) }
        for index in order where left > 0 {
            parts[index] += 1
            left -= 1
        }
        return parts
    }
}

func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
