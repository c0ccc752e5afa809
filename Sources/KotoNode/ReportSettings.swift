public import Foundation
public import KotoCore

/// The languages the reports and exports label their columns in.
public enum ReportLanguage: String, CaseIterable, Sendable {
    case fi, sv, en
}

/// A text in each report language (labels, titles, legal sources).
public struct LocalizedText: Sendable, Hashable {
    public let fi: String
    public let sv: String
    public let en: String

    public init(fi: String, sv: String, en: String) {
        self.fi = fi
        self.sv = sv
        self.en = en
    }

    /// The same text in every language (a configured string).
    public init(_ text: String) { self.init(fi: text, sv: text, en: text) }

    public subscript(language: ReportLanguage) -> String {
        switch language {
        case .fi: fi
        case .sv: sv
        case .en: en
        }
    }
}

/// A deadline rule as the reports show it: the rule, its title and the legal source it comes from.
public struct ReportRule: Sendable, Hashable {
    public let rule: DeadlineRule
    public let title: LocalizedText
    /// The provision, e.g. "Laki kotoutumisen edistämisestä 681/2023, 14 §".
    public let source: LocalizedText
    /// What is uncertain about the figure or the provision, if anything.
    public let note: LocalizedText?

    public init(rule: DeadlineRule, title: LocalizedText, source: LocalizedText, note: LocalizedText? = nil) {
        self.rule = rule
        self.title = title
        self.source = source
        self.note = note
    }
}

/// Where the reports' "today" and "now" come from: the wall clock, or a fixed
/// instant in tests. Days are counted in Finnish time (Europe/Helsinki).
public struct ReportClock: Sendable {
    public let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date) {
        self.now = now
    }

    public static let system = ReportClock { Date() }

    /// A clock standing still at `date` (tests).
    public static func fixed(_ date: Date) -> ReportClock { ReportClock { date } }

    /// The calendar day of `now` in Helsinki.
    public var today: LocalDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Helsinki") ?? TimeZone(secondsFromGMT: 7200)!
        let parts = calendar.dateComponents([.year, .month, .day], from: now())
        return LocalDate(year: parts.year ?? 1970, month: parts.month ?? 1, day: parts.day ?? 1) ?? LocalDate(year: 1970, month: 1, day: 1)!
    }
}

/// The configuration's `reports` object: placement targets and deadline
/// rules (defaults: `ReportRule.integrationActDefaults`), and the clock.
public struct ReportSettings: Sendable {
    /// The region's annual target of municipal placements (all municipalities together).
    public var regionPlacementTarget = 100
    /// Per municipality code, its own annual target, where one is agreed.
    public var placementTargets: [Int: Int] = [:]
    /// The time limits of the deadlines report, in the order it lists them.
    public var deadlineRules: [ReportRule] = ReportRule.integrationActDefaults
    /// A limit this many days away or fewer is `due_soon`.
    public var dueSoonDays = 30
    /// Not read from the file: tests fix it.
    public var clock = ReportClock.system

    public init() {}

    static let keys = ["regionPlacementTarget", "placementTargets", "deadlineRules", "dueSoonDays"]

    /// Reads the `reports` object at `key`; unknown keys and bad values name their JSON path.
    static func parse(_ json: JSONValue, key: String) throws(ConfigError) -> ReportSettings {
        var reader = try ObjectReader(json, path: key, allowed: keys)
        var settings = ReportSettings()
        settings.regionPlacementTarget = try reader.integer("regionPlacementTarget", in: 0...1_000_000).map(Int.init)
            ?? settings.regionPlacementTarget
        settings.dueSoonDays = try reader.integer("dueSoonDays", in: 0...3650).map(Int.init) ?? settings.dueSoonDays
        let targetsKey = reader.path(of: "placementTargets")
        if let targets = reader.raw("placementTargets") {
            guard let members = targets.objectMembers else { throw ConfigError(key: targetsKey, reason: "must be a JSON object") }
            for (code, value) in members {
                guard let number = Int(code), (1...999).contains(number), String(number) == code else {
                    throw ConfigError(key: "\(targetsKey).\(code)", reason: "must be named by a municipality code (e.g. \"598\")")
                }
                guard let target = value.int64Value, (0...1_000_000).contains(target) else {
                    throw ConfigError(key: "\(targetsKey).\(code)", reason: "must be an integer between 0 and 1000000")
                }
                settings.placementTargets[number] = Int(target)
            }
        }
        let rulesKey = reader.path(of: "deadlineRules")
        if let rules = try reader.array("deadlineRules") {
            var seen: Set<String> = []
            settings.deadlineRules = []
            for (index, element) in rules.enumerated() {
                let rule = try ReportRule.parse(element, key: "\(rulesKey)[\(index)]")
                guard seen.insert(rule.rule.id).inserted else {
                    throw ConfigError(key: "\(rulesKey)[\(index)].id", reason: "names a rule twice")
                }
                settings.deadlineRules.append(rule)
            }
        }
        try reader.finish()
        return settings
    }

