import Foundation
import Glibc
import Synchronization

/// Why an `HTTPServer` could not be created or started (socket failures
/// arrive as `SystemCallError`).
public enum HTTPServerError: Error, Sendable, Hashable {
    /// The host is not a numeric IPv4/IPv6 address or `localhost`.
    case invalidAddress(String)
    case invalidPort(Int)
    /// `run()` was called a second time; a server runs once.
    case alreadyStarted
}

/// An HTTP/1.1 server on POSIX sockets that serves a `Router`.
///
/// Idle connections (new ones before their first byte, kept-alive ones
/// between requests) wait on one poller thread, so a thousand of them cost
/// descriptors, not threads. When bytes arrive the connection goes to a
/// worker thread doing non-blocking I/O with `poll` until the requests that
/// began are answered, so a slow client only ever holds its own worker, and
/// every wait has a deadline. Handlers run as Swift tasks whose jobs the
/// worker executes while it waits for their result, so they do not depend
/// on a free thread in Swift's cooperative pool. Shape: create (binds at
/// once, so `port` is known), `run()` until `shutdown()`.
public final class HTTPServer: Sendable {
    /// Hard limits that bound what one client can make the server hold.
    public struct Limits: Sendable, Hashable {
        /// Request line plus header fields, in bytes; beyond it 431.
        public var maxHeaderBytes: Int
        /// Number of header fields; beyond it 431.
        public var maxHeaderCount: Int
        /// Request body size, checked from `Content-Length` before reading; beyond it 413.
        public var maxBodyBytes: Int
        /// How long a keep-alive connection may sit between requests before
        /// it is closed without a response. A new connection must start its
        /// first request within the shorter of this and `requestTimeout`.
        public var idleTimeout: Duration
        /// Total time from a request's first byte to its last; a client that
        /// trickles bytes gets 408 when it runs out, however often it sends.
        public var requestTimeout: Duration
        /// How long writing one response may take before the connection is dropped.
        public var writeTimeout: Duration
        /// Connections open at once, idle or busy; the next one gets 503 and
        /// is closed. Idle ones are cheap (a descriptor on the poller).
        public var maxConnections: Int
        /// Connections with a request in progress at once (worker threads);
        /// further ones wait, their bytes queued in the kernel, for a worker.
        public var maxWorkers: Int

        public init(
            maxHeaderBytes: Int = 16 * 1024,
            maxHeaderCount: Int = 100,
            maxBodyBytes: Int = 4 * 1024 * 1024,
            idleTimeout: Duration = .seconds(60),
            requestTimeout: Duration = .seconds(30),
            writeTimeout: Duration = .seconds(30),
            maxConnections: Int = 4096,
            maxWorkers: Int = 256
        ) {
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxBodyBytes = maxBodyBytes
            self.idleTimeout = idleTimeout
            self.requestTimeout = requestTimeout
            self.writeTimeout = writeTimeout
            self.maxConnections = maxConnections
            self.maxWorkers = maxWorkers
        }
    }

    /// Connection counters, for health endpoints and tests.
    public struct Statistics: Sendable, Hashable {
        public var activeConnections: Int
        /// Connections admitted since the server started.
        public var acceptedConnections: Int
        /// Connections turned away with 503 because of `maxConnections`.
        public var rejectedConnections: Int
    }

    enum Phase: Equatable {
        case running
        /// Not accepting; in-flight requests finish, idle connections close.
        case draining
        /// The grace period is over: everything still open is abandoned.
        case aborting
    }

    private struct State {
        var started = false
        var phase = Phase.running
        var drainDeadline: ContinuousClock.Instant?
        var statistics = Statistics(activeConnections: 0, acceptedConnections: 0, rejectedConnections: 0)
    }

    /// The address as given to `init`.
    public let host: String
    /// The bound port: the kernel's choice when `init` was given 0.
    public let port: Int
    /// The limits in force; fixed for the server's life.
    public let limits: Limits
    let router: Router
    private let listener: Mutex<Socket?>
    private let state = Mutex(State())

    /// How often blocked threads look up from `poll` to notice shutdown.
    static let pollSlice = Duration.milliseconds(50)

    /// Binds and listens on `host`:`port` now, so the port is known (and a
    /// taken port fails) before `run()`.
    public init(host: String = "127.0.0.1", port: Int = 0, limits: Limits = Limits(), router: Router) throws {
        guard (0...65535).contains(port) else { throw HTTPServerError.invalidPort(port) }
        guard let address = SocketAddress(host: host, port: UInt16(port)) else {
            throw HTTPServerError.invalidAddress(host)
        }
        let socket = try Socket.listening(on: address, backlog: 128)
        self.port = try socket.localPort()
        self.host = host
        self.limits = limits
        self.router = router
        self.listener = Mutex(socket)
    }

