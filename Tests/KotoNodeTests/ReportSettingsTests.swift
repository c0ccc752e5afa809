import Foundation
import KotoCore
import Testing
@testable import KotoNode

/// The configuration's `reports` object: targets, due-soon days and deadline
/// rules, the Integration Act's defaults, and errors naming the key.
@Suite struct ReportSettingsTests {
    static func parse(_ reports: String) throws(ConfigError) -> ReportSettings {
        try ConfigTests.parse(ConfigTests.minimal(#""reports":\#(reports)"#)).reports
    }

    static func error(_ reports: String) -> ConfigError? { ConfigTests.error(ConfigTests.minimal(#""reports":\#(reports)"#)) }

    @Test func withoutReportsTheDefaultsApply() throws {
        let settings = try ConfigTests.parse(ConfigTests.minimal()).reports
        #expect(settings.regionPlacementTarget == 100)
        #expect(settings.placementTargets.isEmpty)
        #expect(settings.dueSoonDays == 30)
        #expect(settings.deadlineRules == ReportRule.integrationActDefaults)
        #expect(settings.deadlineRules.map(\.rule.id) == ["assessment", "firstPlan", "planLength", "referral"])
    }

    @Test func theDefaultsAreTheIntegrationActsLimits() {
        let rules = Dictionary(uniqueKeysWithValues: ReportRule.integrationActDefaults.map { ($0.rule.id, $0) })
        #expect(rules["assessment"]?.rule == DeadlineRule(id: "assessment", from: .firstPermitDate, period: .months(36), metBy: .assessmentDate))
        #expect(rules["firstPlan"]?.rule == DeadlineRule(id: "firstPlan", from: .firstPermitDate, period: .months(36), metBy: .planStart))
        #expect(rules["planLength"]?.rule == DeadlineRule(id: "planLength", from: .planStart, period: .months(12), metBy: .planEnd, within: true))
        #expect(rules["referral"]?.rule == DeadlineRule(id: "referral", from: .planStart, period: .months(6), metBy: .referralDate))
        for rule in ReportRule.integrationActDefaults {
            #expect(rule.source.fi.hasPrefix("Laki kotoutumisen edistämisestä 681/2023"))
            #expect(rule.source.sv.hasPrefix("Lag om främjande av integration 681/2023"))
            #expect(rule.source.en.hasPrefix("Act on the Promotion of Immigrant Integration 681/2023"))
            // A section number the sources confirmed is cited; where none was, the rule says so.
            #expect(rule.source.fi.contains("§") || rule.note != nil)
        }
    }

    @Test func everyKeyIsRead() throws {
        let settings = try Self.parse("""
            {"regionPlacementTarget": 120, "placementTargets": {"598": 40, "440": 0}, "dueSoonDays": 14,
             "deadlineRules": [
               {"id": "quick", "title": {"fi": "Arvio", "sv": "Bedömning", "en": "Assessment"}, "from": "arrivalDate",
                "days": 60, "metBy": "assessmentDate", "source": "Kunnan ohje"},
               {"id": "plan", "title": "Suunnitelma", "from": "planStart", "months": 12, "metBy": "planEnd", "within": true,
                "source": {"fi": "Laki", "sv": "Lag"}, "note": "tarkistettava"}]}
            """)
        #expect(settings.regionPlacementTarget == 120)
        #expect(settings.placementTargets == [598: 40, 440: 0])
        #expect(settings.dueSoonDays == 14)
        #expect(settings.deadlineRules == [
            ReportRule(rule: DeadlineRule(id: "quick", from: .arrivalDate, period: .days(60), metBy: .assessmentDate),
                       title: LocalizedText(fi: "Arvio", sv: "Bedömning", en: "Assessment"), source: LocalizedText("Kunnan ohje")),
            ReportRule(rule: DeadlineRule(id: "plan", from: .planStart, period: .months(12), metBy: .planEnd, within: true),
                       title: LocalizedText("Suunnitelma"), source: LocalizedText(fi: "Laki", sv: "Lag", en: "Laki"),
                       note: LocalizedText("tarkistettava")),
        ])
    }

    @Test(arguments: [
        (#"{"bogus": 1}"#, "reports.bogus"),
        (#"{"regionPlacementTarget": -1}"#, "reports.regionPlacementTarget"),
        (#"{"dueSoonDays": "30"}"#, "reports.dueSoonDays"),
        (#"{"placementTargets": [40]}"#, "reports.placementTargets"),
        (#"{"placementTargets": {"Jakobstad": 40}}"#, "reports.placementTargets.Jakobstad"),
        (#"{"placementTargets": {"598": 4.5}}"#, "reports.placementTargets.598"),
        (#"{"deadlineRules": {}}"#, "reports.deadlineRules"),
        (#"{"deadlineRules": [{"id": "a", "title": "t", "from": "birthDate", "days": 1, "metBy": "planStart", "source": "s"}]}"#,
         "reports.deadlineRules[0].from"),
        (#"{"deadlineRules": [{"id": "a", "title": "t", "from": "planStart", "days": 1, "metBy": "status", "source": "s"}]}"#,
         "reports.deadlineRules[0].metBy"),
        (#"{"deadlineRules": [{"id": "a", "title": "t", "from": "planStart", "days": 1, "months": 1, "metBy": "planEnd", "source": "s"}]}"#,
         "reports.deadlineRules[0]"),
        (#"{"deadlineRules": [{"id": "a", "title": "t", "from": "planStart", "metBy": "planEnd", "source": "s"}]}"#,
         "reports.deadlineRules[0]"),
        (#"{"deadlineRules": [{"id": "a", "title": "t", "from": "planStart", "days": 0, "metBy": "planEnd", "source": "s"}]}"#,
         "reports.deadlineRules[0].days"),
        (#"{"deadlineRules": [{"id": "a", "from": "planStart", "days": 1, "metBy": "planEnd", "source": "s"}]}"#,
         "reports.deadlineRules[0].title"),
        (#"{"deadlineRules": [{"id": "a", "title": {"sv": "x"}, "from": "planStart", "days": 1, "metBy": "planEnd", "source": "s"}]}"#,
         "reports.deadlineRules[0].title.fi"),
        (#"{"deadlineRules": [{"id": "a", "title": "t", "from": "planStart", "days": 1, "metBy": "planEnd"}]}"#,
         "reports.deadlineRules[0].source"),
        (#"{"deadlineRules": [{"id": "a b", "title": "t", "from": "planStart", "days": 1, "metBy": "planEnd", "source": "s"}]}"#,
         "reports.deadlineRules[0].id"),
        (#"{"deadlineRules": [{"id": "a", "title": "t", "from": "planStart", "days": 1, "metBy": "planEnd", "source": "s", "within": "yes"}]}"#,
         "reports.deadlineRules[0].within"),
        (#"{"deadlineRules": [{"id": "a", "title": "t", "from": "planStart", "days": 1, "metBy": "planEnd", "source": "s", "extra": 1}]}"#,
         "reports.deadlineRules[0].extra"),
        (#"{"deadlineRules": [{"id": "a", "title": "t", "from": "planStart", "days": 1, "metBy": "planEnd", "source": "s"},"#
         + #"{"id": "a", "title": "t", "from": "planStart", "days": 2, "metBy": "planEnd", "source": "s"}]}"#,
         "reports.deadlineRules[1].id"),
        (#""all""#, "reports"),
    ])
    func aBadValueNamesItsKey(reports: String, key: String) {
        #expect(Self.error(reports)?.key == key)
    }

    @Test func targetsMustNameMunicipalitiesOfTheRegion() throws {
        let manifest = try TestRegion.make().manifest
        try ConfigTests.parse(ConfigTests.minimal(#""reports":{"placementTargets":{"598":40}}"#)).check(against: manifest)
        let config = try ConfigTests.parse(ConfigTests.minimal(#""reports":{"placementTargets":{"92":40}}"#))
        #expect(throws: ConfigError(key: "reports.placementTargets.92", reason: "is not a municipality of the region manifest")) {
            try config.check(against: manifest)
        }
    }
}
