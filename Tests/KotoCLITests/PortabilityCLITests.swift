import Dispatch
import Foundation
import KotoCore
import KotoHTTP
import KotoTestSupport
import Synchronization
import Testing
@testable import KotoCLI

/// A task executor with one thread of its own. `HTTPServer.run()` waits in
/// `poll` on whatever thread runs it: on Swift's small cooperative pool it
/// would starve every other test of the process, so each stand-in daemon
/// gets its own thread (parked for good once the server stops).
final class OwnThreadExecutor: TaskExecutor {
    private let jobs = Mutex<[UnownedJob]>([])
    private let available = DispatchSemaphore(value: 0)

    init(name: String) {
        let thread = Thread { [self] in
            while true {
                available.wait()
                let job = jobs.withLock { $0.removeFirst() }
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        available.signal()
    }
}

/// A daemon stand-in on loopback that answers the portability routes and
/// keeps what it was sent, so the tests see exactly what the CLI sends and
/// how it treats each answer.
final class FakeDaemon: Sendable {
    struct Received: Sendable {
        let method: HTTPMethod
        let path: String
        let query: [HTTPRequest.QueryItem]
        let contentType: String?
        let body: [UInt8]
    }

    let server: HTTPServer
    private let running: Task<Void, any Error>
    final class Log: Sendable {
        let items = Mutex<[Received]>([])
    }
    private let received = Log()
    var url: String { "http://127.0.0.1:\(server.port)" }
    var requests: [Received] { received.items.withLock { $0 } }

    /// `routes` answer by method and pattern; anything else is the router's 404.
    init(_ routes: [(HTTPMethod, String, @Sendable (HTTPRequest) -> HTTPResponse)]) throws {
        var router = Router()
        let received = received
        for (method, pattern, answer) in routes {
            router.add(method, pattern) { request in
                received.items.withLock {
                    $0.append(Received(method: request.method, path: request.path, query: request.queryItems,
                                       contentType: request.headers["Content-Type"], body: request.body))
                }
                return answer(request)
            }
        }
        server = try HTTPServer(host: "127.0.0.1", port: 0, router: router)
        let server = server
        running = Task(executorPreference: OwnThreadExecutor(name: "fake-daemon")) { try await server.run() }
    }

    func stop() async {
        server.shutdown(gracePeriod: .milliseconds(100))
        _ = try? await running.value
    }

    static func json(_ text: String, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: Array(text.utf8))
    }
}

@Suite(.serialized) struct PortabilityCLITests {
    let id = "0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10"

    /// Runs the CLI on a thread of its own: it blocks in libcurl while the fake daemon answers on the task pool.
    func run(_ arguments: [String], daemon: FakeDaemon) async -> (ExitCode, CapturedConsole) {
        let captured = CapturedConsole()
        let status = await withCheckedContinuation { continuation in
            Thread {
                continuation.resume(returning: CLI.run(arguments + ["--url", daemon.url, "--timeout", "20"],
                                                       environment: ["KOTOSYNC_TOKEN": "test-cli-token-0001"], console: captured.console))
            }.start()
        }
        return (status, captured)
    }

    static let cleanReport = """
        {"kind":"clients","format":"csv","encoding":"windows-1252","dryRun":true,"skipInvalid":false,"written":false,"rowsRead":2,\
        "created":2,"updated":0,"unchanged":0,"skipped":0,"skippedRows":[],"problems":[],"rows":[]}
        """

    @Test func importSendsTheFileUnchangedWithItsTypeAndFlagsAndPrintsTheReport() async throws {
        let daemon = try FakeDaemon([(.post, "/v1/import/{kind}", { _ in FakeDaemon.json(Self.cleanReport) })])
        let directory = try TemporaryDirectory()
        // Windows-1252 bytes: the CLI must not re-encode them.
        let bytes: [UInt8] = Array("clientNumber;givenName\r\nA-1;".utf8) + [0xC4, 0x6C, 0x6C, 0x69] + Array("\r\n".utf8)
        let file = try directory.write("asiakkaat.csv", bytes)
        let (status, captured) = await run(["import", "clients", file, "--dry-run"], daemon: daemon)
        await daemon.stop()
        #expect(status == .ok, "\(captured.error)")
        let request = try #require(daemon.requests.first)
        #expect(request.method == .post)
        #expect(request.path == "/v1/import/clients")
        #expect(request.contentType == "text/csv")
        #expect(request.body == bytes)
        #expect(request.query.map { "\($0.name)=\($0.value)" } == ["dryRun=true"])
        #expect(captured.output.contains("dry run of an import of clients (csv, windows-1252)"))
        #expect(captured.output.contains("rows read 2 · would create 2 · would update 0 · unchanged 0 · skipped 0"))
        #expect(captured.output.contains("nothing was written (dry run)"))
    }

