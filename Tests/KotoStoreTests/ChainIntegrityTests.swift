import Foundation
import KotoCore
import KotoCrypto
import KotoTestSupport
import Testing
@testable import KotoStore

/// An adversarial peer at the store level: each case takes an honest batch
/// from jakobstad's log, tampers with it as a relay (or a thief of a
/// credential) could, and applies it to nykarleby. The batch must be refused
/// whole with the exact reason, nothing of it applied, and the honest batch
/// must still apply afterwards, the replicas converging. See "Identity and
/// integrity: nobody is believed on their word" in the design brief.
@Suite struct ChainIntegrityTests {
    static func dot(_ origin: String, _ seq: UInt64) -> Dot { Dot(origin: origin, seq: seq) }

    /// jakobstad's history: j1 (create A, signed), one local transaction
    /// j2 j3 j4 (update A, create B, update B; only j4 signed), j5 (update A,
    /// signed). nykarleby wrote n1 and holds none of it; `honest` is the batch
    /// jakobstad serves it.
    struct Offices {
        let harness: StoreHarness
        let jakobstad: ReplicaStore
        let nykarleby: ReplicaStore
        let clientA = UUID()
        let clientB = UUID()
        let honest: ChangeBatch

        init() throws {
            harness = try StoreHarness()
            jakobstad = try harness.open("jakobstad")
            nykarleby = try harness.open("nykarleby")
            try jakobstad.create(.client, id: clientA, fields: Sample.fixedClient(number: 1))
            harness.clock.advance(by: 10)
            let (store, a, b) = (jakobstad, clientA, clientB)
            try store.batch {
                try store.update(.client, id: a, fields: ["jobseeker": .bool(true)])
                try store.create(.client, id: b, fields: Sample.fixedClient(number: 2))
                try store.update(.client, id: b, fields: ["motherTongue": .text("ar")])
            }
            harness.clock.advance(by: 10)
            try jakobstad.update(.client, id: clientA, fields: ["status": .text("assessed")])
            try nykarleby.create(.service, fields: Sample.fixedService(number: 1))
            harness.clock.advance(by: 10)
            honest = try jakobstad.readLog(after: 0, notCoveredBy: nykarleby.versionVector, limit: 100)
            try #require(honest.changes.map(\.dot) == (1...5).map { Dot(origin: "jakobstad", seq: $0) })
            try #require(honest.changes.map { $0.signature != nil } == [true, false, false, true, true])
        }

        var changes: [Change] { honest.changes }

        func tampered(_ changes: [Change]) -> ChangeBatch { Forge.batch(honest, changes: changes) }

        func tampered(at index: Int, _ edit: (Change) throws -> Change) rethrows -> ChangeBatch {
            var changes = honest.changes
            changes[index] = try edit(changes[index])
            return tampered(changes)
        }

        /// The honest batch applies (all of it, or what is not held yet) and the replicas converge.
        func honestBatchStillApplies(expect expected: ApplyResult = ApplyResult(applied: 5, skipped: 0),
                                     sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try nykarleby.apply(honest, from: "jakobstad")
            #expect(result == expected, sourceLocation: sourceLocation)
            try exchangeAll(nykarleby, jakobstad)
            try expectConverged(nykarleby, jakobstad, sourceLocation: sourceLocation)
            #expect(jakobstad.versionVector == VersionVector(["jakobstad": 5, "nykarleby": 1]), sourceLocation: sourceLocation)
        }
    }

    // MARK: Forged origin

    /// A change re-labelled as another member's next dot and re-linked
    /// correctly, but signed with a key that is not that member's.
    @Test func aChangeForgedInAnotherMembersNameIsRefused() throws {
        let offices = try Offices()
        let relabelled = Forge.rebuilt(offices.changes[0], dot: Self.dot("larsmo", 1), rowClock: VersionVector(["larsmo": 1]),
                                       chainHash: [], signature: .some(nil))
        for signer in ["kronoby", "jakobstad", "nykarleby"] {
            let forged = try Forge.relinked([relabelled], after: ChainFormat.genesis, signingLastWith: TestKeys.signing[signer]!)
            try expectRefused(offices.tampered(forged), by: offices.nykarleby, from: "jakobstad", reasonContains: [
                "the signature on larsmo:1 does not verify with any key the region manifest lists for larsmo",
            ])
            // Appended after jakobstad's own honest run, it takes the whole batch down with it.
            try expectRefused(offices.tampered(offices.changes + forged), by: offices.nykarleby, from: "jakobstad",
                              reasonContains: ["the signature on larsmo:1 does not verify", "larsmo"])
        }
        // Control: the forgery is refused for its key alone. Signed with
        // larsmo's key the same bytes verify (on another replica).
        let kronoby = try offices.harness.open("kronoby")
        let genuine = try Forge.relinked([relabelled], after: ChainFormat.genesis, signingLastWith: TestKeys.signing["larsmo"]!)
        #expect(try kronoby.apply(offices.tampered(genuine), from: "jakobstad") == ApplyResult(applied: 1, skipped: 0))
        #expect(kronoby.versionVector == VersionVector(["larsmo": 1]))

        try offices.honestBatchStillApplies()
    }

    // MARK: A relay that edits what it forwards

