import Foundation
import KotoCore
import KotoHTTP
import Testing

extension Region {
    @Suite("Region: flapping links in network namespaces")
    struct Flapping {
        @Test("links cut and healed every second while 100k changes replicate: converges, nothing applied twice")
        func flappingLinksDuringBacklog() async throws {
            // KOTOSYNC_FLAP_BACKLOG: a smaller backlog for a quick local run (the suite uses 100k).
            let backlog = ProcessInfo.processInfo.environment["KOTOSYNC_FLAP_BACKLOG"].flatMap { Int($0) } ?? 100_000
            try await withNetnsRegion(maxBodyBytes: 16 << 20) { lab in
                let region = lab.region
                let source = region["jakobstad"]
                let before = try await source.holds(of: "jakobstad")

                // Flap: every second two links are cut and the others healed, round
                // the ten links of the mesh (each node loses a link in turn), while
                // the backlog is written and replicates and other offices write.
                let pairs = Self.allPairs(region.names)
                let flapping = Task { () throws -> Int in
                    var tick = 0
                    while !Task.isCancelled {
                        try lab.setCutLinks([pairs[tick % pairs.count], pairs[(tick + 4) % pairs.count]])
                        tick += 1
                        try? await Task.sleep(for: .milliseconds(900))
                    }
                    return tick * 2
                }
                var acknowledged: [String: String] = [:]
                let started = ContinuousClock.now
                let target: Int64
                do {
                    // The backlog: imports of 10k services at jakobstad, each one transaction,
                    // so that peers pull the first while the next is written.
                    var created: Int64 = 0
                    let chunk = min(backlog, 10_000)
                    for offset in stride(from: 0, to: backlog, by: chunk) {
                        let file = Self.importFile(count: min(chunk, backlog - offset), office: source.name, from: offset)
                        let imported = try await Self.importServices(file, at: source)
                        try #require(imported.status == 200, "import: \(imported.status) \(imported.errorCode ?? "") \(imported.errorMessage ?? "")")
                        created += imported.json?["created"]?.int64Value ?? 0
                    }
                    try #require(created == Int64(backlog), "the imports created \(created) services, expected \(backlog)")
                    target = before + created
                    note("flapping: imported \(backlog) services in \(ContinuousClock.now - started)")
                    for round in 0..<5 {
                        for name in ["kronoby", "larsmo"] {
                            acknowledged.merge(try await Region.Partitions.createServices(at: region[name], count: 2, label: "flap-\(round)"),
                                               uniquingKeysWith: { $1 })
                        }
                    }
                    var lastReport = ContinuousClock.now
                    try await waitUntil("every node to hold the backlog while links flap", timeout: .seconds(600), poll: .milliseconds(500)) {
                        var held: [String] = []
                        for node in region.all { held.append("\(node.name) \(try await node.holds(of: "jakobstad"))") }
                        if ContinuousClock.now - lastReport > .seconds(30) {
                            lastReport = ContinuousClock.now
                            note("flapping: jakobstad's changes held: \(held.joined(separator: ", ")) of \(target)")
                        }
                        for node in region.all where try await node.holds(of: "jakobstad") < target { return false }
                        return true
                    }
                } catch {
                    flapping.cancel()
                    throw error
                }
                flapping.cancel()
                let flaps = try await flapping.value
                note("flapping: backlog at every node \(ContinuousClock.now - started) after the first import, \(flaps) link cuts")
                try lab.healAll()
                #expect(flaps >= 20, "the links flapped only \(flaps) times while the backlog replicated")

                try await region.waitVersionVectorsAgree(timeout: .seconds(60))
                try await lab.waitDigestsAgree(timeout: .seconds(60))
                #expect(acknowledged.count == 20, "every write during the flapping was acknowledged")
                // Every acknowledged write is at every node with its value (counts: below, from the databases).
                for node in region.all {
                    var missing = 0
                    for (id, name) in acknowledged {
                        let held = try await node.record(.service, id)?["fields"]?["nameFi"]?.stringValue
                        if held != name { missing += 1 }
                    }
                    #expect(missing == 0, "\(node.name) lacks \(missing) acknowledged writes (or holds another value)")
                }
                // Nothing applied twice: each node's log holds each change once, as many as its version vector counts.
                var vectors: Set<JSONValue> = []
                for node in region.all {
                    let status = try await node.status()
                    let vector = try #require(status["versionVector"])
                    vectors.insert(vector)
                    let sum = (vector.objectMembers ?? []).reduce(Int64(0)) { $0 + ($1.1.int64Value ?? 0) }
                    #expect(status["logPosition"]?.int64Value == sum, "\(node.name): log position \(status["logPosition"]?.int64Value ?? -1), vector sums to \(sum)")
                }
                #expect(vectors.count == 1)
                await region.stopAll()
                var counts: Set<String> = []
                for node in region.all {
                    let line = try await Self.query(region, node.name, """
                        SELECT (SELECT count(*) FROM services) || ' ' || (SELECT count(*) FROM change_log) || ' ' || \
                        (SELECT count(*) FROM (SELECT DISTINCT origin, seq FROM change_log)) || ' ' || (SELECT sum(seq) FROM version_vector);
                        """)
                    let numbers = line.split(separator: " ").compactMap { Int($0) }
                    try #require(numbers.count == 4, "\(node.name): unexpected answer from sqlite3")
                    #expect(numbers[0] == backlog + acknowledged.count, "\(node.name): \(numbers[0]) services")
                    #expect(numbers[1] == numbers[2], "\(node.name): \(numbers[1]) log entries, \(numbers[2]) distinct dots")
                    #expect(numbers[1] == numbers[3], "\(node.name): \(numbers[1]) log entries, version vector sums to \(numbers[3])")
                    counts.insert(line)
                }
                #expect(counts.count == 1, "every node counts the same services and log entries")
            }
        }

