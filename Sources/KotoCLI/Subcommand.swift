import Foundation

/// A subcommand's name, arguments, options and help. `kotosync <name> --help`
/// prints `help`, built from these fields, so the help lists what the parser takes.
struct Subcommand: Sendable {
    let name: String
    /// The positional part of the synopsis: `<kind> <id>`.
    let arguments: String
    /// One line for the overview.
    let summary: String
    /// Paragraphs after the synopsis.
    let details: String
    let options: [OptionSpec]
    /// Examples, one command line each.
    let examples: [String]

    /// Options taken by every subcommand, anywhere on the line.
    static let globalOptions: [OptionSpec] = [
        .value("url", "URL", "the daemon to talk to (default: $KOTOSYNC_URL, else \(Settings.defaultURL))"),
        .value("token-file", "FILE",
               "read the bearer token from FILE, which only its owner may read (default: the token in $KOTOSYNC_TOKEN)"),
        .value("cacert", "FILE", "PEM bundle of CAs to trust for an https:// URL (default: $KOTOSYNC_CACERT, else the system's)"),
        .value("timeout", "SECONDS", "give up on a request after SECONDS (default \(Int(Settings.defaultTimeoutSeconds)))"),
        .flag("json", "print the server's JSON, indented, instead of a table"),
        .flag("compact", "print the server's JSON compact, on one line (implies --json)"),
        .flag("help", short: "h", "show help (for a subcommand: kotosync <subcommand> --help)"),
    ]

    static let kindArgument = "services, clients or placements (service, client, placement too)"

