import Foundation
import KotoHTTP
import KotoStore
import Synchronization

/// The node's event counters and histograms since it started, for
/// `GET /metrics`: counted where the events happen (the sync links, the
/// replica applying batches, the router), read by the scrape. One `Mutex`
/// owns them; an update is a few dictionary writes, so nobody waits long.
/// Gauges (lag, conflicts, sizes) are not kept here: the scrape reads them
/// from the replica and the links when it is asked.
public final class NodeMetrics: Sendable {
    /// Why a batch from a peer was not applied: a fixed set, so labels stay few.
    public enum Refusal: String, Sendable, CaseIterable {
        /// The store refused it whole: a change did not verify or was too far ahead of the clock.
        case batchRefused = "batch_refused"
        /// The peer holds another change than this node under some dot.
        case fork
        /// It names a node outside the region.
        case notMember = "not_member"
        /// A pushed batch's positions did not fit the sender's log or the cursor.
        case invalidPosition = "invalid_position"
        /// Anything else (an I/O error while applying).
        case error

        init(_ error: any Error) {
            switch error as? ReplicaStoreError {
            case .batchRefused: self = .batchRefused
            case .forked: self = .fork
            case .notMember: self = .notMember
            default: self = .error
            }
        }
    }

    /// A pull or push request to a peer.
    enum Exchange: String, Sendable {
        case pull, push
    }

    /// Batch applies take milliseconds to seconds (1000 changes, each verified and merged).
    static let applyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    static let requestBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Methods counted by name; any other becomes `other`, so a client cannot make up labels.
    static let countedMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    private struct State {
        var pulls = LabelledCounter(["peer", "result"])
        var pushes = LabelledCounter(["peer", "result"])
        var batchesApplied = LabelledCounter(["peer"])
        var batchesRefused = LabelledCounter(["peer", "reason"])
        var changesApplied = LabelledCounter(["peer"])
        var changesSkipped = LabelledCounter(["peer"])
        var applyDuration = Histogram(bounds: NodeMetrics.applyBuckets)
        var requests = LabelledCounter(["method", "route", "status"])
        var requestDuration = LabelledHistogram(["method", "route"], bounds: NodeMetrics.requestBuckets)
        var receivedBytes = LabelledCounter(["method", "route"])
        var sentBytes = LabelledCounter(["method", "route"])
    }

    private let state = Mutex(State())
    /// When this node started (Unix ms): the lag of a peer never reached counts from here.
    public let startedMillis: UInt64

    public init() {
        startedMillis = UInt64(Date().timeIntervalSince1970 * 1000)
    }

    // MARK: Counting

    /// One pull or push request to `peer` ended: `ok` when its answer was taken, else it failed or was refused.
    func exchanged(_ exchange: Exchange, with peer: String, ok: Bool) {
        state.withLock {
            switch exchange {
            case .pull: $0.pulls.add([peer, ok ? "ok" : "error"])
            case .push: $0.pushes.add([peer, ok ? "ok" : "error"])
            }
        }
    }

    /// A batch from `peer` with changes in it was applied whole.
    func batchApplied(from peer: String, _ result: ApplyResult, duration: Duration) {
        state.withLock {
            $0.batchesApplied.add([peer])
            $0.changesApplied.add([peer], by: Double(result.applied))
            $0.changesSkipped.add([peer], by: Double(result.skipped))
            $0.applyDuration.observe(Self.seconds(duration))
        }
    }

    /// A batch from `peer` was not applied, none of it.
    func batchRefused(from peer: String, reason: Refusal) {
        state.withLock { $0.batchesRefused.add([peer, reason.rawValue]) }
    }

    /// The router answered a request.
    func requestHandled(_ observation: Router.Observation) {
        let method = Self.countedMethods.contains(observation.method.rawValue) ? observation.method.rawValue : "other"
        let route = observation.route ?? "unmatched"
        state.withLock {
            $0.requests.add([method, route, String(observation.status.code)])
            $0.requestDuration.observe(Self.seconds(observation.duration), [method, route])
            $0.receivedBytes.add([method, route], by: Double(observation.requestBytes))
            $0.sentBytes.add([method, route], by: Double(observation.responseBytes))
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    // MARK: Reading

    /// The counter and histogram families, with a zero series for each
    /// configured peer and outcome not counted yet (pulls and pushes only
    /// for the links that make them).
    func families(peers: [PeerConfig]) -> [MetricFamily] {
        func results(_ modes: Set<PeerMode>) -> [[String]] {
            peers.filter { modes.contains($0.mode) }.flatMap { [[$0.node, "ok"], [$0.node, "error"]] }
        }
        let reasons = peers.flatMap { peer in Refusal.allCases.map { [peer.node, $0.rawValue] } }
        let each = peers.map { [$0.node] }
        return state.withLock { state in
            var applyDuration = MetricFamily("kotosync_batch_apply_duration_seconds", .histogram,
                                             help: "Time to verify and apply one batch of changes from a peer, in one transaction (batches with changes only).")
            applyDuration.samples = state.applyDuration.samples()
            return [
                state.pulls.family("kotosync_sync_pulls_total", help: "Pull requests this node sent to a peer, by result (ok: the answer was taken and applied; error: it failed or was refused).", zeros: results([.pull, .push])),
                state.pushes.family("kotosync_sync_pushes_total", help: "Push requests this node sent to a peer it pushes to, by result.", zeros: results([.push])),
                state.batchesApplied.family("kotosync_batches_applied_total", help: "Batches with changes from a peer (pulled or pushed in) that were applied whole.", zeros: each),
                state.batchesRefused.family("kotosync_batches_refused_total", help: "Batches from a peer that were refused whole, none of their changes applied, by reason.", zeros: reasons),
                state.changesApplied.family("kotosync_changes_applied_total", help: "Changes from a peer's batches that were new here and applied.", zeros: each),
                state.changesSkipped.family("kotosync_changes_skipped_total", help: "Changes in a peer's batches that this node already held (relayed twice).", zeros: each),
                applyDuration,
                state.requests.family("kotosync_http_requests_total", help: "HTTP requests answered, by method, route pattern (unmatched: no route) and status code."),
                state.requestDuration.family("kotosync_http_request_duration_seconds", help: "Time from routing a request to its finished response, by method and route pattern."),
                state.receivedBytes.family("kotosync_http_received_bytes_total", help: "Bytes of the HTTP requests this node answered (start line, headers, body), by method and route pattern."),
                state.sentBytes.family("kotosync_http_sent_bytes_total", help: "Bytes of this node's HTTP responses (status line, headers, body; framing headers estimated), by method and route pattern."),
            ]
        }
    }
}
