public import KotoHTTP

/// How a peer link reaches its peer: one request, one answer. Production
/// uses `AsyncHTTPClient` (curl, TLS); tests can route requests in-process
/// to another node's router. Only transport failures throw; any HTTP status
/// is an answer.
public protocol SyncTransport: Sendable {
    func send(_ method: HTTPMethod, _ url: String, headers: HTTPHeaders, body: [UInt8], timeout: Duration?) async throws
        -> HTTPResponse
}

extension SyncTransport {
    func send(_ method: HTTPMethod, _ url: String, headers: HTTPHeaders, body: [UInt8] = []) async throws -> HTTPResponse {
        try await send(method, url, headers: headers, body: body, timeout: nil)
    }
}

extension AsyncHTTPClient: SyncTransport {}
