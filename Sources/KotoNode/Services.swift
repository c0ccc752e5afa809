import KotoHTTP
import Synchronization

/// A loop that runs until cancelled (the sync links, the daily purge):
/// `shutdown()` cancels it, and `run()` returns when the loop has noticed.
final class TaskService: Service {
    let name: String
    private let body: @Sendable () async -> Void
    private struct State {
        var task: Task<Void, Never>?
        var stopped = false
    }
    private let state = Mutex(State())

    init(_ name: String, _ body: @escaping @Sendable () async -> Void) {
        self.name = name
        self.body = body
    }

    func run() async {
        let task = state.withLock { state -> Task<Void, Never>? in
            guard !state.stopped else { return nil }
            let task = Task { await body() }
            state.task = task
            return task
        }
        await task?.value
    }

    func shutdown() async {
        let task = state.withLock { state -> Task<Void, Never>? in
            state.stopped = true
            return state.task
        }
        task?.cancel()
    }
}

/// Something that is open while the node runs and closes on the way out
/// (a database): `run()` waits for `shutdown()`, then closes and returns,
/// throwing if the close failed.
final class ClosingService: Service {
    let name: String
    private let close: @Sendable () async throws -> Void
    private let stopped = WakeSignal()
    private let asked = Atomic<Bool>(false)

    init(_ name: String, close: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.close = close
    }

    func run() async throws {
        while !asked.load(ordering: .acquiring) {
            await stopped.wait(timeout: .seconds(3600))
        }
        try await close()
    }

    func shutdown() async {
        asked.store(true, ordering: .releasing)
        stopped.wake()
    }
}

/// The API's listener: `shutdown()` stops accepting and lets requests in
/// flight finish for up to `grace` (see `HTTPServer.shutdown`).
struct ServerService: Service {
    let name = "api"
    let server: HTTPServer
    let grace: Duration

    func run() async throws { try await server.run() }
    func shutdown() async { server.shutdown(gracePeriod: grace) }
}