    /// Every municipality with a target must be one of the region's.
    func check(against registry: MunicipalityRegistry) throws(ConfigError) {
        for code in placementTargets.keys.sorted() where registry.municipality(code: code) == nil {
            throw ConfigError(key: "reports.placementTargets.\(code)", reason: "is not a municipality of the region manifest")
        }
    }
}

extension ReportRule {
    /// One element of `reports.deadlineRules`:
    /// `{"id", "title", "from", "days" | "months", "metBy", "within"?, "source", "note"?}`,
    /// where `title`, `source` and `note` are a string or `{"fi", "sv"?, "en"?}`.
    static func parse(_ json: JSONValue, key: String) throws(ConfigError) -> ReportRule {
        var reader = try ObjectReader(json, path: key, allowed: ["id", "title", "from", "days", "months", "metBy", "within", "source", "note"])
        let id = try reader.string("id", required: true)!
        guard id.utf8.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            throw ConfigError(key: "\(key).id", reason: "must be 1–64 characters of letters, digits, - and _")
        }
        let fromText = try reader.string("from", required: true)!
        guard let from = DeadlineRule.Anchor(rawValue: fromText) else {
            throw ConfigError(key: "\(key).from", reason: "must be one of: " + DeadlineRule.Anchor.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let metByText = try reader.string("metBy", required: true)!
        guard let metBy = DeadlineRule.Evidence(rawValue: metByText) else {
            throw ConfigError(key: "\(key).metBy", reason: "must be one of: " + DeadlineRule.Evidence.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let days = try reader.integer("days", in: 1...36_500)
        let months = try reader.integer("months", in: 1...1200)
        let period: DeadlineRule.Period
        switch (days, months) {
        case (let days?, nil): period = .days(Int(days))
        case (nil, let months?): period = .months(Int(months))
        default: throw ConfigError(key: key, reason: "needs exactly one of days and months")
        }
        let within = try reader.bool("within") ?? false
        let title = try Self.text(reader.raw("title"), key: "\(key).title", required: true)!
        let source = try Self.text(reader.raw("source"), key: "\(key).source", required: true)!
        let note = try Self.text(reader.raw("note"), key: "\(key).note", required: false)
        try reader.finish()
        return ReportRule(rule: DeadlineRule(id: id, from: from, period: period, metBy: metBy, within: within),
                          title: title, source: source, note: note)
    }

    /// A string (every language) or `{"fi", "sv"?, "en"?}` (a missing language falls back to Finnish).
    private static func text(_ json: JSONValue?, key: String, required: Bool) throws(ConfigError) -> LocalizedText? {
        guard let json else {
            if required { throw ConfigError(key: key, reason: "is required") }
            return nil
        }
        if let text = json.stringValue, !text.isEmpty { return LocalizedText(text) }
        guard json.objectMembers != nil else { throw ConfigError(key: key, reason: "must be a string or an object of fi, sv and en") }
        var reader = try ObjectReader(json, path: key, allowed: ReportLanguage.allCases.map(\.rawValue))
        let fi = try reader.string("fi", required: true)!
        let text = LocalizedText(fi: fi, sv: try reader.string("sv") ?? fi, en: try reader.string("en") ?? fi)
        try reader.finish()
        return text
    }
}
