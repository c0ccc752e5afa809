import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// What the status endpoint shows of building this node from a snapshot.
struct SnapshotStatus: Sendable {
    enum State: String, Sendable {
        case none
        case bootstrapping
        case bootstrapped
        /// Every peer answered 410 and no snapshot can replace this store without losing changes only it holds.
        case required = "snapshot required"
        case failed
    }

    var state: State = .none
    var reason: String?
    var peer: String?
    var rows: UInt64 = 0
    var bytes: UInt64 = 0
    var seconds: Double?
    var atMillis: UInt64?
    var detail: String?
    /// The second peer whose digest was compared at equal version vectors, and whether it matched.
    var comparedWith: String?
    var digestMatches: Bool?

    var json: JSONValue {
        .object([
            ("state", .string(state.rawValue)),
            ("reason", reason.map { .string($0) } ?? .null),
            ("peer", peer.map { .string($0) } ?? .null),
            ("rows", .number(Double(rows))),
            ("bytes", .number(Double(bytes))),
            ("seconds", seconds.map { .number($0) } ?? .null),
            ("at", APIResponse.timestamp(atMillis.map { Int64($0) })),
            ("detail", detail.map { .string($0) } ?? .null),
            ("comparedWith", comparedWith.map { .string($0) } ?? .null),
            ("digestMatches", digestMatches.map { .bool($0) } ?? .null),
        ])
    }
}

