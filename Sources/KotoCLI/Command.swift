import Foundation
import KotoCore

/// How results are printed.
enum OutputFormat: Sendable, Hashable {
    /// Aligned tables and short lines for people.
    case table
    /// The server's JSON, indented.
    case json
    /// The server's JSON on one line.
    case compactJSON
}

/// Options every subcommand takes, as given on the line (the environment
/// fills the gaps later, in `Settings`).
struct GlobalOptions: Sendable, Hashable {
    var url: String?
    var tokenFile: String?
    var caBundle: String?
    var timeoutSeconds: Double?
    var output: OutputFormat = .table
}

/// Which records `list` and `export` ask for.
struct ListQuery: Sendable, Hashable {
    /// Field filters in the order given.
    var filters: [QueryItem] = []
    var limit: Int?
    var after: String?
    var includeDeleted = false
    var all = false
    var columns: [String]?

    /// The query string items of one page request.
    var items: [QueryItem] {
        var items = filters
        if let limit { items.append(QueryItem("limit", String(limit))) }
        if let after { items.append(QueryItem("after", after)) }
        if includeDeleted {
            items.append(QueryItem("includeDeleted", "true"))
            items.append(QueryItem("includeErased", "true"))
        }
        return items
    }
}

/// The parameters of `report` and `export report`.
struct ReportQuery: Sendable, Hashable {
    var year: Int?
    var municipality: Int?
    var status: String?
    var language: String?
    var table: String?

    var items: [QueryItem] {
        var items: [QueryItem] = []
        if let year { items.append(QueryItem("year", String(year))) }
        if let municipality { items.append(QueryItem("municipality", String(municipality))) }
        if let status { items.append(QueryItem("status", status)) }
        if let language { items.append(QueryItem("lang", language)) }
        return items
    }
}

/// One `name=value` of a URL query, in the order given.
struct QueryItem: Sendable, Hashable {
    let name: String
    let value: String
    init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// What `export` writes.
enum ExportTarget: Sendable, Hashable {
    case list(RecordKind, ListQuery, language: String?)
    case report(String, ReportQuery)
    /// `GET /v1/export/koto-digi`: JSON, or one CSV table (clients or placements).
    case kotoDigi(csv: Bool, table: String?)
}

/// The parameters of `import`.
struct ImportRequest: Sendable, Hashable {
    var kind: RecordKind
    var file: String
    /// csv or json; nil: from the file name, else from the content.
    var format: String?
    var dryRun = false
    var skipInvalid = false
}

/// What `audit` does.
enum AuditCommand: Sendable, Hashable {
    case verify
    /// The entries of the UTC days `from` through `to`, as `format` (csv or json).
    case export(from: String, to: String, format: String, output: String?)
    case subject(clientID: String)
}

/// A parsed, checked command line.
enum Command: Sendable, Hashable {
    case help(topic: String?)
    case status
    case list(RecordKind, ListQuery)
    case get(RecordKind, id: String)
    case add(RecordKind, file: String)
    case update(RecordKind, id: String, file: String)
    case delete(RecordKind, id: String)
    case restore(RecordKind, id: String)
    case erase(RecordKind, id: String, confirmed: Bool)
    case report(String, ReportQuery)
    case export(ExportTarget, out: String?)
    case conflicts(RecordKind?)
    case resolve(conflictID: String, value: JSONValue)
    case audit(AuditCommand)
    case retentionPreview
    case importFile(ImportRequest)
    /// `subject export <client id>`: the record, placements and access-log lines of one client.
    case subjectExport(clientID: String, out: String?)
    /// `backup FILE`: a local copy of the node's database (no daemon request).
    case backup(BackupRequest)
}

struct Invocation: Sendable, Hashable {
    var options: GlobalOptions
    var command: Command
}

/// Turns `kotosync`'s arguments into an `Invocation`, or a usage error
/// naming what is wrong. No value a user typed for a record field is
/// echoed in an error.
enum CommandLineParser {
    static func parse(_ arguments: [String]) throws(CLIError) -> Invocation {
        guard let (name, rest) = try splitSubcommand(arguments) else {
            let global = try ArgumentParser.parse(arguments, options: Subcommand.globalOptions, topic: nil)
            if global.has("help") { return Invocation(options: GlobalOptions(), command: .help(topic: nil)) }
            throw .usage("no subcommand given")
        }
        guard let subcommand = Subcommand.named(name) else {
            throw .usage("unknown subcommand `\(Sentence.printable(name))`")
        }
        let parsed = try ArgumentParser.parse(rest, options: subcommand.acceptedOptions, topic: name)
        if parsed.has("help") { return Invocation(options: GlobalOptions(), command: .help(topic: name)) }
        var reader = Reader(parsed: parsed, topic: name)
        let options = try reader.globalOptions()
        let command = try reader.command()
        try reader.finish()
        return Invocation(options: options, command: command)
    }

