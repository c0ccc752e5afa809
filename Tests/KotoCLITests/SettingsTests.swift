import Foundation
import KotoTestSupport
import Testing
@testable import KotoCLI

/// Where the daemon and the credential come from, and the refusal of a token file others can read.
@Suite struct SettingsTests {
    @Test func theCommandLineBeatsTheEnvironmentWhichBeatsTheDefault() throws {
        let environment = ["KOTOSYNC_URL": "http://127.0.0.1:7102/", "KOTOSYNC_TOKEN": "env-token\n"]
        let fromEnvironment = try Settings.resolve(GlobalOptions(), environment: environment)
        #expect(fromEnvironment.baseURL == "http://127.0.0.1:7102")
        #expect(fromEnvironment.token == "env-token")
        let given = try Settings.resolve(GlobalOptions(url: "https://kotosync.example//"), environment: environment)
        #expect(given.baseURL == "https://kotosync.example")
        let defaults = try Settings.resolve(GlobalOptions(), environment: [:])
        #expect(defaults.baseURL == "http://127.0.0.1:7100")
        #expect(defaults.token == nil)
        #expect(defaults.timeoutSeconds == 30)
    }

    @Test func aBadURLInTheEnvironmentIsAUsageError() {
        #expect(throws: CLIError.usage("KOTOSYNC_URL must be an http:// or https:// URL, such as http://127.0.0.1:7100")) {
            try Settings.resolve(GlobalOptions(), environment: ["KOTOSYNC_URL": "127.0.0.1:7101"])
        }
    }

    @Test func aPrivateTokenFileIsReadAndTrimmed() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("token", "  s3cr3t-token\n", permissions: 0o600)
        let settings = try Settings.resolve(GlobalOptions(tokenFile: path), environment: ["KOTOSYNC_TOKEN": "other"])
        #expect(settings.token == "s3cr3t-token")
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o606])
    func aTokenFileOthersCanUseIsRefusedWithoutShowingTheToken(mode: Int) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("token", "s3cr3t-token\n", permissions: mode)
        do {
            _ = try Settings.resolve(GlobalOptions(tokenFile: path), environment: [:])
            Issue.record("mode \(String(mode, radix: 8)) accepted")
        } catch {
            #expect(error.status == .failure)
            #expect(error.message == "the token file \(path) is open to group or others (mode \(String(mode, radix: 8))); "
                + "make it private with `chmod 600 \(path)`")
            #expect(!error.description.contains("s3cr3t"))
        }
    }

    @Test func anEmptyOrOddTokenIsRefusedWithoutShowingIt() throws {
        let directory = try TemporaryDirectory()
        let empty = try directory.write("empty", "\n \n")
        #expect(throws: CLIError.failure("the token file \(empty) holds no token")) {
            try Settings.resolve(GlobalOptions(tokenFile: empty), environment: [:])
        }
        let twoLines = try directory.write("two", "s3cr3t one\nanother")
        do {
            _ = try Settings.resolve(GlobalOptions(tokenFile: twoLines), environment: [:])
            Issue.record("a token with a space accepted")
        } catch {
            #expect(error.message == "the token file \(twoLines) must hold one token: printable ASCII without spaces or line breaks")
            #expect(!error.description.contains("s3cr3t"))
        }
        #expect(throws: CLIError.failure("cannot read the token file \(directory.path("missing")): it does not exist or is not accessible")) {
            try Settings.resolve(GlobalOptions(tokenFile: directory.path("missing")), environment: [:])
        }
    }

    @Test func theLocaleChoosesTheReportLanguageWhenItIsOneTheyHave() {
        #expect(Settings.localeLanguage(["LANG": "sv_FI.UTF-8"]) == "sv")
        #expect(Settings.localeLanguage(["LC_ALL": "fi_FI.UTF-8", "LANG": "sv_FI.UTF-8"]) == "fi")
        #expect(Settings.localeLanguage(["LANG": "de_DE.UTF-8"]) == nil)
        #expect(Settings.localeLanguage(["LANG": "C.UTF-8"]) == nil)
        #expect(Settings.localeLanguage([:]) == nil)
    }
}
