/// A response body written while it is sent, for bodies too large to hold
/// in memory (a replica's snapshot): the server calls `produce` on the
/// connection's thread after the head has gone out, and sends each piece it
/// writes as one chunk (`Transfer-Encoding: chunked`; to an HTTP/1.0 client,
/// unframed until the connection closes). A `write` that cannot send within
/// the server's write timeout throws, and so does `produce` when it fails:
/// the connection then closes without the terminating chunk, so the client
/// sees a cut-off body, never a short one that looks whole.
public final class HTTPStreamedBody: Sendable, Hashable {
    public typealias Producer = @Sendable (_ write: ([UInt8]) throws -> Void) throws -> Void

    let produce: Producer

    public init(_ produce: @escaping Producer) {
        self.produce = produce
    }

    public static func == (lhs: HTTPStreamedBody, rhs: HTTPStreamedBody) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    /// Runs the producer, collecting what it writes (in-process transports, tests).
    public func collect() throws -> [UInt8] {
        var bytes: [UInt8] = []
        try produce { bytes += $0 }
        return bytes
    }
}

extension HTTPResponse {
    /// A response whose body `produce` writes while it is sent (see `HTTPStreamedBody`).
    public static func streamed(status: HTTPStatus = .ok, headers: HTTPHeaders = [:],
                                _ produce: @escaping HTTPStreamedBody.Producer) -> HTTPResponse {
        var response = HTTPResponse(status: status, headers: headers)
        response.stream = HTTPStreamedBody(produce)
        return response
    }
}

/// The sender could not deliver a streamed body's piece in time.
struct StreamedBodyInterrupted: Error {}

extension Connection {
    /// Sends a streamed body after its head: chunked, or raw for HTTP/1.0
    /// (then the close ends it). False when it could not be finished; the
    /// caller then closes without the terminating chunk.
    func sendStreamed(_ body: HTTPStreamedBody, chunked: Bool) -> Bool {
        do {
            try body.produce { bytes in
                guard !bytes.isEmpty else { return }
                var framed: [UInt8] = []
                framed.reserveCapacity(bytes.count + 16)
                if chunked { framed += Array((String(bytes.count, radix: 16) + "\r\n").utf8) }
                framed += bytes
                if chunked { framed += [0x0D, 0x0A] }
                guard try self.write(framed) else { throw StreamedBodyInterrupted() }
            }
            if chunked {
                guard try write(Array("0\r\n\r\n".utf8)) else { return false }
            }
            return true
        } catch {
            return false
        }
    }
}
