/// An error that knows the HTTP answer it stands for. Store, node and HTTP
/// errors adopt it; the `Router` turns any of them into a response in one
/// place, so handlers throw and never build error responses by hand.
///
/// Every error answers the same shape:
/// `{"error": {"code": ..., "message": ..., "problems": [{"field", "reason"}]}}`
/// (`problems` only when there are some). An error whose status is 500
/// answers the generic internal error instead; its `description`, which
/// must never hold personal data, goes to the log.
public protocol HTTPResponseError: Error, CustomStringConvertible {
    var status: HTTPStatus { get }
    /// A short, stable, snake_case identifier clients can switch on.
    var code: String { get }
    /// Text for people: names fields and records by kind and id, never by value.
    var message: String { get }
    /// Which inputs were wrong and why.
    var problems: [HTTPProblem] { get }
    /// Extra headers for the error response (for example `Allow` on 405).
    var headers: HTTPHeaders { get }
}

/// An error of a lower layer (which cannot adopt `HTTPResponseError`: its
/// own `message` means something else) that stands for an HTTP answer in
/// some cases — SQLite's "disk full" is 507. The `Router` asks it first.
public protocol HTTPResponseErrorConvertible: Error {
    /// The answer this error stands for; nil for the generic, logged 500.
    var responseError: (any HTTPResponseError)? { get }
}

/// One input an error response blames: a field (a body member, a query
/// parameter) and the reason it was refused.
public struct HTTPProblem: Sendable, Hashable {
    public var field: String
    public var reason: String
    /// The row of an imported file the problem is in (the body then says `"row"` too).
    public var row: Int?

    public init(field: String, reason: String, row: Int? = nil) {
        self.field = field
        self.reason = reason
        self.row = row
    }
}

extension HTTPResponseError {
    public var problems: [HTTPProblem] { [] }
    public var headers: HTTPHeaders { [:] }

    /// The JSON response this error becomes.
    public var response: HTTPResponse {
        var headers = headers
        headers["Content-Type"] = "application/json"
        return HTTPResponse(status: status, headers: headers, body: ErrorBody.render(code: code, message: message, problems: problems))
    }
}

/// The error body, written by hand so member order is fixed (code, message, problems).
enum ErrorBody {
    static func render(code: String, message: String, problems: [HTTPProblem]) -> [UInt8] {
        var text = #"{"error":{"code":"# + quoted(code) + #","message":"# + quoted(message)
        if !problems.isEmpty {
            text += #","problems":["#
            text += problems.map { problem in
                let row = problem.row.map { #","row":\#($0)"# } ?? ""
                return #"{"field":"# + quoted(problem.field) + #","reason":"# + quoted(problem.reason) + row + "}"
            }.joined(separator: ",")
            text += "]"
        }
        text += "}}"
        return Array(text.utf8)
    }

    /// A JSON string literal (RFC 8259 escapes; slashes left as they are).
    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
