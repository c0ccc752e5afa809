import Foundation
import KotoCore
import KotoHTTP

/// One daemon's HTTP API over one libcurl handle (consecutive requests, as
/// `list --all` makes, reuse the connection). Every answer that is not a
/// success becomes a `CLIError` carrying the server's message.
final class DaemonClient {
    let settings: Settings
    private let http: HTTPClient

    init(settings: Settings) throws(CLIError) {
        self.settings = settings
        let total = Duration.milliseconds(Int64(settings.timeoutSeconds * 1000))
        let configuration = HTTPClient.Configuration(
            connectTimeout: min(.seconds(10), total), totalTimeout: total, caBundlePath: settings.caBundle)
        do {
            http = try HTTPClient(configuration: configuration)
        } catch {
            throw .failure("cannot start the HTTP client: \(Sentence.printable(error.message))")
        }
    }

    /// The base URL as messages show it: without any user:password part.
    var displayURL: String { URLText.withoutUserInfo(settings.baseURL) }

    /// Sends one request and returns a 2xx response (or one whose status is in
    /// `passing`, for the caller to read); anything else throws.
    func send(_ method: HTTPMethod, _ path: String, query: [QueryItem] = [], body: [UInt8]? = nil,
              accept: String = "application/json", contentType: String = "application/json",
              passing: Set<Int> = []) throws(CLIError) -> HTTPResponse {
        var headers: HTTPHeaders = ["Accept": accept]
        if let token = settings.token { headers["Authorization"] = "Bearer \(token)" }
        if body != nil { headers["Content-Type"] = contentType }
        if let language = settings.acceptLanguage { headers["Accept-Language"] = language }
        let url = settings.baseURL + path + URLText.query(query)
        let response: HTTPResponse
        do {
            response = try http.send(method, url, headers: headers, body: body ?? [])
        } catch {
            throw transportError(error)
        }
        guard (200..<300).contains(response.status.code) || passing.contains(response.status.code) else {
            throw .failure(ServerError.sentence(for: response, sentToken: settings.token != nil))
        }
        return response
    }

    /// `send`, the body parsed as JSON (nil for a bodiless answer such as 204).
    func json(_ method: HTTPMethod, _ path: String, query: [QueryItem] = [], body: [UInt8]? = nil) throws(CLIError) -> JSONValue? {
        let response = try send(method, path, query: query, body: body)
        if response.body.isEmpty { return nil }
        do {
            return try JSONValue.parse(response.body)
        } catch {
            throw .failure("the server at \(displayURL) answered HTTP \(response.status.code) with a body that is not JSON; is it a kotosyncd?")
        }
    }

    /// Refused, timed out and unknown hosts are "unreachable" (exit 3); TLS and other failures exit 1.
    func transportError(_ error: HTTPClientError) -> CLIError {
        let target = "the daemon at \(displayURL)"
        switch error.kind {
        case .couldNotConnect:
            return .unreachable("cannot reach \(target): the connection was refused or the host cannot be reached (is kotosyncd running? see --url)")
        case .couldNotResolveHost:
            return .unreachable("cannot reach \(target): the host name does not resolve")
        case .timedOut:
            return .unreachable("\(target) did not answer within \(Self.seconds(settings.timeoutSeconds)) (see --timeout)")
        case .tls:
            return .failure("the TLS connection to \(target) failed: \(Sentence.printable(error.message)) (see --cacert)")
        case .responseTooLarge:
            return .failure("the answer of \(target) is too large")
        case .cancelled:
            return .failure("the request to \(target) was cancelled")
        case .invalidRequest:
            return .failure("the request to \(target) could not be sent: \(Sentence.printable(error.message))")
        case .other:
            return .failure("the exchange with \(target) failed: \(Sentence.printable(error.message))")
        }
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}

/// The server's error body as one sentence: its message, each problem's
/// field and reason, the status and code.
enum ServerError {
    static func sentence(for response: HTTPResponse, sentToken: Bool) -> String {
        var text: String
        if let json = try? JSONValue.parse(response.body), let error = json["error"], let message = error["message"]?.stringValue {
            text = trimmed(Sentence.printable(message))
            let problems = (error["problems"]?.arrayValue ?? []).compactMap { problem -> String? in
                guard let field = problem["field"]?.stringValue else { return nil }
                let reason = problem["reason"]?.stringValue.map { trimmed(Sentence.printable($0)) } ?? "is invalid"
                // An import's problems name the file's row too.
                let row = problem["row"]?.int64Value.map { "row \($0) " } ?? ""
                return "\(row)\(Sentence.printable(field)): \(reason)"
            }
            if !problems.isEmpty { text += " — " + problems.joined(separator: "; ") }
            let code = error["code"]?.stringValue.map { " " + Sentence.printable($0) } ?? ""
            text += " (HTTP \(response.status.code)\(code))"
        } else {
            text = "the server answered HTTP \(response.status) without an error message"
        }
        if response.status.code == 401 && !sentToken {
            text += "; no token was given: use --token-file FILE or KOTOSYNC_TOKEN"
        }
        return text
    }

    private static func trimmed(_ text: String) -> String {
        var text = Substring(text)
        while let last = text.last, last == "." || last == " " { text = text.dropLast() }
        return String(text)
    }
}

/// Percent-encoding for paths and queries: everything but RFC 3986's unreserved characters.
enum URLText {
    static func encode(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                output += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return output
    }

    /// `?a=1&b=2`, or "" for no items.
    static func query(_ items: [QueryItem]) -> String {
        items.isEmpty ? "" : "?" + items.map { encode($0.name) + "=" + encode($0.value) }.joined(separator: "&")
    }

    /// `/v1/clients/<id>` from segments, each encoded.
    static func path(_ segments: String...) -> String {
        segments.map { "/" + encode($0) }.joined()
    }

    static func withoutUserInfo(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        guard let at = authority.lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + String(rest[rest.index(after: at)...])
    }
}
