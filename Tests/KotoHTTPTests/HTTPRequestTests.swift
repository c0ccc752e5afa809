import KotoHTTP
import Testing

private struct Payload: Decodable, Equatable {
    var name: String
    var tags: [String]
}

@Suite struct HTTPRequestTests {
    @Test func splitsPathAndDecodesQuery() throws {
        let request = try HTTPRequest(method: .get, target: "/a/b%2Fc/?q=one+two&q=%E2%9C%93&empty=&flag&x=a%3Db")
        #expect(request.path == "/a/b%2Fc/")
        #expect(request.pathSegments == ["a", "b/c", ""])
        #expect(request.query("q") == "one two")
        #expect(request.queryValues("q") == ["one two", "✓"])
        #expect(request.query("empty") == "")
        #expect(request.query("flag") == "")
        #expect(request.query("x") == "a=b")
        #expect(request.query("missing") == nil)
    }

    @Test func plusIsLiteralInPaths() throws {
        let request = try HTTPRequest(method: .get, target: "/a+b")
        #expect(request.pathSegments == ["a+b"])
    }

    @Test func acceptsAbsoluteFormAndDropsFragments() throws {
        let absolute = try HTTPRequest(method: .get, target: "http://example.com:8080/x/y?z=1")
        #expect(absolute.path == "/x/y")
        #expect(absolute.query("z") == "1")
        let bare = try HTTPRequest(method: .get, target: "https://example.com")
        #expect(bare.path == "/")
        let fragment = try HTTPRequest(method: .get, target: "/p?a=1#frag")
        #expect(fragment.query("a") == "1")
    }

    @Test(arguments: ["relative", "/bad%2", "/bad%zz", "/bad%ff", "/?q=%", "/with space", "*"])
    func rejectsInvalidTargets(_ target: String) {
        #expect(throws: HTTPError.self) { try HTTPRequest(method: .get, target: target) }
        let error = try? #require(throws: HTTPError.self) { try HTTPRequest(method: .get, target: target) }
        #expect(error?.status == .badRequest)
    }

    @Test func decodesJSONBodies() throws {
        let good = try HTTPRequest(method: .post, target: "/", body: Array(#"{"name":"a","tags":["x"]}"#.utf8))
        #expect(try good.decodeJSON(Payload.self) == Payload(name: "a", tags: ["x"]))

        let missing = try HTTPRequest(method: .post, target: "/", body: Array(#"{"tags":[]}"#.utf8))
        let missingError = #expect(throws: HTTPError.self) { try missing.decodeJSON(Payload.self) }
        #expect(missingError?.code == "invalid_json")
        #expect(missingError?.message == "missing field 'name'")

        let wrongType = try HTTPRequest(method: .post, target: "/", body: Array(#"{"name":"a","tags":[1]}"#.utf8))
        let typeError = #expect(throws: HTTPError.self) { try wrongType.decodeJSON(Payload.self) }
        #expect(typeError?.message == "field 'tags.[0]' has the wrong type")

        let garbage = try HTTPRequest(method: .post, target: "/", body: Array("{nope".utf8))
        let garbageError = #expect(throws: HTTPError.self) { try garbage.decodeJSON(Payload.self) }
        #expect(garbageError?.status == .badRequest)
        #expect(garbageError?.message == "body is not valid JSON")
    }
}
