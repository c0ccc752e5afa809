import Dispatch
import Foundation
import Glibc
import KotoHTTP
import Synchronization

// Other suites in the same `swift test` process can keep Swift's cooperative
// pool (one thread per core, and FIFO within a priority) busy for many
// seconds with synchronous work. Nothing these tests time may wait for it:
// blocking socket work runs on its own threads (`offPool`), and test bodies
// and `HTTPServer.run()` run on `TestExecutor` threads (`onTestThreads`,
// `startServer`). The server runs handlers on its connection threads.

/// A task executor with its own threads, so async test code resumes
/// promptly however busy the cooperative pool is. Its jobs are short: all
/// blocking work goes to `offPool`.
final class TestExecutor: TaskExecutor {
    static let shared = TestExecutor(threads: 4)

    private let jobs = Mutex<[UnownedJob]>([])
    /// One signal per queued job.
    private let available = DispatchSemaphore(value: 0)

    private init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [self] in
                while true {
                    available.wait()
                    let job = jobs.withLock { $0.removeFirst() }
                    job.runSynchronously(on: asUnownedTaskExecutor())
                }
            }
            thread.name = "kotohttp-tests-\(index)"
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        available.signal()
    }
}

/// Runs `body` (and the structured child tasks it creates) on
/// `TestExecutor` threads instead of the cooperative pool.
func onTestThreads<Value>(_ body: () async throws -> Value) async throws -> Value {
    try await withTaskExecutorPreference(TestExecutor.shared, operation: body)
}

/// Runs `server` in a task on `TestExecutor` threads: a plain `Task` might
/// wait seconds for a cooperative thread before it even starts accepting.
func startServer(_ server: HTTPServer) -> Task<Void, any Error> {
    Task(executorPreference: TestExecutor.shared) { try await server.run() }
}

/// Runs blocking work (raw sockets, the synchronous client) on its own
/// thread, so tests never tie up Swift's small cooperative pool that the
/// server's handlers need.
func offPool<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

/// Starts a server on an ephemeral loopback port, runs `body` on test
/// threads, then shuts the server down and waits for `run()` to return.
func withServer(
    limits: HTTPServer.Limits = HTTPServer.Limits(),
    router: Router,
    _ body: (HTTPServer) async throws -> Void
) async throws {
    try await onTestThreads {
        let server = try HTTPServer(host: "127.0.0.1", port: 0, limits: limits, router: router)
        let running = startServer(server)
        do {
            try await body(server)
        } catch {
            server.shutdown(gracePeriod: .milliseconds(100))
            try? await running.value
            throw error
        }
        server.shutdown(gracePeriod: .milliseconds(300))
        try await running.value
    }
}

struct RawClientError: Error, CustomStringConvertible {
    let description: String
}

/// A parsed response read off a raw socket.
struct RawResponse: Sendable {
    var status: Int
    var headers: [String: String]  // lowercased names
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The `{"error": {"code", "message"}}` document, if the body is one.
    var errorCode: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let error = object["error"] as? [String: Any]
        else { return nil }
        return error["code"] as? String
    }

    var errorMessage: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let error = object["error"] as? [String: Any]
        else { return nil }
        return error["message"] as? String
    }
}

/// A deliberately simple blocking HTTP/1.1 client over a raw socket, for
/// sending exactly the bytes a test wants (including malformed ones). Use it
/// only inside `offPool`. The receive timeout only bounds a failing test, so
/// it is generous enough for a heavily loaded machine.
final class RawClient {
    let descriptor: Int32
    private var buffer: [UInt8] = []

    /// The descriptor is stored only once connected: a throwing init of a
    /// class whose properties are all set still runs `deinit`, so closing it
    /// here and there would close it twice, and the second close could hit
    /// a descriptor another test's socket had reused meanwhile (resetting
    /// that connection: the cause of a flaky "recv: errno 104").
    init(port: Int, receiveTimeout: Int = 20) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw RawClientError(description: "socket: \(errno)") }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(descriptor)
            throw RawClientError(description: "connect: errno \(code)")
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw RawClientError(description: "send: errno \(errno)") }
            offset += sent
        }
    }

    /// Whether the server has sent something (or closed) within `milliseconds`.
    func isReadable(withinMilliseconds milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, milliseconds) > 0
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            buffer += chunk[..<count]
        } else if count == 0 {
            throw RawClientError(description: "connection closed by server")
        } else {
            throw RawClientError(description: "recv: errno \(errno)")
        }
    }

    /// Reads one response (skipping interim 1xx ones unless `interim`).
    func readResponse(interim: Bool = false, head: Bool = false) throws -> RawResponse {
        while true {
            var end: Int?
            while true {
                if let found = headEnd() {
                    end = found
                    break
                }
                try fill()
            }
            let headEnd = end!
            let lines = String(decoding: buffer[..<headEnd], as: UTF8.self)
                .components(separatedBy: "\r\n").filter { !$0.isEmpty }
            let statusParts = lines[0].split(separator: " ")
            guard statusParts.count >= 2, statusParts[0] == "HTTP/1.1", let status = Int(statusParts[1]) else {
                throw RawClientError(description: "bad status line \(lines[0])")
            }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                headers[parts[0].lowercased()] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            }
            buffer.removeFirst(headEnd)
            if status < 200 && !interim { continue }
            let length = head ? 0 : Int(headers["content-length"] ?? "0") ?? 0
            while buffer.count < length { try fill() }
            let body = Array(buffer[..<length])
            buffer.removeFirst(length)
            return RawResponse(status: status, headers: headers, body: body)
        }
    }

    /// True if the server closes the connection (EOF or reset) without
    /// sending anything more within the receive timeout.
    func closesWithoutData() -> Bool {
        guard buffer.isEmpty else { return false }
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, 0)
        return count == 0 || (count < 0 && errno == ECONNRESET)
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 3..<buffer.count
        where buffer[index - 3] == 13 && buffer[index - 2] == 10 && buffer[index - 1] == 13 && buffer[index] == 10 {
            return index + 1
        }
        return nil
    }
}

/// Sends one request on a fresh connection and returns the response.
func request(port: Int, _ text: String) async throws -> RawResponse {
    try await offPool {
        let client = try RawClient(port: port)
        try client.send(text)
        return try client.readResponse()
    }
}

/// Sends the given bytes on a fresh connection and returns the response and
/// whether the server then closed the connection.
func requestExpectingClose(port: Int, _ bytes: [UInt8]) async throws -> (RawResponse, closed: Bool) {
    try await offPool {
        let client = try RawClient(port: port)
        try? client.send(bytes)  // the server may answer (and stop reading) before all is sent
        let response = try client.readResponse()
        return (response, client.closesWithoutData())
    }
}

/// The canonical good request, used to show the server still works after abuse.
func expectServes(port: Int) async throws -> Bool {
    let response = try await request(port: port, "GET /ok HTTP/1.1\r\nHost: test\r\n\r\n")
    return response.status == 200 && response.text == "ok"
}

/// Counts arrivals so handlers can wait until many requests are in flight at once.
actor Rendezvous {
    private var arrived = 0

    /// Records an arrival and waits (bounded) until `count` have arrived.
    func arrive(waitingFor count: Int, timeout: Duration) async -> Bool {
        arrived += 1
        let deadline = ContinuousClock.now + timeout
        while arrived < count && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return arrived >= count
    }
}

/// A one-shot signal a handler can give and a test can await.
final class Signal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream()
    }

    func fire() { continuation.yield() }

    func wait() async {
        var iterator = stream.makeAsyncIterator()
        _ = await iterator.next()
    }
}
