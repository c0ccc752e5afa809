import Foundation
import Glibc
import Synchronization

// TCP relays for the namespace lab, on threads of their own (blocking
// sockets, never Swift's cooperative pool). A socket belongs to the network
// namespace of the thread that made it, so `NamespaceSocket.make` makes each
// one on a short-lived thread that has entered the namespace (setns); the
// socket is then used from any thread.
//
// Two uses: the harness reaches each daemon from the root namespace through a
// relay on 127.0.0.1 (so `RegionNode` works as on loopback), and, between
// nodes, a relay inside the calling node's namespace holds every chunk for a
// delay before passing it on: the latency the kernel's missing netem would add.

/// Retries a POSIX call on EINTR; returns its result (-1 with `errno` set otherwise).
@discardableResult
func retryingEINTR<Result: FixedWidthInteger>(_ body: () -> Result) -> Result {
    while true {
        let result = body()
        if result != -1 || errno != EINTR { return result }
    }
}

enum NamespaceSocket {
    private typealias SetNamespace = @convention(c) (Int32, Int32) -> Int32
    private static let cloneNewNet: Int32 = 0x4000_0000

    /// glibc's setns(2), which Swift's Glibc module does not export.
    private static let setNamespace: SetNamespace? = dlsym(nil, "setns").map { unsafeBitCast($0, to: SetNamespace.self) }

    /// A new blocking IPv4 TCP socket in `namespace` (a name under
    /// /run/netns), or in this process's namespace when nil.
    static func make(in namespace: String?) throws -> Int32 {
        guard let namespace else { return try tcpSocket() }
        guard let setNamespace else { throw RegionError("setns is not available in this libc") }
        let result = Mutex<Result<Int32, RegionError>>(.failure(RegionError("the namespace thread did not run")))
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            let handle = open("/run/netns/\(namespace)", O_RDONLY | O_CLOEXEC)
            guard handle >= 0 else {
                result.withLock { $0 = .failure(RegionError("cannot open /run/netns/\(namespace): \(String(cString: strerror(errno)))")) }
                return
            }
            defer { close(handle) }
            // This thread ends right after: it never goes back to the root namespace.
            guard setNamespace(handle, cloneNewNet) == 0 else {
                result.withLock { $0 = .failure(RegionError("setns into \(namespace) failed: \(String(cString: strerror(errno)))")) }
                return
            }
            let made = Result { () throws(RegionError) in try tcpSocket() }
            result.withLock { $0 = made }
        }
        thread.start()
        done.wait()
        return try result.withLock { $0 }.get()
    }

    private static func tcpSocket() throws(RegionError) -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw RegionError("socket failed: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return descriptor
    }

    static func address(_ host: String, _ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return address
    }
}

/// Accepts connections on `listenHost:listenPort` in one namespace and
/// connects each to `targetHost:targetPort` from another, copying bytes both
/// ways; each chunk is held `delay` (changeable while running) after it was
/// read. An upstream that does not answer within 2 s (a cut link) closes the
/// accepted connection, as a refused connect would.
final class TCPRelay: Sendable {
    let name: String
    private let listener: Int32
    private let targetNamespace: String?
    private let target: sockaddr_in
    private let delayNanoseconds: Atomic<Int64>
    private let connections = Mutex<[Int: RelayConnection]>([:])
    private let nextID = Atomic<Int>(0)
    /// Set, with the listener shut down, under this lock; the accept thread closes the listener after it sees it.
    private let closed = Mutex(false)