    /// Serves until `shutdown()` (or cancellation of the calling task), then
    /// returns once connections have finished or been abandoned. Throws if
    /// accepting fails for a reason other than a passing shortage.
    public func run() async throws {
        try state.withLock { (state) throws(HTTPServerError) in
            guard !state.started else { throw .alreadyStarted }
            state.started = true
        }
        // A peer closing early must cost an EPIPE, not the process.
        _ = signal(SIGPIPE, SIG_IGN)
        Self.raiseDescriptorLimit()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread { [self] in
                    continuation.resume(with: Result { try serveUntilShutdown() })
                }
                thread.name = "kotohttp-accept"
                thread.start()
            }
        } onCancel: {
            shutdown()
        }
    }

    /// Stops accepting at once, closes idle connections, lets requests in
    /// progress finish for up to `gracePeriod`, then abandons the rest
    /// (their handler tasks are cancelled). `run()` returns after that.
    /// Calling it again does not extend the first deadline.
    public func shutdown(gracePeriod: Duration = .seconds(10)) {
        state.withLock { state in
            guard state.phase == .running else { return }
            state.phase = .draining
            state.drainDeadline = .now + gracePeriod
        }
    }

    /// A consistent snapshot of the connection counters.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    var phase: Phase { state.withLock { $0.phase } }

    // MARK: - Accepting

    private func serveUntilShutdown() throws {
        let poller: ConnectionPoller
        do {
            poller = try ConnectionPoller(phase: { [self] in phase })
        } catch {
            // Nothing was accepted yet; closing the listener ends the port.
            _ = listener.withLock { $0.take() }
            throw error
        }
        let workers = WorkerPool(maxWorkers: limits.maxWorkers, park: { [poller] in poller.park($0) })
        poller.start(handingReadyTo: workers)
        var failure: (any Error)?
        do {
            try acceptUntilShutdown(parkingWith: poller)
        } catch {
            failure = error
            shutdown()
        }
        drainConnections()
        poller.stop()
        workers.stop()
        if let failure { throw failure }
    }

    /// Connections each hold a descriptor, idle ones too: a soft limit of
    /// 1,024 would turn clients away long before `maxConnections`, so the
    /// soft limit is raised to the hard one (process-wide, once, harmless).
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }

    private func acceptUntilShutdown(parkingWith poller: ConnectionPoller) throws {
        // The listener lives only in this scope: leaving it closes the port.
        guard let listener = listener.withLock({ $0.take() }) else { return }
        while phase == .running {
            let ready = try listener.poll(events: Int16(POLLIN), timeoutMilliseconds: Self.pollSlice.roundedUpMilliseconds)
            guard ready != 0 else { continue }
            while phase == .running, let client = try acceptNext(from: listener) {
                admit(client, parkingWith: poller)
            }
        }
    }

    /// The next queued connection; nil when none is queued or after a
    /// transient failure that is worth waiting out.
    private func acceptNext(from listener: Socket) throws(SystemCallError) -> sending Socket? {
        do {
            return try listener.accept()
        } catch {
            switch error.code {
            case ECONNABORTED, EPROTO, EPERM:
                return nil
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                // Out of descriptors or memory: back off, connections will finish.
                Thread.sleep(forTimeInterval: 0.05)
                return nil
            default:
                throw error
            }
        }
    }

    private func admit(_ client: sending Socket, parkingWith poller: ConnectionPoller) {
        let admitted = state.withLock { state in
            guard state.statistics.activeConnections < limits.maxConnections else {
                state.statistics.rejectedConnections += 1
                return false
            }
            state.statistics.activeConnections += 1
            state.statistics.acceptedConnections += 1
            return true
        }
        guard admitted else {
            Self.reject(client)
            return
        }
        // From here the connection counts as active until it is released.
        poller.park(Connection(socket: client, server: self))
    }

    /// A connection's socket was closed (`Connection.deinit`).
    func connectionClosed() {
        state.withLock { $0.statistics.activeConnections -= 1 }
    }

    /// Answers 503 on the accepting thread without reading the request, so
    /// an overload costs no thread; a brief drain makes a reset less likely.
    private static func reject(_ client: Socket) {
        var response = HTTPError(
            .serviceUnavailable, code: "too_many_connections", message: "server is at its connection limit"
        ).response
        response.headers["Retry-After"] = "1"
        let bytes = ResponseWriter.serialize(response, keepAlive: false, minorVersion: 1, includeBody: true)
        _ = try? client.send(bytes)
        client.shutdownWrite()
        var scratch = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now + .milliseconds(20)
        while ContinuousClock.now < deadline {
            guard (try? client.poll(events: Int16(POLLIN), timeoutMilliseconds: 5)) != nil else { return }
            guard case .received = try? client.receive(into: &scratch) else { continue }
        }
    }

    /// Waits for connections to finish until the drain deadline, then tells
    /// the rest to abort and gives them a moment to notice.
    private func drainConnections() {
        let deadline = state.withLock { $0.drainDeadline } ?? .now
        while statistics.activeConnections > 0 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        state.withLock { $0.phase = .aborting }
        let giveUp = ContinuousClock.now + .seconds(2)
        while statistics.activeConnections > 0 && ContinuousClock.now < giveUp {
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so a short wait never becomes a busy
    /// zero-timeout poll; clamped to what `poll` accepts.
    var roundedUpMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let perMillisecond: Int64 = 1_000_000_000_000_000
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return Int32.max }
        let rounded = milliseconds.partialValue + attoseconds / perMillisecond + (attoseconds % perMillisecond > 0 ? 1 : 0)
        return Int32(clamping: rounded)
    }
}
