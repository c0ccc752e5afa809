import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

// End-to-end: the real `kotosync` binary as a child process against real
// `kotosyncd` nodes. Checks compare the CLI's output with what the API
// answers; failure messages quote the CLI's standard error (which never
// holds record values) and exit status, never its standard output.

/// One finished run of `kotosync`.
struct CLIRun: Sendable {
    let status: Int32
    let stdout: [UInt8]
    let stderr: String

    var output: String { String(decoding: stdout, as: UTF8.self) }
    var lines: [Substring] { output.split(separator: "\n") }
    var json: JSONValue? { try? JSONValue.parse(stdout) }
    /// For failure messages: the status and standard error only.
    var summary: String { "exit \(status), stderr: \(stderr.isEmpty ? "(empty)" : stderr)" }
}

/// Runs the CLI binary with `arguments`, only `environment` set among the
/// `KOTOSYNC_*` variables, standard input from `input` (else /dev/null, so
/// never a terminal); killed and thrown after `timeout`.
func runCLI(_ arguments: [String], environment: [String: String] = [:], input: [UInt8]? = nil, in directory: String,
            timeout: Duration = .seconds(60)) async throws -> CLIRun {
    let binary = try RegionPaths.cliBinary()
    let name = UUID().uuidString
    let outPath = "\(directory)/cli-\(name).out", errPath = "\(directory)/cli-\(name).err", inPath = "\(directory)/cli-\(name).in"
    defer { for path in [outPath, errPath, inPath] { try? FileManager.default.removeItem(atPath: path) } }
    for path in [outPath, errPath] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("KOTOSYNC_") }
    env["LANG"] = "C.UTF-8"
    env.removeValue(forKey: "LC_ALL")
    for (key, value) in environment { env[key] = value }
    process.environment = env
    guard let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath) else {
        throw RegionError("cannot open the CLI's output files in \(directory)")
    }
    defer { try? out.close(); try? err.close() }
    process.standardOutput = out
    process.standardError = err
    if let input {
        _ = FileManager.default.createFile(atPath: inPath, contents: Data(input))
        process.standardInput = FileHandle(forReadingAtPath: inPath)
    } else {
        process.standardInput = FileHandle.nullDevice
    }
    try process.run()
    let pid = process.processIdentifier
    liveChildren.withLock { $0[pid] = SIGKILL }
    defer { liveChildren.withLock { _ = $0.removeValue(forKey: pid) } }
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now >= deadline {
            Glibc.kill(pid, SIGKILL)
            process.waitUntilExit()
            throw RegionError("kotosync \(arguments.first ?? "") did not finish within \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    let stdout = FileManager.default.contents(atPath: outPath).map(Array.init) ?? []
    let stderr = FileManager.default.contents(atPath: errPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
    if process.terminationReason == .uncaughtSignal {
        throw RegionError("kotosync \(arguments.first ?? "") was killed by signal \(process.terminationStatus); stderr: \(stderr)")
    }
    return CLIRun(status: process.terminationStatus, stdout: stdout, stderr: stderr)
}

extension Region {
    @Suite("Region: command line")
    struct CommandLine {
        /// The CLI's environment for `node` with `token`.
        static func environment(_ node: RegionNode, token: String) -> [String: String] {
            ["KOTOSYNC_URL": node.url, "KOTOSYNC_TOKEN": token]
        }

        @Test("status shows each peer with its state and last success; --json is the server's status")
        func status() async throws {
            let options = RegionOptions(nodes: ["jakobstad", "nykarleby"])
            try await withRegion(options) { region in
                let node = region["jakobstad"]
                try await waitUntil("jakobstad's first successful pull from nykarleby", timeout: .seconds(20)) {
                    try await node.peerStatus("nykarleby")?["lastSuccess"]?.stringValue != nil
                }
                let env = Self.environment(node, token: region.tokens.admin)
                let run = try await runCLI(["status"], environment: env, in: region.directory)
                try #require(run.status == 0, "\(run.summary)")
                #expect(run.stderr.isEmpty)
                let lines = run.lines
                #expect(lines.first?.hasPrefix("node jakobstad · seq ") == true)
                #expect(lines.first?.hasSuffix("· takes writes") == true)
                let header = try #require(lines.first { $0.hasPrefix("PEER") })
                for column in ["MODE", "STATE", "LAG", "LAST SUCCESS", "FAILURES", "LAST ERROR"] { #expect(header.contains(column)) }
                let peer = try #require(lines.first { $0.hasPrefix("nykarleby ") })
                let cells = peer.split(separator: " ")
                #expect(cells.count >= 5 && cells[1] == "pull" && cells[2] == "ok", "\(peer)")
                #expect(peer.contains(" ago") || peer.contains("just now"), "last success as a relative time: \(peer)")
                // The LAST SUCCESS column starts under its header.
                let column = try #require(header.range(of: "LAST SUCCESS")).lowerBound.utf16Offset(in: header)
                let after = peer.dropFirst(column)
                #expect(after.hasPrefix("just now") || after.first?.isNumber == true, "\(peer)")

                let json = try await runCLI(["status", "--json"], environment: env, in: region.directory)
                try #require(json.status == 0, "\(json.summary)")
                let status = try #require(json.json, "--json output parses")
                #expect(status["node"]?.stringValue == "jakobstad")
                #expect(status["peers"]?.arrayValue?.compactMap { $0["node"]?.stringValue } == ["nykarleby"])
                let compact = try await runCLI(["--compact", "status"], environment: env, in: region.directory)
                #expect(compact.status == 0)
                #expect(compact.lines.count == 1)
                #expect(compact.json?["node"]?.stringValue == "jakobstad")

                // An office may not see the status: the server's refusal as one sentence, exit 1.
                let office = try #require(region.tokens.office(of: "jakobstad"))
                let refused = try await runCLI(["status"], environment: Self.environment(node, token: office), in: region.directory)
                #expect(refused.status == 1)
                #expect(refused.stderr == "kotosync: the office role may not use GET /v1/status (HTTP 403 forbidden).\n")
                #expect(refused.stdout.isEmpty)

                // A wrong token: 401, and the token is not printed.
                let wrong = try await runCLI(["status"], environment: Self.environment(node, token: "not-a-real-token-4711"), in: region.directory)
                #expect(wrong.status == 1)
                #expect(wrong.stderr.contains("(HTTP 401 unauthorized)"), "\(wrong.summary)")
                #expect(!wrong.stderr.contains("4711"))
            }
        }

        @Test("records: a validation error names the field; add, list, get, update, delete, restore and erase work and match the API")
        func recordLifecycle() async throws {
            try await withRegion(RegionOptions(nodes: ["jakobstad"], peers: ["jakobstad": []])) { region in
                let node = region["jakobstad"]
                let directory = region.directory
                let token = try #require(region.tokens.office(of: node.name))
                let tokenFile = "\(directory)/office.token"
                try writeFile(token + "\n", to: tokenFile, permissions: 0o600)
                let connection = ["--url", node.url, "--token-file", tokenFile]
                func cli(_ arguments: [String], input: [UInt8]? = nil) async throws -> CLIRun {
                    try await runCLI(arguments + connection, input: input, in: directory)
                }

                // A token file others may read is refused before anything is sent.
                let open = "\(directory)/open.token"
                try writeFile(token, to: open, permissions: 0o644)
                let refused = try await runCLI(["list", "clients", "--url", node.url, "--token-file", open], in: directory)
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("is open to group or others (mode 644)"), "\(refused.summary)")
                #expect(!refused.stderr.contains(token))

                // Missing birthDate: exit 1, the field named, no value echoed, nothing created.
                let id = newID()
                let complete = Fixture.client(id: id, office: node.name, number: "CLI-1")
                let incomplete = JSONValue.object((complete.objectMembers ?? []).filter { $0.0 != "birthDate" })
                let badFile = "\(directory)/incomplete.json"
                try writeFile(incomplete.serialized, to: badFile)
                let invalid = try await cli(["add", "clients", "--file", badFile])
                #expect(invalid.status == 1)
                #expect(invalid.stderr.hasPrefix("kotosync: 1 problem with the record — birthDate: is required"), "\(invalid.summary)")
                #expect(invalid.stderr.hasSuffix("(HTTP 422 validation_failed).\n"), "\(invalid.summary)")
                for value in ["Testi", "Henkilö", "CLI-1"] { #expect(!invalid.stderr.contains(value), "the error echoes no value") }
                #expect(invalid.stdout.isEmpty)
                #expect(try await node.record(.client, id) == nil, "nothing was created")

                // Add: the record the API then holds is the one in the file.
                let file = "\(directory)/client.json"
                try writeFile(complete.serialized, to: file)
                let added = try await cli(["add", "client", "--file", file])
                try #require(added.status == 0, "\(added.summary)")
                #expect(added.lines.first == "created client \(id)")
                let stored = try #require(try await node.record(.client, id, role: .office))
                for (field, value) in complete.objectMembers ?? [] where field != "id" {
                    #expect(stored["fields"]?[field] == value, "stored \(field) as given")
                }
                // The table after it shows each field with its value.
                #expect(added.lines.contains { $0.hasPrefix("clientNumber ") && $0.hasSuffix(" CLI-1") })

                // A service from standard input.
                let service = newID()
                let fromStdin = try await cli(["add", "services", "--file", "-"],
                                              input: Fixture.service(id: service, office: node.name, label: "cli").serializedBytes)
                #expect(fromStdin.status == 0, "\(fromStdin.summary)")
                #expect(try await node.record(.service, service) != nil)

                // Get: --json is the API's record; the table names every field.
                let got = try await cli(["get", "clients", id, "--json"])
                try #require(got.status == 0, "\(got.summary)")
                #expect(got.json == stored)
                let table = try await cli(["get", "clients", id])
                #expect(table.lines.first == "client \(id)")
                for spec in RecordKind.client.fields where spec.name != deletedFieldName {
                    #expect(table.lines.contains { $0.hasPrefix(spec.name + " ") || $0 == spec.name }, "get shows \(spec.name)")
                }

                // List: a table with the record, filters, --json, and --all across pages.
                for number in ["CLI-2", "CLI-3"] {
                    try expectCreated(try await node.create(.client, Fixture.client(office: node.name, number: number)), "client \(number)")
                }
                let listed = try await cli(["list", "clients"])
                try #require(listed.status == 0, "\(listed.summary)")
                #expect(listed.lines.first?.hasPrefix("id ") == true)
                #expect(listed.lines.dropFirst().count == 3)
                #expect(listed.lines.contains { $0.hasPrefix(id + " ") })
                let filtered = try await cli(["list", "clients", "--filter", "clientNumber=CLI-1", "--json"])
                #expect(filtered.json?["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [id], "\(filtered.summary)")
                let paged = try await cli(["list", "clients", "--limit", "1"])
                #expect(paged.lines.count == 3, "header, one record, the hint to the next page")
                #expect(paged.lines.last?.hasPrefix("more after ") == true)
                let all = try await cli(["list", "clients", "--limit", "1", "--all", "--json"])
                let everything = try await node.list(.client).compactMap { $0["id"]?.stringValue }
                #expect(all.json?["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == everything, "\(all.summary)")
                let badFilter = try await cli(["list", "clients", "--filter", "shoeSize=42"])
                #expect(badFilter.status == 1)
                #expect(badFilter.stderr == "kotosync: invalid query parameters — shoeSize: is not a filter of clients (HTTP 400 invalid_query).\n")

                // Update.
                let changes = "\(directory)/changes.json"
                try writeFile(JSONValue.fields(["status": .string("assessment_pending")]).serialized, to: changes)
                let updated = try await cli(["update", "clients", id, "--file", changes])
                #expect(updated.status == 0, "\(updated.summary)")
                #expect(updated.lines.first == "updated client \(id)")
                #expect(try await node.record(.client, id)?["fields"]?["status"]?.stringValue == "assessment_pending")
                let badUpdate = try await cli(["update", "clients", id, "--file", "-"], input: Array(#"{"status":"sleeping"}"#.utf8))
                #expect(badUpdate.status == 1)
                #expect(badUpdate.stderr.contains("status: must be one of: "), "\(badUpdate.summary)")
                #expect(!badUpdate.stderr.contains("sleeping"))

                // Delete, then restore.
                let deleted = try await cli(["delete", "clients", id])
                #expect(deleted.status == 0, "\(deleted.summary)")
                #expect(try await node.record(.client, id)?["deleted"]?.boolValue == true)
                #expect(try await cli(["get", "clients", id]).lines.first == "client \(id) (deleted)")
                #expect(try await cli(["list", "clients"]).lines.contains { $0.hasPrefix(id) } == false, "a deleted record is not listed")
                #expect(try await cli(["list", "clients", "--deleted"]).lines.contains { $0.hasPrefix(id) && $0.hasSuffix("  deleted") })
                let restored = try await cli(["restore", "clients", id])
                #expect(restored.status == 0, "\(restored.summary)")
                #expect(try await node.record(.client, id)?["deleted"]?.boolValue == false)

                // Erase: not without --yes off a terminal; with it, for good.
                let unconfirmed = try await cli(["erase", "clients", id])
                #expect(unconfirmed.status == 2)
                #expect(try await node.record(.client, id)?["erased"]?.boolValue == false)
                let erased = try await cli(["erase", "clients", id, "--yes"])
                #expect(erased.status == 0, "\(erased.summary)")
                let gone = try #require(try await node.record(.client, id))
                #expect(gone["erased"]?.boolValue == true)
                #expect(gone["fields"]?["givenName"] == .null)

                // An unknown id: the server's 404 as one sentence.
                let missing = newID()
                let notFound = try await cli(["get", "placements", missing])
                #expect(notFound.status == 1)
                #expect(notFound.stderr == "kotosync: no placement \(missing) (HTTP 404 not_found).\n")
            }
        }

        /// Whether `node` serves `path` (a route, even if this request is refused) rather than "no route".
        static func serves(_ node: RegionNode, _ method: HTTPMethod, _ path: String) async throws -> Bool {
            let result = try await node.send(method, path, json: method == .post ? .object([("value", .null)]) : nil, role: .coordinator)
            return !(result.status == 404 && result.errorMessage?.hasPrefix("no route") == true)
        }

        @Test("conflicts lists each open conflict by its id; resolve closes it on every node")
        func conflictsAndResolve() async throws {
            let options = RegionOptions(nodes: ["jakobstad", "nykarleby"])
            try await withRegion(options) { region in
                let jakobstad = region["jakobstad"]
                let target = newID()
                try expectCreated(try await jakobstad.create(.client, Fixture.client(id: target, office: "jakobstad", number: "CLI-C")), "client")
                try await region.waitConverged()
                // Both offices cut off update the same field: a conflict once they meet again.
                try await Region.Convergence.whileCutOff(region.names, in: region) {
                    for (name, value) in [("jakobstad", "assessed"), ("nykarleby", "assessment_pending")] {
                        // Jakobstad's office writes its client at either node.
                        let result = try await region[name].send(.patch, "/v1/clients/\(target)", json: .fields(["status": .string(value)]),
                                                                 role: .officeOf(municipalityCode("jakobstad")))
                        try #require(result.status == 200, "PATCH at \(name): \(result.status)")
                    }
                }
                try await region.waitConverged()
                let apiConflicts = try await jakobstad.conflicts()
                try #require(!apiConflicts.isEmpty, "the concurrent updates left an open conflict")
                let conflictID = "clients:\(target):status"

                let env = Self.environment(jakobstad, token: region.tokens.coordinator)
                let listed = try await runCLI(["conflicts"], environment: env, in: region.directory)
                try #require(listed.status == 0, "\(listed.summary)")
                #expect(listed.lines.first?.hasPrefix("CONFLICT ") == true)
                #expect(listed.lines.dropFirst().count == apiConflicts.count)
                #expect(listed.lines.dropFirst().allSatisfy { $0.hasPrefix(conflictID + " ") }, "each line starts with the conflict id")
                let json = try await runCLI(["conflicts", "--kind", "clients", "--json"], environment: env, in: region.directory)
                #expect(json.json?["items"]?.arrayValue?.map(RegionCluster.comparableConflict) == apiConflicts.map(RegionCluster.comparableConflict))
                let got = try await runCLI(["get", "client", target], environment: env, in: region.directory)
                #expect(got.lines.first == "client \(target) (1 open conflict)", "\(got.summary)")
                #expect(got.lines.contains { $0.hasPrefix(conflictID + " ") })

                guard try await Self.serves(jakobstad, .post, "/v1/conflicts/\(conflictID)/resolve") else {
                    Issue.record("NOT TESTED: kotosync resolve — this kotosyncd has no POST /v1/conflicts/{id}/resolve yet")
                    return
                }
                let office = try #require(region.tokens.office(of: "jakobstad"))
                let officeEnv = Self.environment(jakobstad, token: office)
                let invalid = try await runCLI(["resolve", conflictID, "--value", #""sleeping""#], environment: officeEnv, in: region.directory)
                #expect(invalid.status == 1)
                #expect(invalid.stderr.contains("(HTTP 422 validation_failed)") && invalid.stderr.contains("status: "), "\(invalid.summary)")
                #expect(!invalid.stderr.contains("sleeping"))
                let unknown = try await runCLI(["resolve", "clients:\(newID()):status", "--value", #""closed""#], environment: officeEnv,
                                               in: region.directory)
                #expect(unknown.status == 1)
                #expect(unknown.stderr.contains("(HTTP 404 not_found)"), "\(unknown.summary)")
                let resolved = try await runCLI(["resolve", conflictID, "--value", #""closed""#], environment: officeEnv, in: region.directory)
                try #require(resolved.status == 0, "\(resolved.summary)")
                #expect(resolved.lines.first?.hasPrefix("resolved \(conflictID)") == true)
                try await waitUntil("the conflict to close on both nodes", timeout: .seconds(20)) {
                    for node in region.all where try await !node.conflicts().isEmpty { return false }
                    return true
                }
                try await region.waitConverged()
                for node in region.all {
                    #expect(try await node.record(.client, target)?["fields"]?["status"]?.stringValue == "closed", "\(node.name)")
                }
                let none = try await runCLI(["conflicts"], environment: env, in: region.directory)
                #expect(none.output == "no open conflicts\n")
            }
        }

        @Test("report prints each table under its title and labels; export writes the server's CSV byte for byte")
        func reportsAndExport() async throws {
            try await withRegion(RegionOptions(nodes: ["jakobstad"], peers: ["jakobstad": []])) { region in
                let node = region["jakobstad"]
                let service = newID(), client = newID()
                try expectCreated(try await node.create(.service, Fixture.service(id: service, office: node.name, label: "r")), "service")
                try expectCreated(try await node.create(.client, Fixture.client(id: client, office: node.name, number: "CLI-R")), "client")
                try expectCreated(try await node.create(.placement, Fixture.placement(client: client, service: service)), "placement")
                let env = Self.environment(node, token: region.tokens.coordinator)
                let directory = region.directory

                if try await Self.serves(node, .get, "/v1/reports/overview") {
                    let api = try #require(try await node.send(.get, "/v1/reports/overview?lang=sv", role: .coordinator).json)
                    let run = try await runCLI(["report", "overview", "--lang", "sv"], environment: env, in: directory)
                    try #require(run.status == 0, "\(run.summary)")
                    #expect(run.lines.first?.hasPrefix("report overview · whole region") == true)
                    let tables = try #require(api["tables"]?.objectMembers)
                    #expect(!tables.isEmpty)
                    for (key, table) in tables {
                        let title = try #require(table["title"]?.stringValue)
                        let heading = try #require(run.lines.firstIndex { $0 == "\(title) [\(key)]" }, "the \(key) table's title")
                        let labels = (table["columns"]?.arrayValue ?? []).compactMap { $0["label"]?.stringValue }
                        let rows = table["rows"]?.arrayValue ?? []
                        if rows.isEmpty { continue }
                        let header = run.lines[run.lines.index(after: heading)]
                        for label in labels { #expect(header.contains(label), "\(key): column \(label)") }
                    }
                    let json = try await runCLI(["report", "overview", "--lang", "sv", "--json"], environment: env, in: directory)
                    func withoutTime(_ value: JSONValue?) -> JSONValue? { value.map { .object(($0.objectMembers ?? []).filter { $0.0 != "generatedAt" }) } }
                    #expect(withoutTime(json.json) == withoutTime(api), "\(json.summary)")
                    let placements = try await runCLI(["report", "placements", "--year", "2026", "--json"], environment: env, in: directory)
                    #expect(placements.json?["year"]?.int64Value == 2026, "\(placements.summary)")
                    let unknown = try await runCLI(["report", "nonsense"], environment: env, in: directory)
                    #expect(unknown.status == 1)
                    #expect(unknown.stderr.contains("(HTTP 404"), "\(unknown.summary)")
                } else {
                    Issue.record("NOT TESTED: kotosync report — this kotosyncd has no GET /v1/reports/<name> yet")
                }

                let csvList = try await node.send(.get, "/v1/clients?format=csv", role: .coordinator)
                guard csvList.status == 200, csvList.headers["Content-Type"]?.hasPrefix("text/csv") == true else {
                    Issue.record("NOT TESTED: kotosync export — this kotosyncd does not answer ?format=csv yet (HTTP \(csvList.status))")
                    return
                }
                let out = "\(directory)/clients.csv"
                let exported = try await runCLI(["export", "clients", "--csv", "--out", out], environment: env, in: directory)
                try #require(exported.status == 0, "\(exported.summary)")
                let written = try #require(FileManager.default.contents(atPath: out))
                #expect(Array(written) == csvList.body, "the file holds the server's bytes unchanged")
                #expect(written.starts(with: [0xEF, 0xBB, 0xBF]), "UTF-8 with BOM")
                let mode = (try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? NSNumber)?.intValue
                #expect(mode.map { $0 & 0o777 } == 0o600, "a CSV that may hold personal data is the owner's only")
                #expect(exported.stdout.isEmpty)
                let toStdout = try await runCLI(["export", "clients"], environment: env, in: directory)
                #expect(toStdout.stdout == csvList.body)
                if try await Self.serves(node, .get, "/v1/reports/placements") {
                    let api = try await node.send(.get, "/v1/reports/placements?year=2026&table=municipalities&format=csv", role: .coordinator)
                    let report = try await runCLI(["export", "report", "placements", "--table", "municipalities", "--year", "2026"],
                                                  environment: env, in: directory)
                    try #require(report.status == 0, "\(report.summary)")
                    #expect(report.stdout == api.body)
                }
            }
        }

        @Test("no daemon: exit 3 with one sentence; usage errors exit 2; help exits 0")
        func unreachableAndUsage() async throws {
            let directory = try RegionPaths.makeTemporaryDirectory(prefix: "kotosync-cli")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let port = try RegionCluster.freePorts(1)[0]
            let unreachable = try await runCLI(["status", "--url", "http://127.0.0.1:\(port)"],
                                               environment: ["KOTOSYNC_TOKEN": "secret-token-0815"], in: directory)
            #expect(unreachable.status == 3, "\(unreachable.summary)")
            #expect(unreachable.stderr.hasPrefix("kotosync: cannot reach the daemon at http://127.0.0.1:\(port): "))
            #expect(unreachable.stderr.filter { $0 == "\n" }.count == 1, "one line")
            #expect(!unreachable.stderr.contains("0815"))
            #expect(unreachable.stdout.isEmpty)
            // KOTOSYNC_URL is used when --url is not given.
            let fromEnvironment = try await runCLI(["list", "clients"], environment: ["KOTOSYNC_URL": "http://127.0.0.1:\(port)"], in: directory)
            #expect(fromEnvironment.status == 3, "\(fromEnvironment.summary)")

            let unknown = try await runCLI(["frobnicate"], in: directory)
            #expect(unknown.status == 2)
            #expect(unknown.stderr == "kotosync: unknown subcommand `frobnicate`. See `kotosync --help`.\n")
            let missing = try await runCLI(["get", "clients"], in: directory)
            #expect(missing.status == 2)
            #expect(missing.stderr == "kotosync: get needs a record id. See `kotosync get --help`.\n")
            let option = try await runCLI(["list", "clients", "--colour"], in: directory)
            #expect(option.status == 2)
            #expect(option.stderr == "kotosync: unknown option --colour for list. See `kotosync list --help`.\n")

            let help = try await runCLI(["--help"], in: directory)
            #expect(help.status == 0)
            #expect(help.output.hasPrefix("usage: kotosync <subcommand>"))
            #expect(help.stderr.isEmpty)
            let listHelp = try await runCLI(["list", "--help"], in: directory)
            #expect(listHelp.status == 0)
            #expect(listHelp.output.hasPrefix("usage: kotosync list <kind>"))
        }
    }
}