    /// The subcommand (the first word that is neither an option nor a global
    /// option's value) and the arguments around it.
    private static func splitSubcommand(_ arguments: [String]) throws(CLIError) -> (String, [String])? {
        let valued = Set(Subcommand.globalOptions.filter { $0.value != nil }.map { "--\($0.name)" })
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" { return nil }
            if !argument.hasPrefix("-") || argument == "-" {
                var rest = arguments
                rest.remove(at: index)
                return (argument, rest)
            }
            index += valued.contains(argument) ? 2 : 1
        }
        return nil
    }

    /// Takes positionals and options one by one, so that `finish` can refuse leftovers.
    struct Reader {
        let parsed: ParsedArguments
        let topic: String
        private var position = 0

        init(parsed: ParsedArguments, topic: String) {
            self.parsed = parsed
            self.topic = topic
        }

        func usage(_ message: String) -> CLIError { .usage(message, topic: topic) }

        mutating func positional(_ what: String) throws(CLIError) -> String {
            guard position < parsed.positionals.count else { throw usage("\(topic) needs \(what)") }
            defer { position += 1 }
            return parsed.positionals[position]
        }

        mutating func optionalPositional() -> String? {
            guard position < parsed.positionals.count else { return nil }
            defer { position += 1 }
            return parsed.positionals[position]
        }

        func finish() throws(CLIError) {
            let extra = parsed.positionals.count - position
            if extra > 0 { throw usage("\(topic) takes \(extra == 1 ? "an" : "\(extra)") argument\(extra == 1 ? "" : "s") too many") }
        }

        func globalOptions() throws(CLIError) -> GlobalOptions {
            var options = GlobalOptions()
            options.url = parsed.value("url")
            if let url = options.url { try Settings.checkURL(url, topic: topic) }
            options.tokenFile = parsed.value("token-file")
            options.caBundle = parsed.value("cacert")
            if let text = parsed.value("timeout") {
                guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 3600 else {
                    throw usage("--timeout must be a number of seconds from 0 to 3600")
                }
                options.timeoutSeconds = seconds
            }
            if parsed.has("compact") {
                options.output = .compactJSON
            } else if parsed.has("json") {
                options.output = .json
            }
            return options
        }

        mutating func kind() throws(CLIError) -> RecordKind {
            let text = try positional("a kind (services, clients or placements)")
            return try Self.kind(text, usage: usage)
        }

        static func kind(_ text: String, usage: (String) -> CLIError) throws(CLIError) -> RecordKind {
            let lowered = text.lowercased()
            guard let kind = RecordKind(table: lowered) ?? RecordKind(rawValue: lowered) else {
                throw usage("unknown kind `\(Sentence.printable(text))`: use services, clients or placements")
            }
            return kind
        }

        mutating func recordID() throws(CLIError) -> String {
            let text = try positional("a record id")
            guard let id = UUID(uuidString: text) else {
                // Not echoed: a mistyped argument may be anything, a name included.
                throw usage("the record id must be a UUID such as 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10")
            }
            return id.uuidString.lowercased()
        }

        func file() throws(CLIError) -> String {
            guard let file = parsed.value("file") else { throw usage("\(topic) needs --file FILE (or --file - for standard input)") }
            return file
        }

        func listQuery(allowAll: Bool) throws(CLIError) -> ListQuery {
            var query = ListQuery()
            for filter in parsed.values("filter") {
                guard let equals = filter.firstIndex(of: "="), equals != filter.startIndex else {
                    throw usage("--filter takes FIELD=VALUE, for example --filter status=active")
                }
                let field = String(filter[..<equals])
                guard !["limit", "after", "includeDeleted", "includeErased", "format", "table", "lang"].contains(field) else {
                    throw usage("--filter cannot set \(field): use the option for it")
                }
                query.filters.append(QueryItem(field, String(filter[filter.index(after: equals)...])))
            }
            if let text = parsed.value("limit") {
                guard let limit = Int(text), (1...1000).contains(limit) else { throw usage("--limit must be a whole number from 1 to 1000") }
                query.limit = limit
            }
            if let text = parsed.value("after") {
                guard let id = UUID(uuidString: text) else { throw usage("--after must be a record id (a UUID)") }
                query.after = id.uuidString.lowercased()
            }
            query.includeDeleted = parsed.has("deleted")
            query.all = allowAll && parsed.has("all")
            if query.all, query.after != nil { throw usage("--all and --after do not go together") }
            if let text = parsed.value("columns") {
                let columns = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                guard !columns.isEmpty else { throw usage("--columns takes field names separated by commas") }
                query.columns = columns
            }
            return query
        }