    @Test func aJSONFileIsSentAsJSONAndSkipInvalidAsked() async throws {
        let daemon = try FakeDaemon([(.post, "/v1/import/{kind}", { _ in FakeDaemon.json(Self.cleanReport) })])
        let directory = try TemporaryDirectory()
        let file = try directory.write("placements.data", Array(" [{\"type\":\"service_enrolment\"}]".utf8))
        let (status, _) = await run(["import", "placements", file, "--skip-invalid"], daemon: daemon)
        await daemon.stop()
        #expect(status == .ok)
        let request = try #require(daemon.requests.first)
        #expect(request.path == "/v1/import/placements")
        #expect(request.contentType == "application/json")
        #expect(request.query.map { "\($0.name)=\($0.value)" } == ["dryRun=false", "skipInvalid=true"])
    }

    @Test func aDryRunWithProblemsPrintsThemByRowAndColumnAndExitsOne() async throws {
        let report = """
            {"kind":"clients","format":"csv","encoding":"utf-8","dryRun":true,"skipInvalid":false,"written":false,"rowsRead":3,\
            "created":2,"updated":0,"unchanged":0,"skipped":1,"skippedRows":[4],\
            "problems":[{"row":4,"column":"birthDate","reason":"must be a date YYYY-MM-DD"}],"rows":[]}
            """
        let daemon = try FakeDaemon([(.post, "/v1/import/{kind}", { _ in FakeDaemon.json(report) })])
        let directory = try TemporaryDirectory()
        let file = try directory.write("a.csv", "clientNumber\r\nA\r\n")
        let (status, captured) = await run(["import", "clients", file, "--dry-run"], daemon: daemon)
        await daemon.stop()
        #expect(status == .failure)
        let line = try #require(captured.output.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("4 ") })
        #expect(line.contains("birthDate") && line.contains("must be a date YYYY-MM-DD"))
        #expect(captured.error == "kotosync: the dry run found 1 problem in 1 row; nothing was written.\n")
    }

    @Test func aRefusedImportSaysEachProblemsRowAndColumn() async throws {
        let refusal = """
            {"error":{"code":"import_invalid","message":"1 of 3 rows have problems; nothing was written",\
            "problems":[{"field":"birthDate","reason":"must be a date YYYY-MM-DD","row":4}]}}
            """
        let daemon = try FakeDaemon([(.post, "/v1/import/{kind}", { _ in FakeDaemon.json(refusal, status: .unprocessableContent) })])
        let directory = try TemporaryDirectory()
        let file = try directory.write("a.csv", "clientNumber\r\nA\r\n")
        let (status, captured) = await run(["import", "clients", file], daemon: daemon)
        await daemon.stop()
        #expect(status == .failure)
        #expect(captured.error == "kotosync: 1 of 3 rows have problems; nothing was written — row 4 birthDate: must be a date YYYY-MM-DD (HTTP 422 import_invalid).\n")
        #expect(captured.output.isEmpty)
    }

    static let subject = #"{"subject":"0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10","client":{"id":"0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10"},"placements":[{"id":"p"}]}"#

    @Test func aSubjectExportWithoutTheAccessLogFailsClearlyAndWritesNothing() async throws {
        let daemon = try FakeDaemon([(.get, "/v1/subjects/{clientId}", { _ in FakeDaemon.json(Self.subject) })])
        let directory = try TemporaryDirectory()
        let out = directory.path("subject.json")
        let (status, captured) = await run(["subject", "export", id, "--output", out], daemon: daemon)
        await daemon.stop()
        #expect(status == .failure)
        #expect(captured.error.contains("has no access log to list (GET /v1/audit/subject answered 404)"))
        #expect(captured.error.contains("nothing was written"))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(daemon.requests.map(\.path) == ["/v1/subjects/\(id)"], "the audit route answered 404 from the router")
    }