        /// The ten links of a five-node mesh, in an order that moves from node to node.
        static func allPairs(_ names: [String]) -> [(String, String)] {
            var pairs: [(String, String)] = []
            for distance in 1...(names.count / 2) {
                for index in names.indices {
                    let other = (index + distance) % names.count
                    if distance * 2 == names.count && other < index { continue }
                    pairs.append((names[index], names[other]))
                }
            }
            return pairs
        }

        /// An import file (JSON) of `count` synthetic services of `office`.
        static func importFile(count: Int, office: String, from first: Int = 0) -> [UInt8] {
            let code = municipalityCode(office)
            var text = "["
            text.reserveCapacity(count * 220)
            for index in first..<(first + count) {
                if index > first { text += "," }
                text += """
                    {"id":"\(newID())","nameFi":"Jonopalvelu \(index)","providerName":"Provider \(office)","providerType":"municipality",\
                    "category":"language_course","municipalities":[\(code)],"studyPath":"basic","capacity":20,"status":"active"}
                    """
            }
            text += "]"
            return Array(text.utf8)
        }

        /// `POST /v1/import/services` with a JSON file, as the node's own office.
        static func importServices(_ file: [UInt8], at node: RegionNode) async throws -> APIResult {
            var headers: HTTPHeaders = ["Content-Type": "application/json"]
            if let token = node.tokens.office(of: node.name) { headers["Authorization"] = "Bearer \(token)" }
            let client = try AsyncHTTPClient(configuration: HTTPClient.Configuration(connectTimeout: .seconds(2), totalTimeout: .seconds(300)))
            let response = try await client.send(.post, node.url + "/v1/import/services", headers: headers, body: file, timeout: .seconds(300))
            return APIResult(status: response.status.code, body: response.body, headers: response.headers)
        }

        /// One line from the sqlite3 shell on a stopped node's database.
        static func query(_ region: RegionCluster, _ name: String, _ sql: String) async throws -> String {
            let shell = try RegionPaths.sqliteShell()
            let output = "\(region.directory)/\(name)-query.txt"
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            let status = try await ChildProcess.run(shell, ["-readonly", region[name].databasePath, sql], logPath: output, timeout: .seconds(60))
            let text = FileManager.default.contents(atPath: output).map { String(decoding: $0, as: UTF8.self) } ?? ""
            guard status == 0 else { throw RegionError("sqlite3 on \(name)'s database failed (status \(status))") }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