/// Builds this node from a peer's snapshot (`GET /v1/sync/snapshot`) when
/// replaying the log cannot or should not do it, then lets the links pull
/// incrementally from there:
///
/// - at start, a new or wiped node (empty store) whose best peer holds at
///   least `sync.snapshotMinChanges` changes bootstraps before any pull;
/// - while running, when every contactable peer answers a pull with 410
///   `snapshot_required` (each link tried its own peer first), it
///   bootstraps from the peer that holds most.
///
/// Only into an empty store or one whose every change the snapshot holds
/// too (`ReplicaStore.importSnapshot` refuses anything else): a node with
/// changes no peer has yet shows "snapshot required" and keeps them; its
/// peers pull them from it, and once one holds them the next attempt
/// succeeds by itself (docs/operations.md says what an operator can do).
/// Afterwards the state digest is compared with a second peer at equal
/// version vectors (the links' divergence check) and shown in the status.
actor SnapshotBootstrap {
    private let config: NodeConfig
    private let replica: Replica
    private let secrets: Secrets
    private let links: [String: PeerLink]
    private let transport: (any SyncTransport)?
    /// Wakes the links once a snapshot was imported.
    private let wakeLinks: @Sendable () -> Void
    private(set) var status = SnapshotStatus()
    private var finished: ContinuousClock.Instant?
    private var lastAttempt: ContinuousClock.Instant?

    init(config: NodeConfig, replica: Replica, secrets: Secrets, links: [String: PeerLink], transport: (any SyncTransport)?,
         wakeLinks: @escaping @Sendable () -> Void) {
        self.config = config
        self.replica = replica
        self.secrets = secrets
        self.links = links
        self.transport = transport
        self.wakeLinks = wakeLinks
    }

    private var contactable: [PeerLink] {
        links.values.filter { $0.peer.mode != .passive && $0.peer.url != nil }.sorted { $0.peer.node < $1.peer.node }
    }

    /// At start, before the links pull: bootstraps a new or wiped node from
    /// the peer holding most, if that peer holds enough changes to be worth a snapshot.
    func bootstrapIfEmpty() async {
        guard (try? await replica.withStore({ $0.isEmptyReplica })) == true else { return }
        let candidates = await probe()
        guard let best = candidates.first, Self.changes(best.state.versionVector) >= max(1, config.snapshotMinChanges) else { return }
        _ = await bootstrap(reason: "new or wiped node", candidates: candidates)
    }

    /// While running: bootstraps when every contactable peer answers 410,
    /// and records the digest comparison with a second peer after a bootstrap.
    func watch() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { return }
            await check()
        }
    }

    /// One look: the digest comparison after a bootstrap, and a bootstrap
    /// when every contactable peer answered 410 (at most once per sync interval).
    func check() async {
        await noteComparison()
        let active = contactable
        guard !active.isEmpty else { return }
        for link in active {
            guard await link.snapshotRequired else { return }
        }
        if let last = lastAttempt, ContinuousClock.now - last < config.syncInterval { return }
        Log.warning("sync.snapshot_required", ["peers": active.map(\.peer.node).joined(separator: ",")])
        _ = await bootstrap(reason: "every peer answered 410 snapshot_required", candidates: await probe())
    }

    /// After a bootstrap: the first comparison a link other than the source made at equal version vectors.
    private func noteComparison() async {
        guard status.state == .bootstrapped, status.digestMatches == nil, let finished else { return }
        for link in contactable where link.peer.node != status.peer {
            guard let comparison = await link.digestComparison, comparison.at > finished else { continue }
            status.comparedWith = link.peer.node
            status.digestMatches = comparison.matched
            if comparison.matched {
                Log.info("sync.snapshot_verified", ["source": status.peer ?? "", "comparedWith": link.peer.node])
            } else {
                Log.error("sync.snapshot_diverged", ["source": status.peer ?? "", "comparedWith": link.peer.node])
            }
            return
        }
    }

    private struct Candidate {
        let link: PeerLink
        let state: PeerState
    }

    private static func changes(_ vector: VersionVector) -> UInt64 {
        vector.entries.values.reduce(0, +)
    }

    /// The contactable peers that answered, the one holding most first.
    private func probe() async -> [Candidate] {
        var candidates: [Candidate] = []
        for link in contactable {
            if let state = await link.probeState() { candidates.append(Candidate(link: link, state: state)) }
        }
        return candidates.sorted { Self.changes($0.state.versionVector) > Self.changes($1.state.versionVector) }
    }

    /// Tries the candidates whose version vector covers this node's, in
    /// order, until one snapshot is imported. True when one was.
    private func bootstrap(reason: String, candidates: [Candidate]) async -> Bool {
        lastAttempt = .now
        let local = await replica.syncState().versionVector
        let usable = candidates.filter { $0.state.versionVector.covers(local) }
        status.reason = reason
        guard !usable.isEmpty else {
            status.state = candidates.isEmpty ? .failed : .required
            status.detail = candidates.isEmpty
                ? "no peer answered; retried in \(config.syncInterval.components.seconds) s"
                : "no peer holds every change this node holds, so no snapshot can replace its store without losing them; "
                    + "it keeps them, its peers pull them from it, and the next attempt succeeds once one of them holds them all"
            Log.warning("sync.snapshot_not_possible", ["reason": status.detail ?? ""])
            return false
        }
        for candidate in usable {
            status.state = .bootstrapping
            status.peer = candidate.link.peer.node
            status.detail = nil
            let started = ContinuousClock.now
            do {
                let summary = try await fetchAndImport(from: candidate.link.peer)
                let elapsed = ContinuousClock.now - started
                status.state = .bootstrapped
                status.rows = summary.rows
                status.bytes = summary.bytes
                status.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                status.atMillis = replica.nowMillis
                status.comparedWith = nil
                status.digestMatches = nil
                finished = .now
                Log.info("sync.snapshot_imported", ["peer": candidate.link.peer.node, "rows": String(summary.rows),
                                                    "bytes": String(summary.bytes), "ms": PeerLink.milliseconds(elapsed)])
                wakeLinks()
                return true
            } catch let refused as SnapshotRefused {
                status.detail = "\(candidate.link.peer.node): \(refused.description)"
                Log.warning("sync.snapshot_refused", ["peer": candidate.link.peer.node, "reason": refused.reason])
            } catch {
                status.detail = "\(candidate.link.peer.node): \(PeerLink.describe(error))"
                Log.warning("sync.snapshot_failed", ["peer": candidate.link.peer.node, "error": PeerLink.describe(error)])
            }
        }
        status.state = .failed
        return false
    }

    /// Downloads the peer's snapshot into a file of the data directory
    /// (bounded in size and time) and imports it in one transaction while it
    /// arrives (`followingDownload`: the import reads the file as it grows),
    /// then removes the file. A refused import cancels the download.
    private func fetchAndImport(from peer: PeerConfig) async throws -> SnapshotSummary {
        let path = (config.dataDirectory as NSString).appendingPathComponent("snapshot.partial")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let client = try transport ?? AsyncHTTPClient(configuration: HTTPClient.Configuration(
            connectTimeout: config.connectTimeout, totalTimeout: config.snapshotTimeout,
            caBundlePath: config.tls?.caBundle, clientCertificatePath: config.tls?.clientCertificate,
            clientKeyPath: config.tls?.clientKey))
        var headers: HTTPHeaders = ["Authorization": "Bearer \(secrets.peerCredential)"]
        headers[SyncProtocol.Header.node] = config.node
        headers[SyncProtocol.Header.protocolVersion] = String(SyncProtocol.version)
        headers[SyncProtocol.Header.schemaVersion] = String(config.advertisedSchemaVersion)
        let url = "\(peer.url ?? "")/v1/sync/snapshot?node=\(config.node)"
        let (timeout, limit, finalHeaders) = (config.snapshotTimeout, config.maxSnapshotBytes, headers)
        let replica = self.replica
        let (response, summary) = try await followingDownload(into: path, {
            try await client.download(url, headers: finalHeaders, timeout: timeout, maxBodyBytes: limit, toFile: path)
        }, consume: { follower in
            try await replica.withStore { store in try store.importSnapshot { count in try follower.read(upTo: count) } }
        })
        guard response.status == .ok, let summary else {
            let message = (try? JSONValue.parse(response.body))?["error"]?["message"]?.stringValue ?? "no message"
            throw SyncFailure(message: "snapshot from \(peer.node): HTTP \(response.status.code): \(message)")
        }
        return summary
    }
}
