import KotoNode
import Testing

/// The test-only clock offset and compaction horizon are honoured only with
/// the test flag, and refused (not ignored) without it.
@Suite struct TestHooksTests {
    @Test func noOffsetAskedIsNone() throws {
        #expect(try TestHooks.clockOffsetMillis(environment: [:]) == nil)
        #expect(try TestHooks.clockOffsetMillis(environment: ["KOTOSYNC_TEST_HOOKS": "1"]) == nil)
    }

    @Test func offsetWithTheFlagIsHonoured() throws {
        let environment = ["KOTOSYNC_TEST_HOOKS": "1", "KOTOSYNC_TEST_CLOCK_OFFSET_MS": "-3600000"]
        #expect(try TestHooks.clockOffsetMillis(environment: environment) == -3_600_000)
    }

    @Test(arguments: [nil, "0", "yes"])
    func offsetWithoutTheFlagIsRefused(flag: String?) {
        var environment = ["KOTOSYNC_TEST_CLOCK_OFFSET_MS": "3600000"]
        environment["KOTOSYNC_TEST_HOOKS"] = flag
        #expect(throws: ConfigError.self) { try TestHooks.clockOffsetMillis(environment: environment) }
        do {
            _ = try TestHooks.clockOffsetMillis(environment: environment)
        } catch {
            #expect(error.key == "KOTOSYNC_TEST_CLOCK_OFFSET_MS")
            #expect(error.reason.contains("test-only"))
        }
    }

    @Test func malformedOffsetIsRefused() {
        #expect(throws: ConfigError.self) {
            try TestHooks.clockOffsetMillis(environment: ["KOTOSYNC_TEST_HOOKS": "1", "KOTOSYNC_TEST_CLOCK_OFFSET_MS": "an hour"])
        }
    }

    @Test func compactionHorizonWithTheFlagIsHonouredAndMustBePositive() throws {
        #expect(try TestHooks.compactionHorizonMillis(environment: ["KOTOSYNC_TEST_HOOKS": "1"]) == nil)
        let environment = ["KOTOSYNC_TEST_HOOKS": "1", "KOTOSYNC_TEST_COMPACTION_HORIZON_MS": "3000"]
        #expect(try TestHooks.compactionHorizonMillis(environment: environment) == 3000)
        for bad in ["0", "-5", "soon"] {
            #expect(throws: ConfigError.self) {
                try TestHooks.compactionHorizonMillis(environment: ["KOTOSYNC_TEST_HOOKS": "1", "KOTOSYNC_TEST_COMPACTION_HORIZON_MS": bad])
            }
        }
    }

    @Test func compactionHorizonWithoutTheFlagIsRefused() {
        do {
            _ = try TestHooks.compactionHorizonMillis(environment: ["KOTOSYNC_TEST_COMPACTION_HORIZON_MS": "3000"])
            Issue.record("the horizon hook was honoured without KOTOSYNC_TEST_HOOKS=1")
        } catch {
            #expect(error.key == "KOTOSYNC_TEST_COMPACTION_HORIZON_MS")
            #expect(error.reason.contains("test-only"))
        }
    }
}
