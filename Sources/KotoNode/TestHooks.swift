import Foundation

/// Hooks for the region tests only, never for an office: each is honoured
/// only while `KOTOSYNC_TEST_HOOKS=1` is in the daemon's environment, and
/// asking for one without it stops the daemon at start (a forgotten
/// variable must not move a production clock quietly).
public enum TestHooks {
    /// Must be `1` for any hook below to be honoured.
    public static let flagVariable = "KOTOSYNC_TEST_HOOKS"
    /// Moves this node's wall clock by this many milliseconds (negative: back),
    /// so the tests can run a node whose clock is wrong (`Replica.clockSkew`).
    public static let clockOffsetVariable = "KOTOSYNC_TEST_CLOCK_OFFSET_MS"

    /// Shortens `compaction.horizonHours` to this many milliseconds, so a
    /// region test sees a stopped peer fall silent past the horizon (and be
    /// answered 410 when it returns) in seconds rather than hours.
    public static let compactionHorizonVariable = "KOTOSYNC_TEST_COMPACTION_HORIZON_MS"

    /// The clock offset `environment` asks for, nil when it asks for none.
    public static func clockOffsetMillis(environment: [String: String]) throws(ConfigError) -> Int64? {
        try millis(clockOffsetVariable, in: environment, because: "an office's clock is never moved by kotosyncd")
    }

    /// The compaction horizon `environment` asks for (positive), nil when it asks for none.
    public static func compactionHorizonMillis(environment: [String: String]) throws(ConfigError) -> Int64? {
        guard let horizon = try millis(compactionHorizonVariable, in: environment, because: "an office sets compaction.horizonHours")
        else { return nil }
        guard horizon > 0 else { throw ConfigError(key: compactionHorizonVariable, reason: "must be a positive number of milliseconds") }
        return horizon
    }

    /// A whole number of milliseconds from `variable`, refused without the flag (`reason` says what an office does instead).
    private static func millis(_ variable: String, in environment: [String: String], because reason: String) throws(ConfigError) -> Int64? {
        guard let text = environment[variable] else { return nil }
        guard environment[flagVariable] == "1" else {
            throw ConfigError(key: variable, reason: "is a test-only hook and is honoured only with \(flagVariable)=1; unset it (\(reason))")
        }
        guard let value = Int64(text) else {
            throw ConfigError(key: variable, reason: "must be a whole number of milliseconds, got \(text)")
        }
        return value
    }

    /// The system wall clock (Unix ms) moved by `offsetMillis`.
    static func shiftedClock(_ offsetMillis: Int64) -> @Sendable () -> UInt64 {
        { UInt64(max(0, Int64(Date().timeIntervalSince1970 * 1000) + offsetMillis)) }
    }
}