    static let all: [Subcommand] = [
        Subcommand(
            name: "status", arguments: "",
            summary: "this node and each peer: state, lag, last success, last error",
            details: """
                Shows the node's own line (log position, open conflicts, whether it takes
                writes, warnings such as a fork or clock skew) and a table of its peer links:
                state (ok, failing, refused, forked, diverged...), lag in changes, the last
                successful sync as a relative time ("2 min ago"), consecutive failures and
                the last error. Needs an admin or coordinator credential.
                """,
            options: [], examples: ["kotosync status", "kotosync status --json"]),
        Subcommand(
            name: "list", arguments: "<kind>",
            summary: "records of a kind, one page or all of them",
            details: """
                <kind> is \(kindArgument). Prints one page (--limit, default the
                server's 100) as a table of the kind's main columns; --all follows the pages
                to the end. Filters are exact matches on a field (for list fields such as
                municipalities or languages: the list contains the value); the server
                refuses unknown fields and impossible values. Office credentials see their
                municipality's records, the coordinator all.
                """,
            options: [
                .value("filter", "FIELD=VALUE", repeatable: true, "only records whose FIELD equals VALUE"),
                .value("limit", "N", "records per page, 1 to 1000"),
                .flag("all", "follow the pages to the end (with --json: one document of every item)"),
                .value("after", "ID", "start after the record with this id (the previous page's \"next\")"),
                .flag("deleted", "include deleted (and erased) records"),
                .value("columns", "A,B,...", "show these fields instead of the kind's main columns"),
            ],
            examples: ["kotosync list clients --filter status=active --limit 20",
                       "kotosync list services --filter languages=sv --all --json"]),
        Subcommand(
            name: "get", arguments: "<kind> <id>",
            summary: "one record with every field, its state and open conflicts",
            details: "<kind> is \(kindArgument); <id> is the record's UUID.",
            options: [], examples: ["kotosync get client 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10"]),
        Subcommand(
            name: "add", arguments: "<kind> --file FILE",
            summary: "create a record from a JSON file",
            details: """
                FILE (or - for standard input) holds one JSON object of the record's fields
                by their API names, optionally with its own "id". The server checks it and
                answers every problem at once, naming each field. Needs an office credential.
                """,
            options: [.value("file", "FILE", "the record as a JSON object; - reads standard input")],
            examples: ["kotosync add client --file new-client.json", "kotosync add service --file - < service.json"]),
        Subcommand(
            name: "update", arguments: "<kind> <id> --file FILE",
            summary: "change fields of a record from a JSON file",
            details: """
                FILE (or - for standard input) holds a JSON object of the fields to change;
                fields not named keep their values, null clears an optional field. Needs an
                office credential.
                """,
            options: [.value("file", "FILE", "the changed fields as a JSON object; - reads standard input")],
            examples: ["kotosync update client 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10 --file changes.json"]),
        Subcommand(
            name: "delete", arguments: "<kind> <id>",
            summary: "mark a record deleted (restore undoes it)",
            details: "A soft delete: the record stays, marked deleted, on every node. Needs an office credential.",
            options: [], examples: ["kotosync delete placement 5d1e9a0c-3b7f-4e21-8f6a-0c9d2b4e7a13"]),
        Subcommand(
            name: "restore", arguments: "<kind> <id>",
            summary: "undo a delete",
            details: "Needs an office credential; an erased record cannot be restored.",
            options: [], examples: ["kotosync restore placement 5d1e9a0c-3b7f-4e21-8f6a-0c9d2b4e7a13"]),
        Subcommand(
            name: "erase", arguments: "<kind> <id>",
            summary: "clear every field of a record for good, on every node",
            details: """
                For personal data that must go: the fields are cleared on every node and
                purged from the change logs; only the id remains, marked erased. It cannot
                be undone. Asks for confirmation when run from a terminal; otherwise --yes
                is required. Needs an office credential.
                """,
            options: [.flag("yes", "erase without asking")],
            examples: ["kotosync erase client 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10 --yes"]),
        Subcommand(
            name: "report", arguments: "<name>",
            summary: "a report on the merged view: overview, deadlines, placements, services, integrity",
            details: """
                Prints each of the report's tables with its title and column labels (in the
                language asked for: --lang, else your locale if it is fi, sv or en, else
                the server's default, Finnish), and its other members (rules, targets, totals).
                An office sees its own municipality, the coordinator the whole region.
                """,
            options: [
                .value("year", "YEAR", "placements: the year (default the current year)"),
                .value("municipality", "M", "deadlines: only this municipality, by code (288) or name (kronoby, Kruunupyy)"),
                .value("status", "STATE", "deadlines: only overdue, due_soon or ok"),
                .value("lang", "LANG", "labels in fi, sv or en"),
                .value("table", "KEY", "show only this table of the report"),
            ],
            examples: ["kotosync report placements --year 2026", "kotosync report deadlines --municipality kronoby --status overdue"]),
        Subcommand(
            name: "import", arguments: "<kind> FILE",
            summary: "services, clients or placements from a CSV or JSON file, every row checked",
            details: """
                FILE (or - for standard input) is CSV as Excel saves it in Finland (; separated,
                UTF-8 with or without BOM, or Windows-1252) or JSON (an array of objects, or
                {"items": [...]}). The header names fields by their API names (givenName) or
                by the labels kotosync's own CSV exports write, so an exported file imports
                back. The format follows the file name (.csv, .json), else its content.
                Every row is checked as a record written alone would be; each problem is
                printed with its row (the header is row 1) and column. Nothing is written
                unless every row is valid — or, with --skip-invalid, the valid rows are and
                the others are listed. All rows are written in one transaction. A re-run of
                the same file creates nothing new: clients match by client number in their
                municipality, other records by an id column or their natural key (see
                docs/export.md). --dry-run reports what an import would do and writes
                nothing; it exits 1 if a row has problems. Needs an office credential; an
                office imports its own municipality's records. For files of tens of thousands
                of rows give a longer --timeout.
                """,
            options: [
                .flag("dry-run", "check every row and report, write nothing"),
                .flag("skip-invalid", "write the valid rows, list the skipped ones"),
                .value("format", "csv|json", "the file's format (default: from its name, else its content)"),
            ],
            examples: ["kotosync import clients asiakkaat.csv --dry-run", "kotosync import placements placements.json --skip-invalid"]),
        Subcommand(
            name: "subject", arguments: "export <client-id>",
            summary: "everything held about one client, for a data subject's access request",
            details: """
                Writes one JSON document: the client's whole record, every placement of the
                client (deleted ones too) and the access-log lines about the client (who read,
                exported or changed the data, and when), for a request under GDPR Art. 15.
                The access-log lines need the coordinator's credential; a daemon without the
                access log (GET /v1/audit/subject answering 404) is an error and nothing is
                written. The document holds personal data: --output writes a file only you
                may read.
                """,
            options: [.value("output", "FILE", "write to FILE instead of standard output (a new file only you may read)")],
            examples: ["kotosync subject export 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10 --output subject.json"]),
        Subcommand(
            name: "export", arguments: "<kind> | report <name> | koto-digi",
            summary: "CSV of a list or a report, byte for byte as the server writes it; the Koto-digi export",
            details: """
                Writes the server's CSV (UTF-8 with BOM, ; separated, CRLF: it opens in
                Excel with Finnish and Swedish settings) unchanged to standard output or
                --out FILE. `export <kind>` is a list (services, clients, placements): every
                record the filters select (--filter, --deleted as for list), never one page;
                `export report <name>` a report's table (--table, default the first; --year,
                --municipality, --status as for report).
                A name that is not a kind, such as overview, may skip the word report.
                For lists and reports --csv is the default and only format.
                `export koto-digi` writes the clients in your scope with their assessment and
                plan dates and statuses, and their placements, for the national integration
                client system: JSON by default, or with --format csv one table (--table
                clients, the default, or placements). docs/export.md lists the fields.
                """,
            options: [
                .flag("csv", "CSV (the default for lists and reports)"),
                .value("format", "json|csv", "koto-digi: JSON (the default) or CSV"),
                .value("out", "FILE", "write to FILE instead of standard output (replaced; a new file only you may read)"),
                .value("output", "FILE", "the same as --out"),
                .value("table", "KEY", "the report's table to export (default: the first); koto-digi: clients or placements"),
                .value("lang", "LANG", "header labels in fi, sv or en"),
                .value("filter", "FIELD=VALUE", repeatable: true, "lists: only records whose FIELD equals VALUE"),
                .flag("deleted", "lists: include deleted records"),
                .value("year", "YEAR", "placements report: the year"),
                .value("municipality", "M", "deadlines report: only this municipality (code or name)"),
                .value("status", "STATE", "deadlines report: overdue, due_soon or ok"),
            ],
            examples: ["kotosync export clients --csv --out clients.csv",
                       "kotosync export report placements --table municipalities --year 2026 > placements.csv",
                       "kotosync export koto-digi --format csv --table placements --output placements.csv"]),
        Subcommand(
            name: "conflicts", arguments: "",
            summary: "open conflicts: fields two offices changed concurrently",
            details: """
                One line per competing value: the conflict id (table:record:field) to pass
                to resolve, the value, the change that wrote it and when the conflict was
                first seen here.
                """,
            options: [.value("kind", "KIND", "only conflicts of services, clients or placements")],
            examples: ["kotosync conflicts", "kotosync conflicts --kind clients --json"]),
        Subcommand(
            name: "resolve", arguments: "<conflict-id> --value JSON",
            summary: "close a conflict with the chosen value, on every node",
            details: """
                <conflict-id> is table:record:field as conflicts shows it. --value is the
                field's JSON value: a string needs its quotes (--value '"active"'), null
                clears the field. The value is written as a change that covers every
                competing one, so it replicates and closes the conflict everywhere.
                """,
            options: [.value("value", "JSON", "the field's new value as JSON")],
            examples: [#"kotosync resolve clients:0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10:status --value '"active"'"#]),
        Subcommand(
            name: "audit", arguments: "verify | export --from DATE --to DATE | subject <client-id>",
            summary: "the access log: check its chain, export a period, list who accessed a client",
            details: """
                The node's access log records who read, exported, wrote or erased personal
                data: time, the credential's holder (role, municipality, name), the records'
                ids, the fields and the stated purpose; identifiers only, never field values.
                Each entry carries the SHA-256 of the one before it.

                `audit verify` walks the chain from the last purge's signed checkpoint to the
                signed head: exit 0 when it holds, else exit 1 naming the first broken entry
                (seq and reason: hash_mismatch, previous_hash_mismatch, seq_gap,
                bad_checkpoint_signature, bad_head_signature, head_mismatch).
                `audit export --from DATE --to DATE` writes the entries of those UTC days (both
                included) as the server's CSV (UTF-8 with BOM, ; separated, CRLF) or, with
                --format json, its JSON, to standard output or --output FILE.
                `audit subject <client-id>` lists every entry about one client and their
                placements, for a data subject's access request.
                Needs a coordinator or admin credential.
                """,
            options: [
                .value("from", "DATE", "export: the first day, YYYY-MM-DD (UTC)"),
                .value("to", "DATE", "export: the last day, YYYY-MM-DD (UTC)"),
                .value("format", "FORMAT", "export: csv (the default) or json"),
                .value("output", "FILE", "export: write to FILE instead of standard output (replaced; a new file only you may read)"),
            ],
            examples: ["kotosync audit verify", "kotosync audit export --from 2026-11-01 --to 2026-11-30 --output access-2026-11.csv",
                       "kotosync audit subject 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10"]),
        Subcommand(
            name: "retention", arguments: "preview",
            summary: "the clients the retention job would erase next on this node",
            details: """
                Lists the clients of this node's municipality whose retention has ended:
                their own retentionUntil, or by default a number of years (the node's
                retention.years, default 5) after the later of their last change and their
                plan end. The retention job erases them and their placements on its next
                run, on every node. Identifiers and dates only, never names. Needs a
                coordinator or admin credential.
                """,
            options: [], examples: ["kotosync retention preview", "kotosync retention preview --json"]),
        Subcommand(
            name: "backup", arguments: "FILE",
            summary: "a consistent copy of this node's database while the daemon runs",
            details: """
                Runs on the office's server, as the daemon's user (or root): reads the
                node's configuration (--config) for its node name and data directory, and
                copies <dataDirectory>/<node>.sqlite into FILE through SQLite's online backup
                API. The daemon keeps running and writing: the copy is one committed
                snapshot. FILE is written as FILE.partial (mode 0600), checked with PRAGMA
                integrity_check and only then renamed; an existing FILE is never
                overwritten. --access-log FILE2 copies the access log (access.sqlite) the
                same way. The database file is opened directly (read-only), not through the
                daemon's API: a backup holds every record, and admin credentials read no
                records. Restore: docs/operations.md, "Backup and restore".
                """,
            options: [
                .value("config", "PATH", "the node's configuration file (default: $KOTOSYNC_CONFIG, else /etc/kotosync/kotosyncd.json)"),
                .value("access-log", "FILE", "also copy the access log to FILE"),
            ],
            examples: ["kotosync backup /var/backups/kotosync/jakobstad-2026-12-01.sqlite",
                       "kotosync backup /srv/b/replica.sqlite --access-log /srv/b/access.sqlite --config /etc/kotosync/kotosyncd.json"]),
        Subcommand(
            name: "help", arguments: "[<subcommand>]",
            summary: "this overview, or a subcommand's help",
            details: "", options: [], examples: ["kotosync help list"]),
    ]

    static func named(_ name: String) -> Subcommand? { all.first { $0.name == name } }

    /// Every option this subcommand's line may hold.
    var acceptedOptions: [OptionSpec] { options + Self.globalOptions }

    var synopsis: String {
        var parts = ["kotosync", name]
        if !arguments.isEmpty { parts.append(arguments) }
        let flags = options.filter { !arguments.contains("--\($0.name)") }
        if !flags.isEmpty { parts.append("[options]") }
        return parts.joined(separator: " ")
    }

    var help: String {
        var text = "usage: \(synopsis)\n\n\(Sentence.terminated(summary.prefix(1).uppercased() + summary.dropFirst()))\n"
        if !details.isEmpty { text += "\n" + Self.reflow(details) }
        if !options.isEmpty { text += "\noptions:\n" + Self.optionTable(options) }
        if !examples.isEmpty { text += "\nexamples:\n" + examples.map { "  \($0)\n" }.joined() }
        text += "\nGlobal options (--url, --token-file, --json, ...): kotosync --help\n"
        return text
    }

    /// The overview `kotosync --help` prints.
    static var overview: String {
        let width = all.map(\.name.count).max() ?? 0
        var text = """
            usage: kotosync <subcommand> [arguments] [options]

            The command line of kotosync: talks to one office's kotosyncd over its HTTP API.

            subcommands:

            """
        for command in all {
            text += "  " + command.name + String(repeating: " ", count: width - command.name.count + 2) + command.summary + "\n"
        }
        text += "\nglobal options (anywhere on the line):\n" + optionTable(globalOptions)
        text += """

            Tables for people by default; --json for scripts. Kinds: services, clients,
            placements. Exit status: 0 done, 1 the server refused or failed (its message is
            printed), 2 wrong command line, 3 daemon unreachable (refused, timeout, unknown host).
            The token is never printed. `kotosync <subcommand> --help` for each subcommand.

            """
        return text
    }

    /// Options in two aligned columns, descriptions wrapped at 80 columns.
    static func optionTable(_ options: [OptionSpec]) -> String {
        let width = min(24, options.map(\.usage.count).max() ?? 0)
        var text = ""
        for option in options {
            let usage = option.usage
            var lines = wrap(option.help, width: 80 - width - 4)
            let first = lines.isEmpty ? "" : lines.removeFirst()
            if usage.count > width {
                text += "  \(usage)\n" + String(repeating: " ", count: width + 4) + first + "\n"
            } else {
                text += "  " + usage + String(repeating: " ", count: width - usage.count + 2) + first + "\n"
            }
            for line in lines { text += String(repeating: " ", count: width + 4) + line + "\n" }
        }
        return text
    }

    /// Prose paragraphs (separated by blank lines) wrapped at 80 columns.
    static func reflow(_ text: String) -> String {
        text.components(separatedBy: "\n\n").map { paragraph in
            wrap(paragraph.replacingOccurrences(of: "\n", with: " "), width: 80).joined(separator: "\n") + "\n"
        }.joined(separator: "\n")
    }

    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }
}
