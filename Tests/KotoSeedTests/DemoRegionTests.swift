import Foundation
import KotoCore
import KotoSeed
import Testing

// Failure messages must never show personal data (even fictional): checks on
// names and identity codes are reduced to counts or booleans before `#expect`.

private let today = LocalDate(year: 2025, month: 6, day: 15)!

/// Generated once per process and shared: the data is immutable.
private let demo = DemoRegion.generate(seed: DemoRegion.defaultSeed, today: today)

private let nodes = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"]
private let codes = ["jakobstad": 598, "nykarleby": 893, "kronoby": 288, "pedersore": 599, "larsmo": 440]

/// Typed views of the generated data (their initialisers validate).
private struct Typed {
    let services: [Service]
    let clients: [Client]
    let placements: [Placement]
    let municipal: [Placement]
    let enrolments: [Placement]

    init(_ data: DemoData) throws {
        services = try data.services.map { try Service(id: $0.id, fields: $0.fields) }
        clients = try data.clients.map { try Client(id: $0.id, fields: $0.fields) }
        placements = try data.placements.map { try Placement(id: $0.id, fields: $0.fields) }
        municipal = placements.filter { $0.type == .municipalPlacement }
        enrolments = placements.filter { $0.type == .serviceEnrolment }
    }
}

private func isRefugee(_ basis: PermitBasis?) -> Bool {
    basis == .quotaRefugee || basis == .internationalProtection || basis == .temporaryProtection
}

@Suite struct DemoRegionTests {
    @Test func sameSeedGivesIdenticalData() {
        let again = DemoRegion.generate(seed: DemoRegion.defaultSeed, today: today)
        #expect(again == demo)
        #expect(again.all.map(\.id) == demo.all.map(\.id))
    }

    @Test func differentSeedGivesDifferentData() {
        let other = DemoRegion.generate(seed: DemoRegion.defaultSeed &+ 1, today: today)
        #expect(other != demo)
        let shared = Set(other.all.map(\.id)).intersection(demo.all.map(\.id))
        #expect(shared.isEmpty)
        #expect(other.clients.map(\.fields) != demo.clients.map(\.fields))
    }

    @Test(arguments: [
        (UInt64(1), LocalDate(year: 2025, month: 6, day: 15)!),
        (UInt64(42), LocalDate(year: 2026, month: 1, day: 1)!),
        (UInt64(7), LocalDate(year: 2024, month: 12, day: 31)!),
        (UInt64.max, LocalDate(year: 2030, month: 2, day: 28)!),
    ])
    func everyRecordIsValidAndComplete(seed: UInt64, date: LocalDate) {
        let data = seed == DemoRegion.defaultSeed && date == today ? demo : DemoRegion.generate(seed: seed, today: date)
        let validator = RecordValidator()
        var invalid = 0, incomplete = 0, wrongKind = 0
        var problemFields: Set<String> = []
        for (records, kind) in [(data.services, RecordKind.service), (data.clients, .client), (data.placements, .placement)] {
            let names = Set(kind.fields.map(\.name))
            for record in records {
                if record.kind != kind { wrongKind += 1 }
                let problems = validator.problems(in: record.fields, kind: kind)
                if !problems.isEmpty {
                    invalid += 1
                    // Field names and reasons never quote values.
                    problemFields.formUnion(problems.map { "\(kind.rawValue).\($0.description)" })
                }
                if Set(record.fields.keys) != names { incomplete += 1 }
            }
        }
        #expect(invalid == 0, "\(problemFields.sorted())")
        #expect(incomplete == 0)
        #expect(wrongKind == 0)
        // Counts hold for other seeds and dates too.
        #expect((2_250...2_350).contains(data.clients.count))
        #expect((60...90).contains(data.services.count))
        let placements = data.placements.filter { $0.fields["type"] == .text("municipal_placement") }
        let jakobstadThisYear = placements.filter {
            $0.fields["municipality"] == .integer(598)
                && $0.fields["offeredDate"]?.text.flatMap(LocalDate.init)?.year == date.year
        }
        #expect(jakobstadThisYear.count == 23)
        let refugees = data.clients.filter {
            isRefugee($0.fields["permitBasis"]?.text.flatMap(PermitBasis.init(rawValue:)))
        }
        #expect((430...490).contains(refugees.count))
        #expect((1_500...3_000).contains(data.placements.count - placements.count))
    }

