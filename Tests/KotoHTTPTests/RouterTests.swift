import KotoHTTP
import Synchronization
import Testing

private struct Boom: Error {}

/// A domain error that knows its answer, as store and node errors do.
private struct RecordRefused: HTTPResponseError {
    var status: HTTPStatus
    var code: String { status == .internalServerError ? "internal" : "record_refused" }
    var message: String { "record 7 refused" }
    var problems: [HTTPProblem] { [HTTPProblem(field: "name\n", reason: "must be \"short\"")] }
    var headers: HTTPHeaders { ["Retry-After": "5"] }
    var description: String { "refused record 7 at step 3" }
}

private func get(_ router: Router, _ target: String, method: HTTPMethod = .get) async throws -> HTTPResponse {
    await router.handle(try HTTPRequest(method: method, target: target))
}

@Suite struct RouterTests {
    @Test func bindsPathParametersPercentDecoded() async throws {
        var router = Router()
        router.get("/v1/{kind}/{id}") { request in
            .text("\(request.pathParameters["kind"]!)|\(request.pathParameters["id"]!)|\(request.query("x") ?? "-")")
        }
        let response = try await get(router, "/v1/my%20kind/a%2Fb?x=%C3%A9t%C3%A9")
        #expect(response.status == .ok)
        #expect(response.bodyText == "my kind|a/b|été")
    }

    @Test func literalSegmentsBeatParameters() async throws {
        var router = Router()
        router.get("/v1/{kind}/{id}") { _ in .text("param") }
        router.get("/v1/items/special") { _ in .text("literal") }
        router.get("/v1/{kind}/special") { _ in .text("half") }
        router.delete("/v1/{kind}/{id}") { _ in .text("deleted") }
        #expect(try await get(router, "/v1/items/special").bodyText == "literal")
        #expect(try await get(router, "/v1/notes/special").bodyText == "half")
        #expect(try await get(router, "/v1/items/7").bodyText == "param")
        // A more specific route for another method does not hide this one.
        #expect(try await get(router, "/v1/items/special", method: .delete).bodyText == "deleted")
    }

    @Test func segmentCountAndEmptySegmentsMustMatch() async throws {
        var router = Router()
        router.get("/") { _ in .text("root") }
        router.get("/a/{id}") { _ in .text("a") }
        #expect(try await get(router, "/").bodyText == "root")
        #expect(try await get(router, "/a/1").status == .ok)
        #expect(try await get(router, "/a/").status == .notFound)
        #expect(try await get(router, "/a/1/").status == .notFound)
        #expect(try await get(router, "/a").status == .notFound)
    }

    @Test func unknownPathIs404WithJSONError() async throws {
        var router = Router()
        router.get("/known") { _ in .text("yes") }
        let response = try await get(router, "/unknown")
        #expect(response.status == .notFound)
        #expect(response.headers["content-type"] == "application/json")
        let error = try response.decodeJSON([String: [String: String]].self)["error"]
        #expect(error?["code"] == "not_found")
    }