    @Test func aRelayThatRewritesAForwardedChangeIsRefused() throws {
        let offices = try Offices()
        let larsmo = try offices.harness.open("larsmo")
        // In the smallest batches every signature ends a run, is checked, and is kept.
        try pullAll(larsmo, from: offices.jakobstad, limit: 1)
        let relayed = try larsmo.readLog(after: 0, notCoveredBy: offices.nykarleby.versionVector, limit: 100)
        #expect(relayed.changes == offices.changes, "the relay forwards the origin's links and the signatures it checked")
        // In one batch only the run's last signature is checked, so only it is kept.
        let pedersore = try offices.harness.open("pedersore")
        try pullAll(pedersore, from: offices.jakobstad, limit: 100)
        let kept = try pedersore.logEntries().map(\.change)
        #expect(kept.map(\.chainHash) == offices.changes.map(\.chainHash))
        #expect(kept.map { $0.signature != nil } == offices.changes.indices.map { $0 == offices.changes.count - 1 })
        func edit(_ index: Int, _ change: (Change) -> Change) -> ChangeBatch {
            var changes = relayed.changes
            changes[index] = change(changes[index])
            return Forge.batch(relayed, changes: changes)
        }
        let cases: [(String, ChangeBatch, String)] = [
            ("a field's value", edit(2) { Forge.rebuilt($0, fields: $0.fields.merging(["familyName": .text("Muutettu")]) { $1 }) },
             "change jakobstad:3 does not continue jakobstad's chain held here at jakobstad:2"),
            ("a field added", edit(1) { Forge.rebuilt($0, fields: $0.fields.merging(["status": .text("closed")]) { $1 }) },
             "change jakobstad:2 does not continue jakobstad's chain held here at jakobstad:1"),
            ("a field removed", edit(0) { Forge.rebuilt($0, fields: $0.fields.filter { $0.key != "givenName" }) },
             "change jakobstad:1 does not continue jakobstad's chain held here at jakobstad:0"),
            ("the hlc", edit(4) { Forge.rebuilt($0, hlc: $0.hlc.successor) },
             "change jakobstad:5 does not continue jakobstad's chain held here at jakobstad:4"),
            ("the row", edit(4) { Forge.rebuilt($0, rowID: offices.clientB) },
             "change jakobstad:5 does not continue jakobstad's chain held here at jakobstad:4"),
            ("the kind", edit(1) { Forge.rebuilt($0, kind: .delete) },
             "change jakobstad:2 does not continue jakobstad's chain held here at jakobstad:1"),
            ("the row clock", edit(3) { Forge.rebuilt($0, rowClock: $0.rowClock.union(VersionVector(["nykarleby": 1]))) },
             "change jakobstad:4 does not continue jakobstad's chain held here at jakobstad:3"),
            ("the link itself", edit(3) { Forge.rebuilt($0, chainHash: [UInt8](repeating: 0x42, count: 32)) },
             "change jakobstad:4 does not continue jakobstad's chain held here at jakobstad:3"),
        ]
        for (what, batch, reason) in cases {
            try expectRefused(batch, by: offices.nykarleby, from: "larsmo", reasonContains: [reason])
            _ = what
        }

        // Relinking the edited change does not help: the next link no longer continues it…
        let editedJ3 = Forge.rebuilt(relayed.changes[2], fields: relayed.changes[2].fields.merging(["familyName": .text("Muutettu")]) { $1 })
        var relinkedOne = relayed.changes
        relinkedOne[2] = editedJ3.linked(chainHash: Forge.link(editedJ3, after: relayed.changes[1].chainHash), signature: nil)
        try expectRefused(Forge.batch(relayed, changes: relinkedOne), by: offices.nykarleby, from: "larsmo", reasonContains: [
            "change jakobstad:4 does not continue jakobstad's chain held here at jakobstad:3",
        ])
        // …and relinking the rest of the run leaves a signature that no longer verifies.
        let rest = [editedJ3] + relayed.changes[3...]
        let relinkedRun = try Forge.relinked(Array(rest), after: relayed.changes[1].chainHash, signingLastWith: nil)
        var keptSignature = Array(relayed.changes[0...1]) + relinkedRun
        keptSignature[4].signature = relayed.changes[4].signature
        try expectRefused(Forge.batch(relayed, changes: keptSignature), by: offices.nykarleby, from: "larsmo", reasonContains: [
            "the signature on jakobstad:5 does not verify with any key the region manifest lists for jakobstad",
        ])
        // The relay signing the rewritten run with its own key is no better.
        let resigned = try Forge.relinked(Array(rest), after: relayed.changes[1].chainHash, signingLastWith: TestKeys.signing["larsmo"]!)
        try expectRefused(Forge.batch(relayed, changes: Array(relayed.changes[0...1]) + resigned), by: offices.nykarleby,
                          from: "larsmo", reasonContains: ["the signature on jakobstad:5 does not verify"])

        #expect(try offices.nykarleby.apply(relayed, from: "larsmo") == ApplyResult(applied: 5, skipped: 0))
        try exchangeAll(offices.nykarleby, offices.jakobstad)
        try exchangeAll(larsmo, offices.nykarleby)
        try expectConverged(offices.nykarleby, offices.jakobstad)
        try expectConverged(larsmo, offices.jakobstad)
    }

