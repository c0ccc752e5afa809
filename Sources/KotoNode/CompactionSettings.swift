import Foundation
import KotoCore

/// The configuration's `compaction` object: whether and how often the log is
/// compacted, and how long a silent configured peer holds the floor back.
///
///     "compaction": { "enabled": true, "intervalSeconds": 3600, "horizonHours": 168 }
public struct CompactionSettings: Sendable, Equatable {
    /// False: the log keeps every entry (the floor never rises).
    public var enabled = true
    /// How often the job runs (the first time one interval after start).
    public var interval: Duration = .seconds(3600)
    /// A configured peer not heard from for this long (while this node runs)
    /// no longer holds the floor back; when it returns, its pull is answered
    /// 410 `snapshot_required` if it lacks changes the log dropped.
    public var horizon: Duration = .seconds(168 * 3600)

    public init() {}

    static let keys = ["enabled", "intervalSeconds", "horizonHours"]

    var horizonMillis: UInt64 { UInt64(horizon.components.seconds) * 1000 + UInt64(horizon.components.attoseconds / 1_000_000_000_000_000) }

    /// Reads the `compaction` object at `key`; unknown keys and bad values name their JSON path.
    static func parse(_ json: JSONValue, key: String) throws(ConfigError) -> CompactionSettings {
        var reader = try ObjectReader(json, path: key, allowed: keys)
        var settings = CompactionSettings()
        settings.enabled = try reader.bool("enabled") ?? settings.enabled
        settings.interval = try reader.seconds("intervalSeconds") ?? settings.interval
        if let hours = try reader.integer("horizonHours", in: 1...87_600) { settings.horizon = .seconds(hours * 3600) }
        try reader.finish()
        return settings
    }
}
