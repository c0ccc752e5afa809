import Foundation
import KotoCore
import KotoCrypto
import KotoTestSupport
import Testing
@testable import KotoStore

/// Snapshots (`SnapshotWriter`, `ReplicaStore.importSnapshot`): a replica
/// built from one holds exactly the sender's merged state (rows, frontiers,
/// row clocks, erased rows, version vector, heads), starts with an empty log
/// whose floor is the snapshot's version vector, and syncs on from there;
/// a cut-off, altered or forged snapshot is refused and writes nothing.
@Suite struct SnapshotTests {
    /// Two replicas that exchanged creates, concurrent updates (an open
    /// conflict), a delete and an erase, and converged.
    struct Region {
        let harness: StoreHarness
        let jakobstad: ReplicaStore
        let larsmo: ReplicaStore
        let conflicted: UUID

        init() throws {
            let harness = try StoreHarness()
            let jakobstad = try harness.open("jakobstad")
            let larsmo = try harness.open("larsmo")
            var rng = SeededGenerator(seed: 10)
            var clients: [UUID] = []
            try jakobstad.batch {
                let service = try jakobstad.create(.service, fields: Sample.fixedService(number: 1)).rowID
                for number in 1...30 {
                    var fields = Sample.client(&rng, number: number)
                    // Clients waiting for their initial assessment: they have a next limit in `deadline_next`.
                    if number % 5 == 0 {
                        fields["firstPermitDate"] = .text("2026-0\(number / 5)-15")
                        fields["assessmentDate"] = nil
                        fields["status"] = .text("new")
                    }
                    let client = try jakobstad.create(.client, fields: fields).rowID
                    clients.append(client)
                    if number % 3 == 0 { try jakobstad.create(.placement, fields: Sample.enrolment(client: client, service: service)) }
                }
            }
            try pullAll(larsmo, from: jakobstad, limit: 7)
            for number in 1...10 { try larsmo.create(.client, fields: Sample.client(&rng, number: 100 + number)) }
            harness.clock.advance(by: 1_000)
            try jakobstad.update(.client, id: clients[0], fields: ["status": .text("assessed")])
            try jakobstad.update(.client, id: clients[1], fields: ["status": .text("closed")])
            harness.clock.advance(by: 1_000)
            try larsmo.update(.client, id: clients[0], fields: ["status": .text("closed")])
            try larsmo.delete(.client, id: clients[2])
            try larsmo.erase(.client, id: clients[3])
            try pullAll(larsmo, from: jakobstad)
            try pullAll(jakobstad, from: larsmo)
            self.harness = harness
            self.jakobstad = jakobstad
            self.larsmo = larsmo
            conflicted = clients[0]
        }
    }

