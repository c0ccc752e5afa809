import Foundation
import Glibc
import KotoHTTP
import Synchronization
import Testing

/// Streamed response bodies (`HTTPResponse.streamed`) and receiving them
/// piece by piece (`HTTPClient.receive`, `AsyncHTTPClient.download`).
@Suite struct HTTPStreamedBodyTests {
    static let piece = 64 * 1024
    static let pieces = 32  // 2 MiB in all: far more than the socket buffers hold

    /// The byte at `offset` of the test body: a pattern, so a lost or repeated piece shows.
    static func byte(at offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset &* 31 &+ offset >> 16) }

    static func piece(_ index: Int) -> [UInt8] {
        (0..<piece).map { byte(at: index * piece + $0) }
    }

    struct CutShort: Error {}

    /// The producer waits, after its first piece, until the client holds
    /// that piece: a server that gathered the body before sending would
    /// never get it there, and the producer would give up (a cut-off body).
    @Test func aStreamedBodyArrivesPieceByPieceWhileItIsProduced() async throws {
        let shared = Counter()
        var router = Router()
        router.get("/stream") { _ in
            .streamed(headers: ["Content-Type": "application/octet-stream"]) { write in
                try write(Self.piece(0))
                let deadline = ContinuousClock.now + .seconds(20)
                while shared.count < Self.piece {
                    guard ContinuousClock.now < deadline else { throw CutShort() }
                    usleep(1000)
                }
                for index in 1..<Self.pieces { try write(Self.piece(index)) }
            }
        }
        router.get("/broken") { _ in
            .streamed { write in
                try write(Self.piece(0))
                throw CutShort()
            }
        }
        router.get("/refused") { _ in
            throw HTTPError(.forbidden, code: "no", message: "not for you")
        }
        try await withServer(router: router) { server in
            let base = "http://127.0.0.1:\(server.port)"
            let (response, mismatches) = try await offPool { () throws -> (HTTPResponse, Int) in
                let client = try HTTPClient()
                var mismatches = 0
                let response = try client.receive(.get, "\(base)/stream", maxBodyBytes: 1 << 30) { bytes in
                    let start = shared.count
                    for (index, byte) in bytes.enumerated() where byte != Self.byte(at: start + index) { mismatches += 1 }
                    shared.add(bytes.count)
                    return true
                }
                return (response, mismatches)
            }
            #expect(response.status == .ok)
            #expect(response.headers["Transfer-Encoding"] == "chunked")
            #expect(response.headers["Content-Length"] == nil)
            #expect(response.body.isEmpty, "the body went to the sink, not into memory")
            #expect(shared.count == Self.piece * Self.pieces)
            #expect(mismatches == 0)

            // A producer that fails halfway: the client sees a cut-off transfer, never a short body that looks whole.
            let broken = await #expect(throws: HTTPClientError.self) {
                try await offPool {
                    try HTTPClient().receive(.get, "\(base)/broken", maxBodyBytes: 1 << 30) { _ in true }
                }
            }
            #expect(broken?.kind == .other)

            // The size limit holds while streaming.
            let tooLarge = await #expect(throws: HTTPClientError.self) {
                try await offPool {
                    try HTTPClient().receive(.get, "\(base)/broken", maxBodyBytes: 1000) { _ in true }
                }
            }
            #expect(tooLarge?.kind == .responseTooLarge)

            // An error answer comes back whole, with its JSON, not into the sink.
            let refused = try await offPool {
                try HTTPClient().receive(.get, "\(base)/refused", maxBodyBytes: 1 << 30) { _ in false }
            }
            #expect(refused.status == .forbidden)
            #expect(refused.bodyText.contains("\"no\""))

            // A download into a file, streamed the same way.
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kotohttp-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("body").path
            shared.reset()
            shared.add(Self.piece)  // the producer need not wait for a sink here
            let downloaded = try await AsyncHTTPClient().download(.get, "\(base)/stream", maxBodyBytes: 1 << 30, toFile: path)
            #expect(downloaded.status == .ok)
            let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(file.count == Self.piece * Self.pieces)
            #expect(file.indices.allSatisfy { file[$0] == Self.byte(at: $0) })
        }
    }

    /// HTTP/1.0 has no chunks: the body is sent unframed and the close ends it.
    @Test func anHTTP10ClientGetsTheBodyEndedByTheClose() async throws {
        var router = Router()
        router.get("/small") { _ in .streamed { write in try write(Array("abc".utf8)); try write(Array("def".utf8)) } }
        try await withServer(router: router) { server in
            let text = try await offPool { () throws -> String in
                let client = try RawClient(port: server.port)
                try client.send(Array("GET /small HTTP/1.0\r\n\r\n".utf8))
                var received: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = chunk.withUnsafeMutableBytes { recv(client.descriptor, $0.baseAddress, $0.count, 0) }
                    guard count > 0 else { break }
                    received += chunk[..<count]
                }
                return String(decoding: received, as: UTF8.self)
            }
            #expect(text.hasPrefix("HTTP/1.1 200"))
            #expect(!text.lowercased().contains("transfer-encoding"))
            #expect(text.hasSuffix("\r\n\r\nabcdef"))
        }
    }
}

/// A byte count shared between the client's sink and the server's producer.
final class Counter: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func add(_ count: Int) { value.withLock { $0 += count } }
    func reset() { value.withLock { $0 = 0 } }
}
