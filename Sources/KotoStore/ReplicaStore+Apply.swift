public import KotoCore
import KotoCrypto

/// Applying a peer's batch: verified whole first (membership, causality,
/// clocks, each origin's hash chain and the signature that ends its run),
/// then merged in one transaction with the version vector and the peer's cursor.
extension ReplicaStore {
    /// An entry that passed verification, with what its log row stores.
    struct VerifiedEntry {
        let change: Change
        /// Nil for a purged change.
        let payload: [UInt8]?
        let payloadDigest: [UInt8]
    }

    /// Applies a batch pulled from (or pushed by) `peer` in one transaction
    /// with the version vector and the peer's cursor. Entries already held are
    /// skipped (after checking they are the same changes); a batch that cannot
    /// be applied whole is refused whole, and nothing of it is written.
    @discardableResult
    public func apply(_ batch: ChangeBatch, from peer: String) throws -> ApplyResult {
        guard identity.region.isMember(peer) else { throw ReplicaStoreError.notMember(peer) }
        var next = state
        let now = options.now()
        let result: ApplyResult = try database.transaction {
            let (entries, applied, skipped) = try verify(batch, state: &next, now: now)
            var touchedOrigins: Set<String> = []
            for (index, verified) in entries.enumerated() {
                try beforeApplyingEntry?(index)
                guard let entry = verified else { continue }
                let change = entry.change
                let origin = change.dot.origin
                next.clock.observe(change.hlc)
                if origin == nodeID {
                    // Our own change we no longer held: this database was restored
                    // from a backup and is catching up; never hand out this seq again.
                    next.seq = max(next.seq, change.dot.seq)
                }
                touchedOrigins.insert(origin)
                var row = try rows.load(change.record, id: change.rowID.lowercased)
                try rows.merge(change, payload: entry.payload, payloadDigest: entry.payloadDigest, into: &row, state: &next, now: Int64(options.now()))
            }
            for origin in touchedOrigins.sorted() {
                try saveVersionVectorEntry(origin, next)
            }
            if applied > 0 { try saveNodeState(next) }
            try database.run("""
                INSERT INTO peer_cursors (peer, incarnation, position, last_success, last_error, failures) VALUES (?, ?, ?, ?, NULL, 0)
                ON CONFLICT (peer) DO UPDATE SET incarnation = excluded.incarnation,
                    position = CASE WHEN incarnation IS excluded.incarnation THEN max(position, excluded.position) ELSE excluded.position END,
                    last_success = excluded.last_success, last_error = NULL, failures = 0
                """, .text(peer), .text(batch.incarnation), .integer(Int64(batch.nextPosition)), .integer(Int64(now)))
            return ApplyResult(applied: applied, skipped: skipped)
        }
        state = next
        // The batch's heads say what the sender holds: the floor may rise to it (`+Compaction`).
        notePeerVector(peer, batch.senderVersionVector)
        wipeErasedContentIfPending()
        return result
    }

    /// Checks the whole batch before anything is written. Advances `next`'s
    /// version vector and chain heads over the entries to apply; returns one
    /// slot per batch entry (nil for a duplicate), and the counts.
    private func verify(_ batch: ChangeBatch, state next: inout NodeState, now: UInt64) throws -> ([VerifiedEntry?], Int, Int) {
        let region = identity.region
        var entries: [VerifiedEntry?] = []
        entries.reserveCapacity(batch.changes.count)
        var skipped = 0
        /// Per origin, the index in `entries` of its run's last change.
        var lastOfRun: [String: Int] = [:]
        /// The links of the changes this batch adds, for duplicates inside the batch itself.
        var linksInBatch: [Dot: [UInt8]] = [:]
        for change in batch.changes {
            let origin = change.dot.origin
            guard region.isMember(origin) else {
                throw ReplicaStoreError.batchRefused("change \(change.dot) names \(origin), which is not a member of the region")
            }
            if let stranger = change.rowClock.entries.keys.first(where: { !region.isMember($0) }) {
                throw ReplicaStoreError.batchRefused("change \(change.dot) has a row clock naming \(stranger), which is not a member of the region")
            }
            guard change.rowClock[origin] == change.dot.seq else {
                throw ReplicaStoreError.batchRefused("change \(change.dot) has a row clock naming its own origin at \(change.rowClock[origin])")
            }
            if next.versionVector.covers(change.dot) {
                // Held already, or earlier in this batch: it must be the same change, or the origin's history forked.
                if let held = try linksInBatch[change.dot] ?? chainHash(at: change.dot), held != change.chainHash {
                    throw ReplicaStoreError.forked(change.dot)
                }
                skipped += 1
                entries.append(nil)
                continue
            }
            guard change.dot.seq == next.versionVector[origin] + 1 else {
                throw ReplicaStoreError.batchRefused("change \(change.dot) does not follow \(origin):\(next.versionVector[origin]) (gap)")
            }
            for (dependency, seq) in change.rowClock.entries where dependency != origin && next.versionVector[dependency] < seq {
                throw ReplicaStoreError.batchRefused("change \(change.dot) depends on \(dependency):\(seq), not held")
            }
            guard change.hlc.wallMillis <= now + options.maxClockAheadMillis else {
                throw ReplicaStoreError.batchRefused("change \(change.dot) has a clock \((change.hlc.wallMillis - now) / 1000) s ahead of this node's (bound \(options.maxClockAheadMillis / 1000) s)")
            }
            let payload: [UInt8]? = change.isPurged ? nil : ChainFormat.payload(change)
            let payloadDigest = change.purgedPayloadDigest ?? SHA256.hash(payload!)
            let link = SHA256.hash(parts: [next.heads[origin] ?? ChainFormat.genesis, ChainFormat.header(change), payloadDigest])
            guard link == change.chainHash else {
                throw ReplicaStoreError.batchRefused("change \(change.dot) does not continue \(origin)'s chain held here at \(origin):\(next.versionVector[origin]) (altered, reordered, dropped or forked)")
            }
            next.heads[origin] = link
            next.versionVector.advance(to: change.dot)
            linksInBatch[change.dot] = link
            if let previous = lastOfRun[origin] {
                // Only the run's last signature is checked, so only checked signatures are kept:
                // a relay cannot plant a forged one here for a later batch to end on.
                let unchecked = entries[previous]!.change
                entries[previous] = VerifiedEntry(change: unchecked.linked(chainHash: unchecked.chainHash, signature: nil),
                                                  payload: entries[previous]!.payload, payloadDigest: entries[previous]!.payloadDigest)
            }
            lastOfRun[origin] = entries.count
            entries.append(VerifiedEntry(change: change, payload: payload, payloadDigest: payloadDigest))
        }
        // One signature per origin per batch authenticates its whole run: the chain links the rest to it.
        for (origin, index) in lastOfRun.sorted(by: { $0.key < $1.key }) {
            let change = entries[index]!.change
            guard let signature = change.signature else {
                throw ReplicaStoreError.batchRefused("the run of \(origin)'s changes ends unsigned at \(change.dot)")
            }
            let message = ChainFormat.signedMessage(change.chainHash)
            guard region.keys(of: origin).contains(where: { $0.verify(signature: signature, message: message) }) else {
                throw ReplicaStoreError.batchRefused("the signature on \(change.dot) does not verify with any key the region manifest lists for \(origin)")
            }
        }
        return (entries, entries.count - skipped, skipped)
    }
}
