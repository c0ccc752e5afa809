import Foundation
import KotoCore
import Testing
@testable import KotoCLI

/// Tables line up in terminal columns whatever the script, and relative
/// times read "2 min ago".
@Suite struct TableRenderingTests {
    @Test func columnsAreAlignedAndNumbersRightAligned() {
        let table = TextTable(headers: ["PEER", "LAG", "STATE"], rows: [["nykarleby", "0", "ok"], ["kronoby", "1250", "failing"]])
        #expect(table.render() == """
            PEER        LAG  STATE
            nykarleby     0  ok
            kronoby    1250  failing

            """)
    }

    @Test func noLineEndsInSpacesAndMissingCellsAreEmpty() {
        let text = TextTable(headers: ["a", "b"], rows: [["x"], ["longer", ""]]).render()
        #expect(text == "a       b\nx\nlonger\n")
    }

    @Test func widthsCountTerminalColumnsNotCharactersOrBytes() {
        #expect(DisplayWidth.of("Pedersöre") == 9)
        #expect(DisplayWidth.of("e\u{301}") == 1)          // e + combining acute: one column
        #expect(DisplayWidth.of("漢字") == 4)               // wide CJK
        #expect(DisplayWidth.of("👩‍👩‍👧") == 2)             // one emoji sequence
        #expect(DisplayWidth.of("✔️") == 2)                 // text symbol with emoji presentation selector
        #expect(DisplayWidth.of("مرحبا") == 5)
        #expect(DisplayWidth.of("a\u{200B}b") == 2)         // zero-width space
        let table = TextTable(headers: ["name", "n"], rows: [["Ärrä", "1"], ["漢字", "2"], ["e\u{301}e\u{301}", "3"]]).render()
        // The number column is right-aligned: every line ends at the same terminal column.
        let widths = table.split(separator: "\n").map { DisplayWidth.of($0) }
        #expect(Set(widths).count == 1, "\(widths)")
    }

    @Test func controlCharactersCannotBreakTheTableOrTheTerminal() {
        let text = TextTable(headers: ["v"], rows: [["one\ntwo\u{1B}[31mred\u{7}"]]).render()
        #expect(text == "v\none two [31mred\n")
        #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
    }

    @Test func longCellsAreCutWithAnEllipsisWhenAskedTo() {
        let text = TextTable(headers: ["name"], rows: [["Kotoutumiskoulutus ruotsiksi"]], maxCellWidth: 10).render()
        #expect(text == "name\nKotoutumi…\n")
        #expect(DisplayWidth.truncate("漢字漢字", to: 5) == "漢字…")
        #expect(DisplayWidth.truncate("short", to: 10) == "short")
    }

    @Test func jsonValuesBecomeReadableCells() {
        #expect(JSONText.cell(nil) == "")
        #expect(JSONText.cell(.null) == "")
        #expect(JSONText.cell(.number(598)) == "598")
        #expect(JSONText.cell(.number(0.8333)) == "0.83")
        #expect(JSONText.cell(.number(0.5)) == "0.5")
        #expect(JSONText.cell(.bool(true)) == "true")
        #expect(JSONText.cell(.array([.number(598), .number(893)])) == "598, 893")
        #expect(JSONText.cell(.object([("origin", .string("kronoby"))])) == #"{"origin":"kronoby"}"#)
    }

    @Test func prettyJSONKeepsTheServersOrderAndParsesBack() throws {
        let value = JSONValue.object([("b", .array([.number(1), .object([])])), ("a", .string("ä\"\n")), ("c", .array([]))])
        let text = JSONText.pretty(value)
        #expect(text == """
            {
              "b": [
                1,
                {}
              ],
              "a": "ä\\"\\n",
              "c": []
            }
            """)
        #expect(try JSONValue.parse(text) == value)
    }
}

@Suite struct RelativeTimeTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func pastTimesInWholeUnitsRoundedDown() {
        let cases: [(Double, String)] = [
            (0, "just now"), (0.6, "just now"), (1, "1 s ago"), (59.9, "59 s ago"), (60, "1 min ago"), (120, "2 min ago"),
            (179, "2 min ago"), (3599, "59 min ago"), (3600, "1 h ago"), (86_399, "23 h ago"), (86_400, "1 d ago"),
            (30 * 86_400, "30 d ago"),
        ]
        for (seconds, text) in cases {
            #expect(RelativeTime.describe(now.addingTimeInterval(-seconds), now: now) == text, "\(seconds) s")
        }
    }

    @Test func aTimeAheadOfTheClockReadsAsFuture() {
        #expect(RelativeTime.describe(now.addingTimeInterval(5), now: now) == "in 5 s")
        #expect(RelativeTime.describe(now.addingTimeInterval(7200), now: now) == "in 2 h")
    }

    @Test func serverTimestampsWithOrWithoutFractionsAndNever() {
        let stamp = ISO8601DateFormatter().string(from: now.addingTimeInterval(-150))
        #expect(RelativeTime.cell(stamp, now: now) == "2 min ago")
        #expect(RelativeTime.cell("2027-01-15T07:57:30.250Z", now: RelativeTime.parse("2027-01-15T08:00:00Z")!) == "2 min ago")
        #expect(RelativeTime.cell(nil, now: now) == "never")
        #expect(RelativeTime.cell("yesterday", now: now) == "yesterday")
    }
}