    // MARK: Stripped payloads

    /// A relay that strips a payload must give the digest of what it
    /// stripped: with a wrong one the chain does not continue.
    @Test func aPayloadStrippedWithAWrongDigestIsRefused() throws {
        let offices = try Offices()
        let wrongDigests = [[UInt8](repeating: 0, count: 32), SHA256.hash([0]), SHA256.hash(ChainFormat.payload(offices.changes[2]))]
        for wrong in wrongDigests {
            try expectRefused(offices.tampered(at: 1) { $0.purged(payloadDigest: wrong) }, by: offices.nykarleby, from: "jakobstad",
                              reasonContains: ["change jakobstad:2 does not continue jakobstad's chain held here at jakobstad:1"])
        }
        // The signed end of the run, stripped with a wrong digest, too.
        try expectRefused(offices.tampered(at: 4) { $0.purged(payloadDigest: [UInt8](repeating: 7, count: 32)) },
                          by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["change jakobstad:5 does not continue jakobstad's chain held here at jakobstad:4"])
        try offices.honestBatchStillApplies()
    }

    /// With the right digest a stripped payload verifies (an erase purges
    /// payloads and keeps digests), and it writes nothing: the row is not
    /// erased by it, keeps what the other changes wrote, and waits for the
    /// erase, the digest provisional until then.
    @Test func aPayloadStrippedWithTheRightDigestIsAcceptedAndWritesNothingUntilTheErase() throws {
        let offices = try Offices()
        let stripped = offices.tampered(at: 1) { $0.purged(payloadDigest: Forge.payloadDigest($0)) }
        #expect(try offices.nykarleby.apply(stripped, from: "jakobstad") == ApplyResult(applied: 5, skipped: 0))

        let record = try #require(try offices.nykarleby.record(.client, id: offices.clientA))
        #expect(!record.erased, "a stripped payload never erases a row on its own")
        #expect(record.stamps["jobseeker"]?.dot == Self.dot("jakobstad", 1), "the stripped write wrote nothing")
        #expect(record.fields["jobseeker"] == .null)
        #expect(record.stamps["status"]?.dot == Self.dot("jakobstad", 5), "the later, intact write did")
        #expect(record.rowClock == VersionVector(["jakobstad": 5]))
        #expect(offices.nykarleby.stateDigestProvisional)
        #expect(try offices.nykarleby.list(.client).map(\.id) == [offices.clientB], "a row awaiting its erase is not shown")
        #expect(try offices.nykarleby.count(.client) == 1)
        #expect(try offices.nykarleby.logEntries().first { $0.change.dot == Self.dot("jakobstad", 2) }?.change.isPurged == true)
        #expect(try offices.nykarleby.recomputedDigestMatches())

        // The honest copy is the same chain: skipped.
        #expect(try offices.nykarleby.apply(offices.honest, from: "jakobstad") == ApplyResult(applied: 0, skipped: 5))
        // Equal version vectors, different digests: the provisional one is the legitimate exception.
        try pullAll(offices.jakobstad, from: offices.nykarleby)
        #expect(offices.jakobstad.versionVector == offices.nykarleby.versionVector)
        #expect(offices.jakobstad.stateDigest != offices.nykarleby.stateDigest)
        #expect(offices.nykarleby.stateDigestProvisional && !offices.jakobstad.stateDigestProvisional)

        // The erase arrives: the replicas agree, and the digest is final.
        offices.harness.clock.advance(by: 10)
        try offices.jakobstad.erase(.client, id: offices.clientA)
        #expect(try pullAll(offices.nykarleby, from: offices.jakobstad).map(\.dot) == [Self.dot("jakobstad", 6)])
        #expect(!offices.nykarleby.stateDigestProvisional)
        #expect(try offices.nykarleby.record(.client, id: offices.clientA)?.erased == true)
        try exchangeAll(offices.nykarleby, offices.jakobstad)
        try expectConverged(offices.nykarleby, offices.jakobstad)
        #expect(try offices.nykarleby.recomputedDigestMatches())
    }

    // MARK: Dropped and reordered changes

    @Test func aChangeDroppedFromTheMiddleOfARunIsRefused() throws {
        let offices = try Offices()
        var dropped = offices.changes
        dropped.remove(at: 2)
        try expectRefused(offices.tampered(dropped), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["change jakobstad:4 does not follow jakobstad:2 (gap)"])
        try expectRefused(offices.tampered(Array(offices.changes.dropFirst())), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["change jakobstad:2 does not follow jakobstad:0 (gap)"])
        // Renumbered to hide the gap, the chain breaks where the dropped change was.
        let renumbered = dropped[2...].map { change in
            let seq = change.dot.seq - 1
            var clock = change.rowClock.entries
            clock["jakobstad"] = seq
            return Forge.rebuilt(change, dot: Self.dot("jakobstad", seq), rowClock: VersionVector(clock))
        }
        try expectRefused(offices.tampered(Array(dropped[0...1]) + renumbered), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["change jakobstad:3 does not continue jakobstad's chain held here at jakobstad:2"])
        try offices.honestBatchStillApplies()
    }

