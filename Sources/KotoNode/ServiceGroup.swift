/// One part of the daemon with a lifetime: the store, the access log, the
/// sync links, the API server. Shaped like swift-service-lifecycle's
/// services (without the dependency): `run()` lasts as long as the part
/// works, `shutdown()` asks it to finish what it is doing and return.
public protocol Service: Sendable {
    /// For the log: `api`, `sync`, `store`...
    var name: String { get }
    /// Runs until `shutdown()` (or a failure, which it throws).
    func run() async throws
    /// Asks `run()` to return soon, gracefully; called at most once. Must not wait for `run()` itself.
    func shutdown() async
}

/// Why the group is asked to stop.
public enum StopRequest: Sendable, Equatable {
    /// A signal (SIGTERM, SIGINT): a second one while stopping ends the group at once.
    case signal(Int32)
    /// Asked from inside the process (`Node.shutdown()`): repeating it changes nothing.
    case shutdown
}

/// Runs services side by side and stops them gracefully in reverse order of
/// start: each is asked to stop only after every service started after it
/// has returned (the API stops taking requests before the sync links stop,
/// and both before the databases close). The whole graceful stop has a
/// deadline; when it passes, or a second signal arrives, the group returns
/// `.forced` at once without waiting for the services still running (the
/// daemon then exits). A service that fails starts the graceful stop of the
/// others, and `run` rethrows its error when they are done.
public struct ServiceGroup: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// Every service returned, in reverse order of start.
        case stopped
        /// The graceful stop was cut short: services may still be running.
        case forced(Escalation)
    }

    public enum Escalation: Sendable, Equatable {
        case secondSignal(Int32)
        case deadlinePassed
    }

    /// In order of start.
    public let services: [any Service]
    /// How long the whole graceful stop may take.
    public let deadline: Duration
    /// Called once when the graceful stop begins (nil: a service failed or all ended).
    let onStopping: @Sendable (StopRequest?) -> Void

    public init(services: [any Service], deadline: Duration, onStopping: @escaping @Sendable (StopRequest?) -> Void = { _ in }) {
        self.services = services
        self.deadline = deadline
        self.onStopping = onStopping
    }

    private enum Event: Sendable {
        case stop(StopRequest)
        case finished(Int, (any Error)?)
        case deadline
    }

    /// Starts every service, then waits for a stop request (or a failure) and stops them in reverse order.
    public func run(until requests: AsyncStream<StopRequest>) async throws -> Outcome {
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        for (index, service) in services.enumerated() {
            Log.info("service.started", ["service": service.name])
            Task {
                do {
                    try await service.run()
                    sink.yield(.finished(index, nil))
                } catch {
                    sink.yield(.finished(index, error))
                }
            }
        }
        let forwarder = Task {
            for await request in requests { sink.yield(.stop(request)) }
        }
        var deadlineTimer: Task<Void, Never>?
        defer {
            forwarder.cancel()
            deadlineTimer?.cancel()
        }

        var finished = Set<Int>()
        var failure: (any Error)?
        var stopping = false
        // Services at `next` and above were asked to stop (or ended by themselves).
        var next = services.count

        /// Asks the next service down to stop once the one above it has returned; true when all have.
        func advance() async -> Bool {
            while true {
                if next < services.count, !finished.contains(next) { return false }
                if next == 0 { return true }
                next -= 1
                guard !finished.contains(next) else { continue }
                Log.info("service.stopping", ["service": services[next].name])
                await services[next].shutdown()
            }
        }

        func beginStop(_ request: StopRequest?) async -> Bool {
            stopping = true
            onStopping(request)
            let limit = deadline
            deadlineTimer = Task {
                try? await Task.sleep(for: limit)
                if !Task.isCancelled { sink.yield(.deadline) }
            }
            return await advance()
        }

        loop: for await event in events {
            switch event {
            case .stop(let request):
                if stopping {
                    if case .signal(let number) = request { return .forced(.secondSignal(number)) }
                    continue
                }
                if await beginStop(request) { break loop }
            case .finished(let index, let error):
                finished.insert(index)
                let name = services[index].name
                if let error {
                    Log.error("service.failed", ["service": name, "error": String(describing: error)])
                    failure = failure ?? error
                } else {
                    Log.info(stopping ? "service.stopped" : "service.finished", ["service": name])
                }
                if stopping {
                    if await advance() { break loop }
                } else if error != nil || finished.count == services.count {
                    if await beginStop(nil) { break loop }
                }
            case .deadline:
                return .forced(.deadlinePassed)
            }
        }
        if let failure { throw failure }
        return .stopped
    }
}
