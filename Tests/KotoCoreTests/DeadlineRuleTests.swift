import KotoCore
import Testing

/// Day arithmetic and the deadline rules' decisions at known dates.
@Suite struct DeadlineRuleTests {
    func date(_ text: String) -> LocalDate { LocalDate(text)! }

    @Test func dayNumbersRoundTripAndCountDays() throws {
        #expect(date("1970-01-01").dayNumber == 0)
        #expect(date("2000-03-01").dayNumber == 11_017)
        for text in ["1800-01-01", "1969-12-31", "2024-02-29", "2026-12-01", "9999-12-31"] {
            #expect(LocalDate(dayNumber: date(text).dayNumber) == date(text))
        }
        #expect(date("2026-12-01").days(until: date("2027-01-15")) == 45)
        #expect(date("2027-01-15").days(until: date("2026-12-01")) == -45)
        #expect(date("2024-02-28").adding(days: 2) == date("2024-03-01"))
        #expect(date("9999-12-31").adding(days: 1) == nil)
    }

    @Test func monthsClampToTheTargetMonthsEnd() {
        #expect(date("2024-01-31").adding(months: 1) == date("2024-02-29"))
        #expect(date("2023-01-31").adding(months: 1) == date("2023-02-28"))
        #expect(date("2024-08-31").adding(months: 6) == date("2025-02-28"))
        #expect(date("2024-01-15").adding(months: 36) == date("2027-01-15"))
        #expect(date("2024-03-31").adding(months: -1) == date("2024-02-29"))
        #expect(date("2024-11-30").adding(months: 2) == date("2025-01-30"))
    }

    @Test func aRuleIsPendingUntilItsEvidenceOnOrAfterTheAnchor() {
        let rule = DeadlineRule(id: "assessment", from: .firstPermitDate, period: .months(36), metBy: .assessmentDate)
        var facts = DeadlineFacts(firstPermitDate: date("2024-01-15"))
        #expect(rule.pendingDueDate(facts) == date("2027-01-15"))
        facts.assessmentDate = date("2023-12-01")  // before the anchor: not evidence
        #expect(rule.pendingDueDate(facts) == date("2027-01-15"))
        facts.assessmentDate = date("2028-01-01")  // late, but met
        #expect(rule.pendingDueDate(facts) == nil)
        #expect(rule.pendingDueDate(DeadlineFacts()) == nil, "no anchor, no limit")
    }

    @Test func aWithinRuleNeedsItsEvidenceByTheDueDate() {
        let rule = DeadlineRule(id: "planLength", from: .planStart, period: .months(12), metBy: .planEnd, within: true)
        var facts = DeadlineFacts(planStart: date("2026-01-31"))
        #expect(rule.pendingDueDate(facts) == date("2027-01-31"))
        facts.planEnd = date("2027-01-31")
        #expect(rule.pendingDueDate(facts) == nil)
        facts.planEnd = date("2027-02-01")
        #expect(rule.pendingDueDate(facts) == date("2027-01-31"))
    }

    @Test func aReferralMeetsTheRuleOnlyOnOrAfterItsAnchor() {
        let rule = DeadlineRule(id: "referral", from: .planStart, period: .days(180), metBy: .referralDate)
        var facts = DeadlineFacts(planStart: date("2026-03-01"), referralDates: [date("2025-06-01")])
        #expect(rule.pendingDueDate(facts) == date("2026-08-28"), "a referral under an earlier plan does not count")
        facts.referralDates.append(date("2026-03-01"))
        #expect(rule.pendingDueDate(facts) == nil)
        let within = DeadlineRule(id: "quick", from: .planStart, period: .days(30), metBy: .referralDate, within: true)
        facts.referralDates = [date("2026-05-01")]
        #expect(within.pendingDueDate(facts) == date("2026-03-31"), "too late for a within rule")
    }

    @Test func theNextLimitIsTheEarliestPendingOne() throws {
        let rules = [
            DeadlineRule(id: "assessment", from: .firstPermitDate, period: .months(36), metBy: .assessmentDate),
            DeadlineRule(id: "firstPlan", from: .firstPermitDate, period: .months(36), metBy: .planStart),
            DeadlineRule(id: "referral", from: .planStart, period: .months(6), metBy: .referralDate),
        ]
        var facts = DeadlineFacts(firstPermitDate: date("2024-01-15"))
        let first = try #require(DeadlineRule.next(of: rules, for: facts))
        #expect(first.rule.id == "assessment", "a tie goes to the rule listed first")
        #expect(first.due == date("2027-01-15"))
        facts.assessmentDate = date("2024-03-01")
        facts.planStart = date("2024-04-01")
        let next = try #require(DeadlineRule.next(of: rules, for: facts))
        #expect(next.rule.id == "referral")
        #expect(next.due == date("2024-10-01"))
        facts.referralDates = [date("2024-05-01")]
        #expect(DeadlineRule.next(of: rules, for: facts) == nil)
    }

    @Test func statesByDaysLeft() {
        #expect(DeadlineState(daysLeft: -1, dueSoonDays: 30) == .overdue)
        #expect(DeadlineState(daysLeft: 0, dueSoonDays: 30) == .dueSoon)
        #expect(DeadlineState(daysLeft: 30, dueSoonDays: 30) == .dueSoon)
        #expect(DeadlineState(daysLeft: 31, dueSoonDays: 30) == .ok)
        #expect(DeadlineState.dueSoon.rawValue == "due_soon")
    }
}
