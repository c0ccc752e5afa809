import Synchronization

/// Wakes one waiting loop early (a notify, a local write) or lets it sleep
/// until a timeout. Wakes while nobody waits are remembered (once), so a
/// hint that arrives mid-sync triggers one more round instead of being lost.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var generation: UInt64 = 0
        /// The wait whose timer fired (or was cancelled) before it had
        /// installed its continuation: it must return at once, not sleep
        /// until the next wake.
        var expired: UInt64?
    }

    private let state = Mutex(State())

    func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns on a wake, after `timeout`, or when the task is cancelled.
    func wait(timeout: Duration) async {
        if timeout <= .zero {
            state.withLock { $0.pending = false }
            return
        }
        let generation = state.withLock { state -> UInt64 in
            state.generation += 1
            return state.generation
        }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.fire(generation: generation)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled || state.expired == generation {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.fire(generation: generation)
        }
        timer.cancel()
    }

    /// Ends wait number `generation`: resumes it, or, if it has not
    /// installed its continuation yet, marks it so it returns on arrival.
    private func fire(generation: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation else { return nil }
            guard let waiter = state.waiter else {
                state.expired = generation
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
