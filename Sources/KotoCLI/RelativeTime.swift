import Foundation

/// "2 min ago": how long ago a sync succeeded, at a glance. Whole units,
/// rounded down; a time in the future (a peer's clock ahead) reads "in 3 s".
enum RelativeTime {
    static func describe(_ date: Date, now: Date) -> String {
        let seconds = now.timeIntervalSince(date)
        if abs(seconds) < 1 { return "just now" }
        let amount = span(abs(seconds))
        return seconds > 0 ? "\(amount) ago" : "in \(amount)"
    }

    /// "45 s", "2 min", "3 h", "12 d".
    static func span(_ seconds: Double) -> String {
        switch seconds {
        case ..<60: "\(Int(seconds)) s"
        case ..<3600: "\(Int(seconds / 60)) min"
        case ..<86_400: "\(Int(seconds / 3600)) h"
        default: "\(Int(seconds / 86_400)) d"
        }
    }

    /// An RFC 3339 timestamp as the server writes it (fractional seconds optional).
    static func parse(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// A server timestamp for a table cell: "2 min ago", "never" for null, the text itself if unparsable.
    static func cell(_ value: String?, now: Date) -> String {
        guard let value else { return "never" }
        return parse(value).map { describe($0, now: now) } ?? value
    }
}
