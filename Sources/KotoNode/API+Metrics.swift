import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// `GET /metrics`: the node in the Prometheus text exposition format, for
/// the admin and scrape roles. Counters come from the node's `NodeMetrics`;
/// gauges are read at scrape time from the replica, its store and the
/// links, as `GET /v1/status` reads them.
extension API {
    /// Registers `/metrics` and counts every request the router answers.
    func addMetrics(to router: inout Router) {
        let metrics = replica.metrics
        router.observer = { metrics.requestHandled($0) }
        router.get("/metrics", endpoint([.admin, .scrape]) { _, _ in try await scrape() })
    }

    func scrape() async throws -> HTTPResponse {
        let text = MetricsExposition.render(try await metricFamilies())
        return HTTPResponse(status: .ok, headers: ["Content-Type": MetricsExposition.contentType], body: Array(text.utf8))
    }

    func metricFamilies() async throws -> [MetricFamily] {
        let (vector, logEntries, conflicts, oldestConflict, ownFork) = try await replica.withStore { store in
            (store.versionVector, try store.logEntryCount(), try store.openConflictCount(), try store.oldestOpenConflictFirstSeenMillis(),
             store.ownFork)
        }
        let floor = try await replica.logFigures().floor
        let pendingCatchUp = await replica.pendingCatchUp
        let pendingPeers = await replica.pendingPeers
        let catchingUp = pendingCatchUp != nil || !pendingPeers.isEmpty
        let acceptsWrites = await replica.acceptsWrites
        let forks = await replica.peerForks
        let clockOffset = await replica.peerClockOffset
        let skewed = await replica.clockSkew != nil
        let peers = await scheduler.peerStatuses()
        let now = replica.nowMillis
        let metrics = replica.metrics

        func gauge(_ name: String, _ help: String, _ value: Double) -> MetricFamily {
            MetricFamily(name, .gauge, help: help, value: value)
        }
        func perPeer(_ name: String, _ help: String, _ value: (PeerStatus) -> Double) -> MetricFamily {
            MetricFamily(name, .gauge, help: help, samples: peers.map { MetricSample(labels: [("peer", $0.node)], value: value($0)) })
        }
        func flag(_ on: Bool) -> Double { on ? 1 : 0 }

        let municipality = manifest.member(config.node).map { String($0.municipality.code) } ?? ""
        var families: [MetricFamily] = [
            MetricFamily("kotosync_build_info", .gauge, help: "Always 1: this build's version, schema version and sync protocol version.",
                         samples: [MetricSample(labels: [("version", BuildInfo.version),
                                                         ("schema_version", String(config.advertisedSchemaVersion)),
                                                         ("protocol_version", String(SyncProtocol.version))], value: 1)]),
            MetricFamily("kotosync_node_info", .gauge, help: "Always 1: this node's id, region and municipality code.",
                         samples: [MetricSample(labels: [("node", config.node), ("region", manifest.region),
                                                         ("municipality", municipality)], value: 1)]),
            gauge("kotosync_node_start_time_seconds", "When this node started, Unix time.", Double(metrics.startedMillis) / 1000),
            perPeer("kotosync_peer_lag_changes", "Log entries of the peer not yet held here: its last reported log end minus this node's position in it.") {
                Double($0.cursor?.lag ?? 0)
            },
            perPeer("kotosync_peer_lag_seconds", "How long this node may have been missing the peer's changes: 0 while the last exchange succeeded and left nothing to pull, else seconds since the last success (since start when none).") {
                Self.lagSeconds($0.cursor, now: now, started: metrics.startedMillis)
            },
            perPeer("kotosync_peer_last_success_timestamp_seconds", "Last successful exchange with the peer (either side started it), Unix time; 0 when none yet.") {
                Double($0.cursor?.lastSuccessMillis ?? 0) / 1000
            },
            perPeer("kotosync_peer_consecutive_failures", "Failed exchanges with the peer since the last success.") {
                Double($0.cursor?.consecutiveFailures ?? 0)
            },
            MetricFamily("kotosync_peer_state", .gauge, help: "1 for the link's current state, 0 for the others (idle, ok, backing off, refused, passive, forked, diverged).",
                         samples: peers.flatMap { peer in
                             let state = peer.shownState(fork: forks[peer.node])
                             return LinkState.allCases.map { MetricSample(labels: [("peer", peer.node), ("state", $0.rawValue)], value: flag($0 == state)) }
                         }),
            perPeer("kotosync_peer_forked", "1 while the peer holds another change than this node under some dot (a fork), else 0.") {
                flag(forks[$0.node] != nil || $0.state == .forked)
            },
            perPeer("kotosync_peer_diverged", "1 while this node and the peer hold the same changes but different state digests, else 0.") {
                flag($0.state == .diverged)
            },
            gauge("kotosync_own_fork", "1 while this node's own change history is forked (it takes no local writes until repair-fork), else 0.", flag(ownFork != nil)),
            gauge("kotosync_accepting_writes", "1 while this node takes local writes, 0 while it starts, catches up, waits for peers, is forked or its clock is off.", flag(acceptsWrites)),
            gauge("kotosync_catching_up", "1 while this node pulls back its own changes after a restore or waits for its peers to answer, else 0.", flag(catchingUp)),
            MetricFamily("kotosync_clock_skew_seconds", .gauge,
                         help: "How far this node's wall clock runs ahead of the median of its peers' clocks (negative: behind), from the last 10 minutes of exchanges; absent without any.",
                         samples: clockOffset.map { [MetricSample(value: -Double($0.millis) / 1000)] } ?? []),
            gauge("kotosync_clock_skew_exceeded", "1 while the clock skew is beyond the bound of sync.maxClockAheadSeconds (local writes are refused), else 0.", flag(skewed)),
            gauge("kotosync_conflicts_open", "Open conflicts: concurrent writes to a field that no later write saw.", Double(conflicts)),
            MetricFamily("kotosync_conflict_oldest_first_seen_timestamp_seconds", .gauge,
                         help: "When this node first held the oldest conflict still open, Unix time; absent when none is open.",
                         samples: oldestConflict.map { [MetricSample(value: Double($0) / 1000)] } ?? []),
            gauge("kotosync_log_entries", "Entries in this node's change log (its own and its peers' changes, less those compaction dropped).", Double(logEntries)),
            MetricFamily("kotosync_log_floor_changes", .gauge, help: "The change log's floor per origin: changes up to it may have been compacted away; a puller holding fewer is told 410 snapshot_required.",
                         samples: floor.entries.sorted { $0.key < $1.key }.map { MetricSample(labels: [("origin", $0.key)], value: Double($0.value)) }),
            MetricFamily("kotosync_changes_held", .gauge, help: "Changes of each origin this replica holds: its version vector.",
                         samples: vector.entries.sorted { $0.key < $1.key }.map { MetricSample(labels: [("origin", $0.key)], value: Double($0.value)) }),
            MetricFamily("kotosync_database_bytes", .gauge, help: "Size of the replica's SQLite files: the main database and its write-ahead log.",
                         samples: [("main", ""), ("wal", "-wal")].map { file, suffix in
                             MetricSample(labels: [("file", file)], value: Double(Self.fileSize(config.databasePath + suffix)))
                         }),
        ]
        families += metrics.families(peers: config.peers)
        return families
    }

    /// 0 while caught up with the peer, else seconds since the last success (or since `started`).
    static func lagSeconds(_ cursor: PeerCursor?, now: UInt64, started: UInt64) -> Double {
        if let cursor, cursor.lastSuccessMillis != nil, cursor.consecutiveFailures == 0, cursor.lag == 0 { return 0 }
        let since = cursor?.lastSuccessMillis.map { UInt64(max(0, $0)) } ?? started
        return now > since ? Double(now - since) / 1000 : 0
    }

    /// The file's size in bytes; 0 when it does not exist (no WAL between checkpoints).
    static func fileSize(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }
}

extension PeerStatus {
    /// The state to show: a fork seen on either side shows, even on a passive link.
    func shownState(fork: Dot?) -> LinkState {
        fork != nil ? .forked : state
    }
}
