import Foundation
import KotoCore
import KotoCrypto
import KotoHTTP
import KotoSeed
import KotoStore

/// One office's daemon: the replica, the sync links and the HTTP API,
/// started together and stopped in reverse order.
public final class Node: Sendable {
    public let config: NodeConfig
    public let replica: Replica
    public let scheduler: SyncScheduler
    /// The region's members and their public keys.
    public let manifest: RegionManifest
    /// This node's private key (its public key is among its keys in the manifest).
    let signingKey: SigningKey
    /// Who read, exported, wrote or erased personal data here (`access.sqlite`).
    public let accessLog: AccessLog
    let server: HTTPServer
    /// Erases expired clients of this node's municipality (`retention`), daily.
    let retention: RetentionJob
    /// The merged-view queries' read-only connection (closed before the writer's).
    let reader: ReplicaReader
    /// `shutdown()` and the signals reach the running service group here.
    let stopRequests = AsyncStream.makeStream(of: StopRequest.self)

    /// The port the API listens on (the configured one, or the one chosen for port 0).
    public var port: Int { server.port }

    /// Refuses to start when the data directory is wider than 0700 or a file
    /// in it, the key file or the secrets file wider than 0600 (`DataFileModes`).
    /// Loads the region manifest and the signing key (refusing to start
    /// when this node, a peer or an accepted credential's holder is not a
    /// member, or when the key is not one of this node's keys in the
    /// manifest), opens the store (creating it) and binds the listener.
    /// The demo region (`demoSeed`) is loaded by `run`, after the start-up
    /// check, into a store that is still empty and whose changes no peer holds.
    public init(config: NodeConfig, secrets: Secrets) throws {
        self.config = config
        try DataFileModes.check(config)
        let setup = try StoreSetup(config: config, secrets: secrets)
        manifest = setup.manifest
        signingKey = setup.identity.signingKey
        try DataFileModes.prepare(config)
        let store = try ReplicaStore(path: config.databasePath, nodeID: config.node, identity: setup.identity, options: setup.options)
        replica = Replica(store: store)
        reader = ReplicaReader(try ReadOnlyReplica(path: config.databasePath))
        let now = setup.options.now
        accessLog = try AccessLog(path: config.accessLogPath, node: config.node, signingKey: signingKey,
                                  publicKeys: manifest.member(config.node)?.publicKeys ?? [signingKey.publicKey],
                                  retentionYears: config.accessLogRetentionYears, now: { Int64(now()) })
        scheduler = try SyncScheduler(config: config, replica: replica, secrets: secrets)
        var api = API(config: config, replica: replica, scheduler: scheduler, secrets: secrets, manifest: manifest,
                      access: accessLog)
        api.reader = reader
        api.auditLog = accessLog
        retention = api.retentionJob
        server = try HTTPServer(host: config.host, port: config.port, limits: config.limits, router: api.router())
    }

    /// What opening this node's store takes, checked against the region
    /// manifest: the daemon and `repair-fork` open it the same way.
    struct StoreSetup {
        let manifest: RegionManifest
        let identity: StoreIdentity
        let options: StoreOptions

        init(config: NodeConfig, secrets: Secrets) throws {
            manifest = try RegionManifest.load(path: config.regionManifest)
            try config.check(against: manifest)
            try secrets.check(against: manifest)
            identity = StoreIdentity(signingKey: try Node.loadSigningKey(config: config, manifest: manifest),
                                     region: RegionKeys(manifest.publicKeys))
            var options = StoreOptions()
            options.synchronous = config.synchronous
            options.registry = manifest.registry
            options.deadlineRules = config.reports.deadlineRules.map(\.rule)
            options.maxClockAheadMillis = UInt64(config.maxClockAhead.components.seconds * 1000
                + config.maxClockAhead.components.attoseconds / 1_000_000_000_000_000)
            if config.testClockOffsetMillis != 0 { options.now = TestHooks.shiftedClock(config.testClockOffsetMillis) }
            self.options = options
        }
    }

    /// The key in `config.keyFile`, which must be one of this node's keys in the manifest.
    static func loadSigningKey(config: NodeConfig, manifest: RegionManifest) throws(ConfigError) -> SigningKey {
        let key: SigningKey
        do {
            key = try SigningKey.load(path: config.keyFile)
        } catch {
            throw ConfigError(key: "keyFile", reason: error.description)
        }
        guard let member = manifest.member(config.node), member.publicKeys.contains(key.publicKey) else {
            throw ConfigError(key: "keyFile", reason: "the public key of \(config.keyFile) (\(key.publicKey.text)) is not among "
                              + "\(config.node)'s public keys in region manifest \(config.regionManifest)")
        }
        return key
    }