    init(name: String, listenNamespace: String?, listenHost: String, listenPort: Int,
         targetNamespace: String?, targetHost: String, targetPort: Int, delay: Duration = .zero) throws {
        self.name = name
        self.targetNamespace = targetNamespace
        target = NamespaceSocket.address(targetHost, targetPort)
        delayNanoseconds = Atomic(Self.nanoseconds(delay))
        listener = try NamespaceSocket.make(in: listenNamespace)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = NamespaceSocket.address(listenHost, listenPort)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 128) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(listener)
            throw RegionError("relay \(name) cannot listen on \(listenHost):\(listenPort): \(reason)")
        }
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "relay-\(name)"
        thread.start()
    }

    deinit { close() }

    var delay: Duration { .nanoseconds(delayNanoseconds.load(ordering: .relaxed)) }

    func setDelay(_ delay: Duration) { delayNanoseconds.store(Self.nanoseconds(delay), ordering: .relaxed) }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// Stops accepting and breaks every open connection; idempotent.
    func close() {
        let first = closed.withLock { closed -> Bool in
            guard !closed else { return false }
            closed = true
            // Wakes the accept loop (accept fails with EINVAL), which then closes the listener.
            shutdown(listener, Int32(SHUT_RDWR))
            return true
        }
        guard first else { return }
        for connection in connections.withLock({ Array($0.values) }) { connection.abort() }
    }

    private var isClosed: Bool { closed.withLock { $0 } }

    private func acceptLoop() {
        defer { Glibc.close(listener) }
        while true {
            let client = retryingEINTR { accept(listener, nil, nil) }
            if isClosed {
                if client >= 0 { Glibc.close(client) }
                break
            }
            guard client >= 0 else {
                usleep(10_000)
                continue
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let id = nextID.add(1, ordering: .relaxed).newValue
            let thread = Thread { [self] in serve(client, id: id) }
            thread.start()
        }
    }

    /// Connects upstream, then copies both ways on four threads (a reader
    /// and a delaying writer per direction).
    private func serve(_ client: Int32, id: Int) {
        guard let upstream = try? NamespaceSocket.make(in: targetNamespace) else {
            Glibc.close(client)
            return
        }
        // SO_SNDTIMEO bounds a blocking connect on Linux: a cut link fails in 2 s.
        var timeout = timeval(tv_sec: 2, tv_usec: 0), none = timeval(tv_sec: 0, tv_usec: 0)
        setsockopt(upstream, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = target
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                retryingEINTR { connect(upstream, pointer, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard connected == 0, !isClosed else {
            Glibc.close(upstream)
            Glibc.close(client)
            return
        }
        setsockopt(upstream, SOL_SOCKET, SO_SNDTIMEO, &none, socklen_t(MemoryLayout<timeval>.size))
        let connection = RelayConnection(client: client, upstream: upstream) { [self] in
            _ = connections.withLock { $0.removeValue(forKey: id) }
        }
        connections.withLock { $0[id] = connection }
        if isClosed { connection.abort() }
        connection.run(delay: { [self] in delayNanoseconds.load(ordering: .relaxed) })
    }
}

/// One relayed connection: two descriptors, closed once all four of its threads are done.
private final class RelayConnection: Sendable {
    private struct State {
        var open = true
        var finishedThreads = 0
    }

    private let client: Int32
    private let upstream: Int32
    private let state = Mutex(State())
    private let onClose: @Sendable () -> Void

    init(client: Int32, upstream: Int32, onClose: @escaping @Sendable () -> Void) {
        self.client = client
        self.upstream = upstream
        self.onClose = onClose
    }

    func run(delay: @escaping @Sendable () -> Int64) {
        for (source, destination) in [(client, upstream), (upstream, client)] {
            let queue = DelayQueue()
            let reader = Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let count = buffer.withUnsafeMutableBytes { bytes in retryingEINTR { read(source, bytes.baseAddress, bytes.count) } }
                    if count <= 0 { break }
                    queue.push(Array(buffer[0..<count]), due: DispatchTime.now().uptimeNanoseconds + UInt64(max(0, delay())))
                }
                queue.finish()
                finished()
            }
            let writer = Thread { [self] in
                while let (chunk, due) = queue.pop() {
                    let now = DispatchTime.now().uptimeNanoseconds
                    if due > now { usleep(useconds_t(min((due - now) / 1000, 10_000_000))) }
                    if !writeAll(chunk, to: destination) {
                        abort()
                        break
                    }
                }
                // The source's end of stream, passed on once its last chunk is.
                withOpenDescriptors { shutdown(destination, Int32(SHUT_WR)) }
                finished()
            }
            reader.start()
            writer.start()
        }
    }

    private func writeAll(_ chunk: [UInt8], to destination: Int32) -> Bool {
        var offset = 0
        while offset < chunk.count {
            let written = chunk.withUnsafeBytes { bytes in
                retryingEINTR { send(destination, bytes.baseAddress! + offset, chunk.count - offset, Int32(MSG_NOSIGNAL)) }
            }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    /// Breaks both directions at once (their threads see end of stream or errors).
    func abort() {
        withOpenDescriptors {
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(upstream, Int32(SHUT_RDWR))
        }
    }

    /// Runs `body` only while the descriptors are still open (never on a number reused since).
    private func withOpenDescriptors(_ body: () -> Void) {
        state.withLock { if $0.open { body() } }
    }

    private func finished() {
        let last = state.withLock { state -> Bool in
            state.finishedThreads += 1
            guard state.finishedThreads == 4 else { return false }
            state.open = false
            close(client)
            close(upstream)
            return true
        }
        if last { onClose() }
    }
}

/// Chunks waiting for their time, in order; `pop` blocks until one is there or the stream ended.
private final class DelayQueue: Sendable {
    private struct State {
        var chunks: [([UInt8], UInt64)] = []
        var head = 0
        var finished = false
    }

    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)

    func push(_ chunk: [UInt8], due: UInt64) {
        state.withLock { $0.chunks.append((chunk, due)) }
        available.signal()
    }

    func finish() {
        state.withLock { $0.finished = true }
        available.signal()
    }

    func pop() -> ([UInt8], UInt64)? {
        while true {
            let item = state.withLock { state -> ([UInt8], UInt64)?? in
                if state.head < state.chunks.count {
                    let item = state.chunks[state.head]
                    state.head += 1
                    if state.head > 64 && state.head * 2 > state.chunks.count {
                        state.chunks.removeFirst(state.head)
                        state.head = 0
                    }
                    return .some(item)
                }
                return state.finished ? .some(nil) : nil
            }
            if let item { return item }
            available.wait()
        }
    }
}
