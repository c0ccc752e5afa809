import Dispatch
import Foundation
import Synchronization

/// The threads that serve connections with a request in progress. A worker
/// takes a connection from the queue, serves while requests keep coming
/// (`Connection.serveWhileReady`), then parks it with the poller again and
/// takes the next. Threads are started on demand up to `maxWorkers`, so a
/// slow client holds one worker, never the rest; more ready connections
/// than workers wait in the queue (their bytes wait in the kernel). A
/// worker idle for `idleWorkerLifetime` exits.
final class WorkerPool: Sendable {
    private struct State {
        var queue: [Connection] = []
        var workers = 0
        /// Workers waiting on `available` (some may be woken already).
        var idle = 0
        var stopped = false
    }

    private let state = Mutex(State())
    /// One signal per queued connection (and per worker at `stop()`).
    private let available = DispatchSemaphore(value: 0)
    let maxWorkers: Int
    private let idleWorkerLifetime: Duration
    /// Where a worker hands a connection that went idle.
    private let park: @Sendable (Connection) -> Void

    init(maxWorkers: Int, idleWorkerLifetime: Duration = .seconds(30), park: @escaping @Sendable (Connection) -> Void) {
        self.maxWorkers = max(1, maxWorkers)
        self.idleWorkerLifetime = idleWorkerLifetime
        self.park = park
    }

    /// Queues `connection` (it has bytes to read) for the next free worker,
    /// starting one when the waiting workers cannot take all that is queued.
    func serve(_ connection: Connection) {
        let startWorker = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.queue.append(connection)
            guard state.queue.count > state.idle, state.workers < maxWorkers else { return false }
            state.workers += 1
            return true
        }
        if startWorker {
            let thread = Thread { [self] in work() }
            thread.name = "kotohttp-worker"
            thread.stackSize = 512 * 1024
            thread.start()
        }
        available.signal()
    }

    /// Workers exit (after the request they serve); queued connections are closed.
    func stop() {
        let (workers, dropped) = state.withLock { state in
            state.stopped = true
            defer { state.queue.removeAll() }
            return (state.workers, state.queue)
        }
        _ = dropped  // released outside the lock: closing calls back into the server
        for _ in 0..<workers { available.signal() }
    }

    private func work() {
        while let connection = next() {
            if connection.serveWhileReady() { park(connection) }
        }
    }

    /// The next queued connection; nil when this worker should exit (the
    /// pool stopped, or nothing came for `idleWorkerLifetime`). Extra
    /// semaphore signals only cause an extra look at the queue.
    private func next() -> Connection? {
        var timedOut = false
        while true {
            let taken = state.withLock { state -> (Connection?, exit: Bool) in
                if state.stopped || (timedOut && state.queue.isEmpty) {
                    state.workers -= 1
                    return (nil, true)
                }
                if !state.queue.isEmpty { return (state.queue.removeFirst(), false) }
                state.idle += 1
                return (nil, false)
            }
            if let connection = taken.0 { return connection }
            if taken.exit { return nil }
            let deadline = DispatchTime.now() + .nanoseconds(Int(clamping: idleWorkerLifetime.nanoseconds))
            timedOut = available.wait(timeout: deadline) == .timedOut
            state.withLock { $0.idle -= 1 }
        }
    }
}
