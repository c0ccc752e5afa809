import Dispatch
import Glibc
import Synchronization

/// The requests of one accepted socket. Between requests (and before the
/// first) it is parked with the server's `ConnectionPoller`, costing no
/// thread; when bytes arrive a worker thread runs `serveWhileReady()`,
/// which serves every request that has begun and hands the connection back
/// once it is idle again. So it is used by one thread at a time (the poller
/// or one worker), handed over through the pool's lock; hence the
/// unchecked `Sendable`. Every wait inside a request goes through `poll`
/// with a deadline, in slices short enough to notice a server shutdown.
final class Connection: @unchecked Sendable {
    let socket: Socket
    private let server: HTTPServer
    private let limits: HTTPServer.Limits
    /// Bytes received but not yet consumed (may hold a pipelined request).
    private var buffer: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: 16 * 1024)
    private var servedRequests = 0
    /// When the connection, idle now, is closed without a response unless a
    /// request begins: a new connection has no reason to be idle, so its
    /// first wait is also bounded by the request timeout.
    private(set) var idleDeadline: ContinuousClock.Instant

    /// The most a lingering close waits for, and reads from, the client.
    private static let lingerTime = Duration.seconds(1)
    private static let lingerBytes = 1024 * 1024

    init(socket: Socket, server: HTTPServer) {
        self.socket = socket
        self.server = server
        self.limits = server.limits
        idleDeadline = .now + min(server.limits.idleTimeout, server.limits.requestTimeout)
        try? socket.setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
    }

    deinit {
        server.connectionClosed()
    }

    private enum WaitOutcome {
        case ready
        case timedOut
        /// The server's grace period is over.
        case aborted
    }

    private enum ReadOutcome {
        case data
        case endOfStream
        case timedOut
        case aborted
    }

    /// What to do with the connection after one exchange.
    private enum Next {
        case keepOpen
        /// Close now: the peer left, or the server is stopping.
        case close
        /// A response saying so was sent: stop writing, then drain what the
        /// client is still sending so the response is not lost to a reset.
        case lingerAndClose
    }

    /// Serves requests for as long as one has begun (bytes are buffered or
    /// readable at once). True when the connection is idle and should be
    /// parked again; false when it is finished (the caller drops it, which
    /// closes the socket).
    func serveWhileReady() -> Bool {
        do {
            while true {
                // Empty lines before a request line are ignored (RFC 9112 §2.2).
                dropLeadingLineBreaks()
                if buffer.isEmpty {
                    switch try socket.receive(into: &scratch) {
                    case .received(let count):
                        buffer.append(contentsOf: scratch[..<count])
                        continue
                    case .endOfStream:
                        return false
                    case .wouldBlock:
                        // Idle. A draining server parks nothing: the poller closes it.
                        return server.phase == .running
                    }
                }
                switch try exchange() {
                case .keepOpen:
                    idleDeadline = .now + limits.idleTimeout
                case .close:
                    return false
                case .lingerAndClose:
                    lingeringClose()
                    return false
                }
            }
        } catch {
            // A failed send or recv (reset, broken pipe): nothing to tell anyone.
            return false
        }
    }

    // MARK: - One request

    /// Serves the request that has begun in `buffer`.
    private func exchange() throws(SystemCallError) -> Next {
        // From here one total deadline covers the whole request.
        let deadline = ContinuousClock.now + limits.requestTimeout
        var scanned = 0
        var headEnd: Int
        while true {
            if let end = RequestParser.headEnd(in: buffer, from: scanned) {
                headEnd = end
                break
            }
            scanned = max(0, buffer.count - 2)
            if buffer.count > limits.maxHeaderBytes { return try fail(Self.headersTooLarge) }
            switch try read(until: deadline) {
            case .data: continue
            case .timedOut: return try fail(Self.timedOut)
            case .endOfStream, .aborted: return .close
            }
        }
        if headEnd > limits.maxHeaderBytes { return try fail(Self.headersTooLarge) }

        let head: RequestHead
        let framing: RequestFraming
        var request: HTTPRequest
        do {
            head = try RequestParser.parse(buffer[..<headEnd], maxHeaderCount: limits.maxHeaderCount)
            framing = try RequestParser.framing(of: head, maxBodyBytes: limits.maxBodyBytes)
            request = try HTTPRequest(method: head.method, target: head.target, headers: head.headers)
        } catch {
            return try fail(error)
        }

        let end = headEnd + framing.contentLength
        if framing.expectsContinue && buffer.count < end {
            guard try write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) else { return .close }
        }
        while buffer.count < end {
            switch try read(until: deadline) {
            case .data: continue
            case .timedOut: return try fail(Self.timedOut)
            case .endOfStream, .aborted: return .close
            }
        }
        request.body = Array(buffer[headEnd..<end])
        buffer.removeFirst(end)

        guard let response = respond(to: request) else { return .close }
        servedRequests += 1
        let streamed = response.stream != nil && response.status.allowsBody && head.method != .head
        let keepAlive = framing.keepAlive
            && !response.headers.tokens(for: "Connection").contains("close")
            && server.phase == .running
            && !(streamed && head.minorVersion == 0)
        let bytes = ResponseWriter.serialize(
            response, keepAlive: keepAlive, minorVersion: head.minorVersion, includeBody: head.method != .head)
        guard try write(bytes) else { return .close }
        if streamed, let stream = response.stream {
            guard sendStreamed(stream, chunked: head.minorVersion >= 1) else { return .close }
        }
        return keepAlive ? .keepOpen : .lingerAndClose
    }

    /// Runs the router in a task whose jobs this thread executes while it
    /// waits (it has nothing else to do), giving up (and cancelling the
    /// task) only if the server aborts. Handlers thus never queue for
    /// Swift's small cooperative pool, which CPU-heavy work elsewhere in the
    /// process can keep busy for seconds.
    private func respond(to request: HTTPRequest) -> HTTPResponse? {
        let executor = HandlerExecutor()
        let router = server.router
        let task = Task.detached(executorPreference: executor) {
            executor.fulfil(await router.handle(request))
        }
        defer { executor.close() }
        while true {
            if let response = executor.runJobs(for: HTTPServer.pollSlice) { return response }
            if server.phase == .aborting {
                task.cancel()
                return nil
            }
        }
    }

    /// Sends the error's response and asks for the connection to close:
    /// after a framing or parse error the byte stream cannot be trusted.
    private func fail(_ error: HTTPError) throws(SystemCallError) -> Next {
        let bytes = ResponseWriter.serialize(error.response, keepAlive: false, minorVersion: 1, includeBody: true)
        guard try write(bytes) else { return .close }
        return .lingerAndClose
    }

    private static let headersTooLarge = HTTPError(
        .requestHeaderFieldsTooLarge, code: "headers_too_large", message: "request line and headers are too large")
    private static let timedOut = HTTPError(
        .requestTimeout, code: "request_timeout", message: "request not received in time")

    // MARK: - I/O

    private func dropLeadingLineBreaks() {
        let count = buffer.prefix { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }.count
        if count > 0 { buffer.removeFirst(count) }
    }

    /// Appends what arrives next to `buffer`.
    private func read(until deadline: ContinuousClock.Instant) throws(SystemCallError) -> ReadOutcome {
        while true {
            switch try wait(for: Int16(POLLIN), until: deadline) {
            case .ready: break
            case .timedOut: return .timedOut
            case .aborted: return .aborted
            }
            switch try socket.receive(into: &scratch) {
            case .received(let count):
                buffer.append(contentsOf: scratch[..<count])
                return .data
            case .endOfStream:
                return .endOfStream
            case .wouldBlock:
                continue
            }
        }
    }

    /// Sends all of `bytes` within the write timeout; false if it could not.
    func write(_ bytes: [UInt8]) throws(SystemCallError) -> Bool {
        let deadline = ContinuousClock.now + limits.writeTimeout
        var offset = 0
        while offset < bytes.count {
            switch try socket.send(bytes, from: offset) {
            case .completed(let sent):
                offset += sent
            case .wouldBlock:
                guard try wait(for: Int16(POLLOUT), until: deadline) == .ready else { return false }
            }
        }
        return true
    }

    /// Polls in slices of `HTTPServer.pollSlice` so an abort is noticed.
    private func wait(for events: Int16, until deadline: ContinuousClock.Instant) throws(SystemCallError) -> WaitOutcome {
        while true {
            if server.phase == .aborting { return .aborted }
            let remaining = deadline - .now
            if remaining <= .zero { return .timedOut }
            let slice = min(remaining, HTTPServer.pollSlice)
            if try socket.poll(events: events, timeoutMilliseconds: slice.roundedUpMilliseconds) != 0 {
                return .ready
            }
        }
    }

    /// Half-closes, then reads and discards until the client closes too (or
    /// a short limit passes), so the kernel does not answer the client's
    /// unread bytes with a reset that could destroy the response in flight.
    private func lingeringClose() {
        socket.shutdownWrite()
        let deadline = ContinuousClock.now + Self.lingerTime
        var discarded = 0
        while discarded < Self.lingerBytes {
            buffer.removeAll(keepingCapacity: true)
            guard (try? read(until: deadline)) == .data else { return }
            discarded += buffer.count
        }
    }
}

