public import KotoHTTP
import Foundation

/// How a peer link reaches its peer: one request, one answer. Production
/// uses `AsyncHTTPClient` (curl, TLS); tests can route requests in-process
/// to another node's router. Only transport failures throw; any HTTP status
/// is an answer.
public protocol SyncTransport: Sendable {
    func send(_ method: HTTPMethod, _ url: String, headers: HTTPHeaders, body: [UInt8], timeout: Duration?) async throws
        -> HTTPResponse

    /// Receives a 2xx body into the file at `path` as it arrives (a
    /// snapshot), failing past `maxBodyBytes`; other answers come back with
    /// their body. The default sends the request and writes what comes back.
    func download(_ url: String, headers: HTTPHeaders, timeout: Duration?, maxBodyBytes: Int, toFile path: String) async throws
        -> HTTPResponse
}

extension SyncTransport {
    func send(_ method: HTTPMethod, _ url: String, headers: HTTPHeaders, body: [UInt8] = []) async throws -> HTTPResponse {
        try await send(method, url, headers: headers, body: body, timeout: nil)
    }

    public func download(_ url: String, headers: HTTPHeaders, timeout: Duration?, maxBodyBytes: Int, toFile path: String) async throws
        -> HTTPResponse {
        var response = try await send(.get, url, headers: headers, body: [], timeout: timeout)
        guard (200..<300).contains(response.status.code) else { return response }
        let body = try response.stream?.collect() ?? response.body
        guard body.count <= maxBodyBytes else {
            throw HTTPClientError(kind: .responseTooLarge, curlCode: 23, message: "response body exceeds \(maxBodyBytes) bytes")
        }
        // In place, never by renaming a new file over it: a `DownloadFollower` may hold it open already.
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        do {
            guard let file = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileWriteUnknown) }
            defer { try? file.close() }
            try file.truncate(atOffset: 0)
            try file.write(contentsOf: Data(body))
        } catch {
            throw HTTPClientError(kind: .other, curlCode: 23, message: "cannot write \(path)")
        }
        response.stream = nil
        response.body = []
        return response
    }
}

extension AsyncHTTPClient: SyncTransport {
    public func download(_ url: String, headers: HTTPHeaders, timeout: Duration?, maxBodyBytes: Int, toFile path: String) async throws
        -> HTTPResponse {
        try await download(.get, url, headers: headers, timeout: timeout, maxBodyBytes: maxBodyBytes, toFile: path)
    }
}
