import Foundation
import KotoHTTP
import KotoStore

extension Replica {
    /// Closes the writer's connection (see `ReplicaStore.close`).
    public func close() throws {
        try store.close()
    }
}

extension ReplicaReader {
    /// Closes the read-only connection.
    public func close() throws {
        try replica.close()
    }
}

extension AccessLog {
    /// Closes `access.sqlite`.
    public func close() throws {
        try store.close()
    }
}

extension Node {
    /// The node's parts in order of start; the group stops them in reverse:
    /// the API stops taking requests and finishes those in flight, the sync
    /// links finish the batch in flight, the compaction job and the access log's purge stop, the
    /// access log closes, and last the replica's connections close (reader
    /// first, so the writer's close checkpoints the WAL and removes it).
    func services(restored: Bool) -> [any Service] {
        [
            ClosingService("store") { [reader, replica] in
                try await reader.close()
                try await replica.close()
                Log.info("store.closed", ["node": self.config.node])
            },
            ClosingService("access-log") { [accessLog] in try await accessLog.close() },
            TaskService("access-log-purge") { [accessLog] in await accessLog.runDailyPurge() },
            TaskService("sync") { await self.runSync(restored: restored) },
            TaskService("compaction") { [compactionJob] in await compactionJob.runLoop() },
            ServerService(server: server, grace: config.shutdownGrace),
        ]
    }

    /// Compacts the change log every `compaction.intervalSeconds` (`CompactionJob`).
    var compactionJob: CompactionJob {
        CompactionJob(node: config.node, settings: config.compaction, peers: config.peers.map(\.node), replica: replica)
    }

    /// The whole graceful stop's deadline: the API's grace for requests in flight, plus time for the rest.
    var shutdownDeadline: Duration { config.shutdownGrace + .seconds(5) }

    /// Runs the services until `shutdown()` or a signal of `signals`; tells
    /// systemd (`Type=notify`) when it is ready and when it stops.
    func runServices(restored: Bool, signals: SignalSequence?) async throws -> ServiceGroup.Outcome {
        let notifier = ServiceManagerNotifier(environment: ProcessInfo.processInfo.environment)
        let requests = stopRequests
        let forwarder = signals.map { signals in
            Task { for await number in signals { requests.continuation.yield(.signal(number)) } }
        }
        defer { forwarder?.cancel() }
        let group = ServiceGroup(services: services(restored: restored), deadline: shutdownDeadline) { [config] request in
            if case .signal(let number) = request {
                Log.info("node.stopping", ["node": config.node, "signal": String(cString: strsignal(number))])
            } else {
                Log.info("node.stopping", ["node": config.node])
            }
            _ = try? notifier.notify("STOPPING=1")
        }
        do {
            if try notifier.notify("READY=1\nSTATUS=serving on port \(port)") { Log.info("node.notified_ready", ["node": config.node]) }
        } catch {
            Log.warning("node.notify_failed", ["error": String(describing: error)])
        }
        return try await group.run(until: requests.stream)
    }
}
