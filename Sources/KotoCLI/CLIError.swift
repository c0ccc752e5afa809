/// How `kotosync` ends; scripts branch on these.
public enum ExitCode: Int32, Sendable {
    case ok = 0
    /// The daemon answered with an error, or a local file could not be used.
    case failure = 1
    /// The command line itself is wrong: unknown subcommand or option, missing argument.
    case usage = 2
    /// No daemon answered: connection refused, timeout, unknown host.
    case unreachable = 3
}

/// Why a command failed, as the one sentence printed for it. Messages
/// name options, fields and ids, never record values (they may be
/// personal data) nor the credential.
public struct CLIError: Error, Sendable, Hashable, CustomStringConvertible {
    public let status: ExitCode
    /// One sentence without the final full stop.
    public let message: String
    /// The subcommand whose `--help` a usage error points at; nil for the general help.
    public let helpTopic: String?

    init(_ status: ExitCode, _ message: String, helpTopic: String? = nil) {
        self.status = status
        self.message = message
        self.helpTopic = helpTopic
    }

    static func usage(_ message: String, topic: String? = nil) -> CLIError { CLIError(.usage, message, helpTopic: topic) }
    static func failure(_ message: String) -> CLIError { CLIError(.failure, message) }
    static func unreachable(_ message: String) -> CLIError { CLIError(.unreachable, message) }

    /// The line printed on standard error.
    public var description: String {
        let sentence = "kotosync: " + Sentence.terminated(message)
        guard status == .usage else { return sentence }
        return sentence + " See `kotosync \(helpTopic.map { "\($0) " } ?? "")--help`."
    }
}

/// Small helpers for the one-sentence messages.
enum Sentence {
    /// `text` ending in exactly one full stop (or its own `?`/`!`).
    static func terminated(_ text: String) -> String {
        var text = Substring(text)
        while let last = text.last, last == " " || last == "." { text = text.dropLast() }
        if let last = text.last, last == "?" || last == "!" { return String(text) }
        return text + "."
    }

    /// Text from a server or a file made safe for a terminal line: control
    /// characters (escape sequences, line breaks) become spaces.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { isControl($0) ? " " : $0 }))
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
            || scalar.properties.generalCategory == .lineSeparator || scalar.properties.generalCategory == .paragraphSeparator
    }

    /// "1 record", "2 records".
    static func count(_ number: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(number) \(number == 1 ? singular : (plural ?? singular + "s"))"
    }

    /// "a, b or c".
    static func list(_ items: [String], conjunction: String = "or") -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " \(conjunction) " + items.last!
    }
}
