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
        guard let anchor = facts[from] else { return nil }
        let evidence = metBy == .referralDate ? facts.referralDates.first { $0 >= anchor } : facts[metBy]
        // Met, late or not: no due date to compute (most clients, most rules).
        if let evidence, evidence >= anchor, !within { return nil }
        guard let due = dueDate(from: anchor) else { return nil }
        if let evidence, evidence >= anchor, evidence <= due { return nil }
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

/// The limits of the Act on the Promotion of Immigrant Integration 681/2023
/// as bare rules (KotoNode's `ReportRule.integrationActDefaults` gives them
/// titles and sources): the store keeps each client's next limit under these
/// unless it is opened with the configured ones (`StoreOptions.deadlineRules`).
extension DeadlineRule {
    public static let assessment = DeadlineRule(id: "assessment", from: .firstPermitDate, period: .months(36), metBy: .assessmentDate)
    public static let firstPlan = DeadlineRule(id: "firstPlan", from: .firstPermitDate, period: .months(36), metBy: .planStart)
    public static let planLength = DeadlineRule(id: "planLength", from: .planStart, period: .months(12), metBy: .planEnd, within: true)
    public static let referral = DeadlineRule(id: "referral", from: .planStart, period: .months(6), metBy: .referralDate)

    public static let integrationActDefaults: [DeadlineRule] = [assessment, firstPlan, planLength, referral]
}

/// The dates of one client that the rules read.
public struct DeadlineFacts: Sendable, Hashable {
    public var firstPermitDate: LocalDate?
    public var arrivalDate: LocalDate?
    public var assessmentDate: LocalDate?
    public var planStart: LocalDate?
    public var planEnd: LocalDate?
    /// The referral dates of the client's live service enrolments, ascending:
    /// a rule met by `referralDate` takes the earliest on or after its anchor.
    public var referralDates: [LocalDate]

    public init(firstPermitDate: LocalDate? = nil, arrivalDate: LocalDate? = nil, assessmentDate: LocalDate? = nil,
                planStart: LocalDate? = nil, planEnd: LocalDate? = nil, referralDates: [LocalDate] = []) {
        self.firstPermitDate = firstPermitDate
        self.arrivalDate = arrivalDate
        self.assessmentDate = assessmentDate
        self.planStart = planStart
        self.planEnd = planEnd
        self.referralDates = referralDates
    }

    /// The client date a rule runs from.
    public subscript(anchor: DeadlineRule.Anchor) -> LocalDate? {
        get {
            switch anchor {
            case .firstPermitDate: firstPermitDate
            case .arrivalDate: arrivalDate
            case .assessmentDate: assessmentDate
            case .planStart: planStart
            case .planEnd: planEnd
            }
        }
        set {
            switch anchor {
            case .firstPermitDate: firstPermitDate = newValue
            case .arrivalDate: arrivalDate = newValue
            case .assessmentDate: assessmentDate = newValue
            case .planStart: planStart = newValue
            case .planEnd: planEnd = newValue
            }
        }
    }

    /// The client date that meets a rule (nil for `referralDate`: see `referralDates`).
    public subscript(evidence: DeadlineRule.Evidence) -> LocalDate? {
        switch evidence {
        case .assessmentDate: assessmentDate
        case .planStart: planStart
        case .planEnd: planEnd
        case .referralDate: nil
        }
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
