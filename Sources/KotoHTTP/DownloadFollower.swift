import Glibc
import Synchronization

/// Whether a download into a file has ended (completed, failed or
/// cancelled), shared by the transfer and the `DownloadFollower` reading
/// the file as it grows.
public final class DownloadProgress: Sendable {
    private let finished = Mutex(false)

    public init() {}

    /// The transfer wrote its last byte or gave up.
    public func finish() { finished.withLock { $0 = true } }

    public var isFinished: Bool { finished.withLock { $0 } }
}

/// Reads a file that a download is still writing, so whatever consumes a
/// large body (a snapshot import) runs while it arrives instead of after:
/// a read past what has arrived waits for more until the download has
/// finished. Sole owner of its read descriptor.
public final class DownloadFollower: Sendable {
    private let descriptor: Int32
    private let progress: DownloadProgress

    /// Creates the file (mode 0600) if the transfer has not yet, and opens it for reading.
    public init(path: String, progress: DownloadProgress) throws(SystemCallError) {
        descriptor = try systemCall("open") { open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0o600) }.get("open")
        self.progress = progress
    }

    deinit { Glibc.close(descriptor) }

    /// Up to `count` bytes of what has arrived; empty only at the end of a
    /// finished download. Whether it finished is read before the file, so
    /// the last bytes written before it did are never missed.
    public func read(upTo count: Int) throws(SystemCallError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max(count, 1))
        while true {
            let finished = progress.isFinished
            let capacity = buffer.count
            let read = try systemCall("read") {
                buffer.withUnsafeMutableBytes { raw in Glibc.read(descriptor, raw.baseAddress, capacity) }
            }.get("read")
            if read > 0 {
                buffer.removeSubrange(read...)
                return buffer
            }
            if finished { return [] }
            usleep(2_000)
        }
    }
}

/// Runs `transfer`, which downloads a body into the file at `path`, and at
/// the same time `consume`, which reads that file as it grows through a
/// `DownloadFollower`. The answer's status decides: a 2xx gives `consume`'s
/// value (or its error); any other status comes back with no value, what
/// `consume` made of an empty file ignored. If `consume` fails first the
/// transfer is cancelled and `consume`'s error is the one thrown; a
/// transfer that failed on its own throws its own error.
///
/// `consume` must read on a thread of its own (the node's store thread, a
/// `Thread`): a read that waits for bytes blocks its thread, and the
/// transfer needs the cooperative pool to go on.
public func followingDownload<Value: Sendable>(
    into path: String, _ transfer: @escaping @Sendable () async throws -> HTTPResponse,
    consume: (DownloadFollower) async throws -> Value
) async throws -> (response: HTTPResponse, value: Value?) {
    let progress = DownloadProgress()
    let follower = try DownloadFollower(path: path, progress: progress)
    let download = Task { () async -> Result<HTTPResponse, any Error> in
        defer { progress.finish() }
        do {
            return .success(try await transfer())
        } catch {
            return .failure(error)
        }
    }
    let consumed: Result<Value, any Error>
    do {
        consumed = .success(try await consume(follower))
    } catch {
        consumed = .failure(error)
        download.cancel()
    }
    switch await download.value {
    case .failure(let error):
        let cancelled = error is CancellationError || (error as? HTTPClientError)?.kind == .cancelled
        if cancelled, case .failure(let consumeError) = consumed { throw consumeError }
        throw error
    case .success(let response):
        guard (200..<300).contains(response.status.code) else { return (response, nil) }
        return (response, try consumed.get())
    }
}