    @Test func aSubjectExportJoinsTheRecordAndTheAccessLogLinesInAnOwnerOnlyFile() async throws {
        let items = #"{"items":[{"seq":3,"action":"read","kind":"clients","ids":["0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10"]}]}"#
        let daemon = try FakeDaemon([
            (.get, "/v1/subjects/{clientId}", { _ in FakeDaemon.json(Self.subject) }),
            (.get, "/v1/audit/subject/{clientId}", { _ in FakeDaemon.json(items) }),
        ])
        let directory = try TemporaryDirectory()
        let out = directory.path("subject.json")
        let (status, captured) = await run(["subject", "export", id.uppercased(), "--output", out], daemon: daemon)
        await daemon.stop()
        #expect(status == .ok, "\(captured.error)")
        #expect(daemon.requests.map(\.path) == ["/v1/subjects/\(id)", "/v1/audit/subject/\(id)"])
        let document = try JSONValue.parse(Array(try #require(FileManager.default.contents(atPath: out))))
        #expect(document["client"]?["id"] == .string(id))
        #expect(document["placements"]?.arrayValue?.count == 1)
        #expect(document["accessLog"] == (try JSONValue.parse(items))["items"])
        let mode = try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(captured.error == "wrote \(try #require(FileManager.default.contents(atPath: out)).count) bytes to \(out)\n"
            + "the export holds the client, 1 placement and 1 access-log line\n")
    }

    @Test func exportKotoDigiAsksForTheFormatAndTableAndWritesTheAnswerUnchanged() async throws {
        let csv: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("id;clientId\r\np;c\r\n".utf8)
        let daemon = try FakeDaemon([(.get, "/v1/export/koto-digi", { request in
            request.query("format") == "csv"
                ? HTTPResponse(status: .ok, headers: ["Content-Type": "text/csv; charset=utf-8"], body: csv)
                : FakeDaemon.json(#"{"export":"koto-digi","clients":[],"placements":[]}"#)
        })])
        let directory = try TemporaryDirectory()
        let out = directory.path("placements.csv")
        let (status, _) = await run(["export", "koto-digi", "--format", "csv", "--table", "placements", "--output", out], daemon: daemon)
        #expect(status == .ok)
        #expect(FileManager.default.contents(atPath: out).map(Array.init) == csv)
        let (jsonStatus, captured) = await run(["export", "koto-digi"], daemon: daemon)
        await daemon.stop()
        #expect(jsonStatus == .ok)
        #expect(captured.output == #"{"export":"koto-digi","clients":[],"placements":[]}"#)
        #expect(daemon.requests.map { $0.query.map { "\($0.name)=\($0.value)" } } == [["table=placements", "format=csv"], ["format=json"]])
    }

    @Test func badPortabilityLinesAreUsageErrors() {
        func usage(_ line: String) -> String? {
            do {
                _ = try CommandLineParser.parse(line.split(separator: " ").map(String.init))
                return nil
            } catch {
                #expect(error.status == .usage, "\(line)")
                return error.message
            }
        }
        #expect(usage("import clients") == "import needs a FILE to import (- for standard input)")
        #expect(usage("import widgets a.csv")?.hasPrefix("unknown kind") == true)
        #expect(usage("import clients a.csv --format xml") == "--format must be csv or json")
        #expect(usage("subject show \(id)")?.hasPrefix("unknown subject action") == true)
        #expect(usage("subject export not-an-id") == "the client id must be a UUID such as 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10")
        #expect(usage("export koto-digi --table placements") == "--table applies to the CSV (--format csv): the JSON holds both tables")
        #expect(usage("export koto-digi --format csv --table services") == "--table must be clients or placements")
        #expect(usage("export koto-digi --filter status=new") == "--filter does not apply to the Koto-digi export")
        #expect(usage("export clients --format json") == "--format applies to export koto-digi; lists and reports export CSV")
        #expect(usage("export clients --out a --output b") == "--out and --output are the same option: give one")
        #expect(usage("import clients a.csv --dry-run --skip-invalid") == nil)
    }
}
