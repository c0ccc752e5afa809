import Glibc
import KotoHTTP
import Testing

private struct Greeting: Codable, Equatable {
    var text: String
}

private func clientRouter() -> Router {
    var router = Router()
    router.get("/hello/{name}") { request in
        try .json(
            Greeting(text: "hello \(request.pathParameters["name"]!) \(request.query("mood") ?? "")"),
            headers: ["X-Seen-Header": request.headers["X-Custom"] ?? "none"])
    }
    router.post("/items") { request in
        let greeting = try request.decodeJSON(Greeting.self)
        return try .json(greeting, status: .created, headers: ["Location": "/items/1"])
    }
    router.add("PUT", "/items/{id}") { request in
        .text("put \(request.pathParameters["id"]!) \(request.body.count) \(request.headers["Content-Length"] ?? "-")")
    }
    router.delete("/items/{id}") { request in
        HTTPResponse(status: .noContent)
    }
    router.get("/sleep") { _ in
        try await Task.sleep(for: .seconds(5))
        return .text("late")
    }
    router.get("/big") { _ in
        HTTPResponse(body: [UInt8](repeating: 7, count: 100_000))
    }
    return router
}

/// A loopback port nothing listens on: bound, then closed again.
private func closedPort() throws -> Int {
    let server = try HTTPServer(router: Router())
    return server.port  // the listener closes when `server` is released
}

@Suite struct HTTPClientTests {
    @Test func getWithHeadersAndQuery() async throws {
        try await withServer(router: clientRouter()) { server in
            let client = try AsyncHTTPClient()
            let response = try await client.send(
                .get, "http://127.0.0.1:\(server.port)/hello/ana?mood=happy", headers: ["X-Custom": "yes"])
            #expect(response.status == .ok)
            #expect(try response.decodeJSON(Greeting.self) == Greeting(text: "hello ana happy"))
            #expect(response.headers["x-seen-header"] == "yes")
            #expect(response.headers["Content-Type"] == "application/json")
        }
    }

