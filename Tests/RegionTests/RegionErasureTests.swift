import Foundation
import KotoCore
import KotoHTTP
import Testing

// Erasure on five real nodes, searched byte by byte: after an erase (by the
// owner office and by the retention job) has reached every node, no file of
// any node's data directory — database, WAL, SHM, access log, anything —
// and no daemon log holds the erased values, in UTF-8 or UTF-16 (LE, BE).
// Failure messages name value numbers and files, never the values.

/// Values that occur nowhere but in the records a test writes, and a search for them in files.
struct Distinctive: Sendable {
    let values: [String]

    /// `count` strings with letters outside ASCII (so UTF-8 and UTF-16 differ) and a random tag.
    static func names(_ count: Int, prefix: String) -> [String] {
        let stems = ["Qyzäl", "Wörmtrux", "Xüllberg", "Zörnquist", "Jåkvöss", "Ŧrëmholt", "Vęzzaro", "Kœnigsbü"]
        let tag = String(UInt32.random(in: 100_000...999_999))
        return (0..<count).map { "\(stems[$0 % stems.count])\(prefix)\(tag)\($0)" }
    }

    /// A valid personal identity code no other record holds (random individual number).
    static func identityCode(born: LocalDate) -> String {
        PersonalIdentityCode.make(birthDate: born, individual: Int.random(in: 100...899))
    }

    static func encodings(_ value: String) -> [(String, [UInt8])] {
        let units = Array(value.utf16)
        return [("UTF-8", Array(value.utf8)),
                ("UTF-16LE", units.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }),
                ("UTF-16BE", units.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })]
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pin in
                var index = 0
                let last = hay.count - pin.count
                while index <= last {
                    if hay[index] == pin[0], memcmp(hay.baseAddress! + index, pin.baseAddress!, pin.count) == 0 { return true }
                    index += 1
                }
                return false
            }
        }
    }

    /// Which value (by number) occurs in which file, in which encoding.
    func occurrences(in bytes: [UInt8], file: String) -> [String] {
        var found: [String] = []
        for (index, value) in values.enumerated() {
            for (encoding, pattern) in Self.encodings(value) where Self.contains(bytes, pattern) {
                found.append("value \(index) in \(file) (\(encoding))")
            }
        }
        return found
    }

    /// Every regular file under `directory`, recursively.
    static func files(under directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let path = "\(directory)/\(relative)"
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { files.append(path) }
        }
        return files.sorted()
    }

    func occurrences(inFiles paths: [String]) -> [String] {
        paths.flatMap { path in
            occurrences(in: FileManager.default.contents(atPath: path).map(Array.init) ?? [], file: path)
        }
    }
}

extension Region {
    @Suite("Region: erasure leaves no byte")
    struct Erasure {
        /// The owner office's credential, presented at any node (it is accepted on every node of the demo region).
        static func asOwner(_ region: RegionCluster, owner: String) throws -> HTTPHeaders {
            guard let token = region.tokens.office(of: owner) else { throw RegionError("no office token for \(owner)") }
            return ["Authorization": "Bearer \(token)"]
        }

        static func client(id: String, number: String, owner: String, given: String, family: String, born: String, code: String,
                           retentionUntil: String? = nil, arrival: String = "2019-07-23", firstPermit: String = "2019-08-29") -> JSONValue {
            var members: [(String, JSONValue)] = [
                ("id", .string(id)), ("clientNumber", .string(number)),
                ("ownerMunicipality", .number(Double(municipalityCode(owner)))),
                ("givenName", .string(given)), ("familyName", .string(family)), ("birthDate", .string(born)),
                ("personalIdentityCode", .string(code)), ("integrationLanguage", .string("sv")),
                ("planStatus", .string("none")), ("status", .string("new")),
            ]
            if let retentionUntil { members.append(("retentionUntil", .string(retentionUntil))) }
            // Dates the report indexes hold (report_clients_deadlines), searched for too.
            members += [("arrivalDate", .string(arrival)), ("firstPermitDate", .string(firstPermit))]
            return .object(members)
        }