/// The task executor of one handler task: its jobs run on the connection
/// thread that waits for the response (`runJobs`), and the response is
/// handed over the same way. Once the connection stops waiting (`close`),
/// remaining and later jobs go to the global concurrent executor, so an
/// abandoned, cancelled handler still gets to finish.
final class HandlerExecutor: TaskExecutor {
    private struct State {
        var jobs: [UnownedJob] = []
        var response: HTTPResponse?
        var closed = false
    }

    private let state = Mutex(State())
    /// Signalled for every job and for the response; extra signals only
    /// cause an extra look at `state`.
    private let wakeUp = DispatchSemaphore(value: 0)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let accepted = state.withLock { state in
            guard !state.closed else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted {
            wakeUp.signal()
        } else {
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        }
    }

    func fulfil(_ response: HTTPResponse) {
        state.withLock { $0.response = response }
        wakeUp.signal()
    }

    /// Runs queued jobs on the calling thread until the response arrives
    /// (returned) or `timeout` passes without it (nil).
    func runJobs(for timeout: Duration) -> HTTPResponse? {
        let deadline = DispatchTime.now() + .nanoseconds(Int(clamping: timeout.nanoseconds))
        while true {
            let (job, response) = state.withLock { state in
                (state.jobs.isEmpty ? nil : state.jobs.removeFirst(), state.response)
            }
            if let response { return response }
            if let job {
                job.runSynchronously(on: asUnownedTaskExecutor())
                continue
            }
            guard wakeUp.wait(timeout: deadline) == .success else { return nil }
        }
    }

    /// Stops running jobs on the connection thread; hands any left over to
    /// the global executor.
    func close() {
        let leftovers = state.withLock { state in
            state.closed = true
            defer { state.jobs.removeAll() }
            return state.jobs
        }
        for job in leftovers {
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (total, overflowed) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowed ? .max : total
    }
}
