import Dispatch
import Foundation
import Glibc
import KotoCore
import KotoTestSupport

// A deliberately dumb HTTP/1.1 client on plain POSIX sockets, for sending
// bytes no real client would: half requests, smuggling attempts, a byte at
// a time. It parses only what the server answers (status line, headers,
// `Content-Length` body). Every call blocks, so the async wrappers run it
// on a thread of its own, off Swift's cooperative pool.

/// What came back on one raw connection.
struct RawAnswer: Sendable {
    /// The first response, if any arrived before the connection closed or the deadline passed.
    var response: RawResponse?
    /// The server closed the connection (read end of stream) after the response, or without one.
    var closed: Bool
    /// Bytes that arrived after the first response (a second, smuggled answer would show here).
    var trailingBytes: Int
    /// The deadline passed with the connection still open and no complete response.
    var timedOut: Bool
}

struct RawResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The `{"error": ...}` document of the body, if it is one.
    var error: ErrorBody? { ErrorBody(body) }
}

/// How the bytes of one case go out.
enum RawSending: Sendable {
    /// All at once, then wait for the answer.
    case whole([UInt8])
    /// All at once, then close our sending side (the server reads end of stream).
    case thenHalfClose([UInt8])
    /// One byte every `interval`, until the server answers or the bytes run out.
    case trickle([UInt8], interval: Duration)
    /// Nothing at all: connect and wait.
    case silence
}

enum RawHTTP {
    /// Connects to 127.0.0.1:`port`, sends, and collects the answer until the
    /// server closes or `timeout` passes. With `drain` it also waits (up to
    /// the timeout) for the server to close after the first response, so a
    /// second answer to smuggled bytes would be seen.
    static func exchange(port: Int, _ sending: RawSending, timeout: Duration = .seconds(10), drain: Bool = true) async throws -> RawAnswer {
        try await onThread { try exchangeBlocking(port: port, sending, timeout: timeout, drain: drain) }
    }

    /// Opens `count` connections that send nothing and keeps them open
    /// while `body` runs.
    static func holding<T: Sendable>(_ count: Int, port: Int, _ body: () async throws -> T) async throws -> T {
        let sockets = try await onThread { try (0..<count).map { _ in try connect(port: port) } }
        defer { for socket in sockets { close(socket) } }
        return try await body()
    }

    /// A request as bytes: request line, `Host`, the given headers, and a
    /// `Content-Length` for a body unless `contentLength` is false.
    static func request(_ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = [],
                        contentLength: Bool = true, close: Bool = true) -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if contentLength && (!body.isEmpty || method == "POST" || method == "PATCH" || method == "PUT") {
            head += "Content-Length: \(body.count)\r\n"
        }
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    // MARK: - Blocking parts

    private static func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RegionError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw RegionError("connect to port \(port): \(reason)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    private static func exchangeBlocking(port: Int, _ sending: RawSending, timeout: Duration, drain: Bool) throws -> RawAnswer {
        let fd = try connect(port: port)
        defer { close(fd) }
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var closed = false
        switch sending {
        case .whole(let bytes):
            send(fd, bytes)
        case .thenHalfClose(let bytes):
            send(fd, bytes)
            shutdown(fd, Int32(SHUT_WR))
        case .trickle(let bytes, let interval):
            for byte in bytes {
                send(fd, [byte])
                // Between bytes, look for an early answer.
                if read(fd, into: &received, until: ContinuousClock.now + interval) == false { closed = true }
                if closed || parse(received) != nil { break }
            }
        case .silence:
            break
        }
        while !closed, parse(received) == nil, ContinuousClock.now < deadline {
            if read(fd, into: &received, until: deadline) == false { closed = true }
        }
        guard let (response, length) = parse(received) else {
            return RawAnswer(response: nil, closed: closed, trailingBytes: 0, timedOut: !closed)
        }
        if drain {
            while !closed, ContinuousClock.now < deadline {
                if read(fd, into: &received, until: deadline) == false { closed = true }
            }
        }
        return RawAnswer(response: response, closed: closed, trailingBytes: received.count - length, timedOut: !closed && drain)
    }

    /// Sends what the kernel takes; a reset (the server gave up on us) ends it quietly.
    private static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { return }
            offset += sent
        }
    }

    /// Reads once what arrives before `deadline`; false at end of stream or
    /// on a reset, true otherwise (data or nothing yet).
    private static func read(_ fd: Int32, into buffer: inout [UInt8], until deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - .now
        guard remaining > .zero else { return true }
        let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, milliseconds)
        if ready < 0 { return errno == EINTR }
        if ready == 0 { return true }
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 { return errno == EINTR || errno == EAGAIN }
        if count == 0 { return false }
        buffer += scratch[..<count]
        return true
    }

    /// The first complete response in `bytes` and how many bytes it took.
    private static func parse(_ bytes: [UInt8]) -> (RawResponse, Int)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard bytes.count >= 4, let headEnd = (0...(bytes.count - 4)).first(where: { bytes[$0..<$0 + 4].elementsEqual(separator) }) else {
            return nil
        }
        let lines = String(decoding: bytes[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        let bodyStart = headEnd + 4
        guard bytes.count >= bodyStart + length else { return nil }
        return (RawResponse(status: status, headers: headers, body: Array(bytes[bodyStart..<bodyStart + length])), bodyStart + length)
    }
}