    @Test func twoChangesOfOneOriginReorderedAreRefused() throws {
        let offices = try Offices()
        var swapped = offices.changes
        swapped.swapAt(1, 2)
        try expectRefused(offices.tampered(swapped), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["change jakobstad:3 does not follow jakobstad:1 (gap)"])
        var lastFirst = offices.changes
        lastFirst.swapAt(3, 4)
        try expectRefused(offices.tampered(lastFirst), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["change jakobstad:5 does not follow jakobstad:3 (gap)"])
        // Swapping their contents under the original dots breaks the chain instead.
        func relabel(_ change: Change, as seq: UInt64) -> Change {
            var clock = change.rowClock.entries
            clock["jakobstad"] = seq
            return Forge.rebuilt(change, dot: Self.dot("jakobstad", seq), rowClock: VersionVector(clock))
        }
        var contents = offices.changes
        contents[1] = relabel(offices.changes[2], as: 2)
        contents[2] = relabel(offices.changes[1], as: 3)
        try expectRefused(offices.tampered(contents), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["change jakobstad:2 does not continue jakobstad's chain held here at jakobstad:1"])
        try offices.honestBatchStillApplies()
    }

    // MARK: Row clocks

    /// A row clock naming its own origin above the change's seq claims
    /// changes the origin never made. The decoder refuses it on the wire,
    /// and the store refuses a hand-built one.
    @Test func anInflatedOwnOriginRowClockEntryIsRefused() throws {
        let offices = try Offices()
        let j2 = offices.changes[1]
        #expect(j2.rowClock == VersionVector(["jakobstad": 2]) && j2.signature == nil)
        // On the wire: encode the honest change, give its row clock an entry for its own origin, decode.
        let batch = Forge.batch(offices.honest, changes: [j2])
        let bytes = WireFormat.encode(batch)
        #expect(try WireFormat.decode(bytes).changes == [j2], "the unedited bytes decode")
        // Wire format 3 sends no own entry (the dot gives it): zero other entries, just before the link.
        let clockStart = bytes.count - ChainFormat.hashByteCount - 1
        try #require(bytes[clockStart] == 0, "the row clock sits before the link")
        let origins = Set(batch.heads.keys).union(j2.rowClock.entries.keys).union([j2.dot.origin]).sorted()
        let own = UInt8(origins.firstIndex(of: "jakobstad")!)
        for seq: UInt8 in [3, 2, 1] {
            var forged = bytes
            forged.replaceSubrange(clockStart...clockStart, with: [1, own, seq])
            do {
                _ = try WireFormat.decode(forged)
                Issue.record("decoded a row clock naming its own origin at \(seq)")
            } catch {
                #expect(error.reason == "row clock names the change's own origin, which its dot gives")
                #expect(error.offset == clockStart + 1)
            }
        }

        // Built by hand and applied directly: refused by the store.
        for seq: UInt64 in [3, 9, 1] {
            try expectRefused(offices.tampered(at: 1) { Forge.rebuilt($0, rowClock: VersionVector(["jakobstad": seq])) },
                              by: offices.nykarleby, from: "jakobstad",
                              reasonContains: ["change jakobstad:2 has a row clock naming its own origin at \(seq)"])
        }
        try offices.honestBatchStillApplies()
    }

    // MARK: Non-members

