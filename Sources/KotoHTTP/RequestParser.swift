/// The request line and header fields of one request, before the body.
struct RequestHead: Sendable {
    var method: HTTPMethod
    var target: String
    /// The minor version of HTTP/1.x (0 or 1).
    var minorVersion: Int
    var headers: HTTPHeaders
}

/// How the server must treat the rest of a request, decided from its head.
struct RequestFraming: Equatable {
    var contentLength: Int
    /// The client sent `Expect: 100-continue` and waits before the body.
    var expectsContinue: Bool
    /// The client allows the connection to stay open after the response.
    var keepAlive: Bool
}

/// Strict parsing of an HTTP/1.1 request head (RFC 9112). Everything that is
/// not clearly valid is rejected: a lenient parser is how request smuggling
/// starts. Errors carry the status the client must get.
enum RequestParser {
    static let malformed = HTTPError.badRequest("malformed request")

    /// The offset just past the empty line that ends the head, if `buffer`
    /// holds one. Lines end in LF with an optional CR before it. Scanning
    /// starts at `from` so repeated calls on a growing buffer stay linear.
    static func headEnd(in buffer: [UInt8], from: Int = 0) -> Int? {
        var index = max(from, 1)
        let lineFeed = UInt8(ascii: "\n")
        while index < buffer.count {
            if buffer[index] == lineFeed {
                if buffer[index - 1] == lineFeed {
                    return index + 1
                }
                if index >= 2 && buffer[index - 1] == UInt8(ascii: "\r") && buffer[index - 2] == lineFeed {
                    return index + 1
                }
            }
            index += 1
        }
        return nil
    }

    /// Parses the bytes of a complete head (including its final empty line).
    static func parse(_ bytes: ArraySlice<UInt8>, maxHeaderCount: Int) throws(HTTPError) -> RequestHead {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            line.last == UInt8(ascii: "\r") ? line.dropLast() : line
        }
        // The head ends with an empty line and the split leaves one more.
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let requestLine = lines.first else { throw malformed }
        guard lines.allSatisfy({ !$0.contains(UInt8(ascii: "\r")) }) else { throw malformed }

        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte),
              !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { throw malformed }
        let minorVersion = try parseVersion(parts[2])

        guard lines.count - 1 <= maxHeaderCount else {
            throw HTTPError(.requestHeaderFieldsTooLarge, code: "headers_too_large", message: "too many header fields")
        }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            // Obsolete line folding and whitespace before the colon are both
            // rejected, as RFC 9112 §5.1/§5.2 require.
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw malformed }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else { throw malformed }
            let value = line[line.index(after: colon)...]
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else { throw malformed }
            headers.add(
                name: String(decoding: name, as: UTF8.self),
                value: String(decoding: value, as: UTF8.self).trimmingASCIIWhitespace())
        }
        let hosts = headers.values(for: "Host")
        guard hosts.count <= 1, minorVersion == 0 || hosts.count == 1 else {
            throw HTTPError.badRequest("exactly one Host header is required")
        }
        return RequestHead(
            method: HTTPMethod(String(decoding: parts[0], as: UTF8.self)),
            target: String(decoding: parts[1], as: UTF8.self),
            minorVersion: minorVersion,
            headers: headers)
    }

    /// Decides body length and connection handling, enforcing `maxBodyBytes`
    /// from `Content-Length` before any body byte is read.
    static func framing(of head: RequestHead, maxBodyBytes: Int) throws(HTTPError) -> RequestFraming {
        if head.headers.contains("Transfer-Encoding") {
            throw HTTPError(
                .lengthRequired, code: "length_required",
                message: "Transfer-Encoding is not supported; send Content-Length")
        }
        var contentLength = 0
        // Empty list elements are kept, so `Content-Length:` or `5,` is refused
        // rather than read as "no length" or "5" (a proxy may read it otherwise).
        let lengths = head.headers.values(for: "Content-Length").flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        if !lengths.isEmpty {
            let texts = Set(lengths.map { $0.trimmingASCIIWhitespace() })
            guard texts.count == 1, let text = texts.first, !text.isEmpty,
                  text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            else { throw HTTPError.badRequest("invalid Content-Length") }
            // More digits than fit is simply too large.
            contentLength = text.utf8.count > 18 ? Int.max : Int(text)!
        }
        if contentLength > maxBodyBytes {
            throw HTTPError(
                .contentTooLarge, code: "body_too_large",
                message: "request body exceeds \(maxBodyBytes) bytes")
        }
        var expectsContinue = false
        let expectations = head.headers.tokens(for: "Expect")
        if !expectations.isEmpty {
            guard expectations == ["100-continue"] else {
                throw HTTPError(.expectationFailed, code: "expectation_failed", message: "unsupported expectation")
            }
            expectsContinue = head.minorVersion >= 1
        }
        let connection = head.headers.tokens(for: "Connection")
        let keepAlive = head.minorVersion >= 1 ? !connection.contains("close") : connection.contains("keep-alive")
        return RequestFraming(contentLength: contentLength, expectsContinue: expectsContinue, keepAlive: keepAlive)
    }

    private static func parseVersion(_ bytes: ArraySlice<UInt8>) throws(HTTPError) -> Int {
        let text = Array(bytes)
        guard text.count == 8, text[0..<5].elementsEqual("HTTP/".utf8),
              isDigit(text[5]), text[6] == UInt8(ascii: "."), isDigit(text[7])
        else { throw malformed }
        guard text[5] == UInt8(ascii: "1") else {
            throw HTTPError(.httpVersionNotSupported, code: "http_version_not_supported", message: "only HTTP/1.x is supported")
        }
        // HTTP/1.2+ are answered as 1.1, as RFC 9110 §2.5 allows.
        return min(Int(text[7] - UInt8(ascii: "0")), 1)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// RFC 9110 `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

/// Serialises a response head and body for the wire.
enum ResponseWriter {
    /// The bytes to send for `response`. `Content-Length`, `Connection` and
    /// `Transfer-Encoding` are always the server's own. Header fields with
    /// CR, LF or NUL (which would split the response), or a status that is
    /// not a final three-digit code, make it a 500.
    static func serialize(_ response: HTTPResponse, keepAlive: Bool, minorVersion: Int, includeBody: Bool) -> [UInt8] {
        var response = response
        let managed: Set<String> = ["content-length", "connection", "transfer-encoding"]
        let valid = response.headers.allSatisfy { field in
            !field.name.isEmpty && field.name.utf8.allSatisfy(RequestParser.isTokenByte)
                && field.value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
        }
        if !valid || !(200...999).contains(response.status.code) {
            response = HTTPError.internalError.response
        }
        var text = "HTTP/1.1 \(response.status.code) \(response.status.reasonPhrase)\r\n"
        for field in response.headers where !managed.contains(field.name.lowercased()) {
            text += "\(field.name): \(field.value)\r\n"
        }
        let allowsBody = response.status.allowsBody
        if allowsBody, response.stream != nil {
            // A streamed body: chunked to HTTP/1.1, ended by the close to HTTP/1.0 (the caller sends it).
            if minorVersion >= 1 { text += "Transfer-Encoding: chunked\r\n" }
        } else if allowsBody {
            text += "Content-Length: \(response.body.count)\r\n"
        }
        if !keepAlive {
            text += "Connection: close\r\n"
        } else if minorVersion == 0 {
            text += "Connection: keep-alive\r\n"
        }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if allowsBody && includeBody {
            bytes += response.body
        }
        return bytes
    }
}