        @Test("a client updated, in conflict and erased at its office, and one erased by the retention job, leave no byte in any file of any node")
        func noByteRemains() async throws {
            try await withRegion { region in
                let owner = "jakobstad", other = "nykarleby"
                let home = region[owner]
                let headers = try Self.asOwner(region, owner: owner)
                let names = Distinctive.names(8, prefix: "e")
                let bornA = LocalDate(year: 1987, month: 3, day: 14)!, bornB = LocalDate(year: 2001, month: 11, day: 2)!
                let codeA = Distinctive.identityCode(born: bornA), codeB = Distinctive.identityCode(born: bornB)
                // Names, identity codes, and the dates only these clients hold (arrival, first permit: in the report indexes).
                let secret = Distinctive(values: names + [codeA, codeB, "2017-04-26", "2017-06-08", "2018-01-09", "2018-02-13"])
                let a = newID(), b = newID(), service = newID(), placementA = newID(), placementB = newID()

                // A: created, placed, updated at its own office.
                try expectCreated(try await home.create(.client, Self.client(id: a, number: "E-1", owner: owner, given: names[0],
                                                                             family: names[1], born: bornA.description, code: codeA,
                                                                             arrival: "2017-04-26", firstPermit: "2017-06-08")),
                                  "client A")
                try expectCreated(try await home.create(.service, Fixture.service(id: service, office: owner, label: "erase")), "service")
                try expectCreated(try await home.create(.placement, Fixture.placement(id: placementA, client: a, service: service)), "placement A")
                let updated = try await home.send(.patch, "/v1/clients/\(a)", json: .fields(["familyName": .string(names[2])]),
                                                  role: .none, headers: headers)
                try #require(updated.status == 200, "update of A: \(updated.status) \(updated.errorCode ?? "")")
                // B: retained until a day long past, so the retention job erases it.
                try expectCreated(try await home.create(.client, Self.client(id: b, number: "E-2", owner: owner, given: names[6],
                                                                             family: names[7], born: bornB.description, code: codeB,
                                                                             retentionUntil: "2020-01-31", arrival: "2018-01-09",
                                                                             firstPermit: "2018-02-13")),
                                  "client B")
                try expectCreated(try await home.create(.placement, Fixture.placement(id: placementB, client: b, service: service)), "placement B")
                try await region.waitConverged()

                // A conflict on A's family name: the owner's credential writes at two offices cut off from each other.
                try await Region.Convergence.whileCutOff([owner, other], in: region) {
                    for (name, value) in [(owner, names[3]), (other, names[4])] {
                        let result = try await region[name].send(.patch, "/v1/clients/\(a)", json: .fields(["familyName": .string(value)]),
                                                                 role: .none, headers: headers)
                        try #require(result.status == 200, "concurrent update at \(name): \(result.status) \(result.errorCode ?? "")")
                    }
                    // Any client's name in a third write, at the other office: only the conflict loser survives of these.
                    let third = try await region[other].send(.patch, "/v1/clients/\(a)", json: .fields(["givenName": .string(names[5])]),
                                                             role: .none, headers: headers)
                    try #require(third.status == 200, "update of the given name at \(other): \(third.status)")
                }
                try await region.waitConverged()
                for node in region.all {
                    let open = try await node.conflicts().filter { $0["rowId"]?.stringValue == a }
                    #expect(!open.isEmpty, "\(node.name) holds the conflict on client A")
                }

                // Every node holds the values now: the search finds them (it would find what survives an erase).
                let before = secret.occurrences(inFiles: Distinctive.files(under: "\(region.directory)/data"))
                for node in region.all {
                    #expect(before.contains { $0.contains("/data/\(node.name)/") }, "\(node.name)'s files hold the values before the erase")
                }

                // What the retention job would erase: B (and its placement) at its owner's node, nothing elsewhere.
                let preview = try await home.send(.get, "/v1/retention/preview", role: .coordinator)
                try #require(preview.status == 200, "preview: \(preview.status) \(preview.errorCode ?? "")")
                let items = preview.json?["items"]?.arrayValue ?? []
                #expect(items.compactMap { $0["id"]?.stringValue } == [b])
                #expect(items.first?["placements"] == .array([.string(placementB)]))
                #expect(items.first?["reason"]?.stringValue == "retentionUntil")
                #expect(items.first?["retentionUntil"]?.stringValue == "2020-01-31")
                #expect(secret.occurrences(in: preview.body, file: "preview").isEmpty, "the preview names no one")
                let elsewhere = try await region[other].send(.get, "/v1/retention/preview", role: .admin)
                #expect(elsewhere.status == 200 && elsewhere.json?["items"]?.arrayValue?.isEmpty == true,
                        "\(other)'s job erases none of \(owner)'s clients")
                let cli = try await runCLI(["retention", "preview"], environment: ["KOTOSYNC_URL": home.url,
                                                                                   "KOTOSYNC_TOKEN": region.tokens.coordinator],
                                           in: region.directory)
                #expect(cli.status == 0, "kotosync retention preview: \(cli.summary)")
                #expect(cli.lines.contains { $0.hasPrefix(b + " ") && $0.contains("2020-01-31") && $0.contains("retentionUntil") },
                        "the CLI lists B")
                #expect(!cli.output.contains(a))
                #expect(secret.occurrences(in: cli.stdout, file: "CLI output").isEmpty)
                let refused = try await home.send(.post, "/v1/retention/run", role: .office)
                #expect(refused.status == 403, "an office may not run the job")