    @Test func postPutDeleteWithBodies() async throws {
        try await withServer(router: clientRouter()) { server in
            let client = try AsyncHTTPClient()
            let base = "http://127.0.0.1:\(server.port)"
            let created = try await client.send(
                .post, "\(base)/items", headers: ["Content-Type": "application/json"],
                body: Array(#"{"text":"hi"}"#.utf8))
            #expect(created.status == .created)
            #expect(created.headers["location"] == "/items/1")
            #expect(try created.decodeJSON(Greeting.self) == Greeting(text: "hi"))

            let invalid = try await client.send(.post, "\(base)/items", body: Array("{".utf8))
            #expect(invalid.status == .badRequest)
            #expect(invalid.bodyText.contains("invalid_json"))

            // Larger than curl's threshold for "Expect: 100-continue".
            let put = try await client.send(.put, "\(base)/items/9", body: [UInt8](repeating: 1, count: 300_000))
            #expect(put.bodyText == "put 9 300000 300000")

            let deleted = try await client.send(.delete, "\(base)/items/9")
            #expect(deleted.status == .noContent && deleted.body.isEmpty)

            let head = try await client.send(.head, "\(base)/hello/x")
            #expect(head.status == .ok && head.body.isEmpty)
            #expect(head.headers["Content-Length"] == "\(#"{"text":"hello x "}"#.utf8.count)")

            let missing = try await client.send(.get, "\(base)/nothing")
            #expect(missing.status == .notFound)
        }
    }

    @Test func reusesOneConnectionForConsecutiveRequests() async throws {
        try await withServer(router: clientRouter()) { server in
            let url = "http://127.0.0.1:\(server.port)/hello/x"
            let statuses = try await offPool {
                let client = try HTTPClient()
                return try (0..<3).map { _ in try client.send(.get, url).status.code }
            }
            #expect(statuses == [200, 200, 200])
            #expect(server.statistics.acceptedConnections == 1)
        }
    }

    @Test func connectionRefusedIsATypedError() async throws {
        let port = try closedPort()
        let client = try AsyncHTTPClient(configuration: .init(connectTimeout: .seconds(2)))
        let error = await #expect(throws: HTTPClientError.self) {
            try await client.send(.get, "http://127.0.0.1:\(port)/")
        }
        #expect(error?.kind == .couldNotConnect)
        #expect(error?.curlCode == 7)  // CURLE_COULDNT_CONNECT
        #expect(error?.message.isEmpty == false)
    }

    @Test func totalTimeoutAgainstASlowHandler() async throws {
        try await withServer(router: clientRouter()) { server in
            let client = try AsyncHTTPClient(configuration: .init(totalTimeout: .milliseconds(400)))
            let start = ContinuousClock.now
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.send(.get, "http://127.0.0.1:\(server.port)/sleep")
            }
            #expect(error?.kind == .timedOut)
            #expect(error?.curlCode == 28)  // CURLE_OPERATION_TIMEDOUT
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .milliseconds(400) && elapsed < .seconds(10))
            // The same client still works after a failure.
            let ok = try await client.send(.get, "http://127.0.0.1:\(server.port)/hello/again")
            #expect(ok.status == .ok)
        }
    }

    @Test func perRequestTimeoutOverridesTheConfiguration() async throws {
        try await withServer(router: clientRouter()) { server in
            let client = try AsyncHTTPClient()
            let start = ContinuousClock.now
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.send(.get, "http://127.0.0.1:\(server.port)/sleep", timeout: .milliseconds(200))
            }
            #expect(error?.kind == .timedOut)
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .milliseconds(200) && elapsed < .seconds(10))
        }
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        try await withServer(router: clientRouter()) { server in
            let client = try AsyncHTTPClient()
            let url = "http://127.0.0.1:\(server.port)/sleep"
            // Not a plain `Task`: that might wait for a busy cooperative pool.
            let task = Task(executorPreference: TestExecutor.shared) { try await client.send(.get, url) }
            try await Task.sleep(for: .milliseconds(200))
            let start = ContinuousClock.now
            task.cancel()
            let result = await task.result
            // curl polls its progress callback about once a second when idle.
            #expect(ContinuousClock.now - start < .seconds(10))
            #expect(throws: HTTPClientError.self) { try result.get() }
            #expect((try? result.get()) == nil)
            if case .failure(let error as HTTPClientError) = result {
                #expect(error.kind == .cancelled)
            }
        }
    }

    @Test func responseBodyLimit() async throws {
        try await withServer(router: clientRouter()) { server in
            let client = try AsyncHTTPClient(configuration: .init(maxResponseBodyBytes: 10_000))
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.send(.get, "http://127.0.0.1:\(server.port)/big")
            }
            #expect(error?.kind == .responseTooLarge)
            #expect(error?.curlCode == 23)  // CURLE_WRITE_ERROR
        }
    }

    @Test func invalidRequestsAreRejectedBeforeSending() async throws {
        let client = try AsyncHTTPClient()
        let badHeader = await #expect(throws: HTTPClientError.self) {
            try await client.send(.get, "http://127.0.0.1:1/", headers: ["X-Evil": "a\r\nInjected: yes"])
        }
        #expect(badHeader?.kind == .invalidRequest)
        let badScheme = await #expect(throws: HTTPClientError.self) {
            try await client.send(.get, "ftp://127.0.0.1:1/")
        }
        #expect(badScheme?.kind == .invalidRequest)
        #expect(badScheme?.curlCode == 1)  // CURLE_UNSUPPORTED_PROTOCOL
    }

    @Test func tlsOptionsAreApplied() async throws {
        try await withServer(router: clientRouter()) { server in
            // A CA bundle that does not exist, or TLS against a plain-HTTP port,
            // must surface as a TLS error rather than a response.
            let client = try AsyncHTTPClient(configuration: .init(caBundlePath: "/nonexistent/ca.pem"))
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.send(.get, "https://127.0.0.1:\(server.port)/hello/x")
            }
            #expect(error?.kind == .tls)
            let withCertificate = try AsyncHTTPClient(
                configuration: .init(clientCertificatePath: "/nonexistent/cert.pem", clientKeyPath: "/nonexistent/key.pem"))
            let certificateError = await #expect(throws: HTTPClientError.self) {
                try await withCertificate.send(.get, "https://127.0.0.1:\(server.port)/hello/x")
            }
            #expect(certificateError?.kind == .tls)
        }
    }
}