    /// This office's share of the deterministic demo region, written as local writes in one transaction.
    static func loadDemoRegion(into store: ReplicaStore, seed: UInt64) throws {
        let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "Europe/Helsinki")!, from: Date())
        let today = LocalDate(year: parts.year!, month: parts.month!, day: parts.day!)!
        let records = DemoRegion.generate(seed: seed, today: today).records(for: store.nodeID)
        try store.batch {
            for record in records {
                try store.create(record.kind, id: record.id, fields: record.fields)
            }
        }
        Log.info("node.demo_loaded", ["node": store.nodeID, "records": String(records.count)])
    }

    /// Serves until `shutdown()` or a signal of `signals`; then stops its
    /// parts in reverse order of start (`services`) and closes the databases.
    /// `restored`: the operator says the database came back from a backup.
    /// Returns `.forced` when a second signal or the deadline cut the stop
    /// short (the caller exits at once); throws when a part failed.
    public func serve(restored: Bool = false, signals: SignalSequence? = nil) async throws -> ServiceGroup.Outcome {
        Log.info("node.started", ["node": config.node, "host": config.host, "port": String(port),
                                  "peers": config.peers.map(\.node).joined(separator: ",")])
        if config.testClockOffsetMillis != 0 {
            Log.warning("node.test_clock_offset", ["offsetMs": String(config.testClockOffsetMillis), "hook": TestHooks.clockOffsetVariable])
        }
        if config.testCompactionHorizon {
            Log.warning("node.test_compaction_horizon", ["horizonMs": String(config.compaction.horizonMillis), "hook": TestHooks.compactionHorizonVariable])
        }
        // Before the API serves: no local write until the peers were asked about this node's own changes.
        await replica.beginStartupCheck()
        let outcome = try await runServices(restored: restored, signals: signals)
        if outcome == .stopped { Log.info("node.stopped", ["node": config.node]) }
        return outcome
    }

    /// `serve` for callers that stop the node with `shutdown()` and need no outcome (tests, tools).
    public func run(restored: Bool = false) async throws {
        _ = try await serve(restored: restored)
    }

    /// The sync links and the restore check, beside the server (peers
    /// starting at the same time probe us too); runs until cancelled.
    func runSync(restored: Bool) async {
        _ = await scheduler.probePeers()
        // A new or wiped node with a large region to catch up on: from a snapshot, before any pull.
        await scheduler.bootstrap.bootstrapIfEmpty()
        let target = await replica.pendingCatchUp
        if restored || target != nil {
            // Restored (the operator says so, or peers hold more of this
            // node's changes than it does): its log positions are not the
            // ones peers remember, and it takes no local write before every
            // configured peer has answered, so no peer holding a later
            // change of ours is missed (passive ones answer by reaching us).
            do {
                try await replica.startNewIncarnation()
            } catch {
                Log.error("node.incarnation_failed", ["error": String(describing: error)])
            }
            Log.warning("node.restored", ["node": config.node, "ownSeqAtPeers": target.map(String.init) ?? "unknown"])
            await replica.waitForPeers(Set(config.peers.map(\.node)))
        }
        await replica.endStartupCheck()
        await replica.markRunning()
        if let seed = config.demoSeed, !restored, target == nil {
            await seedDemoRegion(seed)
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.scheduler.run() }
            group.addTask { await self.logPendingPeers() }
            group.addTask { await self.retention.runLoop() }
        }
    }

    /// Loads the demo region if the store is still empty and no peer holds any of this node's changes.
    private func seedDemoRegion(_ seed: UInt64) async {
        guard await !replica.peerHoldsOwnChanges else { return }
        do {
            let loaded = try await replica.withStore { store -> Bool in
                guard store.logPosition == 0 else { return false }
                try Self.loadDemoRegion(into: store, seed: seed)
                return true
            }
            if loaded { scheduler.localChange() }
        } catch {
            Log.error("node.demo_failed", ["error": String(describing: error)])
        }
    }

    /// While a restored node waits for peers to answer, says which are still pending.
    private func logPendingPeers() async {
        var lastLogged: Set<String> = []
        while !Task.isCancelled {
            let pending = await replica.pendingPeers
            if pending.isEmpty {
                if !lastLogged.isEmpty { Log.info("node.restored_all_peers_answered", ["node": config.node]) }
                return
            }
            if pending != lastLogged {
                Log.warning("node.restored_waiting_for_peers", ["node": config.node, "pending": pending.sorted().joined(separator: ",")])
                lastLogged = pending
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// Asks the running node to stop gracefully (as SIGTERM does; asking
    /// again changes nothing). Before `run`, it makes `run` stop at once.
    public func shutdown() {
        stopRequests.continuation.yield(.shutdown)
    }
}
