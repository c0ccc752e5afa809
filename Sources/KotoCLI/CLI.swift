public import Foundation
import KotoCore

/// `kotosync`: parses the line, talks to the daemon, prints tables or
/// JSON, and returns the exit status. Every failure ends as one sentence
/// on standard error; nothing else is printed for it.
public enum CLI {
    public static func run(_ arguments: [String], environment: [String: String], console: Console = .standard,
                           now: Date = Date()) -> ExitCode {
        do {
            let invocation = try CommandLineParser.parse(arguments)
            if case .help(let topic) = invocation.command {
                console.print(topic.flatMap(Subcommand.named)?.help ?? Subcommand.overview)
                return .ok
            }
            if case .backup(let request) = invocation.command {
                try LocalBackup.run(request, environment: environment, console: console)
                return .ok
            }
            let settings = try Settings.resolve(invocation.options, environment: environment)
            let runner = Runner(client: try DaemonClient(settings: settings), format: invocation.options.output,
                                console: console, now: now)
            try runner.run(invocation.command)
            return .ok
        } catch {
            // Typed throws: every failure is a `CLIError`, printed as its sentence (never a stack trace).
            console.error(error.description + "\n")
            return error.status
        }
    }
}

/// Runs one command against the daemon; the subcommands live in extensions by concern.
struct Runner {
    let client: DaemonClient
    let format: OutputFormat
    let console: Console
    /// The time relative times count from.
    let now: Date

    func run(_ command: Command) throws(CLIError) {
        switch command {
        case .help: break
        case .status: try status()
        case .list(let kind, let query): try list(kind, query)
        case .get(let kind, let id): try get(kind, id: id)
        case .add(let kind, let file): try add(kind, file: file)
        case .update(let kind, let id, let file): try update(kind, id: id, file: file)
        case .delete(let kind, let id): try delete(kind, id: id)
        case .restore(let kind, let id): try restore(kind, id: id)
        case .erase(let kind, let id, let confirmed): try erase(kind, id: id, confirmed: confirmed)
        case .report(let name, let query): try report(name, query)
        case .export(let target, let out): try export(target, out: out)
        case .conflicts(let kind): try conflicts(kind)
        case .resolve(let id, let value): try resolve(id, value: value)
        case .audit(let command): try audit(command)
        case .retentionPreview: try retentionPreview()
        case .importFile(let request): try importFile(request)
        case .subjectExport(let id, let out): try subjectExport(id, out: out)
        case .backup: break  // local, run before any daemon client exists
        }
    }

    var wantsJSON: Bool { format != .table }

    /// Prints `value` as `--json` or `--compact` asks.
    func printJSON(_ value: JSONValue) {
        console.print((format == .compactJSON ? value.serialized : JSONText.pretty(value)) + "\n")
    }
}
