import Synchronization
import Testing
@testable import KotoNode

/// The sync links sleep on a `WakeSignal` between rounds: a lost timeout
/// leaves a link asleep until some peer happens to send a hint.
@Suite struct WakeSignalTests {
    final class Progress: Sendable {
        let done = Atomic<Bool>(false)
        let completed = Atomic<Int>(0)
        let rescued = Atomic<Int>(0)
    }

    /// Waits whose timers fire before (or while) the wait installs its
    /// continuation must still return; a watchdog wakes the signal if one
    /// hangs, so the test ends either way and says which it was.
    @Test func aTimeoutIsNeverLost() async {
        let signal = WakeSignal()
        let progress = Progress()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for _ in 0..<3000 {
                    await signal.wait(timeout: .nanoseconds(1))
                    progress.completed.add(1, ordering: .relaxed)
                }
                for _ in 0..<200 {
                    await signal.wait(timeout: .microseconds(50))
                    progress.completed.add(1, ordering: .relaxed)
                }
                progress.done.store(true, ordering: .relaxed)
            }
            group.addTask {
                // No progress for 3 s while every timeout is microseconds: a wait hung.
                var seen = -1
                var stalledSince = ContinuousClock.now
                while !progress.done.load(ordering: .relaxed) {
                    try? await Task.sleep(for: .milliseconds(100))
                    let now = progress.completed.load(ordering: .relaxed)
                    if now != seen {
                        seen = now
                        stalledSince = .now
                    } else if ContinuousClock.now - stalledSince > .seconds(3) {
                        progress.rescued.add(1, ordering: .relaxed)
                        signal.wake()
                        stalledSince = .now
                    }
                }
            }
        }
        #expect(progress.rescued.load(ordering: .relaxed) == 0, "a wait missed its timeout and needed a wake")
    }

    @Test func aZeroTimeoutReturnsAtOnceAndConsumesAPendingWake() async {
        let signal = WakeSignal()
        signal.wake()
        await signal.wait(timeout: .zero)
        // The pending wake was consumed: a short wait now runs to its timeout.
        let start = ContinuousClock.now
        await signal.wait(timeout: .milliseconds(200))
        #expect(ContinuousClock.now - start >= .milliseconds(150))
    }

    @Test func aWakeWhileNobodyWaitsIsRememberedOnce() async {
        let signal = WakeSignal()
        signal.wake()
        signal.wake()
        let start = ContinuousClock.now
        await signal.wait(timeout: .seconds(30))
        #expect(ContinuousClock.now - start < .seconds(10))
        let second = ContinuousClock.now
        await signal.wait(timeout: .milliseconds(200))
        #expect(ContinuousClock.now - second >= .milliseconds(150))
    }
}
