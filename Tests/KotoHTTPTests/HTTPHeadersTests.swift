import KotoHTTP
import Testing

@Suite struct HTTPHeadersTests {
    @Test func lookupIsCaseInsensitiveAndKeepsOrder() {
        var headers: HTTPHeaders = ["Content-Type": "text/plain", "X-Tag": "a"]
        headers.add(name: "x-tag", value: "b")
        #expect(headers["content-type"] == "text/plain")
        #expect(headers["CONTENT-TYPE"] == "text/plain")
        #expect(headers.values(for: "X-TAG") == ["a", "b"])
        #expect(headers.contains("x-Tag"))
        #expect(headers.count == 3)
        #expect(headers["missing"] == nil)
    }

    @Test func settingReplacesEveryFieldOfThatName() {
        var headers: HTTPHeaders = ["A": "1", "b": "2", "a": "3"]
        headers["a"] = "new"
        #expect(headers.values(for: "A") == ["new"])
        #expect(headers.fields.map(\.name) == ["A", "b"])
        headers["A"] = nil
        #expect(!headers.contains("a"))
        headers["C"] = "appended"
        #expect(headers.fields.last == HTTPHeaders.Field(name: "C", value: "appended"))
        headers.remove("c")
        #expect(headers.count == 1)
    }
}
