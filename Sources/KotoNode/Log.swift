import Foundation
import Synchronization

/// One line per event on stderr, `key=value` pairs after the event name, so
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
        var line = "level=\(level.rawValue) event=\(event)"
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