    @Test func idsAreUniqueLowercaseVersion4() {
        let ids = demo.all.map(\.id)
        #expect(Set(ids).count == ids.count)
        let badLayout = ids.filter { id in
            let text = Array(id.lowercased)
            return text[14] != "4" || !"89ab".contains(text[19])
        }
        #expect(badLayout.isEmpty)
        // Ids written into fields are lowercase canonical (the validator insists).
        let writtenIds = demo.placements.compactMap { $0.fields["clientId"]?.text }
        #expect(writtenIds.allSatisfy { $0 == $0.lowercased() })
    }

    @Test func clientCountsFollowTheRegion() throws {
        let typed = try Typed(demo)
        #expect((2_250...2_350).contains(typed.clients.count))
        var perOffice: [Int: Int] = [:]
        for client in typed.clients { perOffice[client.ownerMunicipality, default: 0] += 1 }
        let expected: [(Int, ClosedRange<Int>)] = [
            (598, 1_200...1_300), (599, 360...400), (893, 280...320), (440, 200...240), (288, 130...170),
        ]
        for (code, range) in expected {
            #expect(range.contains(perOffice[code] ?? 0), "municipality \(code): \(perOffice[code] ?? 0)")
        }
        let jakobstad = perOffice[598] ?? 0
        #expect(perOffice.filter { $0.key != 598 }.values.allSatisfy { $0 < jakobstad })

        let refugees = typed.clients.filter { isRefugee($0.permitBasis) }
        #expect((430...490).contains(refugees.count))
        // Every client has a permit basis; the non-refugees cover the other bases.
        #expect(typed.clients.allSatisfy { $0.permitBasis != nil })
        let otherBases = Set(typed.clients.compactMap(\.permitBasis).filter { !isRefugee($0) })
        #expect(otherBases == [.family, .work, .study, .euRegistration, .other])
    }

    @Test func integrationLanguageFollowsTheMunicipality() throws {
        let typed = try Typed(demo)
        func swedishShare(_ code: Int) -> Double {
            let clients = typed.clients.filter { $0.ownerMunicipality == code }
            return Double(clients.filter { $0.integrationLanguage == .sv }.count) / Double(max(1, clients.count))
        }
        #expect((0.35...0.65).contains(swedishShare(598)))
        for code in [893, 288, 599, 440] {
            #expect(swedishShare(code) >= 0.75, "municipality \(code)")
        }
    }

    @Test func clientDetailsArePlausible() throws {
        let typed = try Typed(demo)
        let tenYearsAgo = LocalDate(year: today.year - 10, month: today.month, day: 1)!
        var problems: [String: Int] = [:]
        func flag(_ what: String) { problems[what, default: 0] += 1 }
        for client in typed.clients {
            let age = today.year - client.birthDate.year
            if !(0...90).contains(age) { flag("age") }
            if let arrival = client.arrivalDate, arrival > today || arrival < tenYearsAgo { flag("arrivalDate") }
            if let permit = client.firstPermitDate, permit > today { flag("firstPermitDate") }
            if let motherTongue = client.motherTongue, motherTongue.count != 2 { flag("motherTongue") }
            if client.planStatus == .active, client.planStart == nil { flag("planStart") }
            if let start = client.planStart, let end = client.planEnd, end < start { flag("planEnd") }
            if client.status == .planActive, ![.active, .underReview].contains(client.planStatus) { flag("planActive") }
            if let retention = client.retentionUntil, retention <= today { flag("retentionUntil") }
            if client.retentionUntil == nil { flag("retentionUntil missing") }
            if client.jobseeker, !(17...65).contains(age) { flag("jobseeker") }
        }
        #expect(problems.isEmpty, "\(problems)")

        let adults = typed.clients.filter { (18...64).contains(today.year - $0.birthDate.year) }
        let jobseekers = adults.filter(\.jobseeker).count
        #expect(Double(jobseekers) / Double(adults.count) > 0.25)
        let literacy = typed.clients.filter(\.literacySupport).count
        #expect((40...300).contains(literacy))
        let families = Dictionary(grouping: typed.clients.compactMap(\.familyId), by: { $0 })
        #expect(families.count > 200)
        #expect(families.values.allSatisfy { $0.count >= 2 })
        // Family members share the office.
        let offices = Dictionary(grouping: typed.clients.filter { $0.familyId != nil }, by: { $0.familyId! })
            .values.map { Set($0.map(\.ownerMunicipality)).count }
        #expect(offices.allSatisfy { $0 == 1 })
        let statuses = Set(typed.clients.map(\.status))
        #expect(statuses == Set(ClientStatus.allCases))
        let planStatuses = Set(typed.clients.map(\.planStatus))
        #expect(planStatuses == Set(PlanStatus.allCases))
        let numbers = typed.clients.map(\.clientNumber)
        #expect(Set(numbers).count == numbers.count)
    }

