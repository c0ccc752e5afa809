import Foundation
import KotoCore
import KotoHTTP
import Testing

/// A field's stamp as a record's detail view shows it.
struct Stamp: Equatable, Sendable, CustomStringConvertible {
    let origin: String
    let seq: Int64
    let wall: Int64
    let counter: Int64

    init?(_ json: JSONValue?) {
        guard let json, let origin = json["origin"]?.stringValue, let seq = json["seq"]?.int64Value,
              let hlc = json["hlc"]?.stringValue else { return nil }
        let parts = hlc.split(separator: ".")
        guard parts.count == 2, let wall = Int64(parts[0]), let counter = Int64(parts[1]) else { return nil }
        self.origin = origin
        self.seq = seq
        self.wall = wall
        self.counter = counter
    }

    /// The merge order: `(hlc, origin)`.
    static func wins(_ a: Stamp, over b: Stamp) -> Bool {
        (a.wall, a.counter, a.origin) > (b.wall, b.counter, b.origin)
    }

    var dot: JSONValue { .object([("origin", .string(origin)), ("seq", .number(Double(seq)))]) }
    var description: String { "\(origin):\(seq)@\(wall).\(counter)" }
}

/// The non-personal parts of a client record, so that a failing expectation
/// (which prints the values it compares) never shows a name.
struct ClientView: Equatable, Sendable {
    let status: String?
    let openConflicts: Int64?
    let statusStamp: Stamp?
    let erased: Bool?
    /// Which of the personal fields still hold a value.
    let personalFieldsSet: [String]

    init(_ record: JSONValue) {
        status = record["fields"]?["status"]?.stringValue
        openConflicts = record["openConflicts"]?.int64Value
        statusStamp = Stamp(record["stamps"]?["status"])
        erased = record["erased"]?.boolValue
        personalFieldsSet = ["givenName", "familyName", "birthDate", "jobseeker"].filter {
            let value = record["fields"]?[$0]
            return value != nil && value != .null
        }
    }
}

extension RegionNode {
    func client(_ id: String) async throws -> ClientView? {
        try await record(.client, id).map(ClientView.init)
    }
}

extension Region {
    @Suite("Region: convergence and conflicts")
    struct Convergence {
        @Test("five offices in full mesh converge; a concurrent update is the same conflict everywhere; a resolution closes it everywhere")
        func fullMeshConflictAndResolution() async throws {
            try await withRegion { region in
                // Writes at every office: a service, a client and a placement joining them.
                var clients: [String: String] = [:]
                for office in offices {
                    let node = region[office]
                    let service = newID(), client = newID()
                    try expectCreated(try await node.create(.service, Fixture.service(id: service, office: office, label: office)),
                                      "service at \(office)")
                    try expectCreated(try await node.create(.client, Fixture.client(id: client, office: office, number: "\(office)-1")),
                                      "client at \(office)")
                    try expectCreated(try await node.create(.placement, Fixture.placement(client: client, service: service)),
                                      "placement at \(office)")
                    clients[office] = client
                }
                try await region.waitConverged()
                for office in offices {
                    let snapshot = try await region.snapshot(office)
                    for kind in RecordKind.allCases {
                        #expect(snapshot.records[kind.table]?.count == offices.count, "\(office) holds every office's \(kind.table)")
                    }
                    #expect(snapshot.conflicts.isEmpty, "no conflicts yet at \(office)")
                }

                // Two offices cut off (restarted with every peer URL unreachable)
                // update the same field of the same client: neither write can
                // have seen the other. (The other offices still pull from both.)
                let target = try #require(clients["kronoby"])
                let writers = ["jakobstad": "assessed", "nykarleby": "assessment_pending"]
                var stamps: [String: Stamp] = [:]
                try await Self.whileCutOff(writers.keys.sorted(), in: region) {
                    for (name, value) in writers.sorted(by: { $0.key < $1.key }) {
                        // Kronoby's office writes its client at either node.
                        let result = try await region[name].send(.patch, "/v1/clients/\(target)", json: .fields(["status": .string(value)]),
                                                                 role: .officeOf(municipalityCode("kronoby")))
                        try #require(result.status == 200, "PATCH at \(name): \(result.status) \(result.errorMessage ?? "")")
                        let view = try #require(try await region[name].client(target))
                        let stamp = try #require(view.statusStamp, "status stamp at \(name)")
                        stamps[name] = stamp
                        #expect(view.status == value, "the cut-off \(name) holds only its own write")
                        #expect(view.openConflicts == 0, "no conflict while \(name) is cut off")
                    }
                }
                let jakobstadStamp = try #require(stamps["jakobstad"]), nykarlebyStamp = try #require(stamps["nykarleby"])
                #expect(jakobstadStamp.origin == "jakobstad" && nykarlebyStamp.origin == "nykarleby")
                try await region.waitConverged()

                // Every node: the same single conflict on that field, the same winner.
                let (winner, loser) = Stamp.wins(jakobstadStamp, over: nykarlebyStamp)
                    ? (jakobstadStamp, nykarlebyStamp) : (nykarlebyStamp, jakobstadStamp)
                var seen: [JSONValue] = []
                for office in offices {
                    let node = region[office]
                    let conflicts = try await node.conflicts().filter { $0["rowId"]?.stringValue == target }
                    try #require(conflicts.count == 1, "\(office) lists \(conflicts.count) conflicts for the client, expected 1")
                    let conflict = conflicts[0]
                    #expect(conflict["kind"]?.stringValue == "client")
                    #expect(conflict["field"]?.stringValue == "status")
                    #expect(conflict["dot"] == loser.dot, "\(office): the conflict is the losing write \(loser)")
                    #expect(conflict["winner"] == winner.dot, "\(office): the winner is \(winner)")
                    #expect(conflict["value"]?.stringValue == writers[loser.origin])
                    seen.append(RegionCluster.comparableConflict(conflict))
                    let view = try #require(try await node.client(target))
                    #expect(view.status == writers[winner.origin], "\(office) shows the winning value")
                    #expect(view.openConflicts == 1)
                    #expect(view.statusStamp == winner)
                }
                #expect(Set(seen).count == 1, "every node lists the identical conflict")

                // A resolution written at a third office closes it everywhere.
                let resolution = try await region["pedersore"].send(.patch, "/v1/clients/\(target)", json: .fields(["status": .string("assessed")]),
                                                                    role: .officeOf(municipalityCode("kronoby")))
                try #require(resolution.status == 200, "resolving PATCH: \(resolution.status)")
                try await waitUntil("the conflict to close at every node", timeout: .seconds(20)) {
                    for office in offices where try await !region[office].conflicts().isEmpty { return false }
                    return true
                }
                try await region.waitConverged()
                for office in offices {
                    let view = try #require(try await region[office].client(target))
                    #expect(view.status == "assessed")
                    #expect(view.openConflicts == 0)
                    #expect(view.statusStamp?.origin == "pedersore")
                    #expect(try await region[office].status()["conflicts"]?.int64Value == 0)
                }
            }
        }
    
