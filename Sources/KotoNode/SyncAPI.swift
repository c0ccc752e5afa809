import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// The peer side of the sync protocol.
struct SyncAPI: Sendable {
    let config: NodeConfig
    let replica: Replica
    let scheduler: SyncScheduler
    let manifest: RegionManifest

    /// The node a sync request claims to come from, once the caller's peer
    /// credential is shown to be that node's own and the node a member:
    /// a leaked Kronoby credential lets nobody act as Larsmo.
    func authenticatedPeer(_ caller: Caller, claims node: String) throws -> String {
        let holder = caller.role == .peer ? (caller.node ?? "") : caller.role.rawValue
        guard manifest.isMember(node) else {
            Log.warning("sync.not_a_member", ["peer": holder, "claimed": node])
            throw HTTPError(.forbidden, code: "not_a_member", message: "\(node) is not a member of region \(manifest.region)")
        }
        guard caller.role == .peer, holder == node else {
            Log.warning("sync.credential_mismatch", ["peer": holder, "claimed": node])
            throw HTTPError(.forbidden, code: "credential_mismatch", message: "the credential belongs to \(holder), not \(node)")
        }
        return node
    }

    /// 409 when the peer speaks another protocol or schema version; the
    /// message says which and both sides' values.
    func checkVersions(peer: String, protocolVersion: Int?, schemaVersion: Int?) async throws {
        var differences: [String] = []
        if protocolVersion != SyncProtocol.version {
            differences.append("protocol version differs: \(config.node) speaks \(SyncProtocol.version), \(peer) \(protocolVersion.map(String.init) ?? "none")")
        }
        if schemaVersion != config.advertisedSchemaVersion {
            differences.append("schema version differs: \(config.node) has \(config.advertisedSchemaVersion), \(peer) \(schemaVersion.map(String.init) ?? "none")")
        }
        guard differences.isEmpty else {
            let message = differences.joined(separator: "; ")
            Log.warning("sync.version_mismatch", ["peer": peer, "reason": message])
            try? await replica.recordPeerFailure(peer, message: message)
            throw HTTPError(.conflict, code: "version_mismatch", message: message)
        }
    }

    private func peerNode(_ request: HTTPRequest) throws -> String {
        guard let node = request.headers[SyncProtocol.Header.node], NodeID.isValid(node), node != config.node else {
            throw HTTPError.badRequest("header \(SyncProtocol.Header.node) must name the calling node", code: "invalid_header")
        }
        return node
    }

    func pull(_ request: HTTPRequest, caller: Caller) async throws -> HTTPResponse {
        let json: JSONValue
        do {
            json = try JSONValue.parse(request.body)
        } catch {
            throw HTTPError.badRequest("request body is not JSON: \(error.description)", code: "invalid_json")
        }
        // A peer speaking another protocol gets the clear 409, not a 400 about fields its version lacks.
        if let node = json["node"]?.stringValue, NodeID.isValid(node), let version = json["protocol"]?.int64Value,
           version != SyncProtocol.version {
            _ = try authenticatedPeer(caller, claims: node)
            try await checkVersions(peer: node, protocolVersion: Int(version), schemaVersion: json["schema"]?.int64Value.map { Int($0) })
        }
        let pull: PullRequest
        switch PullRequest.parse(json) {
        case .success(let parsed): pull = parsed
        case .failure(let problem):
            throw HTTPError(.badRequest, code: "invalid_request", message: problem.description, problems: [problem.httpProblem])
        }
        let peer = try authenticatedPeer(caller, claims: pull.node)
        try await checkVersions(peer: peer, protocolVersion: pull.protocolVersion, schemaVersion: pull.schemaVersion)
        try refuseStrangers(pull.heads, field: "heads")
        try refuseStrangers(pull.versionVector.entries, field: "versionVector")
        let now = replica.nowMillis
        await replica.noteClock(peer: peer, peerMillis: pull.clock, sent: now, received: now)
        // A peer that reaches us (a passive one too) says how many of our own changes it holds.
        await replica.notePeerHoldsAny(pull.versionVector[config.node])
        await replica.notePeerHolds(ownSeq: pull.versionVector[config.node])
        try await checkForks(pull.heads, peer: peer, what: "pull")
        let (batch, logPosition, yourSeq) = try await replica.withStore { store in
            // What the puller holds: the floor may rise to it (even when this pull is refused 410).
            store.notePeerVector(peer, pull.versionVector)
            return (try store.readLog(after: pull.since, notCoveredBy: pull.versionVector, limit: pull.limit), store.logPosition,
                    store.versionVector[pull.node])
        }
        await replica.notePeerAnswered(peer)
        // A passive peer has no link of ours to show its health: its pulls do.
        if config.peers.contains(where: { $0.node == pull.node && $0.mode == .passive }) {
            try await replica.withStore { try $0.recordPeerContact(pull.node) }
        }
        return HTTPResponse(status: .ok, headers: [
            "Content-Type": SyncProtocol.batchContentType,
            SyncProtocol.Header.logPosition: String(logPosition),
            SyncProtocol.Header.node: config.node,
            SyncProtocol.Header.yourSeq: String(yourSeq),
        ], body: WireFormat.encode(batch))
    }

    /// 403 naming `field` when a version vector or heads name a node that is not a member.
    private func refuseStrangers<V>(_ entries: [String: V], field: String) throws(HTTPError) {
        guard let stranger = entries.keys.sorted().first(where: { !manifest.isMember($0) }) else { return }
        throw HTTPError(.forbidden, code: "not_a_member",
                        message: "\(field) names \(stranger), which is not a member of region \(manifest.region)",
                        problems: [HTTPProblem(field: field, reason: "names \(stranger), which is not a member of the region")])
    }