    static func snapshot(of store: ReplicaStore, chunkBytes: Int = 1024) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try SnapshotWriter.write(databasePath: store.database.path, now: 1, chunkBytes: chunkBytes) { bytes += $0 }
        return bytes
    }

    /// A reader over `bytes` handing out at most `piece` bytes per call.
    static func reader(_ bytes: [UInt8], piece: Int = 777) -> (Int) throws -> [UInt8] {
        var offset = 0
        return { count in
            let end = min(bytes.count, offset + min(count, piece))
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
    }

    static func facts(_ store: ReplicaStore) throws -> Set<ConflictFacts> {
        Set(try store.openConflicts().map { ConflictFacts($0, including: .all) })
    }

    /// The schema (every table, index and trigger as `sqlite_master` holds
    /// it) and the contents of the derived tables a bulk load rebuilds (the
    /// report aggregates, `deadline_next`): a replica built from a snapshot
    /// must hold exactly what one that merged the same rows holds.
    static func derivedState(_ store: ReplicaStore) throws -> [String] {
        var lines = try store.database.query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name") { row in
            "\(row.string(0) ?? "") \(row.string(1) ?? "") on \(row.string(2) ?? ""): \(row.string(3) ?? "-")"
        }
        for table in ReportAggregates.tables.map(\.name) + [DeadlineAggregate.table] {
            let count = try store.database.query("SELECT count(*) FROM pragma_table_info('\(table)')") { Int32($0.int64(0)) }.first ?? 0
            lines += try store.database.query("SELECT * FROM \(table)") { row in
                table + ": " + (0..<count).map { "\(row.value($0))" }.joined(separator: " | ")
            }.sorted()
        }
        return lines
    }

    @Test func aSnapshotBuildsAnEqualReplicaThatSyncsOn() throws {
        let region = try Region()
        #expect(try region.jakobstad.canonicalDump() == region.larsmo.canonicalDump(), "the region converged")
        #expect(try region.jakobstad.openConflictCount() == 1)
        let bytes = try Self.snapshot(of: region.jakobstad)
        let kronoby = try region.harness.open("kronoby")
        #expect(kronoby.isEmptyReplica)
        let summary = try kronoby.importSnapshot(read: Self.reader(bytes))
        #expect(summary.rows == 41 + 10)

        let jakobstad = region.jakobstad
        #expect(kronoby.stateDigest == jakobstad.stateDigest)
        #expect(try kronoby.canonicalDump() == jakobstad.canonicalDump(), "rows, row clocks, stamps, erased rows and conflicts")
        #expect(try Self.facts(kronoby) == Self.facts(jakobstad))
        #expect(kronoby.versionVector == jakobstad.versionVector)
        #expect(kronoby.logFloor == jakobstad.versionVector, "the floor is the snapshot's version vector")
        #expect(kronoby.logPosition == 0)
        #expect(try kronoby.logEntries().isEmpty, "the log starts empty")
        #expect(kronoby.chainHeads == jakobstad.chainHeads)
        #expect(kronoby.lastHLC >= jakobstad.lastHLC)
        #expect(try kronoby.record(.client, id: region.conflicted)?.openConflicts == 1)
        // The indexes, aggregates and triggers set aside for the load are back, built from the rows.
        let derived = try Self.derivedState(kronoby)
        #expect(derived == (try Self.derivedState(jakobstad)))
        #expect(derived.contains { $0.hasPrefix("trigger report_clients_insert on clients") })
        #expect(derived.contains { $0.hasPrefix("index clients_owner on clients") })
        #expect(derived.contains { $0.hasPrefix("report_placement_groups: ") })
        #expect(derived.contains { $0.hasPrefix("deadline_next: ") })
        try ReportAggregateTests.expectAggregatesMatchRows(try ReadOnlyReplica(path: kronoby.database.path).view, "after the import")

        // A fresh node cannot pull from the bootstrapped one: its log starts at the floor.
        let pedersore = try region.harness.open("pedersore")
        #expect(thrownError(ReplicaStoreError.self) {
            try pedersore.apply(try kronoby.readLog(after: 0, notCoveredBy: pedersore.versionVector, limit: 10), from: "kronoby")
        } == .snapshotRequired)

        // It syncs on incrementally with everyone, its own writes included, and stays equal.
        region.harness.clock.advance(by: 1_000)
        try kronoby.update(.client, id: region.conflicted, fields: ["status": .text("assessed")])
        var rng = SeededGenerator(seed: 11)
        try kronoby.create(.client, fields: Sample.client(&rng, number: 500))
        try region.larsmo.update(.client, id: region.conflicted, fields: ["integrationLanguage": .text("sv")])
        try region.larsmo.create(.client, fields: Sample.client(&rng, number: 501))
        for _ in 0..<2 {
            try pullAll(jakobstad, from: kronoby)
            try pullAll(jakobstad, from: region.larsmo)
            try pullAll(kronoby, from: jakobstad)
            try pullAll(region.larsmo, from: jakobstad)
        }
        #expect(try kronoby.openConflictCount() == 0, "kronoby's write saw the whole frontier and closed the conflict")
        for store in [region.larsmo, kronoby] {
            #expect(store.versionVector == jakobstad.versionVector)
            #expect(store.stateDigest == jakobstad.stateDigest)
            #expect(try store.canonicalDump() == jakobstad.canonicalDump())
            #expect(try Self.derivedState(store) == Self.derivedState(jakobstad), "the triggers keep the aggregates after the import")
        }
        #expect(kronoby.seq == 2, "its own seq went on from what the region held of it (nothing): its two writes")

        // Reopened, it finds its heads: the bootstrapped ones come from chain_heads.
        let path = kronoby.database.path
        try kronoby.close()
        let reopened = try ReplicaStore(path: path, nodeID: "kronoby", identity: TestKeys.identity("kronoby"), options: kronoby.options)
        #expect(reopened.chainHeads == jakobstad.chainHeads)
        #expect(reopened.stateDigest == jakobstad.stateDigest)
        #expect(reopened.logFloor == summary.versionVector)
    }

    @Test func aCutOffOrAlteredStreamIsRefusedAndNothingIsWritten() throws {
        let region = try Region()
        let bytes = try Self.snapshot(of: region.jakobstad)
        let kronoby = try region.harness.open("kronoby")
        let before = try StoreSnapshot(kronoby)
        let schema = try Self.derivedState(kronoby)
        let endFrame = SnapshotFormat.frameHeadByteCount + 1 + 32
        var cuts = [0, 3, 5, 40, bytes.count / 2, bytes.count - endFrame, bytes.count - 1]
        cuts += stride(from: 200, to: bytes.count - endFrame, by: bytes.count / 9).map { $0 }
        for cut in cuts {
            let error = thrownError(SnapshotRefused.self) { try kronoby.importSnapshot(read: Self.reader(Array(bytes.prefix(cut)))) }
            #expect(error != nil, "cut at \(cut) of \(bytes.count)")
            #expect(try StoreSnapshot(kronoby) == before)
            #expect(kronoby.isEmptyReplica)
        }
        // A flipped byte anywhere (a value, a clock, the trailer) is refused too.
        for offset in stride(from: 5, to: bytes.count, by: max(1, bytes.count / 23)) + [bytes.count - 1] {
            var altered = bytes
            altered[offset] ^= 0x01
            let error = thrownError(SnapshotRefused.self) { try kronoby.importSnapshot(read: Self.reader(altered)) }
            #expect(error != nil, "flipped byte \(offset) of \(bytes.count)")
            #expect(try StoreSnapshot(kronoby) == before)
        }
        // Bytes after the end are refused.
        #expect(thrownError(SnapshotRefused.self) { try kronoby.importSnapshot(read: Self.reader(bytes + [0])) } != nil)
        #expect(try StoreSnapshot(kronoby) == before)
        #expect(try Self.derivedState(kronoby) == schema, "a refused import drops no index, trigger or aggregate")
        // And the whole stream still imports.
        try kronoby.importSnapshot(read: Self.reader(bytes))
        #expect(kronoby.stateDigest == region.jakobstad.stateDigest)
    }

    /// The frames of a snapshot, decoded, so a test can forge one and re-seal it with a correct SHA-256.
    static func reseal(_ bytes: [UInt8], header transform: (SnapshotHeader) -> SnapshotHeader,
                       row rowTransform: (SnapshotRow) -> SnapshotRow = { $0 }) throws -> [UInt8] {
        var offset = 5
        var frames: [(UInt8, [UInt8])] = []
        while offset < bytes.count {
            let head = try SnapshotFormat.frameHead(bytes[offset..<offset + 5], offset: offset)
            frames.append((head.tag, Array(bytes[offset + 5..<offset + 5 + head.length])))
            offset += 5 + head.length
        }
        var out = SnapshotFormat.preamble
        var rows: UInt64 = 0
        for (tag, payload) in frames {
            switch tag {
            case SnapshotFormat.headerTag: SnapshotFormat.appendHeader(transform(try SnapshotFormat.decodeHeader(payload)), to: &out)
            case SnapshotFormat.rowTag:
                let row = rowTransform(try SnapshotFormat.decodeRow(payload))
                SnapshotFormat.appendRow(row.kind, id: row.id, state: row.state, to: &out)
                rows += 1
            default: break
            }
        }
        SnapshotFormat.appendEnd(rowCount: rows, sha256: SHA256.hash(out), to: &out)
        return out
    }

    static func header(_ header: SnapshotHeader, heads: [String: SignedChainHead]? = nil, digest: StateDigest? = nil) -> SnapshotHeader {
        SnapshotHeader(schemaVersion: header.schemaVersion, sender: header.sender, createdMillis: header.createdMillis, hlc: header.hlc,
                       versionVector: header.versionVector, heads: heads ?? header.heads, stateDigest: digest ?? header.stateDigest,
                       digestProvisional: header.digestProvisional, rowCount: header.rowCount)
    }

    @Test func aForgedHeadOrDigestOrRowIsRefused() throws {
        let region = try Region()
        let bytes = try Self.snapshot(of: region.jakobstad)
        let kronoby = try region.harness.open("kronoby")
        let before = try StoreSnapshot(kronoby)
        // Resealing without forging anything gives an importable snapshot: the forgeries below fail for what they forge.
        #expect(try Self.reseal(bytes, header: { $0 }) == bytes)

        // larsmo's head signed by jakobstad's key (the sender), not larsmo's.
        let forgedSignature = try Self.reseal(bytes, header: { header in
            var heads = header.heads
            let head = heads["larsmo"]!
            heads["larsmo"] = SignedChainHead(seq: head.seq, hash: head.hash,
                                              signature: try! TestKeys.signing["jakobstad"]!.sign(ChainFormat.signedMessage(head.hash)))
            return Self.header(header, heads: heads)
        })
        let signatureError = thrownError(SnapshotRefused.self) { try kronoby.importSnapshot(read: Self.reader(forgedSignature)) }
        #expect(signatureError?.reason.contains("not signed by any key the region manifest lists for larsmo") == true)
        // A head whose link was altered no longer matches its signature.
        let forgedHash = try Self.reseal(bytes, header: { header in
            var heads = header.heads
            let head = heads["larsmo"]!
            heads["larsmo"] = SignedChainHead(seq: head.seq, hash: [UInt8](repeating: 7, count: 32), signature: head.signature)
            return Self.header(header, heads: heads)
        })
        #expect(thrownError(SnapshotRefused.self) { try kronoby.importSnapshot(read: Self.reader(forgedHash)) } != nil)
        // A row changed by the sender (its digest claim left as it was) does not add up to the claimed digest.
        let forgedRow = try Self.reseal(bytes, header: { $0 }) { row in
            guard row.id == region.conflicted else { return row }
            var state = row.state
            state.conflicts = [:]
            return SnapshotRow(kind: row.kind, id: row.id, state: state)
        }
        let digestError = thrownError(SnapshotRefused.self) { try kronoby.importSnapshot(read: Self.reader(forgedRow)) }
        #expect(digestError?.reason.contains("state digest") == true)
        // A claimed digest that is not the rows'.
        let forgedDigest = try Self.reseal(bytes, header: { Self.header($0, digest: .zero) })
        #expect(thrownError(SnapshotRefused.self) { try kronoby.importSnapshot(read: Self.reader(forgedDigest)) } != nil)
        #expect(try StoreSnapshot(kronoby) == before)
        #expect(kronoby.isEmptyReplica)
    }

    @Test func aStoreWithChangesTheSnapshotLacksIsNotReplaced() throws {
        let region = try Region()
        let bytes = try Self.snapshot(of: region.jakobstad)
        var rng = SeededGenerator(seed: 12)
        try region.larsmo.create(.client, fields: Sample.client(&rng, number: 900))
        let before = try StoreSnapshot(region.larsmo)
        let error = thrownError(SnapshotRefused.self) { try region.larsmo.importSnapshot(read: Self.reader(bytes)) }
        #expect(error?.reason.contains("holds changes the snapshot lacks") == true)
        #expect(try StoreSnapshot(region.larsmo) == before, "nothing local is lost")
    }

    @Test func aStoreWhoseChangesTheSnapshotHoldsIsReplacedWithANewIncarnation() throws {
        let region = try Region()
        // kronoby pulled part of the region, then fell behind while jakobstad wrote on.
        let kronoby = try region.harness.open("kronoby")
        try pullAll(kronoby, from: region.jakobstad, limit: 5)
        var rng = SeededGenerator(seed: 13)
        for number in 1...5 { try region.jakobstad.create(.client, fields: Sample.client(&rng, number: 700 + number)) }
        let incarnation = kronoby.incarnation
        try kronoby.importSnapshot(read: Self.reader(try Self.snapshot(of: region.jakobstad, chunkBytes: 1 << 20)))
        #expect(try kronoby.canonicalDump() == region.jakobstad.canonicalDump())
        #expect(kronoby.stateDigest == region.jakobstad.stateDigest)
        #expect(kronoby.versionVector == region.jakobstad.versionVector)
        #expect(try Self.derivedState(kronoby) == Self.derivedState(region.jakobstad), "aggregates rebuilt from the new rows only")
        #expect(kronoby.incarnation != incarnation, "its log restarted, so its positions are new")
        #expect(kronoby.logPosition == 0)
    }
}
