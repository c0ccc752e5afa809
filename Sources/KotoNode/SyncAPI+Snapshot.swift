import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// `GET /v1/sync/snapshot`: this node's replica as one consistent,
/// streamed snapshot (`SnapshotFormat`), for a new or wiped peer, or one
/// behind this node's floor, to build itself from (`SnapshotBootstrap`).
extension SyncAPI {
    func snapshot(_ request: HTTPRequest, caller: Caller) async throws -> HTTPResponse {
        guard let node = request.query("node"), NodeID.isValid(node) else {
            throw HTTPError(.badRequest, code: "invalid_query", message: "query parameter node must name the asking node",
                            problems: [HTTPProblem(field: "node", reason: "must be a valid node id")])
        }
        let peer = try authenticatedPeer(caller, claims: node)
        try await checkVersions(peer: peer, protocolVersion: request.headers[SyncProtocol.Header.protocolVersion].flatMap { Int($0) },
                                schemaVersion: request.headers[SyncProtocol.Header.schemaVersion].flatMap { Int($0) })
        await replica.notePeerAnswered(peer)
        let path = config.databasePath
        let now = replica.nowMillis
        let self_ = config.node
        Log.info("sync.snapshot_started", ["peer": peer])
        // Read on the connection's thread from a read-only connection of its own, in one read transaction:
        // the writer goes on meanwhile, and only one chunk is in memory at a time.
        return .streamed(headers: ["Content-Type": SnapshotFormat.contentType, SyncProtocol.Header.node: self_]) { write in
            let started = ContinuousClock.now
            do {
                let summary = try SnapshotWriter.write(databasePath: path, now: now) { try write($0) }
                Log.info("sync.snapshot_served", ["peer": peer, "rows": String(summary.rows), "bytes": String(summary.bytes),
                                                  "ms": PeerLink.milliseconds(ContinuousClock.now - started)])
            } catch {
                Log.warning("sync.snapshot_interrupted", ["peer": peer, "error": String(describing: error)])
                throw error
            }
        }
    }
}