        func language() throws(CLIError) -> String? {
            guard let text = parsed.value("lang") else { return nil }
            let language = text.lowercased()
            guard ["fi", "sv", "en"].contains(language) else { throw usage("--lang must be fi, sv or en") }
            return language
        }

        func reportQuery() throws(CLIError) -> ReportQuery {
            var query = ReportQuery()
            if let text = parsed.value("year") {
                guard let year = Int(text), (1900...9999).contains(year) else { throw usage("--year must be a year such as 2026") }
                query.year = year
            }
            if let text = parsed.value("municipality") {
                guard let code = Self.municipalityCode(text) else {
                    throw usage("--municipality must be a municipality code (such as 288) or name (such as kronoby)")
                }
                query.municipality = code
            }
            if let text = parsed.value("status") {
                guard ["overdue", "due_soon", "ok"].contains(text) else { throw usage("--status must be overdue, due_soon or ok") }
                query.status = text
            }
            query.language = try language()
            query.table = parsed.value("table")
            return query
        }

        /// A code as given, or the code of a municipality of the coast by slug or Finnish or Swedish name.
        static func municipalityCode(_ text: String) -> Int? {
            if let code = Int(text), (1...999).contains(code) { return code }
            let key = text.lowercased()
            return MunicipalityRegistry.ostrobothnianCoast.all.first {
                $0.slug == key || $0.nameFi.lowercased() == key || $0.nameSv.lowercased() == key
            }?.code
        }

