import Dispatch
import Foundation
import Synchronization

/// A serial executor with one thread of its own, for the actors that own
/// a SQLite connection (`Replica`, `ReplicaReader`). Their work blocks (a
/// batch of 100k changes applies for many seconds); on Swift's cooperative
/// pool, one thread per core, that would stall request handling and every
/// sync task meanwhile. Here it stalls only the actor's own queue. The
/// thread ends when the executor is released (with its actor).
public final class StoreThread: SerialExecutor {
    /// The jobs and the thread's lifetime, shared with the thread; the
    /// thread does not retain the executor, so the actor can go away.
    private final class Queue: Sendable {
        struct State {
            var jobs: [UnownedJob] = []
            var closed = false
        }

        let state = Mutex(State())
        /// One signal per job, and one at close.
        let available = DispatchSemaphore(value: 0)
        /// The thread's id once it runs, for `checkIsolated`.
        let thread = Mutex<pthread_t?>(nil)
    }

    private let queue = Queue()

    /// Starts the thread, named `name` (it shows in `top -H` and backtraces).
    public init(name: String) {
        let queue = self.queue
        let executor = UnownedSerialExecutor(ordinary: self)
        let thread = Thread {
            queue.thread.withLock { $0 = pthread_self() }
            while true {
                queue.available.wait()
                let (job, closed) = queue.state.withLock { state in
                    (state.jobs.isEmpty ? nil : state.jobs.removeFirst(), state.closed)
                }
                if let job {
                    job.runSynchronously(on: executor)
                } else if closed {
                    return
                }
            }
        }
        thread.name = name
        thread.start()
    }

    deinit {
        // Jobs hold their actor, which holds this executor: none are left.
        queue.state.withLock { $0.closed = true }
        queue.available.signal()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.state.withLock { $0.jobs.append(job) }
        queue.available.signal()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Whether the caller runs on this executor's thread.
    public var isCurrent: Bool {
        queue.thread.withLock { thread in thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    public func checkIsolated() {
        precondition(isCurrent, "not on the store thread")
    }
}
