import Foundation
public import KotoCore
public import KotoStore

/// The configuration's `retention` object: how long a client is kept by
/// default and how often the retention job runs.
///
///     "retention": { "years": 5, "intervalSeconds": 86400, "enabled": true }
public struct RetentionSettings: Sendable {
    /// A client without its own `retentionUntil` is kept this many years
    /// after the later of its last change and its plan end.
    public var years = 5
    /// How often the job runs (the first run comes after this or five minutes, whichever is shorter).
    public var interval: Duration = .seconds(86_400)
    /// False: the job never runs on its own (`POST /v1/retention/run` still does).
    public var enabled = true
    /// Not read from the file: tests fix "today" (Helsinki time, like the reports').
    public var clock = ReportClock.system

    public init() {}

    static let keys = ["years", "intervalSeconds", "enabled"]

    /// Reads the `retention` object at `key`; unknown keys and bad values name their JSON path.
    static func parse(_ json: JSONValue, key: String) throws(ConfigError) -> RetentionSettings {
        var reader = try ObjectReader(json, path: key, allowed: keys)
        var settings = RetentionSettings()
        settings.years = try reader.integer("years", in: 1...100).map(Int.init) ?? settings.years
        settings.interval = try reader.seconds("intervalSeconds") ?? settings.interval
        settings.enabled = try reader.bool("enabled") ?? settings.enabled
        try reader.finish()
        return settings
    }
}

/// Why a client's retention ends when it does.
public enum RetentionReason: String, Sendable, CaseIterable {
    /// The record's own `retentionUntil`.
    case retentionUntil
    /// The default, counted from the client's last change.
    case lastChange
    /// The default, counted from the client's plan end (later than its last change).
    case planEnd
}

/// The retention rule: the record's `retentionUntil` if set, else `years`
/// after the later of its last change (in Helsinki) and its plan end. A
/// client is kept through that day and erased from the day after.
public struct RetentionPolicy: Sendable {
    public let years: Int

    public init(years: Int) { self.years = years }

    public func retention(of facts: RetentionFacts) -> (until: LocalDate, reason: RetentionReason) {
        if let until = facts.retentionUntil { return (until, .retentionUntil) }
        let changed = Self.helsinkiDate(millis: facts.lastChangeMillis)
        var base = changed, reason = RetentionReason.lastChange
        if let planEnd = facts.planEnd, planEnd > changed { (base, reason) = (planEnd, .planEnd) }
        // `adding(months:)` clamps 29 February to the 28th; nil only past year 9999.
        return (base.adding(months: years * 12) ?? LocalDate(year: 9999, month: 12, day: 31)!, reason)
    }

    public func isExpired(_ facts: RetentionFacts, today: LocalDate) -> Bool {
        retention(of: facts).until < today
    }

    static func helsinkiDate(millis: UInt64) -> LocalDate {
        let clock = ReportClock.fixed(Date(timeIntervalSince1970: Double(millis) / 1000))
        return clock.today
    }
}