    @Test func wrongMethodIs405ListingAllowedMethods() async throws {
        var router = Router()
        router.get("/thing/{id}") { _ in .text("get") }
        router.put("/thing/{id}") { _ in .text("put") }
        let response = try await get(router, "/thing/1", method: .post)
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers["Allow"] == "GET, PUT, HEAD")
        #expect(response.bodyText.contains(#""code":"method_not_allowed""#))
    }

    @Test func headFallsBackToGet() async throws {
        var router = Router()
        router.get("/doc") { _ in .text("body") }
        let response = try await get(router, "/doc", method: .head)
        #expect(response.status == .ok)
        #expect(response.bodyText == "body")  // the server, not the router, drops it
    }

    @Test func httpErrorBecomesItsOwnResponse() async throws {
        var router = Router()
        router.get("/e") { _ in
            throw HTTPError(.unprocessableContent, code: "bad_field", message: "field \"x\" is wrong")
        }
        let response = try await get(router, "/e")
        #expect(response.status.code == 422)
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(response.bodyText == #"{"error":{"code":"bad_field","message":"field \"x\" is wrong"}}"#)
    }

    @Test func otherErrorsBecomeAGeneric500AndAreReported() async throws {
        let reported = Mutex<[String]>([])
        var router = Router()
        router.get("/boom") { _ in throw Boom() }
        router.unexpectedErrorReporter = { request, error in
            reported.withLock { $0.append("\(request.path) \(error is Boom)") }
        }
        let response = try await get(router, "/boom")
        #expect(response.status == .internalServerError)
        #expect(response.bodyText == #"{"error":{"code":"internal","message":"internal error"}}"#)
        #expect(reported.withLock { $0 } == ["/boom true"])
    }

    @Test func domainErrorsAnswerForThemselvesWithProblemsAndHeaders() async throws {
        var router = Router()
        router.get("/refuse") { _ in throw RecordRefused(status: .conflict) }
        let response = try await get(router, "/refuse")
        #expect(response.status == .conflict)
        #expect(response.headers["Retry-After"] == "5")
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(response.bodyText == #"{"error":{"code":"record_refused","message":"record 7 refused","problems":[{"field":"name\n","reason":"must be \"short\""}]}}"#)
    }

    @Test func aProblemOfAnImportedRowNamesTheRowToo() {
        let error = HTTPError(.unprocessableContent, code: "import_invalid", message: "1 of 2 rows have problems",
                              problems: [HTTPProblem(field: "birthDate", reason: "is required", row: 3), HTTPProblem(field: "kind", reason: "unknown")])
        #expect(String(decoding: error.response.body, as: UTF8.self) == #"{"error":{"code":"import_invalid","message":"1 of 2 rows have problems","problems":[{"field":"birthDate","reason":"is required","row":3},{"field":"kind","reason":"unknown"}]}}"#)
    }

    @Test func aDomainErrorWithStatus500IsReportedWithItsDescriptionAndLeaksNothing() async throws {
        let reported = Mutex<[String]>([])
        var router = Router()
        router.get("/fault") { _ in throw RecordRefused(status: .internalServerError) }
        router.unexpectedErrorReporter = { _, error in reported.withLock { $0.append(String(describing: error)) } }
        let response = try await get(router, "/fault")
        #expect(response.status == .internalServerError)
        #expect(response.bodyText == #"{"error":{"code":"internal","message":"internal error"}}"#)
        #expect(reported.withLock { $0 } == ["refused record 7 at step 3"])
    }

    @Test func handlersSeeBodyAndHeaders() async throws {
        var router = Router()
        router.post("/echo") { request in
            HTTPResponse(status: .created, headers: ["X-Got": request.headers["x-in"] ?? ""], body: request.body.reversed())
        }
        let request = try HTTPRequest(method: .post, target: "/echo", headers: ["X-In": "v"], body: [1, 2, 3])
        let response = await router.handle(request)
        #expect(response.status == .created)
        #expect(response.body == [3, 2, 1])
        #expect(response.headers["x-got"] == "v")
    }

    /// The observer sees every answered request once: the route's pattern
    /// (never the path), nil when no route matched, and the final status.
    @Test func observerSeesPatternStatusAndDuration() async throws {
        let seen = Mutex<[Router.Observation]>([])
        var router = Router()
        router.get("/v1/{kind}/{id}") { _ in .text("one") }
        router.post("/v1/{kind}") { _ in throw HTTPError.badRequest("no") }
        router.get("/slow") { _ in
            try await Task.sleep(for: .milliseconds(30))
            return .text("slow")
        }
        router.get("/boom") { _ in throw Boom() }
        router.observer = { observation in seen.withLock { $0.append(observation) } }
        _ = try await get(router, "/v1/clients/3f1c")
        _ = try await get(router, "/v1/clients", method: .post)
        _ = try await get(router, "/v1/clients/3f1c", method: .head)
        _ = try await get(router, "/v1/clients/3f1c", method: .delete)
        _ = try await get(router, "/nowhere/7")
        _ = try await get(router, "/boom")
        _ = try await get(router, "/slow")
        let observations = seen.withLock { $0 }
        #expect(observations.map(\.method) == [.get, .post, .head, .delete, .get, .get, .get])
        #expect(observations.map(\.route) == ["/v1/{kind}/{id}", "/v1/{kind}", "/v1/{kind}/{id}", nil, nil, "/boom", "/slow"])
        #expect(observations.map(\.status.code) == [200, 400, 200, 405, 404, 500, 200])
        #expect(observations.last!.duration >= .milliseconds(30))
    }
}
