public import KotoCore

/// One client's next pending time limit.
public struct NextDeadline: Sendable, Hashable {
    /// The client's id as stored: a lowercase UUID.
    public let clientID: String
    public let clientNumber: String
    /// Its owner (0 for a row without one).
    public let municipality: Int
    /// The rule's id.
    public let rule: String
    public let due: LocalDate

    public init(clientID: String, clientNumber: String, municipality: Int, rule: String, due: LocalDate) {
        self.clientID = clientID
        self.clientNumber = clientNumber
        self.municipality = municipality
        self.rule = rule
        self.due = due
    }

    /// Most urgent first: due date, municipality, then client number and id in byte order (as SQLite orders text).
    static func moreUrgent(_ a: NextDeadline, _ b: NextDeadline) -> Bool {
        if a.due != b.due { return a.due < b.due }
        if a.municipality != b.municipality { return a.municipality < b.municipality }
        if a.clientNumber != b.clientNumber { return a.clientNumber.utf8.lexicographicallyPrecedes(b.clientNumber.utf8) }
        return a.clientID.utf8.lexicographicallyPrecedes(b.clientID.utf8)
    }
}

/// What the deadlines report shows: the work list and the counts per municipality and state.
public struct DeadlineListing: Sendable, Hashable {
    /// The clients with a pending limit (only those in the state asked for, if one was), most urgent first.
    public var entries: [NextDeadline] = []
    /// Per owner in scope, the clients in each state, whatever state the list was narrowed to.
    public var counts: [Int: [DeadlineState: Int]] = [:]

    public init(entries: [NextDeadline] = [], counts: [Int: [DeadlineState: Int]] = [:]) {
        self.entries = entries
        self.counts = counts
    }
}

extension MergedView {
    /// Whether the database keeps each client's next limit for exactly `rules` (`DeadlineAggregate`).
    func holdsNextDeadlines(for rules: [DeadlineRule]) throws -> Bool {
        try DeadlineAggregate.holds(database, rules: rules)
    }

    /// The deadlines report's list and counts under `rules` at `today`:
    /// `overdue` before today, `due_soon` up to `dueSoonDays` later, else
    /// `ok`. Read from `deadline_next` when the database keeps it for these
    /// rules (index ranges around today, the list in index order), else
    /// evaluated client by client (`recountedDeadlineListing`).
    public func deadlineListing(_ rules: [DeadlineRule], _ scope: ReportScope, today: LocalDate, dueSoonDays: Int,
                                only state: DeadlineState? = nil) throws -> DeadlineListing {
        guard !rules.isEmpty else { return DeadlineListing() }
        guard try holdsNextDeadlines(for: rules) else {
            return try recountedDeadlineListing(rules, scope, today: today, dueSoonDays: dueSoonDays, only: state)
        }
        let first = SQLiteValue.text(today.description)
        let last = SQLiteValue.text((today.adding(days: max(dueSoonDays, -1)) ?? LocalDate(year: 9999, month: 12, day: 31)!).description)
        var inScope = "", scopeValues: [SQLiteValue] = []
        if let code = scope.municipality {
            inScope = " WHERE municipality = ?"
            scopeValues = [.integer(Int64(code))]
        }
        var listing = DeadlineListing()
        for (municipality, overdue, soon, ok) in try database.query("""
            SELECT municipality, sum(due < ?), sum(due >= ? AND due <= ?), sum(due > ?) FROM deadline_next\(inScope) GROUP BY municipality
            """, [first, first, last, last] + scopeValues, row: { (Int($0.int64(0)), Int($0.int64(1)), Int($0.int64(2)), Int($0.int64(3))) }) {
            listing.counts[municipality] = [.overdue: overdue, .dueSoon: soon, .ok: ok].filter { $0.value > 0 }
        }
        var range = "", rangeValues: [SQLiteValue] = []
        switch state {
        case nil: break
        case .overdue?: (range, rangeValues) = ("due < ?", [first])
        case .dueSoon?: (range, rangeValues) = ("due >= ? AND due <= ?", [first, last])
        case .ok?: (range, rangeValues) = ("due > ?", [last])
        }
        if !range.isEmpty { range = (inScope.isEmpty ? " WHERE " : " AND ") + range }
        // In index order (deadline_next_due, or deadline_next_municipality for one municipality): no sort.
        let list = try database.statement("""
            SELECT client_id, client_number, municipality, rule, due FROM deadline_next\(inScope)\(range)
            ORDER BY due, municipality, client_number, client_id
            """)
        defer { list.reset() }
        try list.bind(scopeValues + rangeValues)
        let ruleIDs = rules.map(\.id)
        while try list.step() {
            guard let due = LocalDate(isoBytes: list.textBytes(4)) else { throw ReplicaStoreError.corrupt("unreadable due date") }
            // The rule's id from the rules (no `String` made for it), the row's own if some other.
            let ruleBytes = list.textBytes(3)
            let rule = ruleIDs.first { $0.utf8.elementsEqual(ruleBytes) } ?? list.string(3) ?? ""
            listing.entries.append(NextDeadline(clientID: list.string(0) ?? "", clientNumber: list.string(1) ?? "",
                                                municipality: Int(list.int64(2)), rule: rule, due: due))
        }
        return listing
    }

    /// `deadlineListing` evaluated client by client from the rows
    /// (`deadlineCandidates` and `DeadlineRule.next`): what `deadline_next`
    /// must always equal, and the answer on a database that does not keep it
    /// for these rules.
    public func recountedDeadlineListing(_ rules: [DeadlineRule], _ scope: ReportScope, today: LocalDate, dueSoonDays: Int,
                                         only state: DeadlineState? = nil) throws -> DeadlineListing {
        var listing = DeadlineListing()
        for candidate in try deadlineCandidates(rules, scope) {
            guard let (rule, due) = DeadlineRule.next(of: rules, for: candidate.facts) else { continue }
            let found = DeadlineState(daysLeft: today.days(until: due), dueSoonDays: dueSoonDays)
            listing.counts[candidate.municipality, default: [:]][found, default: 0] += 1
            if state == nil || state == found {
                listing.entries.append(NextDeadline(clientID: candidate.clientID, clientNumber: candidate.clientNumber,
                                                    municipality: candidate.municipality, rule: rule.id, due: due))
            }
        }
        listing.entries.sort(by: NextDeadline.moreUrgent)
        return listing
    }
}
