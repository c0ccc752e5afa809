import Synchronization

/// A wall clock (Unix milliseconds) the test moves by hand; shared by the stores of one scenario.
public final class ManualClock: Sendable {
    private let millis: Mutex<UInt64>
    public init(start: UInt64 = 1_795_000_000_000) { millis = Mutex(start) }
    public var now: UInt64 { millis.withLock { $0 } }
    public func advance(by delta: UInt64) { millis.withLock { $0 += delta } }
}
