import KotoCore
import Testing
@testable import KotoCLI

/// The command line: what each subcommand takes, and the one-sentence usage
/// errors (exit 2) for what it does not.
@Suite struct ArgumentParsingTests {
    let id = "0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10"

    func parse(_ line: String) throws(CLIError) -> Invocation {
        try CommandLineParser.parse(line.split(separator: " ").map(String.init))
    }

    /// The usage error `line` fails with.
    func usageError(_ line: String) -> CLIError? {
        do {
            _ = try parse(line)
            return nil
        } catch {
            return error
        }
    }

    @Test func globalOptionsGoAnywhereOnTheLine() throws {
        let before = try parse("--url http://127.0.0.1:7101 --json list clients")
        let after = try parse("list clients --json --url=http://127.0.0.1:7101")
        #expect(before == after)
        #expect(before.options.url == "http://127.0.0.1:7101")
        #expect(before.options.output == .json)
        #expect(try parse("status --compact --json").options.output == .compactJSON)
        #expect(try parse("status --timeout 2.5 --token-file t --cacert ca.pem").options
            == GlobalOptions(tokenFile: "t", caBundle: "ca.pem", timeoutSeconds: 2.5))
    }

    @Test func kindsAreTakenInTheSingularAndPlural() throws {
        for (text, kind) in [("clients", RecordKind.client), ("client", .client), ("Services", .service), ("placement", .placement)] {
            #expect(try parse("get \(text) \(id)").command == .get(kind, id: id))
        }
        let error = try #require(usageError("list clinets"))
        #expect(error.status == .usage)
        #expect(error.message == "unknown kind `clinets`: use services, clients or placements")
        #expect(error.helpTopic == "list")
    }

    @Test func listTakesRepeatedFiltersInOrderALimitAndPaging() throws {
        let invocation = try parse("list services --filter category=language_course --filter languages=sv --limit 20 --deleted")
        guard case .list(let kind, let query) = invocation.command else { Issue.record("not a list"); return }
        #expect(kind == .service)
        #expect(query.items == [QueryItem("category", "language_course"), QueryItem("languages", "sv"), QueryItem("limit", "20"),
                                QueryItem("includeDeleted", "true"), QueryItem("includeErased", "true")])
        // A value may hold '=' itself.
        guard case .list(_, let other) = try parse("list clients --filter clientNumber=a=b --all --columns id,status").command else { return }
        #expect(other.filters == [QueryItem("clientNumber", "a=b")])
        #expect(other.all)
        #expect(other.columns == ["id", "status"])
    }

    @Test func badListOptionsAreUsageErrors() {
        #expect(usageError("list clients --limit 0")?.message == "--limit must be a whole number from 1 to 1000")
        #expect(usageError("list clients --limit 1001")?.message == "--limit must be a whole number from 1 to 1000")
        #expect(usageError("list clients --filter status")?.message == "--filter takes FIELD=VALUE, for example --filter status=active")
        #expect(usageError("list clients --filter limit=5")?.message == "--filter cannot set limit: use the option for it")
        #expect(usageError("list clients --all --after \(id)")?.message == "--all and --after do not go together")
        #expect(usageError("list clients --limit")?.message == "--limit needs a value (N)")
        #expect(usageError("list clients --limit --all")?.message == "--limit needs a value (N)")
        #expect(usageError("list clients --limit 5 --limit 6")?.message == "--limit is given more than once")
        #expect(usageError("list clients --all=yes")?.message == "--all takes no value")
    }

    @Test func unknownSubcommandsAndOptionsAndMissingArgumentsAreUsageErrors() {
        let cases: [(String, String, String?)] = [
            ("", "no subcommand given", nil),
            ("--json", "no subcommand given", nil),
            ("frobnicate", "unknown subcommand `frobnicate`", nil),
            ("status --verbose", "unknown option --verbose for status", "status"),
            ("status -x", "unknown option -x for status", "status"),
            ("list", "list needs a kind (services, clients or placements)", "list"),
            ("get clients", "get needs a record id", "get"),
            ("add clients", "add needs --file FILE (or --file - for standard input)", "add"),
            ("get clients \(id) extra", "get takes an argument too many", "get"),
            ("resolve", "resolve needs a conflict id (table:record:field, as conflicts shows it)", "resolve"),
            ("resolve clients:\(id):status", "resolve needs --value JSON, the field's chosen value", "resolve"),
            ("report", "report needs a report name (overview, deadlines, placements, services or integrity)", "report"),
            ("export", "export needs what to export: a kind (services, clients, placements), report <name> or koto-digi", "export"),
            ("status --url ftp://example.org", "--url must be an http:// or https:// URL, such as http://127.0.0.1:7100", "status"),
            ("status --timeout 0", "--timeout must be a number of seconds from 0 to 3600", "status"),
            ("help nothing", "no help for `nothing`: it is not a subcommand", "help"),
        ]
        for (line, message, topic) in cases {
            let error = usageError(line)
            #expect(error?.status == .usage, "\(line)")
            #expect(error?.message == message, "\(line)")
            #expect(error?.helpTopic == topic, "\(line)")
        }
    }

    @Test func aUsageErrorIsOneSentenceWithAHintToHelp() throws {
        let error = try #require(usageError("list"))
        #expect(error.description == "kotosync: list needs a kind (services, clients or placements). See `kotosync list --help`.")
        #expect(try #require(usageError("frobnicate")).description
            == "kotosync: unknown subcommand `frobnicate`. See `kotosync --help`.")
        #expect(!error.description.contains("\n"))
    }

    @Test func aMistypedIdOrValueIsNotEchoed() throws {
        // Whatever was typed where an id or a JSON value belongs may be personal data.
        let id = try #require(usageError("get clients Maija-Meikäläinen"))
        #expect(id.status == .usage)
        #expect(!id.description.contains("Maija"))
        let value = try #require(usageError("resolve clients:\(self.id):familyName --value Meikäläinen"))
        #expect(value.message == #"--value must be JSON: a string needs its quotes, as in --value '"active"'"#)
        #expect(!value.description.contains("Meikäläinen"))
        let filter = try #require(usageError("list clients --filter Meikäläinen"))
        #expect(!filter.description.contains("Meikäläinen"))
    }

    @Test func idsAreLowercasedAndChecked() throws {
        #expect(try parse("delete placements \(id.uppercased())").command == .delete(.placement, id: id))
        #expect(try parse("restore services \(id)").command == .restore(.service, id: id))
        #expect(try parse("erase clients \(id)").command == .erase(.client, id: id, confirmed: false))
        #expect(try parse("erase clients \(id) --yes").command == .erase(.client, id: id, confirmed: true))
        #expect(try parse("update clients \(id) --file -").command == .update(.client, id: id, file: "-"))
        #expect(try parse("add service --file new.json").command == .add(.service, file: "new.json"))
    }

    @Test func reportsTakeYearMunicipalityByCodeOrNameStatusAndLanguage() throws {
        let invocation = try parse("report deadlines --municipality Kruunupyy --status overdue --lang SV")
        #expect(invocation.command == .report("deadlines", ReportQuery(municipality: 288, status: "overdue", language: "sv")))
        #expect(try parse("report placements --year 2026 --municipality 598").command
            == .report("placements", ReportQuery(year: 2026, municipality: 598)))
        #expect(try parse("report overview --municipality pedersore").command == .report("overview", ReportQuery(municipality: 599)))
        #expect(usageError("report overview --municipality atlantis")?.status == .usage)
        #expect(usageError("report overview --lang de")?.message == "--lang must be fi, sv or en")
        #expect(usageError("report overview --year 26x")?.message == "--year must be a year such as 2026")
        #expect(usageError("report deadlines --status late")?.message == "--status must be overdue, due_soon or ok")
        #expect(usageError("report ../status")?.status == .usage)
    }

    @Test func exportTellsListsFromReports() throws {
        #expect(try parse("export clients --csv --out c.csv").command
            == .export(.list(.client, ListQuery(), language: nil), out: "c.csv"))
        // "services" and "placements" are kinds and reports: the word `report` picks the report.
        #expect(try parse("export report services --table coverage").command
            == .export(.report("services", ReportQuery(table: "coverage")), out: nil))
        #expect(try parse("export services").command == .export(.list(.service, ListQuery(), language: nil), out: nil))
        #expect(try parse("export overview --lang fi").command
            == .export(.report("overview", ReportQuery(language: "fi")), out: nil))
        #expect(usageError("export report overview --filter a=b")?.message == "--filter does not apply to a report")
        #expect(usageError("export clients --year 2026")?.message == "--year does not apply to a list")
        #expect(usageError("export clients --all")?.message == "unknown option --all for export")
        // A list's CSV holds every record the filters select: no paging.
        #expect(usageError("export clients --limit 5")?.message == "unknown option --limit for export")
    }

    @Test func resolveTakesAConflictIdAndAJSONValue() throws {
        #expect(try parse(#"resolve clients:\#(id):status --value "active""#).command
            == .resolve(conflictID: "clients:\(id):status", value: .string("active")))
        #expect(try parse("resolve services:\(id):capacity --value 12").command
            == .resolve(conflictID: "services:\(id):capacity", value: .number(12)))
        #expect(try parse("resolve services:\(id):contact --value null").command
            == .resolve(conflictID: "services:\(id):contact", value: .null))
        #expect(usageError("resolve \(id) --value 1")?.status == .usage)
        #expect(usageError("resolve clients:nope:status --value 1")?.status == .usage)
    }

    @Test func conflictsTakeAnOptionalKind() throws {
        #expect(try parse("conflicts").command == .conflicts(nil))
        #expect(try parse("conflicts --kind client").command == .conflicts(.client))
        #expect(usageError("conflicts --kind people")?.status == .usage)
    }

    @Test func dashIsStandardInputAndDoubleDashEndsOptions() throws {
        #expect(try parse("add clients --file -").command == .add(.client, file: "-"))
        #expect(try CommandLineParser.parse(["add", "clients", "--file", "-"]).command == .add(.client, file: "-"))
        #expect(try CommandLineParser.parse(["get", "--", "clients", id]).command == .get(.client, id: id))
    }

    @Test func helpWinsOverEverythingElseOnTheLine() throws {
        #expect(try parse("--help").command == .help(topic: nil))
        #expect(try parse("-h").command == .help(topic: nil))
        #expect(try parse("help").command == .help(topic: nil))
        #expect(try parse("help list").command == .help(topic: "list"))
        // Even with the rest of the line incomplete or wrong.
        #expect(try parse("list --help").command == .help(topic: "list"))
        #expect(try parse("resolve -h --value x").command == .help(topic: "resolve"))
    }
}
