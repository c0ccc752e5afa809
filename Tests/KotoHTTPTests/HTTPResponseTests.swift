import KotoHTTP
import Testing

private struct Document: Codable, Equatable {
    var url: String
    var count: Int
}

@Suite struct HTTPResponseTests {
    @Test func jsonHelperSetsTypeAndSortsKeys() throws {
        let response = try HTTPResponse.json(Document(url: "a/b", count: 2), status: .created)
        #expect(response.status == .created)
        #expect(response.headers["content-type"] == "application/json")
        #expect(response.bodyText == #"{"count":2,"url":"a/b"}"#)
        #expect(try response.decodeJSON(Document.self) == Document(url: "a/b", count: 2))
    }

    @Test func textHelper() {
        let response = HTTPResponse.text("héllo", status: .accepted)
        #expect(response.status.code == 202)
        #expect(response.headers["Content-Type"] == "text/plain; charset=utf-8")
        #expect(response.body == Array("héllo".utf8))
    }

    @Test func errorResponsesHaveOneShape() throws {
        let error = HTTPError.methodNotAllowed(allowed: [.get, .post])
        let response = error.response
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers["Allow"] == "GET, POST")
        let document = try response.decodeJSON([String: [String: String]].self)
        #expect(document["error"]?["code"] == "method_not_allowed")
        #expect(HTTPError.internalError.response.bodyText == #"{"error":{"code":"internal","message":"internal error"}}"#)
    }

    @Test func statusPhrases() {
        #expect(HTTPStatus.requestHeaderFieldsTooLarge.description == "431 Request Header Fields Too Large")
        #expect(HTTPStatus(299).reasonPhrase == "Success")
        #expect(HTTPStatus(599).reasonPhrase == "Server Error")
    }
}
