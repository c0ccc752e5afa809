import Foundation
import KotoCore
import KotoHTTP
import KotoTestSupport
import Testing
@testable import KotoNode

/// Prometheus' own checker on a real scrape and on `deploy/prometheus/`:
/// `promtool check metrics`, `check config`, `check rules` and
/// `test rules` (each alert fires on a synthetic series). promtool comes
/// from the Debian package `prometheus`, which `deploy/test.sh` installs;
/// without it these tests fail and say so.
@Suite struct PromtoolTests {
    static let directory = packageRoot.appendingPathComponent("deploy/prometheus")

    /// promtool's path, or nil after recording a failure that says how to get it.
    static func promtool(sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = (directory as NSString).appendingPathComponent("promtool")
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        Issue.record("promtool not found on PATH or in /usr/bin: install the Debian package prometheus (deploy/test.sh does) — the metrics checks did NOT run",
                     sourceLocation: sourceLocation)
        return nil
    }

    /// Runs promtool with `arguments` (and `input` on standard input); its exit status and everything it printed.
    static func run(_ arguments: [String], input: String? = nil, in directory: URL? = nil) throws -> (status: Int32, output: String)? {
        guard let promtool = promtool() else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        // promtool reads all its input before it answers, and its answer fits the pipe: no deadlock either way.
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: printed, as: UTF8.self))
    }

    @Test func aRealScrapePassesPromtoolCheckMetrics() async throws {
        // nykarleby is unreachable, so its pulls fail and count; larsmo only reaches us.
        try await StatusTests.withRunningNode(peers: [PeerConfig(node: "larsmo", url: nil, mode: .passive),
                                                      PeerConfig(node: "nykarleby", url: "http://127.0.0.1:9", mode: .pull)]) { _, base, client in
            try await StatusTests.exercise(base, client)
            _ = try await client.send(.get, "\(base)/v1/clients/\(UUID().lowercased)", headers: ["Authorization": "Bearer \(Token.office)"])
            let response = try await client.send(.get, "\(base)/metrics", headers: ["Authorization": "Bearer \(Token.scrape)"])
            try #require(response.status == .ok)
            #expect(response.headers["Content-Type"] == MetricsExposition.contentType)
            let text = response.bodyText
            let scrape = try Scrape(text)
            #expect(scrape.value("kotosync_node_info", ["node": "kronoby", "region": "test-region", "municipality": "288"]) == 1)
            #expect((scrape.value("kotosync_http_requests_total", ["method": "POST", "route": "/v1/clients", "status": "201"]) ?? 0) >= 1)
            #expect(scrape.value("kotosync_changes_held", ["origin": "kronoby"]) == 1)
            guard let (status, output) = try Self.run(["check", "metrics"], input: text) else { return }
            // The scrape holds no personal data (it names routes and nodes), so it may be shown when promtool objects.
            #expect(status == 0, "promtool check metrics exited \(status):\n\(output)\n--- scrape:\n\(text)")
            #expect(output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool check metrics found problems:\n\(output)")
        }
    }

    @Test func promtoolRejectsABrokenExposition() throws {
        // The check above is only worth something if promtool objects to bad text.
        let broken = "# TYPE kotosync_broken counter\nkotosync_broken{peer=\"unterminated} 1\n"
        guard let (status, _) = try Self.run(["check", "metrics"], input: broken) else { return }
        #expect(status != 0)
    }

    @Test func alertRulesPassPromtoolCheckRules() throws {
        guard let (status, output) = try Self.run(["check", "rules", Self.directory.appendingPathComponent("alerts.yml").path]) else { return }
        #expect(status == 0, "\(output)")
        #expect(output.contains("SUCCESS"), "\(output)")
    }

    /// The alerts' unit tests: each alert fires on a synthetic series that should raise it, and not before.
    @Test func alertRulesPassTheirUnitTests() throws {
        guard let (status, output) = try Self.run(["test", "rules", "alerts_test.yml"], in: Self.directory) else { return }
        #expect(status == 0, "\(output)")
        #expect(output.contains("SUCCESS"), "\(output)")
    }

    /// Every alert in alerts.yml has a unit test in alerts_test.yml.
    @Test func everyAlertIsUnitTested() throws {
        let rules = try String(contentsOf: Self.directory.appendingPathComponent("alerts.yml"), encoding: .utf8)
        let tests = try String(contentsOf: Self.directory.appendingPathComponent("alerts_test.yml"), encoding: .utf8)
        let alerts = rules.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("- alert: ") else { return nil }
            return String(trimmed.dropFirst("- alert: ".count))
        }
        #expect(alerts.count >= 5)
        for alert in alerts {
            #expect(tests.contains("alertname: \(alert)\n"), "\(alert) has no test in alerts_test.yml")
        }
    }

    /// The scrape config names the five demo nodes and the scrape credential's
    /// token file, which the check needs to exist: it gets the demo token in a copy.
    @Test func scrapeConfigPassesPromtoolCheckConfig() throws {
        let config = try String(contentsOf: Self.directory.appendingPathComponent("prometheus.yml"), encoding: .utf8)
        for office in ConfigTests.offices {
            let node = try NodeConfig.load(path: packageRoot.appendingPathComponent("Config/demo/\(office).json").path)
            #expect(config.contains("'\(node.host):\(node.port)'"), "prometheus.yml lacks \(office) at \(node.host):\(node.port)")
        }
        #expect(config.contains("credentials_file: scrape.token"))
        let copy = try TemporaryDirectory()
        for file in ["prometheus.yml", "alerts.yml"] {
            try FileManager.default.copyItem(at: Self.directory.appendingPathComponent(file), to: URL(fileURLWithPath: copy.path(file)))
        }
        let credentials = try JSONValue.parse(Array(try Data(contentsOf: packageRoot.appendingPathComponent("Config/demo/credentials.json"))))
        let token = try #require(credentials["scrape"]?.stringValue)
        try copy.write("scrape.token", token + "\n", permissions: 0o600)
        guard let (status, output) = try Self.run(["check", "config", copy.path("prometheus.yml")]) else { return }
        #expect(status == 0, "\(output)")
        #expect(output.contains("SUCCESS"), "\(output)")
    }
}
