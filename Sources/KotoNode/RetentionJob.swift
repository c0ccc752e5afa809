import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// The retention job: on the node of the municipality that owns them, it
/// erases the clients whose retention ended, and their placements, with
/// `erase` changes that replicate to every node (which purge the earlier
/// payloads from their logs and truncate their WALs too). Runs on its own
/// every `retention.intervalSeconds` and on `POST /v1/retention/run`.
struct RetentionJob: Sendable {
    let node: String
    /// The municipality this node's office belongs to (region manifest): only its clients are this job's.
    let municipality: Int
    let settings: RetentionSettings
    let replica: Replica
    let reader: ReplicaReader?
    let scheduler: SyncScheduler
    let access: any AccessRecorder

    /// At most this many clients per transaction.
    static let chunk = 100

    var policy: RetentionPolicy { RetentionPolicy(years: settings.years) }
    /// Who the access log names for the job's erasures.
    var holder: Caller { .retentionJob(node: node, municipality: municipality) }

    /// One client the next run would erase, with why its retention ends when it does.
    struct Candidate: Sendable {
        let facts: RetentionFacts
        let until: LocalDate
        let reason: RetentionReason
    }

    /// What the next run would erase now: identifiers and dates only.
    func preview() async throws -> (today: LocalDate, candidates: [Candidate]) {
        let today = settings.clock.today
        let policy = self.policy, owner = municipality
        let query: @Sendable (MergedView) throws -> [RetentionFacts] = { view in
            try view.retentionFacts(owner: owner) { policy.isExpired($0, today: today) }
        }
        let facts = if let reader { try await reader.withView(query) } else { try await replica.withStore { try query($0.view) } }
        return (today, facts.map { facts in
            let (until, reason) = policy.retention(of: facts)
            return Candidate(facts: facts, until: until, reason: reason)
        })
    }

    /// Erases every expired client of this node's municipality and its
    /// placements, a chunk per transaction, recording each erasure in the
    /// access log right after its commit. `route` and `purpose` say what started it.
    func run(route: String, purpose: String?) async throws -> (today: LocalDate, erased: [RetentionFacts]) {
        let today = settings.clock.today
        var erased: [RetentionFacts] = []
        while true {
            let chunk = try await replica.eraseExpired(owner: municipality, policy: policy, today: today, limit: Self.chunk)
            guard !chunk.isEmpty else { break }
            scheduler.localChange()
            erased += chunk
            for facts in chunk {
                Log.info("record.erased", ["kind": RecordKind.client.rawValue, "id": facts.id.lowercased, "by": "retention",
                                           "placements": String(facts.placements.count)])
                try await access.record(PersonalDataAccess(action: .erase, kind: .client, ids: [facts.id],
                                                           fields: RecordKind.client.fields.map(\.name), route: route, purpose: purpose),
                                        by: holder)
                if !facts.placements.isEmpty {
                    try await access.record(PersonalDataAccess(action: .erase, kind: .placement, ids: facts.placements,
                                                               fields: RecordKind.placement.fields.map(\.name), route: route,
                                                               purpose: purpose),
                                            by: holder)
                }
            }
            if chunk.count < Self.chunk { break }
        }
        Log.info("retention.run", ["node": node, "municipality": String(municipality), "today": today.description,
                                   "clients": String(erased.count), "placements": String(erased.reduce(0) { $0 + $1.placements.count })])
        return (today, erased)
    }

    /// Runs the job every `settings.interval` until cancelled (the first
    /// time after the interval or five minutes, whichever is shorter; a
    /// failed run is tried again after a minute at most).
    func runLoop() async {
        guard settings.enabled else { return }
        var delay = min(settings.interval, .seconds(300))
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            do {
                _ = try await run(route: "retention job (every \(Self.describe(settings.interval)))", purpose: nil)
                delay = settings.interval
            } catch {
                Log.error("retention.failed", ["node": node, "type": String(describing: type(of: error)), "error": String(describing: error)])
                delay = min(settings.interval, .seconds(60))
            }
        }
    }

    static func describe(_ interval: Duration) -> String {
        let seconds = interval.components.seconds
        if seconds % 86_400 == 0 { return "\(seconds / 86_400) d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600) h" }
        return "\(seconds) s"
    }
}
