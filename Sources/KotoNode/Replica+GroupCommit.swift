public import Foundation
public import KotoCore
import KotoStore
import Synchronization

/// Group commit of local writes. A single-row commit with
/// `synchronous=FULL` waits for one fsync; 32 rows per commit cost little
/// more than one. So a write does not commit on its own: it joins the
/// writes waiting on the actor, and the first of them schedules one commit
/// for all (a job behind the writes already queued on the store thread).
/// Writes that arrive while that commit runs queue up behind it and form
/// the next group. Each write runs in its own savepoint: one that fails
/// (not found, erased, invalid) is answered at once and undone alone, the
/// others commit. A write is answered only after the transaction holding
/// it committed, so an acknowledged write is durable ("never reuse a dot");
/// if the commit fails, every write of the group gets its error and none
/// of them is visible.
extension Replica {
    /// One write waiting for the next group commit.
    struct PendingWrite {
        let kind: RecordKind
        let id: UUID
        let write: Write
        let continuation: CheckedContinuation<Change, any Error>
    }

    /// A local write, acknowledged once the group commit holding it is
    /// durable; refused at once with `CatchUpRequired` (and the other
    /// reasons of `requireWritable`) while the node may not write.
    public func write(_ kind: RecordKind, id: UUID, _ write: Write) async throws -> Change {
        try requireWritable()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Change, any Error>) in
            pendingWrites.append(PendingWrite(kind: kind, id: id, write: write, continuation: continuation))
            guard !groupCommitScheduled else { return }
            groupCommitScheduled = true
            // Enqueued on the store thread behind the writes already waiting there: they join this group.
            Task { self.commitPendingWrites() }
        }
    }

    /// Commits every write waiting now as one group.
    func commitPendingWrites() {
        groupCommitScheduled = false
        let group = pendingWrites
        pendingWrites = []
        guard !group.isEmpty else { return }
        do {
            // The node may have stopped taking writes since they were queued (a fork seen, a restore noticed).
            try requireWritable()
        } catch {
            for write in group { write.continuation.resume(throwing: error) }
            return
        }
        var answered = [Bool](repeating: false, count: group.count)
        let results: [Change?]
        do {
            results = try store.group(group.map { pending in { [self] in try perform(pending.kind, id: pending.id, pending.write) } },
                                      failed: { index, error in
                                          // A write that failed fails alone, and is told so now.
                                          answered[index] = true
                                          group[index].continuation.resume(throwing: error)
                                      }, beforeCommit: { try beforeGroupCommit?() })
        } catch {
            for (index, write) in group.enumerated() where !answered[index] { write.continuation.resume(throwing: error) }
            retryWipeIfPending()
            return
        }
        let committed = results.count { $0 != nil }
        localCommits += 1
        localWritesCommitted += committed
        for (index, result) in results.enumerated() {
            if let result { group[index].continuation.resume(returning: result) }
        }
        if committed > 0, let observer = localCommitObserver.withLock({ $0 }) { observer() }
        retryWipeIfPending()
    }

    /// Test hook: `hook` runs last inside every group's transaction; throwing from it fails the whole group.
    func setBeforeGroupCommit(_ hook: (@Sendable () throws -> Void)?) { beforeGroupCommit = hook }
}
