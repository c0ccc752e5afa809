import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// The health of one peer link, as the status endpoint shows it.
public enum LinkState: String, Sendable, CaseIterable {
    /// Never tried yet.
    case idle
    case ok
    /// Failing; retrying with exponential backoff and jitter.
    case backingOff = "backing off"
    /// The peer or this node refused to sync (versions differ, a batch was
    /// refused): retried slowly, shown until it clears.
    case refused
    /// Passive link: this node never contacts the peer.
    case passive
    /// The peer holds another change than this node under some dot (the
    /// detail names origin and seq): retried only at `backoffMax`, still
    /// checking, until the heads agree again.
    case forked
    /// Equal version vectors but different state digests (the detail gives both).
    case diverged
}

/// Sync with one peer: pulls (and pushes, for a peer that cannot reach this
/// node) batch after batch until caught up, on wake and on the interval.
actor PeerLink {
    let peer: PeerConfig
    private let config: NodeConfig
    private let replica: Replica
    private let secrets: Secrets
    private let client: (any SyncTransport)?
    nonisolated let signal = WakeSignal()
    /// Called after this link applied changes, so others can relay them on.
    private let onApplied: @Sendable (String) -> Void
    private(set) var state: LinkState
    private(set) var detail: String?
    private var failures = 0
    /// The peer's last answer was 410 `snapshot_required` (for `SnapshotBootstrap`).
    private(set) var snapshotRequired = false
    /// The last digest comparison at equal version vectors, and when (for `SnapshotBootstrap`).
    private(set) var digestComparison: (matched: Bool, at: ContinuousClock.Instant)?

    /// `transport` defaults to an HTTP client configured from `config` (timeouts, TLS).
    init(peer: PeerConfig, config: NodeConfig, replica: Replica, secrets: Secrets, transport: (any SyncTransport)? = nil,
         onApplied: @escaping @Sendable (String) -> Void) throws {
        self.peer = peer
        self.config = config
        self.replica = replica
        self.secrets = secrets
        self.onApplied = onApplied
        state = peer.mode == .passive ? .passive : .idle
        if peer.mode == .passive {
            client = nil
        } else if let transport {
            client = transport
        } else {
            client = try AsyncHTTPClient(configuration: HTTPClient.Configuration(
                connectTimeout: config.connectTimeout, totalTimeout: config.requestTimeout,
                caBundlePath: config.tls?.caBundle, clientCertificatePath: config.tls?.clientCertificate,
                clientKeyPath: config.tls?.clientKey))
        }
    }

    /// Loops until cancelled.
    func run() async {
        guard peer.mode != .passive else { return }
        var delay: Duration = .zero
        while !Task.isCancelled {
            await signal.wait(timeout: delay)
            if Task.isCancelled { break }
            delay = await syncRound()
        }
    }

    /// One round; returns how long to wait before the next.
    func syncRound() async -> Duration {
        do {
            let divergence = try await pullUntilCaughtUp()
            if peer.mode == .push { try await pushUntilCaughtUp() }
            await replica.clearFork(peer: peer.node)
            failures = 0
            snapshotRequired = false
            if let divergence {
                if state != .diverged || detail != divergence {
                    Log.error("sync.diverged", ["peer": peer.node, "reason": divergence])
                }
                state = .diverged
                detail = divergence
                try? await replica.recordPeerFailure(peer.node, message: divergence)
                return config.syncInterval
            }
            if state != .ok { Log.info("sync.link_ok", ["peer": peer.node]) }
            state = .ok
            detail = nil
            return config.syncInterval
        } catch let fork as SyncForked {
            if let dot = fork.dot { await replica.noteFork(dot, peer: peer.node) }
            if state != .forked || detail != fork.message {
                Log.error("sync.forked", ["peer": peer.node, "dot": fork.dot?.description ?? "unknown"])
            }
            state = .forked
            detail = fork.message
            try? await replica.recordPeerFailure(peer.node, message: fork.message)
            return config.backoffMax
        } catch let refusal as SyncRefusal {
            snapshotRequired = refusal.snapshotRequired
            if state != .refused || detail != refusal.message {
                Log.warning("sync.refused", ["peer": peer.node, "reason": refusal.message])
            }
            state = .refused
            detail = refusal.message
            try? await replica.recordPeerFailure(peer.node, message: refusal.message)
            return config.backoffMax
        } catch {
            failures += 1
            let message = Self.describe(error)
            if failures == 1 || failures % 10 == 0 {
                Log.warning("sync.failed", ["peer": peer.node, "failures": String(failures), "error": message])
            }
            state = .backingOff
            detail = message
            try? await replica.recordPeerFailure(peer.node, message: message)
            return backoff()
        }
    }

    private func backoff() -> Duration {
        let base = config.backoffInitial * Int(min(1 << min(failures - 1, 20), 1 << 20))
        let capped = min(base, config.backoffMax)
        return capped * Double.random(in: 0.5...1.0)
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return error.message }
        if let error = error as? SQLiteError, error.isStorageFull { return diskFull }
        return String(describing: error)
    }

    /// The link's error while this node's disk is full: retried with backoff
    /// like any failure, so it resumes by itself once space is freed.
    static let diskFull = "disk full: this node cannot store what it pulls (nothing of a batch is applied until it fits); "
        + "sync resumes by itself once space is freed in the data directory"


    private nonisolated var url: String { peer.url ?? "" }

    private nonisolated func headers(json: Bool) -> HTTPHeaders {
        var headers: HTTPHeaders = ["Authorization": "Bearer \(secrets.peerCredential)"]
        headers["Content-Type"] = json ? "application/json" : SyncProtocol.batchContentType
        headers[SyncProtocol.Header.node] = config.node
        headers[SyncProtocol.Header.protocolVersion] = String(SyncProtocol.version)
        headers[SyncProtocol.Header.schemaVersion] = String(config.advertisedSchemaVersion)
        return headers
    }

    /// Raises the answer of a failed exchange as a refusal (409/410) or an error.
    private nonisolated func check(_ response: HTTPResponse, _ what: String) throws {
        guard response.status != .ok else { return }
        let error = (try? JSONValue.parse(response.body))?["error"]
        let message = error?["message"]?.stringValue ?? "no message"
        if error?["code"]?.stringValue == "fork" {
            throw SyncForked(message: "\(what) refused by \(peer.node): \(message)", dot: SyncForked.dot(in: message))
        }
        if error?["code"]?.stringValue == "batch_refused" {
            // The receiver could not place this batch; the next round re-reads its state.
            throw SyncFailure(message: "\(what) refused by \(peer.node): \(message)")
        }
        if response.status == .conflict || response.status == .gone {
            throw SyncRefusal(message: "\(what) refused by \(peer.node) (HTTP \(response.status.code)): \(message)",
                              snapshotRequired: error?["code"]?.stringValue == "snapshot_required")
        }
        throw SyncFailure(message: "\(what) failed at \(peer.node): HTTP \(response.status.code): \(message)")
    }

    /// One pull's answer as fetched, before anything of it is applied.
    struct FetchedPull: Sendable {
        let request: PullRequest
        let batch: ChangeBatch
        let peerLogEnd: UInt64
        let yourSeq: UInt64?
        let sent: UInt64
        let received: UInt64
        let fetchDuration: Duration
    }

    /// Sends `request` and decodes its answer; applies nothing.
    private nonisolated func fetch(_ request: PullRequest, client: any SyncTransport) async throws -> FetchedPull {
        let sent = replica.nowMillis
        let started = ContinuousClock.now
        let response = try await client.send(.post, "\(url)/v1/sync/pull", headers: headers(json: true),
                                             body: request.json.serializedBytes)
        let fetched = ContinuousClock.now
        let received = replica.nowMillis
        try check(response, "pull")
        let batch: ChangeBatch
        do {
            batch = try WireFormat.decode(response.body)
        } catch {
            throw SyncFailure(message: "pull from \(peer.node): \(error)")
        }
        guard let peerLogEnd = response.headers[SyncProtocol.Header.logPosition].flatMap(UInt64.init) else {
            throw SyncFailure(message: "pull from \(peer.node): the answer lacks \(SyncProtocol.Header.logPosition)")
        }
        return FetchedPull(request: request, batch: batch, peerLogEnd: peerLogEnd,
                           yourSeq: response.headers[SyncProtocol.Header.yourSeq].flatMap(UInt64.init),
                           sent: sent, received: received, fetchDuration: fetched - started)
    }

    /// The request for the batch after `batch`, sent while `batch` is still
    /// being applied: from the position just after it, with this node's
    /// version vector as it will be once `batch` is applied (what it holds
    /// now and every dot of `batch`). If `batch` is refused the answer is
    /// dropped unread; a change in it that arrived meanwhile from another
    /// peer is skipped at apply, as any change already held.
    private func nextRequest(after batch: ChangeBatch, _ previous: PullRequest) async -> PullRequest {
        var vector = await replica.syncState().versionVector
        for change in batch.changes { vector.advance(to: change.dot) }
        return PullRequest(node: previous.node, protocolVersion: previous.protocolVersion, schemaVersion: previous.schemaVersion,
                           versionVector: vector, since: batch.nextPosition, limit: previous.limit,
                           heads: await replica.chainHeads, clock: replica.nowMillis)
    }

    /// Pulls until caught up; returns why the replicas diverged, if they
    /// did (equal version vectors, different non-provisional digests).
    /// Pull and apply overlap: while one batch is applied the next is
    /// fetched. Batches are still applied one after the other, in the
    /// peer's log order, each with its cursor in its own transaction; the
    /// next one is looked at only after the one before it applied, and a
    /// refused batch, a fork or a changed incarnation drops what was fetched ahead.
    func pullUntilCaughtUp() async throws -> String? {
        guard let client else { return nil }
        var ahead: Task<FetchedPull, any Error>?
        defer {
            if let ahead {
                // Fetched ahead and never applied: the request counts as not taken.
                ahead.cancel()
                replica.metrics.exchanged(.pull, with: peer.node, ok: false)
            }
        }
        while !Task.isCancelled {
            var taken = false  // each pull request counts once, however it ends
            defer { replica.metrics.exchanged(.pull, with: peer.node, ok: taken) }
            let cursor = try await replica.peerCursor(peer.node)
            let pulled: FetchedPull
            if let next = ahead {
                ahead = nil
                pulled = try await next.value
            } else {
                let local = await replica.syncState()
                let request = PullRequest(node: config.node, protocolVersion: SyncProtocol.version,
                                          schemaVersion: config.advertisedSchemaVersion, versionVector: local.versionVector,
                                          since: cursor?.position ?? 0, limit: config.batchSize,
                                          heads: await replica.chainHeads, clock: replica.nowMillis)
                pulled = try await fetch(request, client: client)
            }
            let batch = pulled.batch, peerLogEnd = pulled.peerLogEnd
            await replica.notePeerAnswered(peer.node)
            await replica.noteClock(peer: peer.node, peerMillis: batch.senderClockMillis, sent: pulled.sent, received: pulled.received)
            if let known = cursor?.incarnation, known != batch.incarnation, pulled.request.since > 0 {
                // The peer's log was recreated, restored or replaced by a snapshot: positions
                // restart. Before the position check: the old cursor may lie past the new log's end.
                Log.info("sync.peer_incarnation_changed", ["peer": peer.node])
                try await replica.resetPeerCursor(peer.node, incarnation: batch.incarnation)
                taken = true
                continue
            }
            guard batch.nextPosition <= peerLogEnd else {
                throw SyncRefusal(message: "pull from \(peer.node) refused (invalid_position): batch nextPosition \(batch.nextPosition) "
                                  + "is past the peer's log end \(peerLogEnd); nothing was applied")
            }
            if let held = pulled.yourSeq {
                await replica.notePeerHoldsAny(held)
                await replica.notePeerHolds(ownSeq: held)
            }
            if let dot = try await replica.forks(comparedWith: batch.heads).first {
                replica.metrics.batchRefused(from: peer.node, reason: .fork)
                throw SyncForked(message: "fork at \(dot): \(peer.node) holds another change under \(dot) than \(config.node) does",
                                 dot: dot)
            }
            let more = !batch.changes.isEmpty && batch.nextPosition < peerLogEnd
            if more {
                let request = await nextRequest(after: batch, pulled.request)
                ahead = Task { try await self.fetch(request, client: client) }
            }
            let applying = ContinuousClock.now
            let result: ApplyResult
            do {
                result = try await replica.apply(batch, from: peer.node)
            } catch let error as ReplicaStoreError {
                if case .batchRefused(let reason) = error {
                    throw SyncRefusal(message: "batch from \(peer.node) refused: \(reason)")
                }
                if case .forked(let dot) = error {
                    throw SyncForked(message: "fork at \(dot): \(peer.node) sent another change under \(dot) than \(config.node) holds",
                                     dot: dot)
                }
                throw error
            }
            try await replica.recordPeerLogPosition(peer.node, position: peerLogEnd)
            taken = true
            if result.applied > 0 {
                Log.info("sync.pulled", ["peer": peer.node, "applied": String(result.applied), "skipped": String(result.skipped),
                                         "fetchMs": Self.milliseconds(pulled.fetchDuration),
                                         "applyMs": Self.milliseconds(ContinuousClock.now - applying)])
                onApplied(peer.node)
            }
            if !more {
                return await divergence(from: batch)
            }
        }
        return nil
    }

    /// Equal version vectors must mean equal digests, unless either is provisional.
    private func divergence(from batch: ChangeBatch) async -> String? {
        let local = await replica.syncState()
        let (digest, provisional) = await replica.digest
        guard local.versionVector == batch.senderVersionVector, !provisional, !batch.digestProvisional else { return nil }
        digestComparison = (digest == batch.stateDigest, .now)
        guard digest != batch.stateDigest else { return nil }
        return "diverged from \(peer.node) at equal version vectors: state digest \(digest.hex.prefix(12)) here, "
            + "\(batch.stateDigest.hex.prefix(12)) at \(peer.node)"
    }

    func pushUntilCaughtUp() async throws {
        guard let client else { return }
        var remote = try await fetchState(client)  // re-read every round: a refused batch starts over from here
        while !Task.isCancelled {
            let local = await replica.syncState()
            let since = remote.cursorIncarnation == local.incarnation ? remote.cursorPosition : 0
            let batch = try await replica.readLog(after: since, notCoveredBy: remote.versionVector, limit: config.batchSize)
            if batch.changes.isEmpty { return }
            var taken = false
            defer { replica.metrics.exchanged(.push, with: peer.node, ok: taken) }
            var headers = headers(json: false)
            headers[SyncProtocol.Header.logPosition] = String(local.logPosition)
            let response = try await client.send(.post, "\(url)/v1/sync/push", headers: headers, body: WireFormat.encode(batch))
            try check(response, "push")
            guard let json = try? JSONValue.parse(response.body), let state = PeerState.parse(json) else {
                throw SyncFailure(message: "push to \(peer.node): malformed answer")
            }
            if let dot = try await replica.forks(comparedWith: state.heads).first {
                throw SyncForked(message: "fork at \(dot): \(peer.node) holds another change under \(dot) than \(config.node) does", dot: dot)
            }
            remote = state
            taken = true
            if batch.nextPosition >= local.logPosition { return }
        }
    }

    private func fetchState(_ client: any SyncTransport, timeout: Duration? = nil) async throws -> PeerState {
        let sent = replica.nowMillis
        let response = try await client.send(.get, "\(url)/v1/sync/state?node=\(config.node)", headers: headers(json: true),
                                             body: [], timeout: timeout)
        try check(response, "state")
        guard let json = try? JSONValue.parse(response.body), let state = PeerState.parse(json) else {
            throw SyncFailure(message: "state of \(peer.node): malformed answer")
        }
        await replica.notePeerAnswered(peer.node)
        await replica.noteClock(peer: peer.node, peerMillis: state.clock, sent: sent, received: replica.nowMillis)
        await replica.notePeerHoldsAny(state.versionVector[config.node])
        await replica.notePeerHolds(ownSeq: state.versionVector[config.node])
        if let dot = try await replica.forks(comparedWith: state.heads).first {
            throw SyncForked(message: "fork at \(dot): \(peer.node) holds another change under \(dot) than \(config.node) does", dot: dot)
        }
        return state
    }

    /// Asks the peer for its state once (restore detection at startup).
    func probeState() async -> PeerState? {
        guard let client else { return nil }
        return try? await fetchState(client, timeout: min(config.requestTimeout, .seconds(5)))
    }
}

/// The peer's chain and this node's disagree at `dot`.
struct SyncForked: Error, CustomStringConvertible {
    let message: String
    let dot: Dot?
    var description: String { message }

    /// The dot of a "fork at <origin>:<seq>: …" message.
    static func dot(in message: String) -> Dot? {
        guard let range = message.range(of: "fork at ") else { return nil }
        let rest = message[range.upperBound...]
        let text = rest.prefix { $0 != " " }.trimmingCharacters(in: CharacterSet(charactersIn: ":,"))
        guard let colon = text.lastIndex(of: ":"), let seq = UInt64(text[text.index(after: colon)...]) else { return nil }
        let origin = String(text[..<colon])
        guard NodeID.isValid(origin) else { return nil }
        return Dot(origin: origin, seq: seq)
    }
}

/// The exchange was refused on purpose (versions differ, batch refused).
struct SyncRefusal: Error, CustomStringConvertible {
    let message: String
    /// The peer answered 410 `snapshot_required`: its log no longer holds changes this node lacks.
    var snapshotRequired = false
    var description: String { message }
}

/// The exchange failed (peer down, bad answer); retried with backoff.
struct SyncFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
