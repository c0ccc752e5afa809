import Foundation
import Glibc
import Synchronization

/// One line per event on stderr (Unix time, level, event, then `key=value` pairs), so
/// journald and grep both read it. Callers pass ids, counts and node names:
/// never record field values (they may be personal data).
public enum Log {
    public enum Level: String, Sendable { case info, warning, error }

    private static let lock = Mutex(())
    /// Tests silence it.
    nonisolated(unsafe) public static var isEnabled = true

    public static func info(_ event: String, _ details: KeyValuePairs<String, String> = [:]) {
        write(.info, event, details)
    }

    public static func warning(_ event: String, _ details: KeyValuePairs<String, String> = [:]) {
        write(.warning, event, details)
    }

    public static func error(_ event: String, _ details: KeyValuePairs<String, String> = [:]) {
        write(.error, event, details)
    }

    private static func write(_ level: Level, _ event: String, _ details: KeyValuePairs<String, String>) {
        guard isEnabled else { return }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let millis = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        var line = "ts=\(millis / 1000).\(String(1000 + millis % 1000).dropFirst()) level=\(level.rawValue) event=\(event)"
        for (key, value) in details {
            line += " \(key)=\(quote(value))"
        }
        line += "\n"
        lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    private static func quote(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7f && $0 != "\"" && $0 != "=" }
        if plain { return value }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }
}
