import Foundation
import KotoCore
import KotoHTTP
import Testing

extension Region {
    @Suite("Region: restore from backup")
    struct Restore {
        static let databaseSuffixes = ["", "-wal", "-shm"]

        /// Copies a stopped node's SQLite file and its -wal/-shm (when present).
        static func copyDatabase(from source: String, to target: String) throws {
            let files = FileManager.default
            for suffix in databaseSuffixes {
                if files.fileExists(atPath: target + suffix) { try files.removeItem(atPath: target + suffix) }
                if files.fileExists(atPath: source + suffix) { try files.copyItem(atPath: source + suffix, toPath: target + suffix) }
            }
        }

        @Test("a node restored from an older backup never reuses a dot: its first new write waits (503) or gets a seq beyond what peers hold")
        func restoreNeverReusesADot() async throws {
            try await withRegion { region in
                let node = region["jakobstad"]
                var acknowledged: [String] = []
                for index in 1...3 {
                    let id = newID()
                    try expectCreated(try await node.create(.service, Fixture.service(id: id, office: node.name, label: "early-\(index)")),
                                      "early write \(index)")
                    acknowledged.append(id)
                }
                try await region.waitConverged()

                // The backup, taken while the node is stopped.
                try await region.stop(node.name)
                let backup = "\(region.directory)/jakobstad-backup.sqlite"
                try Self.copyDatabase(from: node.databasePath, to: backup)
                try await region.start(node.name)

                // Writes after the backup, pulled by every peer.
                for index in 1...5 {
                    let id = newID()
                    try expectCreated(try await node.create(.service, Fixture.service(id: id, office: node.name, label: "later-\(index)")),
                                      "later write \(index)")
                    acknowledged.append(id)
                }
                let seqBeforeRestore = try #require(try await node.status()["seq"]?.int64Value)
                try await region.waitPeersHold(of: node.name, seq: seqBeforeRestore)

                // Back to the old copy.
                try await region.stop(node.name)
                try Self.copyDatabase(from: backup, to: node.databasePath)
                try await region.start(node.name, untilWritable: false)

                // The first new write: refused while catching up, or beyond every seq peers hold.
                let first = try await Self.firstAcceptedWrite(at: node, label: "after-restore")
                acknowledged.append(first.id)
                #expect(first.stamp.origin == node.name)
                #expect(first.stamp.seq > seqBeforeRestore,
                        "the first write after restore got seq \(first.stamp.seq) though peers already hold jakobstad:\(seqBeforeRestore) (\(first.refusals) refusals first)")
                note("restore: first write after \(first.refusals) catching-up refusals got seq \(first.stamp.seq) (peers held \(seqBeforeRestore))")

                // A few more, then everyone converges and every acknowledged write survived.
                for index in 1...2 {
                    let id = newID()
                    try expectCreated(try await node.create(.service, Fixture.service(id: id, office: node.name, label: "final-\(index)")),
                                      "final write \(index)")
                    acknowledged.append(id)
                }
                try await region.waitConverged(timeout: .seconds(30))
                for peer in region.all {
                    let held = Set(try await peer.list(.service).compactMap { $0["id"]?.stringValue })
                    let missing = acknowledged.filter { !held.contains($0) }
                    #expect(missing.isEmpty, "\(peer.name) lacks \(missing.count) acknowledged writes, e.g. \(missing.first ?? "")")
                    #expect(try await peer.holds(of: node.name) >= seqBeforeRestore + 3)
                }
            }
        }
    
