import KotoCore
import Testing
@testable import KotoCLI

/// `kotosync retention preview`: what it takes and how it shows the daemon's answer.
@Suite struct RetentionCommandTests {
    func parse(_ line: String) throws(CLIError) -> Invocation {
        try CommandLineParser.parse(line.split(separator: " ").map(String.init))
    }

    @Test func previewIsTheOnlyAction() throws {
        #expect(try parse("retention preview").command == .retentionPreview)
        #expect(try parse("retention preview --json").options.output == .json)
        for line in ["retention", "retention run", "retention preview extra"] {
            #expect(throws: CLIError.self, "\(line)") { try parse(line) }
        }
    }

    @Test func theTableShowsIdentifiersDatesAndReasons() {
        let answer = JSONValue.object([
            ("node", .string("jakobstad")), ("municipality", .number(598)), ("today", .string("2026-12-01")), ("years", .number(5)),
            ("items", .array([
                .object([("id", .string("0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10")), ("ownerMunicipality", .number(598)),
                         ("retentionUntil", .string("2021-05-31")), ("reason", .string("retentionUntil")),
                         ("placements", .array([.string("5d1e9a0c-3b7f-4e21-8f6a-0c9d2b4e7a13")]))]),
            ])),
        ])
        #expect(RetentionView.render(answer) == """
            node jakobstad · municipality 598 · today 2026-12-01 · default 5 years
            the next run erases 1 client and their placements:
            CLIENT                                OWNER  RETAINED UNTIL  REASON          PLACEMENTS
            0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10    598  2021-05-31      retentionUntil           1

            """)
        let empty = JSONValue.object([("node", .string("larsmo")), ("municipality", .number(440)), ("today", .string("2026-12-01")),
                                      ("years", .number(5)), ("items", .array([]))])
        #expect(RetentionView.render(empty).hasSuffix("no client's retention has ended: the next run erases nothing\n"))
    }
}
