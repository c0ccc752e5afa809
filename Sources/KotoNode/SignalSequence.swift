import Dispatch
import Glibc

/// Signals as an async sequence: each delivery of one of `signals` (their
/// default action switched off) is one element, so the daemon reads SIGTERM
/// and SIGINT in a `for await` loop instead of in an interrupting handler.
/// Deliveries are never lost: they are buffered until read.
public final class SignalSequence: AsyncSequence, @unchecked Sendable {
    public typealias Element = Int32
    private let stream: AsyncStream<Int32>
    /// Kept alive for as long as the sequence; set once in init, cancelled in deinit only.
    private let sources: [any DispatchSourceSignal]

    public init(_ signals: [Int32]) {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let queue = DispatchQueue(label: "kotosync.signals")
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        self.stream = stream
    }

    deinit {
        sources.forEach { $0.cancel() }
    }

    public func makeAsyncIterator() -> AsyncStream<Int32>.Iterator { stream.makeAsyncIterator() }
}
