import Foundation
import KotoCore
import KotoHTTP
import Testing

// The access log on a real daemon: a coordinator's read of a client is
// recorded in `access.sqlite`, `kotosync audit verify|subject|export` work
// against it, a tampered file is named by `audit verify`, and the log holds
// no personal value of the client (its bytes are searched).

extension Region {
    @Suite("Region: access log")
    struct AccessLog {
        @Test("a coordinator's read is recorded; kotosync audit verify, subject and export work; tampering is named; no personal value in access.sqlite")
        func recordedVerifiedAndFreeOfPersonalValues() async throws {
            try await withRegion(RegionOptions(nodes: ["jakobstad"], peers: ["jakobstad": []])) { region in
                let node = region["jakobstad"]
                let directory = region.directory
                // Distinctive, obviously made-up values to search the file for.
                let givenName = "Zyxwquortiel", familyName = "Vämpryndottir"
                let id = newID()
                var client = Fixture.client(id: id, office: "jakobstad", number: "AUDIT-1")
                if case .object(var members) = client {
                    members = members.map { key, value in
                        key == "givenName" ? (key, .string(givenName)) : key == "familyName" ? (key, .string(familyName)) : (key, value)
                    }
                    client = .object(members)
                }
                let created = try await node.create(.client, client)
                try #require(created.status == 201, "create answered \(created.status) \(created.errorCode ?? "")")
                let read = try await node.send(.get, "/v1/clients/\(id)", role: .coordinator, headers: ["X-Purpose": "case review"])
                try #require(read.status == 200, "the coordinator's read answered \(read.status)")

                let subject = try await node.send(.get, "/v1/audit/subject/\(id)", role: .coordinator)
                try #require(subject.status == 200, "GET /v1/audit/subject answered \(subject.status) \(subject.errorCode ?? "")")
                let entries = subject.json?["items"]?.arrayValue ?? []
                let reads = entries.filter { $0["action"]?.stringValue == "read" && $0["holder"]?["role"]?.stringValue == "coordinator" }
                try #require(!reads.isEmpty, """
                    no access-log entry for the coordinator's read of the client: this daemon's API does not call \
                    access.record on record reads (the office-scopes part of issue 8 does)
                    """)
                let entry = reads[0]
                #expect(entry["route"]?.stringValue == "GET /v1/clients/{id}")
                #expect(entry["ids"]?.arrayValue?.compactMap(\.stringValue) == [id])
                #expect(entry["fields"]?.arrayValue?.compactMap(\.stringValue).contains("givenName") == true)
                #expect(entry["purpose"]?.stringValue == "case review")
                #expect(entry["node"]?.stringValue == "jakobstad")

                // The command line against the daemon.
                let tokenFile = "\(directory)/coordinator.token"
                try writeFile(region.tokens.coordinator + "\n", to: tokenFile, permissions: 0o600)
                let connection = ["--url", node.url, "--token-file", tokenFile]
                let verified = try await runCLI(["audit", "verify"] + connection, in: directory)
                #expect(verified.status == 0, "\(verified.summary)")
                #expect(verified.output.hasPrefix("access log of jakobstad verifies: "), "\(verified.summary)")

                let listed = try await runCLI(["audit", "subject", id] + connection, in: directory)
                #expect(listed.status == 0, "\(listed.summary)")
                #expect(listed.lines.first?.hasPrefix("SEQ") == true)
                #expect(listed.lines.contains { $0.contains("coordinator") && $0.contains("GET /v1/clients/{id}") && $0.contains("case review") })
                let listedJSON = try await runCLI(["audit", "subject", id, "--json"] + connection, in: directory)
                #expect(listedJSON.json?["items"]?.arrayValue?.count == entries.count)

                let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
                let csvPath = "\(directory)/audit.csv"
                let exported = try await runCLI(["audit", "export", "--from", today, "--to", today, "--output", csvPath] + connection,
                                                in: directory)
                #expect(exported.status == 0, "\(exported.summary)")
                let csv = try #require(FileManager.default.contents(atPath: csvPath))
                #expect(Array(csv.prefix(3)) == [0xEF, 0xBB, 0xBF])
                #expect(String(decoding: csv, as: UTF8.self).contains("\r\n"))
                let mode = try FileManager.default.attributesOfItem(atPath: csvPath)[.posixPermissions] as? NSNumber
                #expect(mode?.intValue == 0o600)
                let json = try await runCLI(["audit", "export", "--from", today, "--to", today, "--format", "json"] + connection,
                                            in: directory)
                #expect(json.status == 0, "\(json.summary)")
                #expect((json.json?["items"]?.arrayValue?.count ?? 0) >= reads.count)

                // An office may not read the log.
                let office = try #require(region.tokens.office(of: "jakobstad"))
                let refused = try await runCLI(["audit", "verify", "--url", node.url], environment: ["KOTOSYNC_TOKEN": office], in: directory)
                #expect(refused.status == 1 && refused.stderr.contains("HTTP 403"), "\(refused.summary)")

                // Not one byte of the client's name in the access log's files (UTF-8 and UTF-16).
                try await region.stop("jakobstad")
                let files = ["access.sqlite", "access.sqlite-wal", "access.sqlite-shm"].map { "\(node.dataDirectory)/\($0)" }
                #expect(FileManager.default.fileExists(atPath: files[0]))
                for path in files {
                    guard let bytes = FileManager.default.contents(atPath: path).map(Array.init) else { continue }
                    for value in [givenName, familyName] {
                        for needle in [Array(value.utf8), value.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] },
                                       value.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }] {
                            #expect(!contains(bytes, needle), "a personal value of the client is in \((path as NSString).lastPathComponent)")
                        }
                    }
                }
                // The replica itself does hold it: the search would find it.
                let replica = try #require(FileManager.default.contents(atPath: node.databasePath).map(Array.init))
                let wal = FileManager.default.contents(atPath: node.databasePath + "-wal").map(Array.init) ?? []
                #expect(contains(replica, Array(givenName.utf8)) || contains(wal, Array(givenName.utf8)), "the search finds what is there")

                // Tampered while the daemon is down: verify names the entry.
                let shell = try RegionPaths.sqliteShell()
                let status = try await ChildProcess.run(shell, [files[0], "UPDATE entries SET purpose = 'other' WHERE seq = 1"],
                                                        logPath: "\(directory)/sqlite3.log", timeout: .seconds(20))
                try #require(status == 0, "sqlite3 failed: \(tail(ofFile: "\(directory)/sqlite3.log", lines: 5))")
                try await region.start("jakobstad")
                let broken = try await runCLI(["audit", "verify"] + connection, in: directory)
                #expect(broken.status == 1, "\(broken.summary)")
                #expect(broken.stderr.contains("broken at entry 1: hash_mismatch"), "\(broken.summary)")
            }
        }
    }
}

/// Whether `needle` occurs in `haystack`.
private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    let first = needle[0]
    var index = 0
    let last = haystack.count - needle.count
    while index <= last {
        if haystack[index] == first && haystack[index..<index + needle.count].elementsEqual(needle) { return true }
        index += 1
    }
    return false
}