        /// Restarts `names` with every peer URL unreachable, runs `body`, restarts them with their normal configs.
        static func whileCutOff(_ names: [String], in region: RegionCluster, _ body: () async throws -> Void) async throws {
            for name in names {
                let path = try region.writeConfig(name, peers: region.peers(of: name), path: "\(region.directory)/\(name)-isolated.json",
                                                  unreachablePeers: true)
                try await region.restart(name, configPath: path)
            }
            try await body()
            for name in names { try await region.restart(name) }
        }

        @Test("three cut-off offices: a three-way conflict, a delete racing an update and an erase racing an update end identical everywhere")
        func threeWayDeleteAndErase() async throws {
            try await withRegion { region in
                let origin = region["pedersore"]
                let contested = newID(), service = newID(), erased = newID()
                try expectCreated(try await origin.create(.client, Fixture.client(id: contested, office: origin.name, number: "C-3")), "client")
                try expectCreated(try await origin.create(.service, Fixture.service(id: service, office: origin.name, label: "racy")), "service")
                try expectCreated(try await origin.create(.client, Fixture.client(id: erased, office: origin.name, number: "C-E")), "client to erase")
                try await region.waitConverged()

                let writers = ["jakobstad": "assessed", "nykarleby": "closed", "kronoby": "moved_away"]
                // Pedersöre's office writes its records at whichever node it uses.
                let owner = Role.officeOf(municipalityCode("pedersore"))
                var stamps: [Stamp] = []
                try await Self.whileCutOff(writers.keys.sorted(), in: region) {
                    for (name, value) in writers.sorted(by: { $0.key < $1.key }) {
                        let node = region[name]
                        let result = try await node.send(.patch, "/v1/clients/\(contested)", json: .fields(["status": .string(value)]), role: owner)
                        try #require(result.status == 200, "PATCH at \(name): \(result.status)")
                        let view = try await node.client(contested)
                        stamps.append(try #require(view?.statusStamp, "status stamp at \(name)"))
                    }
                    let deleted = try await region["jakobstad"].send(.delete, "/v1/services/\(service)", role: owner)
                    try #require(deleted.status == 204, "DELETE at jakobstad: \(deleted.status)")
                    let updated = try await region["nykarleby"].send(.patch, "/v1/services/\(service)", json: .fields(["capacity": .number(5)]),
                                                                     role: owner)
                    try #require(updated.status == 200, "PATCH at nykarleby: \(updated.status)")
                    let erasing = try await region["nykarleby"].send(.post, "/v1/clients/\(erased)/erase", role: owner)
                    try #require(erasing.status == 200, "erase at nykarleby: \(erasing.status)")
                    let racing = try await region["jakobstad"].send(.patch, "/v1/clients/\(erased)", json: .fields(["jobseeker": .bool(true)]),
                                                                    role: owner)
                    try #require(racing.status == 200, "PATCH of the client at jakobstad: \(racing.status)")
                }
                try await region.waitConverged()

                let winner = try #require(stamps.max { Stamp.wins($1, over: $0) })
                let losers = Set(stamps.filter { $0 != winner }.map(\.dot))
                for node in region.all {
                    let conflicts = try await node.conflicts()
                    let onContested = conflicts.filter { $0["rowId"]?.stringValue == contested }
                    #expect(onContested.count == 2, "\(node.name): a three-way race leaves two open conflicts")
                    #expect(Set(onContested.compactMap { $0["dot"] }) == losers, "\(node.name): the losing writes")
                    #expect(onContested.allSatisfy { $0["winner"] == winner.dot && $0["field"]?.stringValue == "status" })
                    #expect(conflicts.allSatisfy { $0["rowId"]?.stringValue == contested }, "\(node.name): no other conflicts")

                    let racy = try #require(try await node.list(.service).first { $0["id"]?.stringValue == service })
                    #expect(racy["deleted"]?.boolValue == true, "\(node.name): the delete holds")
                    #expect(racy["fields"]?["capacity"]?.int64Value == 5, "\(node.name): the concurrent update of another field holds too")

                    let listed = try await node.list(.client).first { $0["id"]?.stringValue == erased }
                    let gone = try #require(listed.map(ClientView.init), "\(node.name) lists the erased client")
                    #expect(gone.erased == true, "\(node.name): erase is absorbing")
                    #expect(gone.personalFieldsSet.isEmpty, "\(node.name): the erased client still has \(gone.personalFieldsSet)")
                    #expect(gone.openConflicts == 0)
                }
            }
        }
    }
}
