import Foundation
import KotoCore
import Testing
@testable import KotoCLI

/// The human forms of the server's JSON: status, records, conflicts, reports.
@Suite struct ViewTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    func stamp(secondsAgo: Double) -> JSONValue { .string(ISO8601DateFormatter().string(from: now.addingTimeInterval(-secondsAgo))) }

    @Test func statusShowsTheNodeWarningsAndOneLinePerPeer() throws {
        let status = JSONValue.object([
            ("node", .string("jakobstad")), ("logPosition", .number(340)), ("seq", .number(120)), ("conflicts", .number(1)),
            ("catchingUp", .bool(false)), ("acceptingWrites", .bool(true)), ("ownFork", .null),
            ("clockSkew", .object([("offsetSeconds", .number(12.5)), ("peers", .number(2))])),
            ("peers", .array([
                .object([("node", .string("nykarleby")), ("mode", .string("pull")), ("state", .string("ok")),
                         ("lastSuccess", stamp(secondsAgo: 130)), ("lastError", .null), ("consecutiveFailures", .number(0)),
                         ("lag", .number(0)), ("fork", .null)]),
                .object([("node", .string("kronoby")), ("mode", .string("pull")), ("state", .string("failing")),
                         ("lastSuccess", .null), ("lastError", .string("connection refused")), ("consecutiveFailures", .number(7)),
                         ("lag", .number(1250)), ("fork", .null)]),
                .object([("node", .string("larsmo")), ("mode", .string("passive")), ("state", .string("forked")),
                         ("lastSuccess", stamp(secondsAgo: 7200)), ("lastError", .string("fork")), ("consecutiveFailures", .number(0)),
                         ("lag", .number(3)), ("fork", .object([("origin", .string("larsmo")), ("seq", .number(41))]))]),
            ])),
        ])
        #expect(StatusView.render(status, now: now) == """
            node jakobstad · seq 120 · log 340 · 1 open conflict · takes writes
            warning: its clock is 12.5 s ahead of 2 peer(s)
            PEER       MODE     STATE                 LAG  LAST SUCCESS  FAILURES  LAST ERROR
            nykarleby  pull     ok                      0  2 min ago            0
            kronoby    pull     failing              1250  never                7  connection refused
            larsmo     passive  forked at larsmo:41     3  2 h ago              0  fork

            """)
    }

    @Test func statusWarnsOfARestoreAndAFork() {
        let status = JSONValue.object([("node", .string("kronoby")), ("catchingUp", .bool(true)),
                                       ("waitingForPeers", .array([.string("larsmo"), .string("nykarleby")])),
                                       ("acceptingWrites", .bool(false)), ("ownFork", .string("kronoby:17")), ("peers", .array([]))])
        #expect(StatusView.render(status, now: now) == """
            node kronoby · refuses local writes
            warning: restored: waiting for larsmo and nykarleby to say how many of its own changes exist
            warning: its own history forked at kronoby:17: run kotosyncd repair-fork (see its --help)
            no peers configured

            """)
    }

    func record(_ id: String, deleted: Bool = false, conflicts: Int = 0, fields: [(String, JSONValue)]) -> JSONValue {
        .object([("id", .string(id)), ("kind", .string("service")), ("fields", .object(fields + [("deleted", .bool(deleted))])),
                 ("deleted", .bool(deleted)), ("erased", .bool(false)), ("openConflicts", .number(Double(conflicts)))])
    }

    @Test func aListShowsTheChosenColumnsAndNotesOnlyWhenSomeRecordHasOne() {
        let plain = [record("a1", fields: [("capacity", .number(12)), ("status", .string("active"))])]
        #expect(RecordView.list(plain, kind: .service, columns: ["id", "capacity", "status"]) == """
            id  capacity  status
            a1        12  active

            """)
        let noted = plain + [record("b2", deleted: true, conflicts: 2, fields: [("capacity", .null), ("status", .string("ended"))])]
        #expect(RecordView.list(noted, kind: .service, columns: ["id", "status"]) == """
            id  status  note
            a1  active
            b2  ended   deleted, 2 open conflicts

            """)
        #expect(RecordView.list([], kind: .client, columns: nil) == "no clients\n")
    }

    @Test func aRecordShowsEveryFieldButDeletedAndItsConflicts() {
        var value = record("c3", conflicts: 1, fields: [("nameFi", .string("Kielikahvila")), ("languages", .array([.string("fi"), .string("sv")]))])
        guard case .object(var members) = value else { return }
        members.append(("conflicts", .array([.object([
            ("kind", .string("service")), ("id", .string("services:c3:nameFi")), ("field", .string("nameFi")),
            ("value", .string("Språkcafé")), ("dot", .object([("origin", .string("larsmo")), ("seq", .number(9))])),
            ("firstSeen", stamp(secondsAgo: 3 * 86_400)),
        ])])))
        value = .object(members)
        #expect(RecordView.record(value, kind: .service, now: now) == """
            service c3 (1 open conflict)
            nameFi     Kielikahvila
            languages  fi, sv

            open conflicts (kotosync resolve <id> --value JSON):
            CONFLICT            VALUE      CHANGE    FIRST SEEN
            services:c3:nameFi  Språkcafé  larsmo:9  3 d ago

            """)
    }

    @Test func aConflictIdIsTheServersOrBuiltFromTheItem() {
        let contract = JSONValue.object([("id", .string("clients:0b6f:status")), ("kind", .string("client")), ("rowId", .string("0b6f")),
                                         ("field", .string("status"))])
        #expect(ConflictView.conflictID(contract) == "clients:0b6f:status")
        let older = JSONValue.object([("kind", .string("client")), ("id", .string("0b6f")), ("field", .string("status"))])
        #expect(ConflictView.conflictID(older) == "clients:0b6f:status")
    }

    /// The shape of the shared report contract.
    static let report = JSONValue.object([
        ("report", .string("placements")), ("generatedAt", .string("2027-01-15T07:59:00Z")),
        ("scope", .object([("municipality", .null)])), ("language", .string("sv")),
        ("tables", .object([("municipalities", .object([
            ("title", .string("Kommunplaceringar")),
            ("columns", .array([.object([("key", .string("municipality")), ("label", .string("Kommun"))]),
                                .object([("key", .string("target")), ("label", .string("Mål"))]),
                                .object([("key", .string("arrived")), ("label", .string("Anlänt"))])])),
            ("rows", .array([.object([("municipality", .number(598)), ("target", .number(40)), ("arrived", .number(12))]),
                             .object([("municipality", .number(288)), ("target", .null), ("arrived", .number(3))])])),
        ]))])),
        ("year", .number(2027)), ("regionTarget", .number(100)),
        ("regionTotals", .object([("offered", .number(20)), ("arrived", .number(15))])),
        ("rules", .array([.object([("id", .string("plan")), ("days", .number(60))])])),
    ])

    @Test func aReportShowsEachTableUnderItsTitleWithItsLabelsThenItsOtherMembers() {
        let now = RelativeTime.parse("2027-01-15T08:00:00Z")!
        #expect(ReportView.render(Self.report, now: now) == """
            report placements · whole region · generated 1 min ago
            year: 2027
            regionTarget: 100

            Kommunplaceringar [municipalities]
            Kommun  Mål  Anlänt
               598   40      12
               288            3

            regionTotals
              offered:  20
              arrived:  15

            rules
            id    days
            plan    60

            """)
        #expect(ReportView.render(Self.report, onlyTable: "municipalities", now: now).hasSuffix("288            3\n"))
        #expect(!ReportView.render(Self.report, onlyTable: "municipalities", now: now).contains("regionTarget"))
    }
}