    /// 409 `fork` when `heads` (the peer's) disagree with this node's chain
    /// at some dot; the fork is recorded against the peer (and as this
    /// node's own when the dot is ours). Agreeing heads clear an earlier fork.
    private func checkForks(_ heads: [String: ChainHead], peer: String, what: String) async throws {
        let forks = try await replica.forks(comparedWith: heads)
        guard let dot = forks.first else {
            await replica.clearFork(peer: peer)
            return
        }
        await replica.noteFork(dot, peer: peer)
        if what == "push" { replica.metrics.batchRefused(from: peer, reason: .fork) }  // the pushed batch goes unapplied
        let message = "fork at \(dot): \(peer) holds another change under \(dot) than \(config.node) does"
            + (forks.count > 1 ? " (and \(forks.count - 1) more)" : "")
        try? await replica.recordPeerFailure(peer, message: message)
        Log.warning("sync.\(what)_forked", ["peer": peer, "dot": dot.description])
        throw HTTPError(.conflict, code: "fork", message: message)
    }

    func push(_ request: HTTPRequest, caller: Caller) async throws -> HTTPResponse {
        let peer = try authenticatedPeer(caller, claims: try peerNode(request))
        try await checkVersions(peer: peer, protocolVersion: request.headers[SyncProtocol.Header.protocolVersion].flatMap { Int($0) },
                                schemaVersion: request.headers[SyncProtocol.Header.schemaVersion].flatMap { Int($0) })
        let batch: ChangeBatch
        do {
            batch = try WireFormat.decode(request.body)
        } catch {
            throw HTTPError.badRequest(error.description, code: "invalid_batch")
        }
        guard let senderLogEnd = request.headers[SyncProtocol.Header.logPosition].flatMap({ UInt64($0) }) else {
            throw HTTPError.badRequest("header \(SyncProtocol.Header.logPosition) must give the sender's log end", code: "invalid_header")
        }
        // Positions are checked: a push may not move the cursor past the
        // sender's log end, nor backwards within one incarnation.
        if batch.nextPosition > senderLogEnd {
            try await refusePosition(peer, "batch nextPosition \(batch.nextPosition) is past the sender's log end \(senderLogEnd)")
        }
        if let cursor = try await replica.peerCursor(peer), cursor.incarnation == batch.incarnation,
           batch.nextPosition < cursor.position {
            try await refusePosition(peer, "batch nextPosition \(batch.nextPosition) is before the cursor \(cursor.position) in the same incarnation")
        }
        try refuseStrangers(batch.heads, field: "heads")
        let received = replica.nowMillis
        await replica.noteClock(peer: peer, peerMillis: batch.senderClockMillis, sent: received, received: received)
        await replica.notePeerHoldsAny(batch.senderVersionVector[config.node])
        await replica.notePeerHolds(ownSeq: batch.senderVersionVector[config.node])
        try await checkForks(batch.heads, peer: peer, what: "push")
        let result: ApplyResult
        do {
            result = try await replica.apply(batch, from: peer)
        } catch let error as ReplicaStoreError {
            if case .forked(let dot) = error { await replica.noteFork(dot, peer: peer) }
            // Shown on this side too: a peer with a wrong clock must not go unnoticed here.
            try? await replica.recordPeerFailure(peer, message: error.description)
            Log.warning("sync.push_refused", ["peer": peer, "reason": error.description])
            throw error
        }
        await replica.notePeerAnswered(peer)
        try await replica.recordPeerLogPosition(peer, position: senderLogEnd)
        if result.applied > 0 {
            Log.info("sync.pushed_in", ["peer": peer, "applied": String(result.applied), "skipped": String(result.skipped)])
            scheduler.changesArrived(from: peer)
        }
        return APIResponse.json(try await state(for: peer).json)
    }

    private func refusePosition(_ peer: String, _ reason: String) async throws -> Never {
        Log.warning("sync.invalid_position", ["peer": peer, "reason": reason])
        replica.metrics.batchRefused(from: peer, reason: .invalidPosition)
        try? await replica.recordPeerFailure(peer, message: "push refused: \(reason)")
        throw HTTPError.badRequest("push refused: \(reason); nothing was applied", code: "invalid_position")
    }

    func notify(_ request: HTTPRequest, caller: Caller) async throws -> HTTPResponse {
        guard let node = (try? JSONValue.parse(request.body))?["node"]?.stringValue, NodeID.isValid(node) else {
            throw HTTPError(.badRequest, code: "invalid_request", message: "body must be {\"node\": <node id>}",
                            problems: [HTTPProblem(field: "node", reason: "must be a valid node id")])
        }
        scheduler.notified(by: try authenticatedPeer(caller, claims: node))
        return HTTPResponse(status: .accepted)
    }

    func state(_ request: HTTPRequest, caller: Caller) async throws -> HTTPResponse {
        guard let node = request.query("node"), NodeID.isValid(node) else {
            throw HTTPError(.badRequest, code: "invalid_query", message: "query parameter node must name the asking node",
                            problems: [HTTPProblem(field: "node", reason: "must be a valid node id")])
        }
        let peer = try authenticatedPeer(caller, claims: node)
        await replica.notePeerAnswered(peer)
        return APIResponse.json(try await state(for: peer).json)
    }

    private func state(for peer: String) async throws -> PeerState {
        let local = await replica.syncState()
        let cursor = try await replica.peerCursor(peer)
        return PeerState(node: config.node, protocolVersion: SyncProtocol.version, schemaVersion: config.advertisedSchemaVersion,
                         versionVector: local.versionVector, logPosition: local.logPosition, incarnation: local.incarnation,
                         cursorPosition: cursor?.position ?? 0, cursorIncarnation: cursor?.incarnation,
                         heads: await replica.chainHeads, clock: replica.nowMillis)
    }
}
