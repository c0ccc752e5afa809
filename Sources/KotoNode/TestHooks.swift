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

    /// The clock offset `environment` asks for, nil when it asks for none.
    public static func clockOffsetMillis(environment: [String: String]) throws(ConfigError) -> Int64? {
        guard let text = environment[clockOffsetVariable] else { return nil }
        guard environment[flagVariable] == "1" else {
            throw ConfigError(key: clockOffsetVariable, reason: "is a test-only hook and is honoured only with \(flagVariable)=1; "
                              + "unset it (an office's clock is never moved by kotosyncd)")
        }
        guard let offset = Int64(text) else {
            throw ConfigError(key: clockOffsetVariable, reason: "must be a whole number of milliseconds, got \(text)")
        }
        return offset
    }

    /// The system wall clock (Unix ms) moved by `offsetMillis`.
    static func shiftedClock(_ offsetMillis: Int64) -> @Sendable () -> UInt64 {
        { UInt64(max(0, Int64(Date().timeIntervalSince1970 * 1000) + offsetMillis)) }
    }
}
