/// One option a subcommand accepts: a flag (`--all`) or an option taking a
/// value (`--limit N`). The help text is generated from these, so it lists
/// exactly what the parser takes.
struct OptionSpec: Sendable, Hashable {
    /// Without the dashes: `"limit"` for `--limit`.
    let name: String
    /// The value's placeholder in help (`"N"`); nil for a flag.
    let value: String?
    /// May be given more than once (`--filter a=1 --filter b=2`).
    let repeatable: Bool
    /// A one-letter alias (`-h`).
    let short: Character?
    let help: String

    static func flag(_ name: String, short: Character? = nil, _ help: String) -> OptionSpec {
        OptionSpec(name: name, value: nil, repeatable: false, short: short, help: help)
    }

    static func value(_ name: String, _ placeholder: String, repeatable: Bool = false, _ help: String) -> OptionSpec {
        OptionSpec(name: name, value: placeholder, repeatable: repeatable, short: nil, help: help)
    }

    /// `--limit N`, `--filter FIELD=VALUE...`, `-h, --help`.
    var usage: String {
        var text = short.map { "-\($0), " } ?? ""
        text += "--\(name)"
        if let value { text += " \(value)" }
        if repeatable { text += "..." }
        return text
    }
}

/// What the parser found: positional arguments in order, option values
/// (each occurrence), flags given.
struct ParsedArguments: Sendable, Equatable {
    var positionals: [String] = []
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    /// The value of a non-repeatable option.
    func value(_ name: String) -> String? { values[name]?.last }
    func values(_ name: String) -> [String] { values[name] ?? [] }
    func has(_ flag: String) -> Bool { flags.contains(flag) }
}

enum ArgumentParser {
    /// Splits `arguments` by `options`: `--name value`, `--name=value`,
    /// flags, `-h`, `--` (everything after it is positional) and `-` (a
    /// positional, standard input). `topic` names the subcommand in errors.
    static func parse(_ arguments: [String], options: [OptionSpec], topic: String?) throws(CLIError) -> ParsedArguments {
        var parsed = ParsedArguments()
        var remaining = arguments[...]
        let where_ = topic.map { " for \($0)" } ?? ""
        while let argument = remaining.popFirst() {
            if argument == "--" {
                parsed.positionals += remaining
                break
            }
            guard argument.hasPrefix("-"), argument != "-" else {
                parsed.positionals.append(argument)
                continue
            }
            let spec: OptionSpec
            var inline: String?
            if argument.hasPrefix("--") {
                let body = argument.dropFirst(2)
                let name: Substring
                if let equals = body.firstIndex(of: "=") {
                    name = body[..<equals]
                    inline = String(body[body.index(after: equals)...])
                } else {
                    name = body
                }
                guard let found = options.first(where: { $0.name == name }) else {
                    throw .usage("unknown option --\(Sentence.printable(String(name)))\(where_)", topic: topic)
                }
                spec = found
            } else {
                let letters = argument.dropFirst()
                guard letters.count == 1, let found = options.first(where: { $0.short == letters.first }) else {
                    throw .usage("unknown option \(Sentence.printable(argument))\(where_)", topic: topic)
                }
                spec = found
            }
            guard let placeholder = spec.value else {
                if inline != nil { throw .usage("--\(spec.name) takes no value", topic: topic) }
                parsed.flags.insert(spec.name)
                continue
            }
            let value: String
            if let inline {
                value = inline
            } else if let next = remaining.first, !next.hasPrefix("--") {
                value = next
                remaining = remaining.dropFirst()
            } else {
                throw .usage("--\(spec.name) needs a value (\(placeholder))", topic: topic)
            }
            if !spec.repeatable, parsed.values[spec.name] != nil {
                throw .usage("--\(spec.name) is given more than once", topic: topic)
            }
            parsed.values[spec.name, default: []].append(value)
        }
        return parsed
    }
}
