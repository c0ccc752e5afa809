import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// The health of one peer link, as the status endpoint shows it.
public enum LinkState: String, Sendable {
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
}

/// Sync with one peer: pulls (and pushes, for a peer that cannot reach this
/// node) batch after batch until caught up, on wake and on the interval.
actor PeerLink {
    let peer: PeerConfig
    private let config: NodeConfig
    private let replica: Replica
    private let secrets: Secrets
    private let client: AsyncHTTPClient?
    let signal = WakeSignal()
    /// Called after this link applied changes, so others can relay them on.
    private let onApplied: @Sendable (String) -> Void
    private(set) var state: LinkState
    private(set) var detail: String?
    private var failures = 0

    init(peer: PeerConfig, config: NodeConfig, replica: Replica, secrets: Secrets, onApplied: @escaping @Sendable (String) -> Void) throws {
        self.peer = peer
        self.config = config
        self.replica = replica
        self.secrets = secrets
        self.onApplied = onApplied
        state = peer.mode == .passive ? .passive : .idle
        if peer.mode == .passive {
            client = nil
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
    private func syncRound() async -> Duration {
        do {
            try await pullUntilCaughtUp()
            if peer.mode == .push { try await pushUntilCaughtUp() }
            if state != .ok { Log.info("sync.link_ok", ["peer": peer.node]) }
            state = .ok
            detail = nil
            failures = 0
            return config.syncInterval
        } catch let refusal as SyncRefusal {
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
        return String(describing: error)
    }

    private var url: String { peer.url ?? "" }

    private func headers(json: Bool) -> HTTPHeaders {
        var headers: HTTPHeaders = ["Authorization": "Bearer \(secrets.peerCredential)"]
        headers["Content-Type"] = json ? "application/json" : SyncProtocol.batchContentType
        headers[SyncProtocol.Header.node] = config.node
        headers[SyncProtocol.Header.protocolVersion] = String(SyncProtocol.version)
        headers[SyncProtocol.Header.schemaVersion] = String(config.advertisedSchemaVersion)
        return headers
    }

    /// Raises the answer of a failed exchange as a refusal (409/410) or an error.
    private func check(_ response: HTTPResponse, _ what: String) throws {
        guard response.status != .ok else { return }
        let error = (try? JSONValue.parse(response.body))?["error"]
        let message = error?["message"]?.stringValue ?? "no message"
        if error?["code"]?.stringValue == "batch_refused" {
            // The receiver could not place this batch; the next round re-reads its state.
            throw SyncFailure(message: "\(what) refused by \(peer.node): \(message)")
        }
        if response.status == .conflict || response.status == .gone {
            throw SyncRefusal(message: "\(what) refused by \(peer.node) (HTTP \(response.status.code)): \(message)")
        }
        throw SyncFailure(message: "\(what) failed at \(peer.node): HTTP \(response.status.code): \(message)")
    }

    func pullUntilCaughtUp() async throws {
        guard let client else { return }
        while !Task.isCancelled {
            let local = await replica.syncState()
            let cursor = try await replica.peerCursor(peer.node)
            let request = PullRequest(node: config.node, protocolVersion: SyncProtocol.version,
                                      schemaVersion: config.advertisedSchemaVersion, versionVector: local.versionVector,
                                      since: cursor?.position ?? 0, limit: config.batchSize)
            let started = ContinuousClock.now
            let response = try await client.send(.post, "\(url)/v1/sync/pull", headers: headers(json: true),
                                                 body: request.json.serializedBytes)
            let fetched = ContinuousClock.now
            try check(response, "pull")
            let batch: ChangeBatch
            do {
                batch = try WireFormat.decode(response.body)
            } catch {
                throw SyncFailure(message: "pull from \(peer.node): \(error)")
            }
            let peerLogEnd = response.headers[SyncProtocol.Header.logPosition].flatMap(UInt64.init) ?? batch.nextPosition
            if let held = response.headers[SyncProtocol.Header.yourSeq].flatMap(UInt64.init) {
                await replica.notePeerHolds(ownSeq: held)
            }
            if let known = cursor?.incarnation, known != batch.incarnation, request.since > 0 {
                // The peer's log was recreated or restored: positions restart.
                Log.info("sync.peer_incarnation_changed", ["peer": peer.node])
                try await replica.resetPeerCursor(peer.node, incarnation: batch.incarnation)
                continue
            }
            let result: ApplyResult
            do {
                result = try await replica.apply(batch, from: peer.node)
            } catch let error as ReplicaStoreError {
                if case .batchRefused(let reason) = error {
                    throw SyncRefusal(message: "batch from \(peer.node) refused: \(reason)")
                }
                throw error
            }
            try await replica.recordPeerLogPosition(peer.node, position: peerLogEnd)
            if result.applied > 0 {
                Log.info("sync.pulled", ["peer": peer.node, "applied": String(result.applied), "skipped": String(result.skipped),
                                         "fetchMs": Self.milliseconds(fetched - started),
                                         "applyMs": Self.milliseconds(ContinuousClock.now - fetched)])
                onApplied(peer.node)
            }
            if batch.changes.isEmpty || batch.nextPosition >= peerLogEnd { return }
        }
    }

    func pushUntilCaughtUp() async throws {
        guard let client else { return }
        var remote = try await fetchState(client)  // re-read every round: a refused batch starts over from here
        while !Task.isCancelled {
            let local = await replica.syncState()
            let since = remote.cursorIncarnation == local.incarnation ? remote.cursorPosition : 0
            let batch = try await replica.readLog(after: since, notCoveredBy: remote.versionVector, limit: config.batchSize)
            if batch.changes.isEmpty { return }
            var headers = headers(json: false)
            headers[SyncProtocol.Header.logPosition] = String(local.logPosition)
            let response = try await client.send(.post, "\(url)/v1/sync/push", headers: headers, body: WireFormat.encode(batch))
            try check(response, "push")
            guard let json = try? JSONValue.parse(response.body), let state = PeerState.parse(json) else {
                throw SyncFailure(message: "push to \(peer.node): malformed answer")
            }
            remote = state
            if batch.nextPosition >= local.logPosition { return }
        }
    }

    private func fetchState(_ client: AsyncHTTPClient, timeout: Duration? = nil) async throws -> PeerState {
        let response = try await client.send(.get, "\(url)/v1/sync/state?node=\(config.node)", headers: headers(json: true),
                                             timeout: timeout)
        try check(response, "state")
        guard let json = try? JSONValue.parse(response.body), let state = PeerState.parse(json) else {
            throw SyncFailure(message: "state of \(peer.node): malformed answer")
        }
        await replica.notePeerHolds(ownSeq: state.versionVector[config.node])
        return state
    }

    /// Asks the peer for its state once (restore detection at startup).
    func probeState() async -> PeerState? {
        guard let client else { return nil }
        return try? await fetchState(client, timeout: min(config.requestTimeout, .seconds(5)))
    }
}

/// The exchange was refused on purpose (versions differ, batch refused).
struct SyncRefusal: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The exchange failed (peer down, bad answer); retried with backoff.
struct SyncFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
