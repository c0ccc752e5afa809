import Foundation

/// An error a handler throws to answer with a specific status. It carries a
/// short machine-readable `code` and a human message, and always renders as
/// `{"error": {"code": ..., "message": ...}}` so clients parse one shape.
public struct HTTPError: HTTPResponseError, Sendable, Hashable {
    public var status: HTTPStatus
    /// A short, stable, snake_case identifier clients can switch on.
    public var code: String
    /// Text for people; must not contain internals.
    public var message: String
    /// Which inputs were wrong and why.
    public var problems: [HTTPProblem]
    /// Extra headers for the error response (for example `Allow` on 405).
    public var headers: HTTPHeaders

    public init(_ status: HTTPStatus, code: String, message: String, problems: [HTTPProblem] = [], headers: HTTPHeaders = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems
        self.headers = headers
    }

    public var description: String { "HTTP \(status.code) \(code): \(message)" }

    // Shorthands for the errors handlers raise most; `code` defaults to the
    // status's conventional name.

    public static func badRequest(_ message: String, code: String = "bad_request") -> HTTPError {
        HTTPError(.badRequest, code: code, message: message)
    }

    public static func notFound(_ message: String = "not found", code: String = "not_found") -> HTTPError {
        HTTPError(.notFound, code: code, message: message)
    }

    public static func conflict(_ message: String, code: String = "conflict") -> HTTPError {
        HTTPError(.conflict, code: code, message: message)
    }

    public static func unauthorized(_ message: String = "unauthorized", code: String = "unauthorized") -> HTTPError {
        HTTPError(.unauthorized, code: code, message: message)
    }

    public static func forbidden(_ message: String = "forbidden", code: String = "forbidden") -> HTTPError {
        HTTPError(.forbidden, code: code, message: message)
    }

    /// 405 with the `Allow` header listing what the route does accept.
    public static func methodNotAllowed(allowed: [HTTPMethod]) -> HTTPError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return HTTPError(
            .methodNotAllowed, code: "method_not_allowed",
            message: "method not allowed; allowed: \(list)", headers: ["Allow": list])
    }

    /// The generic 500 that stands in for any unexpected error, leaking nothing.
    public static let internalError = HTTPError(.internalServerError, code: "internal", message: "internal error")
}

/// JSON encoding and decoding with the module's fixed settings: sorted keys
/// and unescaped slashes so output is deterministic and readable.
enum JSONCoding {
    static func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// A client-safe explanation of why a body did not decode: where and
    /// what kind of problem, never the value or Swift type names.
    static func explain(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "body is not valid JSON" }
        func path(_ context: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
            let keys = context.codingPath + (key.map { [$0] } ?? [])
            return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(path(context, key))'"
        case .typeMismatch(_, let context):
            return "field '\(path(context))' has the wrong type"
        case .valueNotFound(_, let context):
            return "field '\(path(context))' must not be null"
        case .dataCorrupted(let context):
            let where_ = path(context)
            return where_.isEmpty ? "body is not valid JSON" : "field '\(where_)' is invalid"
        @unknown default:
            return "body is not valid JSON"
        }
    }
}
