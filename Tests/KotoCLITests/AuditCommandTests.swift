import KotoCore
import Testing
@testable import KotoCLI

/// `kotosync audit verify|export|subject`: what each takes and the usage errors for what it does not.
@Suite struct AuditCommandTests {
    let id = "0B6F2C1E-8C1D-4D9B-9A51-2F0C7A3E9D10"

    func parse(_ line: String) throws(CLIError) -> Command {
        try CommandLineParser.parse(line.split(separator: " ").map(String.init)).command
    }

    func usageError(_ line: String) -> String? {
        do {
            _ = try parse(line)
            return nil
        } catch {
            #expect(error.status == .usage && error.helpTopic == "audit", "\(line)")
            return error.message
        }
    }

    @Test func theThreeActionsParse() throws {
        #expect(try parse("audit verify") == .audit(.verify))
        #expect(try parse("audit subject \(id)") == .audit(.subject(clientID: id.lowercased())))
        #expect(try parse("audit export --from 2026-11-01 --to 2026-11-30")
            == .audit(.export(from: "2026-11-01", to: "2026-11-30", format: "csv", output: nil)))
        #expect(try parse("audit export --to 2026-11-30 --from 2026-11-01 --format JSON --output out.json")
            == .audit(.export(from: "2026-11-01", to: "2026-11-30", format: "json", output: "out.json")))
    }

    @Test(arguments: [
        ("audit", "audit needs what to do: verify, export or subject"),
        ("audit check", "unknown audit action `check`: use verify, export or subject"),
        ("audit subject", "audit needs a client id"),
        ("audit subject 12345", "the client id must be a UUID such as 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10"),
        ("audit export --to 2026-11-30", "audit export needs --from YYYY-MM-DD"),
        ("audit export --from 2026-11-01", "audit export needs --to YYYY-MM-DD"),
        ("audit export --from 2026-11-31 --to 2026-12-01", "--from must be a date YYYY-MM-DD, such as 2026-11-30"),
        ("audit export --from 2026-12-01 --to 2026-11-01", "--to must not be before --from"),
        ("audit export --from 2026-11-01 --to 2026-11-30 --format xml", "--format must be csv or json"),
        ("audit verify --from 2026-11-01", "--from does not apply to audit verify"),
        ("audit subject 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10 --output x", "--output does not apply to audit subject"),
        ("audit verify extra", "audit takes an argument too many"),
    ])
    func mistakesAreNamed(_ line: String, _ message: String) {
        #expect(usageError(line) == message, "\(line)")
    }

    @Test func helpDescribesEveryActionAndOption() throws {
        let help = try #require(Subcommand.named("audit")).help
        for text in ["audit verify", "audit export", "audit subject", "--from DATE", "--to DATE", "--format", "--output FILE",
                     "hash_mismatch", "seq_gap", "bad_checkpoint_signature", "coordinator or admin"] {
            #expect(help.contains(text), "\(text) in the help")
        }
    }

    @Test func subjectEntriesRenderAsATable() {
        let entry = JSONValue.object([
            ("seq", .number(3)), ("time", .string("2026-12-01T14:00:00.123Z")), ("node", .string("jakobstad")),
            ("holder", .object([("role", .string("office")), ("municipality", .number(598)), ("name", .null)])),
            ("action", .string("read")), ("kind", .string("clients")), ("ids", .array([.string(id.lowercased())])),
            ("fields", .array([.string("familyName"), .string("givenName")])), ("route", .string("GET /v1/clients/{id}")),
            ("purpose", .string("case work")),
        ])
        let lines = AuditView.table([entry]).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("SEQ") && lines[0].contains("PURPOSE"))
        for cell in ["3", "2026-12-01T14:00:00.123Z", "office", "598", "read", "clients", "familyName,givenName", "GET /v1/clients/{id}",
                     "case work"] {
            #expect(lines[1].contains(cell), "\(cell)")
        }
    }
}
