import Foundation
import Synchronization
import Testing
@testable import KotoHTTP

/// `followingDownload`: the consumer reads the file while the transfer
/// writes it (not after), sees every byte, and the errors come out in the
/// order a caller needs (status, then the consumer's, then the transfer's).
@Suite struct DownloadFollowerTests {
    static func temporaryPath() -> String {
        (NSTemporaryDirectory() as NSString).appendingPathComponent("follower-\(UUID().uuidString)")
    }

    /// Appends `pieces` to the file at `path` one by one, `pause` apart, in place.
    static func writePieces(_ pieces: [[UInt8]], to path: String, pause: Duration) async throws {
        guard let file = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
        defer { try? file.close() }
        for piece in pieces {
            try file.write(contentsOf: Data(piece))
            try await Task.sleep(for: pause)
        }
    }

    struct Refused: Error, Equatable {}

    /// Runs `body` on a thread of its own: a follower's read that waits blocks
    /// its thread, and the transfer needs the cooperative pool to go on.
    static func onOwnThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    @Test func theConsumerReadsWhileTheTransferWritesAndGetsEveryByte() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let pieces = (0..<8).map { index in [UInt8](repeating: UInt8(index), count: 10_000 + index) }
        let transferEnded = Mutex<Date?>(nil)
        let (response, value) = try await followingDownload(into: path, {
            try await Self.writePieces(pieces, to: path, pause: .milliseconds(40))
            transferEnded.withLock { $0 = Date() }
            return HTTPResponse(status: .ok)
        }, consume: { follower in try await Self.onOwnThread { () throws -> ([UInt8], Date?) in
            var bytes: [UInt8] = []
            var firstBytes: Date?
            while true {
                let more = try follower.read(upTo: 4096)
                if more.isEmpty { break }
                if firstBytes == nil { firstBytes = Date() }
                bytes += more
            }
            return (bytes, firstBytes)
        } })
        #expect(response.status == .ok)
        let (bytes, firstBytes) = try #require(value)
        #expect(bytes == pieces.flatMap { $0 }, "every byte, in order, none after the end")
        let ended = try #require(transferEnded.withLock { $0 })
        let started = try #require(firstBytes)
        #expect(started < ended.addingTimeInterval(-0.1), "the consumer had bytes well before the transfer ended")
    }

    @Test func anotherStatusComesBackWithoutAValue() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (response, value) = try await followingDownload(into: path, {
            HTTPResponse(status: .gone, body: Array(#"{"error":{"code":"snapshot_required"}}"#.utf8))
        }, consume: { follower in try await Self.onOwnThread { () throws -> Int in
            guard try follower.read(upTo: 100).isEmpty else { return 1 }
            throw Refused()  // an empty file is no snapshot: ignored, the status decides
        } })
        #expect(response.status == .gone)
        #expect(value == nil)
    }

    @Test func aConsumerThatFailsCancelsTheTransferAndItsErrorIsThrown() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cancelled = Mutex(false)
        let error = await #expect(throws: Refused.self) {
            _ = try await followingDownload(into: path, {
                do {
                    try await Self.writePieces([[1, 2, 3]] + Array(repeating: [4], count: 200), to: path, pause: .milliseconds(50))
                } catch is CancellationError {
                    cancelled.withLock { $0 = true }
                    throw HTTPClientError(kind: .cancelled, curlCode: 42, message: "cancelled")
                }
                return HTTPResponse(status: .ok)
            }, consume: { follower in try await Self.onOwnThread { () throws -> Int in
                _ = try follower.read(upTo: 3)
                throw Refused()
            } })
        }
        #expect(error == Refused())
        #expect(cancelled.withLock { $0 }, "the transfer was cancelled, not run to its end (10 s)")
    }

    @Test func aTransferThatFailsOnItsOwnThrowsItsError() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await followingDownload(into: path, {
                try await Self.writePieces([[1, 2, 3]], to: path, pause: .milliseconds(20))
                throw HTTPClientError(kind: .couldNotConnect, curlCode: 56, message: "connection reset")
            }, consume: { follower in try await Self.onOwnThread { () throws -> Int in
                var total = 0
                while true {
                    let more = try follower.read(upTo: 100)
                    if more.isEmpty { break }
                    total += more.count
                }
                guard total == 3 else { return total }
                throw Refused()  // cut off, as an import would say; the transfer's error says why
            } })
        }
        #expect(error?.kind == .couldNotConnect)
    }
}