        /// Writes a service at `node` until one is accepted (503 "catching_up" is
        /// the only other answer allowed); returns its id, its stamp and how many 503s came first.
        static func firstAcceptedWrite(at node: RegionNode, label: String,
                                       timeout: Duration = .seconds(20)) async throws -> (id: String, stamp: Stamp, refusals: Int) {
            var refusals = 0
            var accepted: String?
            try await waitUntil("a write at \(node.name) to be accepted", timeout: timeout, poll: .milliseconds(50)) {
                let id = newID()
                let result = try await node.create(.service, Fixture.service(id: id, office: node.name, label: label))
                switch result.status {
                case 201:
                    accepted = id
                    return true
                case 503:
                    #expect(result.errorCode == "catching_up", "503 for another reason: \(result.errorCode ?? "")")
                    refusals += 1
                    return false
                default:
                    Issue.record("unexpected answer to a write at \(node.name): \(result.status) \(result.errorCode ?? "")")
                    return false
                }
            }
            let id = try #require(accepted)
            let detail = try #require(try await node.record(.service, id))
            return (id, try #require(Stamp(detail["stamps"]?["status"])), refusals)
        }

        @Test("a node whose database was lost starts empty, pulls its own changes back and only then writes with new seqs")
        func lostDatabaseNeverReusesADot() async throws {
            try await withRegion { region in
                let node = region["kronoby"]
                var acknowledged: [String] = []
                for index in 1...4 {
                    let id = newID()
                    try expectCreated(try await node.create(.service, Fixture.service(id: id, office: node.name, label: "lost-\(index)")),
                                      "write \(index)")
                    acknowledged.append(id)
                }
                try await region.waitConverged()
                let held = try await node.status()["seq"]?.int64Value ?? 0
                try await region.stop(node.name)
                try FileManager.default.removeItem(atPath: node.dataDirectory)
                try await region.start(node.name, untilWritable: false)

                let first = try await Self.firstAcceptedWrite(at: node, label: "after-loss")
                acknowledged.append(first.id)
                #expect(first.stamp.origin == node.name)
                #expect(first.stamp.seq > held, "the first write on the new database got seq \(first.stamp.seq); peers hold kronoby:\(held)")
                try await region.waitConverged(timeout: .seconds(30))
                for peer in region.all {
                    let ids = Set(try await peer.list(.service).compactMap { $0["id"]?.stringValue })
                    #expect(acknowledged.allSatisfy(ids.contains), "\(peer.name) lacks acknowledged writes")
                }
            }
        }

        @Test("restored with --restored while every peer is unreachable: no seq is handed out again once the peers are back")
        func restoredWhilePeersUnreachable() async throws {
            // With --restored, local writes wait until a peer has said how many
            // of this node's changes exist; then no seq is handed out twice.
            try await restoredWhilePeersUnreachableBody()
        }

        func restoredWhilePeersUnreachableBody() async throws {
            try await withRegion { region in
                let node = region["larsmo"]
                var acknowledged: [String] = []
                try expectCreated(try await node.create(.service, Fixture.service(office: node.name, label: "base")), "base write")
                try await region.waitConverged()
                try await region.stop(node.name)
                let backup = "\(region.directory)/larsmo-backup.sqlite"
                try Self.copyDatabase(from: node.databasePath, to: backup)
                try await region.start(node.name)
                for index in 1...3 {
                    let id = newID()
                    try expectCreated(try await node.create(.service, Fixture.service(id: id, office: node.name, label: "later-\(index)")),
                                      "later write \(index)")
                    acknowledged.append(id)
                }
                let seqBeforeRestore = try #require(try await node.status()["seq"]?.int64Value)
                try await region.waitPeersHold(of: node.name, seq: seqBeforeRestore)

                // Everyone down; the old copy back; larsmo starts alone, told it was restored.
                await region.stopAll()
                try Self.copyDatabase(from: backup, to: node.databasePath)
                try await region.start(node.name, arguments: ["--restored"], untilWritable: false)
                var early: [(id: String, status: Int)] = []
                for index in 1...3 {
                    let id = newID()
                    let result = try await node.create(.service, Fixture.service(id: id, office: node.name, label: "alone-\(index)"))
                    early.append((id, result.status))
                    if result.status == 201 { acknowledged.append(id) }
                }
                // --restored always waits until every configured peer has answered: alone, it never takes a write.
                #expect(early.allSatisfy { $0.status == 503 }, "answers while alone: \(early.map(\.status))")
                #expect(try await node.status()["catchingUp"] == .bool(true))
                #expect(try await node.status()["waitingForPeers"]?.arrayValue?.isEmpty == false)

                // The peers come back: whatever larsmo acknowledged must survive, with dots nobody held before.
                for peer in region.all where peer.name != node.name { try await region.start(peer.name) }
                let first = try await Self.firstAcceptedWrite(at: node, label: "after-peers")
                acknowledged.append(first.id)
                // Once the version vectors agree nothing more will move: compare now
                // (a reused dot shows as records that differ under equal vectors).
                try await region.waitVersionVectorsAgree(timeout: .seconds(20))
                try await Task.sleep(for: .milliseconds(500))
                let differences = try await region.differences()
                #expect(differences.isEmpty, "replicas diverged: \(differences.prefix(4).joined(separator: "; "))")
                var lacking: [String] = []
                for peer in region.all {
                    let ids = Set(try await peer.list(.service).compactMap { $0["id"]?.stringValue })
                    let missing = acknowledged.filter { !ids.contains($0) }
                    if !missing.isEmpty { lacking.append("\(peer.name) lacks \(missing.count)") }
                }
                #expect(lacking.isEmpty, "acknowledged writes lost (of \(acknowledged.count)): \(lacking.joined(separator: ", "))")
            }
        }
    
        @Test("a restored node that cannot pull its own changes back yet answers local writes with 503 catching_up")
        func restoredNodeRefusesWritesUntilCaughtUp() async throws {
            try await withRegion(RegionOptions(nodes: ["jakobstad", "nykarleby", "kronoby"])) { region in
                let node = region["nykarleby"]
                var acknowledged: [String] = []
                try expectCreated(try await node.create(.service, Fixture.service(office: node.name, label: "base")), "base write")
                try await region.waitConverged()
                try await region.stop(node.name)
                let backup = "\(region.directory)/nykarleby-backup.sqlite"
                try Self.copyDatabase(from: node.databasePath, to: backup)
                try await region.start(node.name)
                for index in 1...4 {
                    let id = newID()
                    try expectCreated(try await node.create(.service, Fixture.service(id: id, office: node.name, label: "later-\(index)")),
                                      "later write \(index)")
                    acknowledged.append(id)
                }
                let seqBeforeRestore = try #require(try await node.status()["seq"]?.int64Value)
                try await region.waitPeersHold(of: node.name, seq: seqBeforeRestore)

                // The old copy back, started announcing another schema version: the
                // peers answer its state probe (so it learns it is behind) but refuse
                // its pulls (so it cannot catch up).
                try await region.stop(node.name)
                try Self.copyDatabase(from: backup, to: node.databasePath)
                try await region.start(node.name, environment: ["KOTOSYNC_SCHEMA_VERSION": "99"], untilWritable: false)
                try await waitUntil("nykarleby's status to show it is catching up", timeout: .seconds(10)) {
                    try await node.status()["catchingUp"]?.int64Value == seqBeforeRestore
                }
                for index in 1...3 {
                    let result = try await node.create(.service, Fixture.service(office: node.name, label: "refused-\(index)"))
                    #expect(result.status == 503, "write \(index) while behind: \(result.status)")
                    #expect(result.errorCode == "catching_up")
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(try await node.holds(of: node.name) < seqBeforeRestore, "the refused pulls brought nothing back")

                // Normal again: it pulls its changes back, then writes beyond them.
                try await region.restart(node.name, untilWritable: false)
                let first = try await Self.firstAcceptedWrite(at: node, label: "caught-up")
                acknowledged.append(first.id)
                #expect(first.stamp.seq > seqBeforeRestore, "seq \(first.stamp.seq) after restore; peers hold nykarleby:\(seqBeforeRestore)")
                #expect(try await node.status()["catchingUp"] == .bool(false))
                try await region.waitConverged()
                for peer in region.all {
                    let ids = Set(try await peer.list(.service).compactMap { $0["id"]?.stringValue })
                    #expect(acknowledged.allSatisfy(ids.contains), "\(peer.name) lacks acknowledged writes")
                }
            }
        }
    }
}
