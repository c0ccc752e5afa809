import Foundation
import KotoCore
import KotoHTTP
public import KotoStore
import Synchronization

/// Runs every peer link and the notify hints. A local write or a batch
/// that brought news wakes the links that push and sends a hint to the
/// peers that pull, never blocking the write.
public final class SyncScheduler: Sendable {
    let links: [String: PeerLink]
    private let hints: [String: HintSender]
    private let replica: Replica
    /// Builds this node from a peer's snapshot when pulling the log cannot (`SnapshotBootstrap`).
    let bootstrap: SnapshotBootstrap

    /// `transport` reaches the peers (default: an HTTP client per link and per hint).
    init(config: NodeConfig, replica: Replica, secrets: Secrets, transport: (any SyncTransport)? = nil) throws {
        self.replica = replica
        var links: [String: PeerLink] = [:]
        var hints: [String: HintSender] = [:]
        let relay = RelayBox()
        for peer in config.peers {
            links[peer.node] = try PeerLink(peer: peer, config: config, replica: replica, secrets: secrets,
                                           transport: transport) { source in
                relay.scheduler?.changesArrived(from: source)
            }
            if peer.mode == .pull, let url = peer.url {
                hints[peer.node] = try HintSender(peer: peer.node, url: url, node: config.node, token: secrets.peerCredential,
                                                  connectTimeout: config.connectTimeout, transport: transport)
            }
        }
        self.links = links
        self.hints = hints
        bootstrap = SnapshotBootstrap(config: config, replica: replica, secrets: secrets, links: links, transport: transport) { [links] in
            for link in links.values { link.signal.wake() }
        }
        relay.scheduler = self
        // Told once per group commit of local writes, not once per write.
        replica.localCommitObserver.withLock { $0 = { relay.scheduler?.localChange() } }
    }

    /// Runs the links and hint senders until the task is cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for link in links.values { group.addTask { await link.run() } }
            for hint in hints.values { group.addTask { await hint.run() } }
            group.addTask { await self.bootstrap.watch() }
        }
    }

    /// A local write happened.
    public func localChange() {
        changesArrived(from: nil)
    }

    /// New changes are held (local, or applied from `source`): tell everyone else.
    func changesArrived(from source: String?) {
        for (node, link) in links where node != source && link.peer.mode == .push { link.signal.wake() }
        for (node, hint) in hints where node != source { hint.signal.wake() }
    }

    /// A peer says it has news: pull it now.
    public func notified(by peer: String) {
        links[peer]?.signal.wake()
    }

    /// Pulls from every contactable peer once, now.
    public func syncAll() {
        for link in links.values { link.signal.wake() }
    }

    /// Status of each configured peer, with what the store knows of it.
    public func peerStatuses() async -> [PeerStatus] {
        var statuses: [PeerStatus] = []
        for (node, link) in links.sorted(by: { $0.key < $1.key }) {
            let cursor = try? await replica.peerCursor(node)
            statuses.append(PeerStatus(node: node, url: link.peer.url, mode: link.peer.mode, state: await link.state,
                                       detail: await link.detail, cursor: cursor))
        }
        return statuses
    }

    /// At startup: asks each contactable peer how many of this node's own
    /// changes it holds, so a node restored from an old backup catches up
    /// before it hands out a seq again.
    /// Returns how many peers answered, and how many could have (not passive).
    func probePeers() async -> (answered: Int, contactable: Int) {
        let contactable = links.values.filter { $0.peer.mode != .passive }.count
        let answered = await withTaskGroup(of: Bool.self) { group in
            for link in links.values { group.addTask { await link.probeState() != nil } }
            var count = 0
            for await answer in group where answer { count += 1 }
            return count
        }
        return (answered, contactable)
    }
}

/// Lets link callbacks reach the scheduler that owns them, set once after init.
private final class RelayBox: @unchecked Sendable {
    weak var scheduler: SyncScheduler?
}

public struct PeerStatus: Sendable {
    public let node: String
    public let url: String?
    public let mode: PeerMode
    public let state: LinkState
    public let detail: String?
    public let cursor: PeerCursor?
}

/// Sends "I have news" to one peer, coalescing bursts into one request.
final class HintSender: Sendable {
    let signal = WakeSignal()
    private let peer: String
    private let url: String
    private let body: [UInt8]
    private let token: String
    private let client: any SyncTransport

    init(peer: String, url: String, node: String, token: String, connectTimeout: Duration,
         transport: (any SyncTransport)? = nil) throws {
        self.peer = peer
        self.url = url
        self.token = token
        body = JSONValue.object([("node", .string(node))]).serializedBytes
        client = try transport
            ?? AsyncHTTPClient(configuration: HTTPClient.Configuration(connectTimeout: connectTimeout, totalTimeout: .seconds(5)))
    }

    func run() async {
        while !Task.isCancelled {
            await signal.wait(timeout: .seconds(3600))
            if Task.isCancelled { break }
            // A hint is only a hint: a failure is fine, the interval pull covers it.
            _ = try? await client.send(.post, "\(url)/v1/sync/notify",
                                       headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"], body: body)
        }
    }
}
