import Foundation
import Glibc
import Synchronization

/// Holds the server's idle connections (new ones before their first byte,
/// kept-alive ones between requests) on one thread that polls them all, so
/// an idle connection costs a descriptor and a little memory, not a thread.
/// A connection whose bytes arrive goes to the `WorkerPool`; one that stays
/// idle past its deadline, or is idle while the server drains, is closed
/// without a response.
final class ConnectionPoller: Sendable {
    private struct Inbox {
        var arrivals: [Connection] = []
        var stopped = false
    }

    private let inbox = Mutex(Inbox())
    /// A socket pair whose one end wakes `poll` when a connection is parked
    /// or the poller is stopped; the poller drains the other end.
    private let wakeReader: SendableSocket
    private let wakeWriter: SendableSocket
    private let phase: @Sendable () -> HTTPServer.Phase

    init(phase: @escaping @Sendable () -> HTTPServer.Phase) throws(SystemCallError) {
        var pair: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        _ = try systemCall("socketpair") { socketpair(AF_UNIX, type, 0, &pair) }.get("socketpair")
        wakeReader = SendableSocket(Socket(adopting: pair[0]))
        wakeWriter = SendableSocket(Socket(adopting: pair[1]))
        self.phase = phase
    }

    /// Starts the polling thread, which hands connections with bytes to
    /// read to `workers`; it runs until `stop()`.
    func start(handingReadyTo workers: WorkerPool) {
        let thread = Thread { [self] in run(workers) }
        thread.name = "kotohttp-poller"
        thread.start()
    }

    /// Takes `connection` (idle: nothing buffered) until it has bytes to read.
    func park(_ connection: Connection) {
        let accepted = inbox.withLock { inbox in
            guard !inbox.stopped else { return false }
            inbox.arrivals.append(connection)
            return true
        }
        if accepted { wake() }
    }

    /// Ends the thread; connections still parked are closed.
    func stop() {
        inbox.withLock { $0.stopped = true }
        wake()
    }

    private func wake() {
        _ = try? wakeWriter.socket.send([1])
    }

    private func run(_ workers: WorkerPool) {
        var parked: [Connection] = []
        var entries: [pollfd] = []
        var scratch = [UInt8](repeating: 0, count: 256)
        while true {
            let (arrivals, stopped) = inbox.withLock { inbox in
                defer { inbox.arrivals.removeAll() }
                return (inbox.arrivals, inbox.stopped)
            }
            if stopped { return }
            parked.append(contentsOf: arrivals)
            let draining = phase() != .running

            entries.removeAll(keepingCapacity: true)
            entries.append(pollfd(fd: wakeReader.socket.descriptor, events: Int16(POLLIN), revents: 0))
            for connection in parked {
                entries.append(pollfd(fd: connection.socket.descriptor, events: Int16(POLLIN), revents: 0))
            }
            // Draining: one look without waiting, so a request that has
            // already arrived is still served; the rest are closed below.
            let timeout: Int32
            if draining {
                timeout = 0
            } else {
                let now = ContinuousClock.now
                let nearest = parked.lazy.map(\.idleDeadline).min() ?? now + HTTPServer.pollSlice
                timeout = max(Duration.zero, min(nearest - now, HTTPServer.pollSlice)).roundedUpMilliseconds
            }
            let ready: Int32
            do {
                ready = try systemCall("poll") { Glibc.poll(&entries, nfds_t(entries.count), timeout) }.get("poll")
            } catch {
                // Out of memory, most likely: wait it out rather than spin; deadlines still apply below.
                Thread.sleep(forTimeInterval: 0.05)
                ready = 0
            }
            if ready > 0, entries[0].revents != 0 {
                while case .received = try? wakeReader.socket.receive(into: &scratch) {}
            }

            let now = ContinuousClock.now
            var stillParked: [Connection] = []
            stillParked.reserveCapacity(parked.count)
            for (index, connection) in parked.enumerated() {
                if ready > 0, entries[index + 1].revents != 0 {
                    workers.serve(connection)
                } else if !draining && connection.idleDeadline > now {
                    stillParked.append(connection)
                }
                // Otherwise dropped here: idle too long, or the server is draining.
            }
            parked = stillParked
        }
    }
}

/// A socket that, once created, is only read by one thread and written
/// with single `send` calls (atomic for the kernel), as the poller's wake
/// pair is.
struct SendableSocket: @unchecked Sendable {
    let socket: Socket
    init(_ socket: Socket) { self.socket = socket }
}