        mutating func command() throws(CLIError) -> Command {
            switch topic {
            case "help":
                guard let name = optionalPositional() else { return .help(topic: nil) }
                guard Subcommand.named(name) != nil else { throw usage("no help for `\(Sentence.printable(name))`: it is not a subcommand") }
                return .help(topic: name)
            case "status":
                return .status
            case "list":
                return .list(try kind(), try listQuery(allowAll: true))
            case "get":
                return .get(try kind(), id: try recordID())
            case "add":
                return .add(try kind(), file: try file())
            case "update":
                return .update(try kind(), id: try recordID(), file: try file())
            case "delete":
                return .delete(try kind(), id: try recordID())
            case "restore":
                return .restore(try kind(), id: try recordID())
            case "erase":
                return .erase(try kind(), id: try recordID(), confirmed: parsed.has("yes"))
            case "report":
                let name = try positional("a report name (overview, deadlines, placements, services or integrity)")
                return .report(try Self.reportName(name, usage: usage), try reportQuery())
            case "export":
                if parsed.value("out") != nil, parsed.value("output") != nil { throw usage("--out and --output are the same option: give one") }
                return .export(try exportTarget(), out: parsed.value("out") ?? parsed.value("output"))
            case "import":
                var request = ImportRequest(kind: try kind(), file: try positional("a FILE to import (- for standard input)"))
                if let format = parsed.value("format")?.lowercased() {
                    guard format == "csv" || format == "json" else { throw usage("--format must be csv or json") }
                    request.format = format
                }
                request.dryRun = parsed.has("dry-run")
                request.skipInvalid = parsed.has("skip-invalid")
                return .importFile(request)
            case "subject":
                let action = try positional("an action: export")
                guard action == "export" else { throw usage("unknown subject action `\(Sentence.printable(action))`: use subject export <client id>") }
                let text = try positional("a client id")
                guard let id = UUID(uuidString: text) else { throw usage("the client id must be a UUID such as 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10") }
                return .subjectExport(clientID: id.uuidString.lowercased(), out: parsed.value("output"))
            case "conflicts":
                return .conflicts(try parsed.value("kind").map { text throws(CLIError) in try Self.kind(text, usage: usage) })
            case "resolve":
                let id = try positional("a conflict id (table:record:field, as conflicts shows it)")
                let parts = id.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 3, !parts[0].isEmpty, UUID(uuidString: String(parts[1])) != nil, !parts[2].isEmpty else {
                    throw usage("a conflict id has the form table:record:field, for example clients:0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10:status")
                }
                guard let text = parsed.value("value") else { throw usage("resolve needs --value JSON, the field's chosen value") }
                let value: JSONValue
                do {
                    value = try JSONValue.parse(text)
                } catch {
                    throw usage(#"--value must be JSON: a string needs its quotes, as in --value '"active"'"#)
                }
                return .resolve(conflictID: id, value: value)
            case "audit":
                return .audit(try auditCommand())
            case "backup":
                let file = try positional("a FILE to write the backup to")
                return .backup(BackupRequest(file: file, config: parsed.value("config"), accessLog: parsed.value("access-log")))
            case "retention":
                let action = try positional("an action: preview")
                guard action == "preview" else { throw usage("retention takes preview (the job itself runs on the daemon)") }
                return .retentionPreview
            default:
                throw usage("unknown subcommand `\(topic)`")
            }
        }

        mutating func auditCommand() throws(CLIError) -> AuditCommand {
            let action = try positional("what to do: verify, export or subject")
            let exportOnly = ["from", "to", "format", "output"]
            func refuse(for what: String) throws(CLIError) {
                if let name = exportOnly.first(where: { parsed.values[$0] != nil }) { throw usage("--\(name) does not apply to audit \(what)") }
            }
            switch action {
            case "verify":
                try refuse(for: "verify")
                return .verify
            case "subject":
                try refuse(for: "subject")
                let text = try positional("a client id")
                guard let id = UUID(uuidString: text) else {
                    throw usage("the client id must be a UUID such as 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10")
                }
                return .subject(clientID: id.uuidString.lowercased())
            case "export":
                func day(_ name: String) throws(CLIError) -> String {
                    guard let text = parsed.value(name) else { throw usage("audit export needs --\(name) YYYY-MM-DD") }
                    guard let date = LocalDate(text) else { throw usage("--\(name) must be a date YYYY-MM-DD, such as 2026-11-30") }
                    return date.description
                }
                let from = try day("from"), to = try day("to")
                guard from <= to else { throw usage("--to must not be before --from") }
                let format = parsed.value("format")?.lowercased() ?? "csv"
                guard format == "csv" || format == "json" else { throw usage("--format must be csv or json") }
                return .export(from: from, to: to, format: format, output: parsed.value("output"))
            default:
                throw usage("unknown audit action `\(Sentence.printable(action))`: use verify, export or subject")
            }
        }

        mutating func exportTarget() throws(CLIError) -> ExportTarget {
            let first = try positional("what to export: a kind (services, clients, placements), report <name> or koto-digi")
            let listOnly = ["filter", "deleted"], reportOnly = ["table", "year", "municipality", "status"]
            func refuse(_ names: [String], for what: String) throws(CLIError) {
                if let name = names.first(where: { parsed.values[$0] != nil || parsed.has($0) }) {
                    throw usage("--\(name) does not apply to \(what)")
                }
            }
            if first == "koto-digi" {
                try refuse(listOnly + ["year", "municipality", "status", "lang"], for: "the Koto-digi export")
                var csv = parsed.has("csv")
                if let format = parsed.value("format")?.lowercased() {
                    guard format == "csv" || format == "json" else { throw usage("--format must be json or csv") }
                    if csv && format == "json" { throw usage("--csv and --format json contradict each other") }
                    csv = format == "csv"
                }
                let table = parsed.value("table")
                if let table {
                    guard csv else { throw usage("--table applies to the CSV (--format csv): the JSON holds both tables") }
                    guard table == "clients" || table == "placements" else { throw usage("--table must be clients or placements") }
                }
                return .kotoDigi(csv: csv, table: table)
            }
            if parsed.value("format") != nil { throw usage("--format applies to export koto-digi; lists and reports export CSV") }
            if first != "report", let kind = try? Self.kind(first, usage: usage) {
                try refuse(reportOnly, for: "a list")
                return .list(kind, try listQuery(allowAll: false), language: try language())
            }
            let name = first == "report" ? try positional("a report name after `report`") : first
            try refuse(listOnly, for: "a report")
            return .report(try Self.reportName(name, usage: usage), try reportQuery())
        }

        /// Report names are path segments: letters, digits, `-` and `_`.
        static func reportName(_ text: String, usage: (String) -> CLIError) throws(CLIError) -> String {
            guard !text.isEmpty, text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") }) else {
                throw usage("a report name is a word such as overview, deadlines, placements, services or integrity")
            }
            return text.lowercased()
        }
    }
}
