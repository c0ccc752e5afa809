import Foundation
import KotoCore
import KotoStore

/// The compaction job: every `compaction.intervalSeconds` it raises the log
/// floor to what every configured peer is known to hold (less peers silent
/// past `compaction.horizonHours`) and drops the log entries below it that no
/// frontier needs (the rule is `ReplicaStore+Compaction`'s), a chunk per
/// transaction so the writer is never held for long.
struct CompactionJob: Sendable {
    let node: String
    let settings: CompactionSettings
    /// Every configured peer (pull, push and passive alike: each reads this log).
    let peers: [String]
    let replica: Replica

    /// Entries examined per transaction.
    static let chunk = 2_000

    var policy: ReplicaStore.FloorPolicy { ReplicaStore.FloorPolicy(peers: peers, horizonMillis: settings.horizonMillis) }

    /// One run: the floor, then the chunks; returns the floor, the peers left out for silence and the entries dropped.
    @discardableResult
    func run() async throws -> (floor: VersionVector, silentPeers: [String], dropped: Int, entries: Int) {
        let (floor, silent) = try await replica.raiseLogFloor(policy)
        if !silent.isEmpty {
            Log.warning("compaction.peers_silent", ["node": node, "peers": silent.joined(separator: ","),
                                                    "horizonHours": String(settings.horizon.components.seconds / 3600)])
        }
        var position: UInt64? = 0
        var dropped = 0
        while let after = position, !Task.isCancelled {
            let step = try await replica.compactLog(after: after, limit: Self.chunk)
            dropped += step.dropped
            position = step.nextPosition
            await Task.yield()
        }
        let entries = try await replica.logFigures().entries
        Log.info("compaction.run", ["node": node, "floor": floor.description, "dropped": String(dropped), "entries": String(entries)])
        return (floor, silent, dropped, entries)
    }

    /// Runs every `settings.interval` until cancelled (a failed run is tried again after a minute at most).
    func runLoop() async {
        guard settings.enabled else { return }
        var delay = settings.interval
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            do {
                try await run()
                delay = settings.interval
            } catch {
                Log.error("compaction.failed", ["node": node, "type": String(describing: type(of: error)), "error": String(describing: error)])
                delay = min(settings.interval, .seconds(60))
            }
        }
    }
}
