/// A time limit of the integration process, such as "the integration plan
/// within three years of the first residence permit": it runs from one of
/// the client's dates and is met by another date (on or after the first).
/// Which limits apply, and how long they are, is configuration (the node's
/// `reports.deadlineRules`, defaulting to the Integration Act's), so this
/// type only computes: due dates, whether a rule is met, the next pending one.
public struct DeadlineRule: Sendable, Hashable {
    /// How long the limit is.
    public enum Period: Sendable, Hashable {
        case days(Int)
        /// Calendar months, the day clamped to the target month's end.
        case months(Int)
    }

    /// The client date a limit runs from (a client field name).
    public enum Anchor: String, CaseIterable, Sendable {
        case firstPermitDate, arrivalDate, assessmentDate, planStart, planEnd
    }

    /// What meets a limit: a client date (a client field name), or
    /// `referralDate`, the referral date of one of the client's service enrolments.
    public enum Evidence: String, CaseIterable, Sendable {
        case assessmentDate, planStart, planEnd, referralDate
    }

    /// Stable identifier (`assessment`, `firstPlan`, …), shown in the reports.
    public let id: String
    public let from: Anchor
    public let period: Period
    public let metBy: Evidence
    /// The evidence must also fall on or before the due date (a limit on a
    /// date itself, such as how long a plan may run); otherwise any evidence
    /// on or after the anchor meets the rule, late or not.
    public let within: Bool

    public init(id: String, from: Anchor, period: Period, metBy: Evidence, within: Bool = false) {
        self.id = id
        self.from = from
        self.period = period
        self.metBy = metBy
        self.within = within
    }

    /// The day the limit ends for a client whose anchor date is `anchor`.
    public func dueDate(from anchor: LocalDate) -> LocalDate? {
        switch period {
        case .days(let days): anchor.adding(days: days)
        case .months(let months): anchor.adding(months: months)
        }
    }

    /// The due date while the rule applies to `facts` and is not met; nil
    /// when the client lacks the anchor date or the rule is met.
    public func pendingDueDate(_ facts: DeadlineFacts) -> LocalDate? {
        guard let anchor = facts.dates[from.rawValue], let due = dueDate(from: anchor) else { return nil }
        let evidence = metBy == .referralDate ? facts.referrals[id] : facts.dates[metBy.rawValue]
        if let evidence, evidence >= anchor, !within || evidence <= due { return nil }
        return due
    }

    /// The pending rule with the earliest due date (the first listed on a tie).
    public static func next(of rules: [DeadlineRule], for facts: DeadlineFacts) -> (rule: DeadlineRule, due: LocalDate)? {
        var best: (rule: DeadlineRule, due: LocalDate)?
        for rule in rules {
            guard let due = rule.pendingDueDate(facts) else { continue }
            if best == nil || due < best!.due { best = (rule, due) }
        }
        return best
    }
}

/// The dates of one client that the rules read.
public struct DeadlineFacts: Sendable, Hashable {
    /// Client dates by field name (`firstPermitDate`, `planStart`, …).
    public var dates: [String: LocalDate]
    /// For each rule met by `referralDate` (by rule id): the earliest referral
    /// of the client's live service enrolments on or after the rule's anchor.
    public var referrals: [String: LocalDate]

    public init(dates: [String: LocalDate] = [:], referrals: [String: LocalDate] = [:]) {
        self.dates = dates
        self.referrals = referrals
    }
}

/// Where a client stands with its next limit, given how many days are left.
public enum DeadlineState: String, CaseIterable, Sendable {
    case overdue
    case dueSoon = "due_soon"
    case ok

    /// `overdue` below zero days left, `due_soon` up to `dueSoonDays`, else `ok`.
    public init(daysLeft: Int, dueSoonDays: Int) {
        self = daysLeft < 0 ? .overdue : (daysLeft <= dueSoonDays ? .dueSoon : .ok)
    }
}