    @Test func identityCodesAreValidTemporaryAndConsistent() throws {
        let typed = try Typed(demo)
        let withCode = typed.clients.filter { $0.personalIdentityCode != nil }
        let share = Double(withCode.count) / Double(typed.clients.count)
        #expect((0.35...0.45).contains(share))
        var invalid = 0, mismatched = 0, outsideRange = 0
        for client in withCode {
            let code = client.personalIdentityCode!
            if !PersonalIdentityCode.isValid(code) { invalid += 1 }
            if PersonalIdentityCode.birthDate(of: code) != client.birthDate { mismatched += 1 }
            let individual = Int(String(Array(code)[7..<10])) ?? 0
            if !(900...999).contains(individual) { outsideRange += 1 }
        }
        #expect(invalid == 0)
        #expect(mismatched == 0)
        #expect(outsideRange == 0)
        let distinct = Set(withCode.compactMap(\.personalIdentityCode)).count
        #expect(distinct == withCode.count)
    }

    @Test func namesAreObviouslyFictional() throws {
        let typed = try Typed(demo)
        func matches(_ text: String, prefixes: [String], minimumDigits: Int) -> Bool {
            guard let prefix = prefixes.first(where: { text.hasPrefix($0 + "-") }) else { return false }
            let digits = text.dropFirst(prefix.count + 1)
            return digits.count >= minimumDigits && digits.allSatisfy { $0.isASCII && $0.isNumber }
        }
        let badGiven = typed.clients.filter { !matches($0.givenName, prefixes: ["Testi", "Exempel"], minimumDigits: 1) }
        let badFamily = typed.clients.filter { !matches($0.familyName, prefixes: ["Asiakas"], minimumDigits: 4) }
        #expect(badGiven.count == 0)
        #expect(badFamily.count == 0)
        let fullNames = Set(typed.clients.map { $0.givenName + " " + $0.familyName })
        #expect(fullNames.count == typed.clients.count)
    }

    @Test func municipalPlacements() throws {
        let typed = try Typed(demo)
        func year(_ placement: Placement) -> Int { placement.offeredDate?.year ?? 0 }
        let jakobstadThisYear = typed.municipal.filter { $0.municipality == 598 && year($0) == today.year }
        #expect(jakobstadThisYear.count == 23)
        for fullYear in (today.year - 4)..<today.year {
            let count = typed.municipal.filter { year($0) == fullYear }.count
            #expect((80...120).contains(count), "year \(fullYear): \(count)")
        }
        #expect(typed.municipal.allSatisfy { (today.year - 4...today.year).contains(year($0)) })
        #expect(typed.municipal.allSatisfy { $0.offeredDate! <= today })
        #expect(Set(typed.municipal.compactMap(\.route)) == Set(PlacementRoute.allCases))

        let clients = Dictionary(uniqueKeysWithValues: typed.clients.map { ($0.id, $0) })
        var wrongClient = 0, wrongReference = 0, notArrivedButDated = 0
        for placement in typed.municipal {
            guard let client = clients[placement.clientId], isRefugee(client.permitBasis),
                  client.ownerMunicipality == placement.municipality else {
                wrongClient += 1
                continue
            }
            let reference = placement.elyReference ?? ""
            if !reference.hasPrefix("ELY/") || !reference.hasSuffix("/\(year(placement))") { wrongReference += 1 }
            let arrivedStatus = placement.status == .municipal(.arrived) || placement.status == .municipal(.movedAway)
            if arrivedStatus != (placement.arrivalDate != nil) { notArrivedButDated += 1 }
            if let arrival = placement.arrivalDate, arrival > today { notArrivedButDated += 1 }
        }
        #expect(wrongClient == 0)
        #expect(wrongReference == 0)
        #expect(notArrivedButDated == 0)
        // One placement per person.
        #expect(Set(typed.municipal.map(\.clientId)).count == typed.municipal.count)
    }