    @Test func aNodeThatIsNotAMemberIsRefusedWhereverItAppears() throws {
        let offices = try Offices()
        // As the origin of a change, however well it is linked and signed.
        let stranger = Forge.rebuilt(offices.changes[0], dot: Self.dot("vasa", 1), rowClock: VersionVector(["vasa": 1]))
        let strangerBatch = try Forge.relinked([stranger], after: ChainFormat.genesis, signingLastWith: TestKeys.signing["jakobstad"]!)
        try expectRefused(offices.tampered(offices.changes + strangerBatch), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["change vasa:1 names vasa, which is not a member of the region"])
        // Inside a row clock.
        try expectRefused(offices.tampered(at: 1) { Forge.rebuilt($0, rowClock: $0.rowClock.union(VersionVector(["vasa": 1]))) },
                          by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["change jakobstad:2 has a row clock naming vasa, which is not a member of the region"])
        // As the peer a batch comes from.
        try expectRefused(offices.honest, by: offices.nykarleby, from: "vasa", .notMember("vasa"))
        // In a puller's version vector.
        let covered = VersionVector(["nykarleby": 1, "vasa": 2])
        #expect(thrownError(ReplicaStoreError.self) { try offices.jakobstad.readLog(after: 0, notCoveredBy: covered, limit: 10) }
            == .notMember("vasa"))
        try offices.honestBatchStillApplies()
    }

    // MARK: Replays

    @Test func aReplayedOldBatchIsSkippedAndChangesNothing() throws {
        let offices = try Offices()
        var batches: [ChangeBatch] = []
        while true {
            let since = try offices.nykarleby.peerCursor("jakobstad")?.position ?? 0
            let batch = try offices.jakobstad.readLog(after: since, notCoveredBy: offices.nykarleby.versionVector, limit: 1)
            if batch.changes.isEmpty { break }
            try offices.nykarleby.apply(batch, from: "jakobstad")
            batches.append(batch)
        }
        #expect(batches.map(\.changes.count) == [1, 3, 1], "a batch of limit 1 extends to the end of the signed run")
        let settled = try Fingerprint(offices.nykarleby)
        for old in batches + [offices.honest] {
            let result = try offices.nykarleby.apply(old, from: "jakobstad")
            #expect(result == ApplyResult(applied: 0, skipped: old.changes.count))
            let after = try Fingerprint(offices.nykarleby)
            #expect(after.sameData(as: settled), "a replay changes nothing: \(after) vs \(settled)")
        }
        // Replayed through another peer, too.
        #expect(try offices.nykarleby.apply(offices.honest, from: "larsmo") == ApplyResult(applied: 0, skipped: 5))
        #expect(try Fingerprint(offices.nykarleby).sameData(as: settled))
        try exchangeAll(offices.nykarleby, offices.jakobstad)
        try expectConverged(offices.nykarleby, offices.jakobstad)
    }

    /// "Positions are checked: a push may not move a cursor … backwards
    /// within one incarnation." A replayed old batch must not rewind the
    /// cursor the store keeps for that peer.
    @Test func aReplayedOldBatchDoesNotMoveThePeerCursorBackwards() throws {
        let offices = try Offices()
        let first = try offices.jakobstad.readLog(after: 0, notCoveredBy: offices.nykarleby.versionVector, limit: 1)
        try offices.nykarleby.apply(first, from: "jakobstad")
        let rest = try offices.jakobstad.readLog(after: first.nextPosition, notCoveredBy: offices.nykarleby.versionVector, limit: 100)
        try offices.nykarleby.apply(rest, from: "jakobstad")
        let reached = try #require(try offices.nykarleby.peerCursor("jakobstad")).position
        #expect(reached == 5 && first.nextPosition == 1)
        try offices.nykarleby.apply(first, from: "jakobstad") // replayed, same incarnation
        #expect(try offices.nykarleby.peerCursor("jakobstad")?.position == reached,
                "a replayed batch of the same incarnation rewound the cursor to \(first.nextPosition)")
    }

    // MARK: Signatures

    @Test func aRunSignedWithAKeyTheManifestDoesNotListIsRefused() throws {
        let offices = try Offices()
        let unlisted = try SigningKey.generate()
        let last = offices.changes[4]
        let badSignatures: [(String, [UInt8])] = [
            ("a fresh key", try Forge.signature(last.chainHash, with: unlisted)),
            ("another member's key", try Forge.signature(last.chainHash, with: TestKeys.signing["kronoby"]!)),
            ("a flipped bit", { var bytes = last.signature!; bytes[17] ^= 0x10; return bytes }()),
            ("another change's signature", offices.changes[3].signature!),
            ("no signature at all but the right length", [UInt8](repeating: 0, count: 64)),
            ("too short", Array(last.signature!.prefix(10))),
            ("the right key over the bare link", try TestKeys.signing["jakobstad"]!.sign(last.chainHash)),
        ]
        for (what, signature) in badSignatures {
            try expectRefused(offices.tampered(at: 4) { $0.linked(chainHash: $0.chainHash, signature: signature) },
                              by: offices.nykarleby, from: "jakobstad", reasonContains: [
                                  "the signature on jakobstad:5 does not verify with any key the region manifest lists for jakobstad",
                              ])
            _ = what
        }
        // A truncated batch ending on j4 verifies with j4's own signature; signed with the fresh key it does not.
        let endsAtJ4 = Array(offices.changes[0...3])
        var forgedJ4 = endsAtJ4
        forgedJ4[3].signature = try Forge.signature(forgedJ4[3].chainHash, with: unlisted)
        try expectRefused(offices.tampered(forgedJ4), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["the signature on jakobstad:4 does not verify"])
        try offices.honestBatchStillApplies()
    }

    /// Only the signature ending each origin's run is checked, but every
    /// signature a receiver keeps is one it serves: a batch it serves ends at
    /// a signed change, and its pullers verify that signature. A relay that
    /// forges a signature in the middle of a run (on a signed change, or on
    /// an unsigned one) must not get it passed on: either the batch is
    /// refused, or what the receiver serves afterwards still verifies.
    @Test func aForgedSignatureInTheMiddleOfARunIsNotPassedOn() throws {
        let offices = try Offices()
        var changes = offices.changes
        changes[0].signature = [UInt8](repeating: 0x13, count: 64) // replaces j1's own signature
        changes[1].signature = try Forge.signature(changes[1].chainHash, with: try SigningKey.generate()) // signs unsigned j2
        let error = thrownError(ReplicaStoreError.self) { try offices.nykarleby.apply(offices.tampered(changes), from: "jakobstad") }
        if error != nil { try offices.honestBatchStillApplies() }
        // kronoby pulls from nykarleby in the smallest batches: every one must apply.
        let kronoby = try offices.harness.open("kronoby")
        var since: UInt64 = 0
        for _ in 0..<20 {
            let batch = try offices.nykarleby.readLog(after: since, notCoveredBy: kronoby.versionVector, limit: 1)
            if batch.changes.isEmpty { break }
            let refused = thrownError(ReplicaStoreError.self) { try kronoby.apply(batch, from: "nykarleby") }
            #expect(refused == nil, "nykarleby serves \(batch.changes.map(\.dot)), refused: \(refused.map { "\($0)" } ?? "")")
            if refused != nil { return }
            since = batch.nextPosition
        }
        try expectConverged(kronoby, offices.nykarleby)
    }

    @Test func aRunEndingUnsignedIsRefused() throws {
        let offices = try Offices()
        try expectRefused(offices.tampered(at: 4) { $0.linked(chainHash: $0.chainHash, signature: nil) }, by: offices.nykarleby,
                          from: "jakobstad", reasonContains: ["the run of jakobstad's changes ends unsigned at jakobstad:5"])
        // A relay that cuts a batch inside a local transaction leaves it unsigned too.
        try expectRefused(offices.tampered(Array(offices.changes[0...2])), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["the run of jakobstad's changes ends unsigned at jakobstad:3"])
        try expectRefused(offices.tampered(Array(offices.changes[0...1])), by: offices.nykarleby, from: "jakobstad",
                          reasonContains: ["the run of jakobstad's changes ends unsigned at jakobstad:2"])
        // Control, on another replica: a batch cut at a signed change applies.
        let kronoby = try offices.harness.open("kronoby")
        #expect(try kronoby.apply(offices.tampered(Array(offices.changes[0...3])), from: "jakobstad") == ApplyResult(applied: 4, skipped: 0))
        try offices.honestBatchStillApplies()
    }

    // MARK: Forks

    /// A change under a dot this node holds, with another link: the
    /// origin's history forked, and the batch is refused loudly.
    @Test func aDuplicateUnderAHeldDotWithAnotherLinkIsAFork() throws {
        let offices = try Offices()
        // nykarleby holds j1 and j2…j4, not yet j5.
        #expect(try offices.nykarleby.apply(offices.tampered(Array(offices.changes[0...3])), from: "jakobstad")
            == ApplyResult(applied: 4, skipped: 0))
        // Under a dot below the head, with a random link.
        try expectRefused(offices.tampered(at: 2) { Forge.rebuilt($0, chainHash: [UInt8](repeating: 0x99, count: 32)) },
                          by: offices.nykarleby, from: "jakobstad", .forked(Self.dot("jakobstad", 3)),
                          reasonContains: ["fork at jakobstad:3: two different changes under one dot"])
        // Another change under the head's dot, correctly linked after j3 and signed by the origin's key (a stolen key).
        let other = Forge.rebuilt(offices.changes[3], fields: ["motherTongue": .text("fa")])
        let forkedJ4 = try Forge.relinked([other], after: offices.changes[2].chainHash, signingLastWith: TestKeys.signing["jakobstad"]!)
        try expectRefused(offices.tampered(Array(offices.changes[0...2]) + forkedJ4 + [offices.changes[4]]), by: offices.nykarleby,
                          from: "jakobstad", .forked(Self.dot("jakobstad", 4)), reasonContains: ["fork at jakobstad:4"])
        // The first entry is the fork: nothing after it is applied either.
        try expectRefused(offices.tampered(at: 0) { Forge.rebuilt($0, chainHash: [UInt8](repeating: 1, count: 32)) },
                          by: offices.nykarleby, from: "jakobstad", .forked(Self.dot("jakobstad", 1)))
        try offices.honestBatchStillApplies(expect: ApplyResult(applied: 1, skipped: 4))
    }

    /// The same dot twice in one batch with different links is a fork too,
    /// even though the receiver held neither before the batch.
    @Test func twoDifferentChangesUnderOneDotInOneBatchAreAFork() throws {
        let offices = try Offices()
        let other = Forge.rebuilt(offices.changes[0], fields: Sample.fixedClient(number: 99), chainHash: [UInt8](repeating: 5, count: 32))
        try expectRefused(offices.tampered(offices.changes + [other]), by: offices.nykarleby, from: "jakobstad",
                          .forked(Self.dot("jakobstad", 1)))
        // (Only meaningful once the refusal holds; otherwise the batch above was applied already.)
        if offices.nykarleby.versionVector["jakobstad"] == 0 { try offices.honestBatchStillApplies() }
    }

    /// A node restored from an older backup reuses a seq: two stores hold
    /// different changes under one dot, and `forks(comparedWith:)` finds it
    /// from the other's heads.
    @Test func forksAreFoundBetweenAStoreAndItsRestoredBackup() throws {
        let harness = try StoreHarness()
        let id = UUID()
        do {
            let jakobstad = try harness.open("jakobstad")
            try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 1))
            try jakobstad.update(.client, id: id, fields: ["status": .text("assessed")])
        }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: harness.path("jakobstad.sqlite\(suffix)")) {
            try FileManager.default.copyItem(atPath: harness.path("jakobstad.sqlite\(suffix)"),
                                             toPath: harness.path("backup.sqlite\(suffix)"))
        }
        let original = try harness.open("jakobstad")
        let backup = try harness.open("jakobstad", file: "backup")
        let nykarleby = try harness.open("nykarleby")
        #expect(try original.forks(comparedWith: backup.chainHeads).isEmpty, "the same history so far")
        harness.clock.advance(by: 100)
        try original.update(.client, id: id, fields: ["jobseeker": .bool(true)])
        try pullAll(nykarleby, from: original)
        harness.clock.advance(by: 100)
        try backup.update(.client, id: id, fields: ["motherTongue": .text("so")])
        #expect(original.versionVector == backup.versionVector)
        #expect(original.chainHeads["jakobstad"] != backup.chainHeads["jakobstad"])

        let fork = Dot(origin: "jakobstad", seq: 3)
        #expect(try original.forks(comparedWith: backup.chainHeads) == [fork])
        #expect(try backup.forks(comparedWith: original.chainHeads) == [fork])
        #expect(try nykarleby.forks(comparedWith: backup.chainHeads) == [fork])
        #expect(try nykarleby.forks(comparedWith: original.chainHeads).isEmpty)
        // The heads a pull's answer carries show it too.
        let answer = try backup.readLog(after: 0, notCoveredBy: nykarleby.versionVector, limit: 100)
        #expect(answer.changes.isEmpty, "nothing the puller lacks: only the heads tell")
        #expect(try nykarleby.forks(comparedWith: answer.heads) == [fork])
        // Agreeing heads below the fork are no fork; heads beyond what is held cannot be compared.
        let j2 = try #require(try original.chainHash(at: Dot(origin: "jakobstad", seq: 2)))
        #expect(try nykarleby.forks(comparedWith: ["jakobstad": ChainHead(seq: 2, hash: j2)]).isEmpty)
        #expect(try nykarleby.forks(comparedWith: ["jakobstad": ChainHead(seq: 2, hash: [UInt8](repeating: 0, count: 32))])
            == [Dot(origin: "jakobstad", seq: 2)])
        #expect(try nykarleby.forks(comparedWith: ["jakobstad": ChainHead(seq: 9, hash: j2)]).isEmpty)

        // Applying the forked change is refused as a fork, and nothing moves.
        let forked = try backup.readLog(after: 0, notCoveredBy: VersionVector(["jakobstad": 2]), limit: 100)
        #expect(forked.changes.map(\.dot) == [fork])
        try expectRefused(forked, by: nykarleby, from: "jakobstad", .forked(fork))
        // Once the backup goes on writing, its next change does not continue the chain held here.
        harness.clock.advance(by: 100)
        try backup.update(.client, id: id, fields: ["status": .text("closed")])
        let beyond = try backup.readLog(after: 0, notCoveredBy: nykarleby.versionVector, limit: 100)
        #expect(beyond.changes.map(\.dot) == [Dot(origin: "jakobstad", seq: 4)])
        try expectRefused(beyond, by: nykarleby, from: "jakobstad",
                          reasonContains: ["change jakobstad:4 does not continue jakobstad's chain held here at jakobstad:3"])
    }

    // MARK: readLog never ends a run unsigned

    /// 600 creates in one `batch {}` are signed at the 256th, 512th and
    /// last; a pull with limit 10 extends each batch to the next signature,
    /// and every batch it serves applies.
    @Test func readLogNeverEndsAnOriginsRunUnsigned() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let nykarleby = try harness.open("nykarleby")
        let larsmo = try harness.open("larsmo")
        try jakobstad.batch {
            for number in 1...600 { try jakobstad.create(.client, fields: Sample.fixedClient(number: number)) }
        }
        let signed = try jakobstad.logEntries().filter { $0.change.signature != nil }.map(\.change.dot.seq)
        #expect(signed == [256, 512, 600])

        var sizes: [Int] = []
        var since: UInt64 = 0
        for round in 0..<100 {
            let batch = try jakobstad.readLog(after: since, notCoveredBy: nykarleby.versionVector, limit: 10)
            if batch.changes.isEmpty { break }
            #expect(batch.changes.last?.signature != nil, "round \(round) ends unsigned")
            #expect(batch.changes.dropLast().allSatisfy { $0.signature == nil })
            try nykarleby.apply(batch, from: "jakobstad")
            sizes.append(batch.changes.count)
            since = batch.nextPosition
            if round == 0 {
                // Interleave nykarleby's own runs with jakobstad's in nykarleby's log.
                try nykarleby.create(.service, fields: Sample.fixedService(number: 1))
            } else if round == 1 {
                try nykarleby.batch {
                    for number in 2...4 { try nykarleby.create(.service, fields: Sample.fixedService(number: number)) }
                }
            }
        }
        #expect(sizes == [256, 256, 88])
        #expect(try jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: 300).changes.count == 512)
        #expect(try jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: 256).changes.count == 256)

        // A relay holding both origins' runs interleaved never ends either run unsigned.
        var relayed: [Int] = []
        since = 0
        for _ in 0..<100 {
            let batch = try nykarleby.readLog(after: since, notCoveredBy: larsmo.versionVector, limit: 10)
            if batch.changes.isEmpty { break }
            for origin in Set(batch.changes.map(\.dot.origin)) {
                #expect(batch.changes.last { $0.dot.origin == origin }?.signature != nil, "\(origin)'s run ends unsigned")
            }
            try larsmo.apply(batch, from: "nykarleby")
            relayed.append(batch.changes.count)
            since = batch.nextPosition
        }
        #expect(relayed.reduce(0, +) == 604)
        #expect(relayed.count >= 3)
        try expectConverged(larsmo, nykarleby)
        try pullAll(jakobstad, from: nykarleby)
        try expectConverged(jakobstad, larsmo)
    }

    /// A `batch {}` nested in another, that fails and is caught, rolls back
    /// its own writes only: the outer transaction's earlier writes stay, and
    /// must still end signed.
    @Test func aNestedBatchThatFailsLeavesTheOuterRunSigned() throws {
        struct Abort: Error {}
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let nykarleby = try harness.open("nykarleby")
        try jakobstad.batch {
            try jakobstad.create(.client, fields: Sample.fixedClient(number: 1))
            try jakobstad.create(.client, fields: Sample.fixedClient(number: 2))
            let inner: Void? = try? jakobstad.batch {
                try jakobstad.create(.client, fields: Sample.fixedClient(number: 3))
                throw Abort()
            }
            #expect(inner == nil)
        }
        #expect(jakobstad.versionVector == VersionVector(["jakobstad": 2]))
        let log = try jakobstad.logEntries()
        #expect(log.map(\.change.dot.seq) == [1, 2])
        #expect(log.last?.change.signature != nil, "jakobstad's own chain ends unsigned at jakobstad:2")
        let batch = try jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: 10)
        let error = thrownError(ReplicaStoreError.self) { try nykarleby.apply(batch, from: "jakobstad") }
        #expect(error == nil, "\(error.map { "\($0)" } ?? "")")
    }

    // MARK: Identity of the store itself

    @Test func aStoreOpensOnlyAsAMemberWithItsOwnListedKey() throws {
        let harness = try StoreHarness()
        let path = harness.path("x.sqlite")
        let wrongKey = StoreIdentity(signingKey: TestKeys.signing["kronoby"]!, region: TestKeys.region)
        #expect(thrownError(ReplicaStoreError.self) { try ReplicaStore(path: path, nodeID: "jakobstad", identity: wrongKey) }
            == .keyNotListed("jakobstad"))
        let fresh = StoreIdentity(signingKey: try SigningKey.generate(), region: TestKeys.region)
        #expect(thrownError(ReplicaStoreError.self) { try ReplicaStore(path: path, nodeID: "larsmo", identity: fresh) }
            == .keyNotListed("larsmo"))
        #expect(thrownError(ReplicaStoreError.self) { try ReplicaStore(path: path, nodeID: "vasa", identity: TestKeys.identity("jakobstad")) }
            == .notMember("vasa"))
        #expect(!FileManager.default.fileExists(atPath: path), "nothing was created for a refused identity")
    }

    // MARK: The read-only view

    @Test func theReadOnlyReplicaReadsButCannotWrite() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let id = UUID()
        try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 1))
        try jakobstad.create(.service, fields: Sample.fixedService(number: 1))
        let reader = try ReadOnlyReplica(path: harness.path("jakobstad.sqlite"))
        #expect(try reader.view.record(.client, id: id)?.stamps["givenName"]?.dot == Dot(origin: "jakobstad", seq: 1))
        #expect(try reader.view.list(.client).map(\.id) == [id])
        #expect(try reader.view.count(.service) == 1)
        #expect(try reader.view.openConflictCount() == 0)
        let sameDump = try reader.view.canonicalDump() == jakobstad.canonicalDump()
        #expect(sameDump)
        // It sees what the writer commits later.
        try jakobstad.update(.client, id: id, fields: ["status": .text("assessed")])
        #expect(try reader.view.record(.client, id: id)?.stamps["status"]?.dot == Dot(origin: "jakobstad", seq: 3))

        // Its own connection refuses writes.
        let before = try Fingerprint(jakobstad)
        for sql in ["INSERT INTO version_vector (origin, seq) VALUES ('larsmo', 1)",
                    "UPDATE clients SET status = 'closed'", "DELETE FROM change_log", "CREATE TABLE t (x)"] {
            let error = thrownError(SQLiteError.self) { try reader.view.database.execute(sql) }
            #expect(error?.primaryCode == 8, "SQLITE_READONLY for \(sql.prefix(22)), got \(error.map { "\($0.resultCode)" } ?? "no error")")
        }
        // So does any read-only connection to the file, and the writer's data is untouched.
        let readOnly = try Database(path: harness.path("jakobstad.sqlite"), readOnly: true)
        let error = thrownError(SQLiteError.self) { try readOnly.execute("INSERT INTO version_vector (origin, seq) VALUES ('larsmo', 1)") }
        #expect(error?.primaryCode == 8)
        #expect(try Fingerprint(jakobstad) == before)
        // And its row store has no statement to write with.
        var row = LoadedRow(state: RowState(), exists: false, firstSeen: [:], digest: nil)
        var state = jakobstad.state
        let change = Change(dot: Dot(origin: "jakobstad", seq: 4), hlc: HLC(wallMillis: 1), record: .client, rowID: id, kind: .upsert,
                            fields: ["status": .text("closed")], rowClock: VersionVector(["jakobstad": 4]))
        let mergeError = thrownError(ReplicaStoreError.self) {
            try reader.view.rows.merge(change, payload: nil, payloadDigest: [], into: &row, state: &state, now: 0)
        }
        #expect(mergeError == .corrupt("a read-only view cannot write"))
        #expect(try Fingerprint(jakobstad) == before)
    }
}
