import Glibc

/// An IPv4 or IPv6 socket address parsed from a numeric host (or
/// `localhost`), so binding never depends on name resolution.
struct SocketAddress {
    private var storage = sockaddr_storage()
    private(set) var length: socklen_t = 0

    var family: Int32 { Int32(storage.ss_family) }

    init?(host: String, port: UInt16) {
        let numericHost = host == "localhost" ? "127.0.0.1" : host
        var v4 = sockaddr_in()
        if (try? systemCall("inet_pton", { inet_pton(AF_INET, numericHost, &v4.sin_addr) }).get("inet_pton")) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            withUnsafeBytes(of: v4) { source in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            return
        }
        var v6 = sockaddr_in6()
        if (try? systemCall("inet_pton", { inet_pton(AF_INET6, numericHost, &v6.sin6_addr) }).get("inet_pton")) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            withUnsafeBytes(of: v6) { source in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            return
        }
        return nil
    }

    func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}

/// What one `recv` produced on a non-blocking socket.
enum ReceiveOutcome: Equatable {
    case received(Int)
    case endOfStream
    case wouldBlock
}

/// Sole owner of one socket descriptor; closes it in `deinit`. All sockets
/// are non-blocking: waiting is done with `poll` so every wait can honour a
/// deadline. Deliberately not `Sendable`: one thread uses it at a time.
final class Socket {
    let descriptor: Int32

    /// Takes ownership of `descriptor`; it is closed when this object dies.
    init(adopting descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        // Not retried on EINTR: on Linux the descriptor is released even
        // then, and a retry could close a descriptor another thread reused.
        _ = Glibc.close(descriptor)
    }

    /// A non-blocking listening socket bound to `address`.
    static func listening(on address: SocketAddress, backlog: Int32) throws(SystemCallError) -> Socket {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let descriptor = try systemCall("socket") { Glibc.socket(address.family, type, 0) }.get("socket")
        let socket = Socket(adopting: descriptor)
        try socket.setOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
        _ = try address.withSockAddr { pointer, length in
            Result { () throws(SystemCallError) in
                try systemCall("bind") { Glibc.bind(descriptor, pointer, length) }
            }
        }.get().get("bind")
        _ = try systemCall("listen") { Glibc.listen(descriptor, backlog) }.get("listen")
        return socket
    }

    func setOption(level: Int32, name: Int32, value: Int32) throws(SystemCallError) {
        var value = value
        _ = try systemCall("setsockopt") {
            Glibc.setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }.get("setsockopt")
    }

    /// The port the kernel actually bound (meaningful after binding port 0).
    func localPort() throws(SystemCallError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Result { () throws(SystemCallError) in
                    try systemCall("getsockname") { Glibc.getsockname(descriptor, address, &length) }
                }
            }
        }.get().get("getsockname")
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
            return Int(UInt16(bigEndian: address.sin_port))
        case AF_INET6:
            let address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
            return Int(UInt16(bigEndian: address.sin6_port))
        default:
            throw SystemCallError(operation: "getsockname", code: EAFNOSUPPORT)
        }
    }

    /// The next pending connection, already non-blocking, or nil if none is queued.
    func accept() throws(SystemCallError) -> sending Socket? {
        switch try systemCall("accept", { Glibc.accept(descriptor, nil, nil) }) {
        case .completed(let client):
            // Adopt first so the descriptor is closed even if fcntl fails.
            let socket = Socket(adopting: client)
            _ = try systemCall("fcntl") { fcntl(client, F_SETFD, FD_CLOEXEC) }.get("fcntl")
            let flags = try systemCall("fcntl") { fcntl(client, F_GETFL) }.get("fcntl")
            _ = try systemCall("fcntl") { fcntl(client, F_SETFL, flags | O_NONBLOCK) }.get("fcntl")
            return socket
        case .wouldBlock:
            return nil
        }
    }

    /// Reads what is available into `scratch` (at most `scratch.count` bytes).
    func receive(into scratch: inout [UInt8]) throws(SystemCallError) -> ReceiveOutcome {
        let count = scratch.count
        let outcome = try scratch.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemCallError) in
                try systemCall("recv") { Glibc.recv(descriptor, buffer.baseAddress, count, 0) }
            }
        }.get()
        switch outcome {
        case .completed(0): return .endOfStream
        case .completed(let read): return .received(read)
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Writes what the kernel accepts now of `bytes[offset...]`; never
    /// raises SIGPIPE.
    func send(_ bytes: [UInt8], from offset: Int = 0) throws(SystemCallError) -> IOOutcome<Int> {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(SystemCallError) in
                try systemCall("send") {
                    Glibc.send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                }
            }
        }.get()
    }

    /// Waits up to `timeoutMilliseconds` for `events`; returns the events that
    /// occurred, or 0 on timeout.
    func poll(events: Int16, timeoutMilliseconds: Int32) throws(SystemCallError) -> Int16 {
        var entry = pollfd(fd: descriptor, events: events, revents: 0)
        let ready = try systemCall("poll") { Glibc.poll(&entry, 1, timeoutMilliseconds) }.get("poll")
        return ready == 0 ? 0 : entry.revents
    }

    /// Sends FIN while still allowing reads, for a lingering close.
    func shutdownWrite() {
        _ = try? systemCall("shutdown") { Glibc.shutdown(descriptor, Int32(SHUT_WR)) }
    }
}