    @Test func servicesCoverEveryCategory() throws {
        let typed = try Typed(demo)
        #expect((60...90).contains(typed.services.count))
        #expect(Set(typed.services.map(\.category)) == Set(ServiceCategory.allCases))
        #expect(Set(typed.services.map(\.providerType)) == Set(ProviderType.allCases))
        let training = typed.services.filter { $0.category == .integrationTraining }
        #expect(Set(training.map(\.studyPath)).isSuperset(of: [.slow, .basic, .fast]))
        #expect(typed.services.allSatisfy { $0.nameFi != nil && $0.nameSv != nil })
        #expect(typed.services.allSatisfy { $0.contact?.hasSuffix("@example.invalid") == true })
        #expect(typed.services.allSatisfy { !$0.municipalities.isEmpty && !$0.languages.isEmpty })
        #expect(Set(typed.services.map(\.status)).isSuperset(of: [.active, .full, .paused, .draft, .discontinued]))
        // Every office has services, owned by the office of the first municipality.
        for record in demo.services {
            let first = record.fields["municipalities"]?.text?.split(separator: ",").first.flatMap { Int($0) }
            #expect(first == codes[record.owner])
        }
        #expect(Set(demo.services.map(\.owner)) == Set(nodes))
    }

    @Test func serviceEnrolments() throws {
        let typed = try Typed(demo)
        #expect((1_500...3_000).contains(typed.enrolments.count))
        let services = Dictionary(uniqueKeysWithValues: typed.services.map { ($0.id, $0) })
        var wrong = 0, badDates = 0, missingOutcome = 0
        for enrolment in typed.enrolments {
            guard let id = enrolment.serviceId, let service = services[id], service.status != .draft else {
                wrong += 1
                continue
            }
            if let referral = enrolment.referralDate, referral > today { badDates += 1 }
            if case .enrolment(let status) = enrolment.status {
                switch status {
                case .completed:
                    if enrolment.outcome == nil || enrolment.endDate == nil { missingOutcome += 1 }
                    if let end = enrolment.endDate, end > today { badDates += 1 }
                case .active, .suspended:
                    if enrolment.startDate.map({ $0 > today }) ?? true { badDates += 1 }
                default: break
                }
            } else {
                wrong += 1
            }
        }
        #expect(wrong == 0)
        #expect(badDates == 0)
        #expect(missingOutcome == 0)
        let statuses = Set(typed.enrolments.compactMap { placement -> EnrolmentStatus? in
            if case .enrolment(let status) = placement.status { return status }
            return nil
        })
        #expect(statuses == Set(EnrolmentStatus.allCases))
    }

    @Test func ownershipAndLoadOrder() {
        // Every record belongs to exactly one node's slice.
        let slices = nodes.map { demo.records(for: $0) }
        #expect(slices.map(\.count).reduce(0, +) == demo.all.count)
        #expect(demo.nodes == nodes)
        #expect(demo.records(for: "nowhere").isEmpty)

        var danglingOrLate = 0, wrongOwner = 0, misordered = 0
        for (node, slice) in zip(nodes, slices) {
            var seen: Set<String> = []
            var seenKinds: [RecordKind] = []
            for record in slice {
                if record.owner != node { wrongOwner += 1 }
                if let last = seenKinds.last, last != record.kind {
                    if seenKinds.contains(record.kind) { misordered += 1 }
                }
                seenKinds.append(record.kind)
                switch record.kind {
                case .client:
                    if record.fields["ownerMunicipality"] != .integer(Int64(codes[node]!)) { wrongOwner += 1 }
                case .placement:
                    // Both references resolve to a record loaded earlier on the same node.
                    for name in ["clientId", "serviceId"] {
                        if let id = record.fields[name]?.text, !seen.contains(id) { danglingOrLate += 1 }
                    }
                    if let municipality = record.fields["municipality"]?.integer, municipality != Int64(codes[node]!) {
                        wrongOwner += 1
                    }
                case .service:
                    break
                }
                seen.insert(record.id.lowercased)
            }
            #expect(slice.first?.kind == .service)
        }
        #expect(danglingOrLate == 0)
        #expect(wrongOwner == 0)
        #expect(misordered == 0)

        // And across the whole set.
        let ids = Set(demo.all.map(\.id.lowercased))
        let unresolved = demo.placements.filter { record in
            ["clientId", "serviceId"].contains { name in record.fields[name]?.text.map { !ids.contains($0) } ?? false }
        }
        #expect(unresolved.isEmpty)
    }

    @Test func generatesQuickly() {
        let clock = ContinuousClock()
        let elapsed = clock.measure { _ = DemoRegion.generate(seed: 99, today: today) }
        // Well under a second in a debug build; the bound leaves room for a loaded machine.
        #expect(elapsed < .seconds(3))
    }
}
