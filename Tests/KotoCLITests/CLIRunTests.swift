import Foundation
import Synchronization
import Testing
@testable import KotoCLI

/// What a run printed, per stream.
final class CapturedConsole: Sendable {
    private let out = Mutex<[UInt8]>([])
    private let err = Mutex<String>("")
    let input: [UInt8]

    init(input: [UInt8] = []) { self.input = input }

    var console: Console {
        Console(output: { bytes in self.out.withLock { $0 += bytes } }, error: { text in self.err.withLock { $0 += text } },
                readInput: { self.input }, readLine: { nil }, isInteractive: { false })
    }

    var output: String { String(decoding: out.withLock { $0 }, as: UTF8.self) }
    var error: String { err.withLock { $0 } }
}

/// Whole runs without a daemon: help, usage errors and an unreachable URL,
/// with the exit status and what each stream got.
@Suite struct CLIRunTests {
    func run(_ arguments: [String], environment: [String: String] = [:]) -> (ExitCode, CapturedConsole) {
        let captured = CapturedConsole()
        return (CLI.run(arguments, environment: environment, console: captured.console), captured)
    }

    @Test func helpGoesToStandardOutputAndExitsZero() {
        let (status, captured) = run(["--help"])
        #expect(status == .ok)
        #expect(captured.error.isEmpty)
        for command in Subcommand.all { #expect(captured.output.contains("  \(command.name) "), "\(command.name) in the overview") }
        for option in Subcommand.globalOptions { #expect(captured.output.contains("--\(option.name)")) }
    }

    @Test(arguments: Subcommand.all.map(\.name))
    func everySubcommandHasHelpListingEachOptionItTakes(name: String) throws {
        let (status, captured) = run([name, "--help"])
        #expect(status == .ok)
        let command = try #require(Subcommand.named(name))
        #expect(captured.output.hasPrefix("usage: kotosync \(name)"))
        for option in command.options {
            #expect(captured.output.contains("--\(option.name)"), "\(name) --help lists --\(option.name)")
        }
        // Every option shown in the help is one the parser takes.
        let shown = captured.output.split(whereSeparator: { !($0.isLetter || $0 == "-") }).filter { $0.hasPrefix("--") && $0.count > 2 }
        let accepted = Set(command.acceptedOptions.map { "--\($0.name)" })
        for option in shown { #expect(accepted.contains(String(option)), "\(name) --help mentions \(option), which it does not take") }
        #expect(run(["help", name]).1.output == captured.output)
    }

    @Test func aUsageErrorExitsTwoWithOneLineOnStandardError() {
        let (status, captured) = run(["list", "clients", "--limit", "lots"])
        #expect(status == .usage)
        #expect(status.rawValue == 2)
        #expect(captured.output.isEmpty)
        #expect(captured.error == "kotosync: --limit must be a whole number from 1 to 1000. See `kotosync list --help`.\n")
    }

    @Test func anUnreachableDaemonExitsThree() throws {
        // A loopback port nothing listens on: connection refused at once.
        let (status, captured) = run(["status", "--url", "http://127.0.0.1:9", "--timeout", "5"], environment: ["KOTOSYNC_TOKEN": "s3cr3t"])
        #expect(status == .unreachable)
        #expect(status.rawValue == 3)
        #expect(captured.error.hasPrefix("kotosync: cannot reach the daemon at http://127.0.0.1:9: "))
        #expect(captured.error.filter { $0 == "\n" }.count == 1)
        #expect(!captured.error.contains("s3cr3t"))
        #expect(captured.output.isEmpty)
    }

    @Test func anUnknownHostExitsThree() {
        let (status, captured) = run(["status", "--url", "http://no-such-host.invalid:7100", "--timeout", "10"])
        #expect(status == .unreachable)
        #expect(captured.error.contains("no-such-host.invalid"))
    }

    @Test func aRecordFileThatIsNotJSONFailsBeforeAnyRequestWithoutQuotingIt() throws {
        // The file is checked before connecting: the dead URL is never reached (that would exit 3).
        let captured = CapturedConsole(input: Array(#"{"givenName": "Maija" "#.utf8))
        let status = CLI.run(["add", "clients", "--file", "-", "--url", "http://127.0.0.1:9"], environment: [:], console: captured.console)
        #expect(status == .failure)
        #expect(captured.error == "kotosync: standard input is not JSON: unexpected end at byte 22.\n")
        #expect(!captured.error.contains("Maija"))
        let array = CapturedConsole(input: Array("[1, 2]".utf8))
        #expect(CLI.run(["add", "clients", "--file", "-", "--url", "http://127.0.0.1:9"], environment: [:], console: array.console) == .failure)
        #expect(array.error == "kotosync: standard input must hold one JSON object of fields, not an array.\n")
    }

    @Test func eraseWithoutATerminalNeedsYes() {
        let (status, captured) = run(["erase", "clients", "0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10", "--url", "http://127.0.0.1:9"])
        #expect(status == .usage)
        #expect(captured.error.contains("add --yes"))
    }
}
