/// A response: status, headers and body bytes (or a streamed body). The
/// server adds `Content-Length` (or `Transfer-Encoding`) and `Connection`
/// itself; handlers set the rest.
public struct HTTPResponse: Sendable, Hashable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Set instead of `body` for a body produced while it is sent (`HTTPResponse.streamed`).
    public var stream: HTTPStreamedBody?

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response whose body is `value` as JSON, with the matching content type.
    public static func json<Value: Encodable>(
        _ value: Value, status: HTTPStatus = .ok, headers: HTTPHeaders = [:]
    ) throws -> HTTPResponse {
        var headers = headers
        headers["Content-Type"] = "application/json"
        return HTTPResponse(status: status, headers: headers, body: try JSONCoding.encode(value))
    }

    /// A UTF-8 plain-text response.
    public static func text(_ text: String, status: HTTPStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers["Content-Type"] = "text/plain; charset=utf-8"
        return HTTPResponse(status: status, headers: headers, body: Array(text.utf8))
    }

    /// The body as UTF-8 text (invalid sequences replaced), for logs and tests.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// Decodes the body as JSON (useful on responses an `HTTPClient` returned).
    public func decodeJSON<Value: Decodable>(_ type: Value.Type = Value.self) throws -> Value {
        try JSONCoding.decode(type, from: body)
    }
}