                // Erase A at its office; the retention job erases B.
                let erased = try await home.send(.post, "/v1/clients/\(a)/erase", role: .none, headers: headers)
                try #require(erased.status == 200, "erase of A: \(erased.status) \(erased.errorCode ?? "")")
                let run = try await home.send(.post, "/v1/retention/run", role: .coordinator, headers: ["X-Purpose": "test run"])
                try #require(run.status == 200, "retention run: \(run.status) \(run.errorCode ?? "")")
                #expect(run.json?["erased"] == .array([.object([("id", .string(b)), ("placements", .array([.string(placementB)]))])]))
                try await region.waitConverged()
                for node in region.all {
                    for id in [a, b] { #expect(try await node.client(id)?.erased == true, "\(node.name): client \(id) erased") }
                    #expect(try await node.record(.placement, placementB)?["erased"]?.boolValue == true, "\(node.name): placement B erased")
                    #expect(try await node.conflicts().filter { $0["rowId"]?.stringValue == a }.isEmpty, "\(node.name): A's conflict gone")
                }
                let after = try await home.send(.get, "/v1/retention/preview", role: .coordinator)
                #expect(after.json?["items"]?.arrayValue?.isEmpty == true, "nothing left to erase")

                // Not one byte, in any file of any data directory, nor in any daemon log, while the nodes run.
                let logs = region.all.map(\.logPath)
                var left: [String] = []
                let deadline = ContinuousClock.now + .seconds(15)
                repeat {
                    left = secret.occurrences(inFiles: Distinctive.files(under: "\(region.directory)/data") + logs)
                    if left.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(250))
                } while ContinuousClock.now < deadline
                let shown = left.prefix(12).map { $0.replacingOccurrences(of: region.directory, with: "") }
                #expect(left.count == 0, "\(left.count) erased values remain, e.g. \(shown.joined(separator: "; "))")
                let searched = Distinctive.files(under: "\(region.directory)/data")
                note("searched \(searched.count) files of \(region.all.count) data directories and \(logs.count) daemon logs: "
                     + searched.map { ($0 as NSString).lastPathComponent }.sorted().joined(separator: ","))
                #expect(searched.contains { $0.hasSuffix(".sqlite-wal") }, "the WALs were there to search")
            }
        }
    }
}
