@testable import KotoHTTP
import Testing

private func parse(_ text: String, maxHeaderCount: Int = 10) throws(HTTPError) -> RequestHead {
    let bytes = Array(text.utf8)
    return try RequestParser.parse(bytes[...], maxHeaderCount: maxHeaderCount)
}

@Suite struct RequestParserTests {
    @Test func findsTheEndOfTheHead() {
        #expect(RequestParser.headEnd(in: Array("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY".utf8)) == 27)
        #expect(RequestParser.headEnd(in: Array("GET / HTTP/1.1\nHost: a\n\nBODY".utf8)) == 24)
        #expect(RequestParser.headEnd(in: Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)) == nil)
        // Resuming a scan near the old end still finds a terminator split across reads.
        let bytes = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        #expect(RequestParser.headEnd(in: bytes, from: bytes.count - 3) == bytes.count)
    }

    @Test func parsesRequestLineAndHeaders() throws {
        let head = try parse("PATCH /x?y=1 HTTP/1.1\r\nHost: h\r\nX-Pad:   spaced value \t\r\nEmpty:\r\n\r\n")
        #expect(head.method == .patch)
        #expect(head.target == "/x?y=1")
        #expect(head.minorVersion == 1)
        #expect(head.headers["x-pad"] == "spaced value")
        #expect(head.headers["empty"] == "")
    }

    @Test func http10NeedsNoHost() throws {
        #expect(try parse("GET / HTTP/1.0\r\n\r\n").minorVersion == 0)
        #expect(throws: HTTPError.self) { try parse("GET / HTTP/1.1\r\n\r\n") }
        #expect(throws: HTTPError.self) { try parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") }
    }

    @Test func rejectsBareCarriageReturns() {
        #expect(throws: HTTPError.self) { try parse("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n") }
    }

    @Test func headerCountLimitIs431() {
        let error = #expect(throws: HTTPError.self) {
            try parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", maxHeaderCount: 2)
        }
        #expect(error?.status == .requestHeaderFieldsTooLarge)
    }

    @Test func framingDecidesBodyLengthAndKeepAlive() throws {
        func framing(_ text: String, max: Int = 100) throws(HTTPError) -> RequestFraming {
            try RequestParser.framing(of: try parse(text), maxBodyBytes: max)
        }
        #expect(try framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n").contentLength == 12)
        #expect(try framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n").contentLength == 5)
        #expect(try framing("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keepAlive)
        #expect(try !framing("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").keepAlive)
        #expect(try !framing("GET / HTTP/1.0\r\n\r\n").keepAlive)
        #expect(try framing("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive)
        #expect(try framing("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expectsContinue)

        let tooLarge = #expect(throws: HTTPError.self) {
            try framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n")
        }
        #expect(tooLarge?.status == .contentTooLarge)
        let chunked = #expect(throws: HTTPError.self) {
            try framing("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")
        }
        #expect(chunked?.status == .lengthRequired)
        let expectation = #expect(throws: HTTPError.self) {
            try framing("POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n")
        }
        #expect(expectation?.status == .expectationFailed)
        #expect(throws: HTTPError.self) { try framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n") }
        // An empty length, or an empty element of a list, is no length at all: refused, not read as 0 or as the rest.
        for value in ["", "5,", ",5", "5,,5"] {
            let empty = #expect(throws: HTTPError.self, "Content-Length: \(value)") {
                try framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(value)\r\n\r\n")
            }
            #expect(empty?.status == .badRequest)
        }
    }

    @Test func responsesAreSerializedWithServerOwnedFraming() {
        var response = HTTPResponse.text("hi")
        response.headers["Content-Length"] = "999"
        response.headers["Connection"] = "upgrade"
        let keepAlive = String(decoding: ResponseWriter.serialize(response, keepAlive: true, minorVersion: 1, includeBody: true), as: UTF8.self)
        #expect(keepAlive == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nhi")
        let head = String(decoding: ResponseWriter.serialize(response, keepAlive: false, minorVersion: 1, includeBody: false), as: UTF8.self)
        #expect(head.hasSuffix("Content-Length: 2\r\nConnection: close\r\n\r\n"))
        let noContent = String(decoding: ResponseWriter.serialize(HTTPResponse(status: .noContent, body: [1]), keepAlive: true, minorVersion: 1, includeBody: true), as: UTF8.self)
        #expect(noContent == "HTTP/1.1 204 No Content\r\n\r\n")
        // A header value that would split the response becomes a 500.
        let split = HTTPResponse(headers: ["X-Evil": "a\r\nSet-Cookie: b"])
        let safe = String(decoding: ResponseWriter.serialize(split, keepAlive: true, minorVersion: 1, includeBody: true), as: UTF8.self)
        #expect(safe.hasPrefix("HTTP/1.1 500 Internal Server Error\r\n"))
        #expect(!safe.contains("Set-Cookie"))
        let interim = ResponseWriter.serialize(HTTPResponse(status: .continue), keepAlive: true, minorVersion: 1, includeBody: true)
        #expect(String(decoding: interim, as: UTF8.self).hasPrefix("HTTP/1.1 500 "))
    }
}
