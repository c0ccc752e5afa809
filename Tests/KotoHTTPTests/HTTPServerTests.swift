import Foundation
import KotoHTTP
import Testing

private struct SecretError: Error, CustomStringConvertible {
    var description: String { "database password is hunter2" }
}

private struct Item: Codable, Equatable {
    var kind: String
    var id: String
    var q: String?
}

/// The routes most server tests share.
private func testRouter() -> Router {
    var router = Router()
    router.get("/ok") { _ in .text("ok") }
    router.get("/v1/{kind}/{id}") { request in
        try .json(Item(kind: request.pathParameters["kind"]!, id: request.pathParameters["id"]!, q: request.query("q")))
    }
    router.post("/echo") { request in
        HTTPResponse(
            status: .created,
            headers: ["X-Echo": request.headers["x-test"] ?? "", "Content-Type": "application/octet-stream"],
            body: request.body)
    }
    router.get("/fail/http") { _ in throw HTTPError(.conflict, code: "already_there", message: "it exists") }
    router.get("/fail/other") { _ in throw SecretError() }
    router.get("/sleep") { request in
        try await Task.sleep(for: .milliseconds(Int(request.query("ms") ?? "0")!))
        return .text("slept")
    }
    return router
}

/// Short timeouts so the timeout tests finish quickly.
private func quickLimits() -> HTTPServer.Limits {
    HTTPServer.Limits(
        maxHeaderBytes: 2048, maxHeaderCount: 20, maxBodyBytes: 1024,
        idleTimeout: .seconds(5), requestTimeout: .seconds(5), writeTimeout: .seconds(5), maxConnections: 100)
}

@Suite struct HTTPServerTests {
    @Test func bindsAnEphemeralPort() async throws {
        let server = try HTTPServer(router: testRouter())
        #expect(server.port > 0)
        #expect(server.host == "127.0.0.1")
        #expect(throws: HTTPServerError.invalidAddress("not-an-address")) {
            try HTTPServer(host: "not-an-address", router: Router())
        }
        // A port in use cannot be bound twice.
        #expect(throws: SystemCallError.self) { try HTTPServer(port: server.port, router: Router()) }
    }

    @Test func routesPathParametersAndQuery() async throws {
        try await withServer(router: testRouter()) { server in
            let response = try await request(
                port: server.port, "GET /v1/notes/a%20b?q=hello+world%21&x=1 HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == "application/json")
            let item = try JSONDecoder().decode(Item.self, from: Data(response.body))
            #expect(item == Item(kind: "notes", id: "a b", q: "hello world!"))
        }
    }

    @Test func keepAliveServesTwoRequestsOnOneConnection() async throws {
        try await withServer(router: testRouter()) { server in
            let (first, second) = try await offPool {
                let client = try RawClient(port: server.port)
                try client.send("GET /ok HTTP/1.1\r\nHost: test\r\n\r\n")
                let first = try client.readResponse()
                try client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nX-Test: two\r\n\r\nhello")
                return (first, try client.readResponse())
            }
            #expect(first.status == 200 && first.text == "ok")
            #expect(first.headers["connection"] == nil)
            #expect(second.status == 201 && second.text == "hello" && second.headers["x-echo"] == "two")
            #expect(server.statistics.acceptedConnections == 1)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withServer(router: testRouter()) { server in
            let responses = try await offPool {
                let client = try RawClient(port: server.port)
                try client.send(
                    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                        + "GET /v1/a/b HTTP/1.1\r\nHost: t\r\n\r\n"
                        + "GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                let responses = try (0..<3).map { _ in try client.readResponse() }
                return (responses, client.closesWithoutData())
            }
            #expect(responses.0.map(\.status) == [201, 200, 200])
            #expect(responses.0[0].text == "abc")
            #expect(responses.0[2].headers["connection"] == "close")
            #expect(responses.1, "Connection: close must close after the response")
        }
    }

    @Test func headRequestGetsHeadersOfGetWithoutBody() async throws {
        try await withServer(router: testRouter()) { server in
            let (head, next) = try await offPool {
                let client = try RawClient(port: server.port)
                try client.send("HEAD /ok HTTP/1.1\r\nHost: t\r\n\r\n")
                let head = try client.readResponse(head: true)
                // If a body had been sent it would be parsed as the next response.
                try client.send("GET /v1/x/y HTTP/1.1\r\nHost: t\r\n\r\n")
                return (head, try client.readResponse())
            }
            #expect(head.status == 200 && head.headers["content-length"] == "2" && head.body.isEmpty)
            #expect(next.status == 200)
        }
    }

    @Test func overLongHeadersGet431() async throws {
        try await withServer(limits: quickLimits(), router: testRouter()) { server in
            let long = "GET /ok HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "a", count: 4000))\r\n\r\n"
            let (response, closed) = try await requestExpectingClose(port: server.port, Array(long.utf8))
            #expect(response.status == 431)
            #expect(response.errorCode == "headers_too_large")
            #expect(response.headers["content-type"] == "application/json")
            #expect(closed)
            // Also when the head never ends.
            let endless = "GET /ok HTTP/1.1\r\nX: \(String(repeating: "b", count: 3000))"
            let (second, _) = try await requestExpectingClose(port: server.port, Array(endless.utf8))
            #expect(second.status == 431)
            #expect(try await expectServes(port: server.port))
        }
    }

    @Test func tooManyHeadersGet431() async throws {
        try await withServer(limits: quickLimits(), router: testRouter()) { server in
            let headers = (0..<21).map { "X-H\($0): v\r\n" }.joined()
            let (response, closed) = try await requestExpectingClose(
                port: server.port, Array("GET /ok HTTP/1.1\r\nHost: t\r\n\(headers)\r\n".utf8))
            #expect(response.status == 431)
            #expect(response.errorCode == "headers_too_large")
            #expect(closed)
            #expect(try await expectServes(port: server.port))
        }
    }

    @Test func oversizedBodyGets413BeforeTheBodyIsRead() async throws {
        try await withServer(limits: quickLimits(), router: testRouter()) { server in
            // Only the head is sent: the verdict must come from Content-Length alone.
            let (response, closed) = try await requestExpectingClose(
                port: server.port, Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n".utf8))
            #expect(response.status == 413)
            #expect(response.errorCode == "body_too_large")
            #expect(closed)
            // With the body sent too, the response must survive the unread bytes.
            let body = [UInt8](repeating: 65, count: 200_000)
            let (second, _) = try await requestExpectingClose(
                port: server.port, Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n".utf8) + body)
            #expect(second.status == 413)
            // The limit itself is allowed.
            let exact = try await request(
                port: server.port,
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n" + String(repeating: "z", count: 1024))
            #expect(exact.status == 201 && exact.body.count == 1024)
        }
    }

    @Test func chunkedRequestGets411() async throws {
        try await withServer(router: testRouter()) { server in
            let (response, closed) = try await requestExpectingClose(
                port: server.port,
                Array("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".utf8))
            #expect(response.status == 411)
            #expect(response.errorCode == "length_required")
            #expect(closed)
            #expect(try await expectServes(port: server.port))
        }
    }

    @Test func tricklingClientGets408AtTheTotalDeadline() async throws {
        var limits = quickLimits()
        limits.requestTimeout = .milliseconds(800)
        try await withServer(limits: limits, router: testRouter()) { server in
            let (response, sent, elapsed) = try await offPool {
                let client = try RawClient(port: server.port)
                let bytes = Array("GET /ok HTTP/1.1\r\nHost: t\r\nX-Slow: \(String(repeating: "s", count: 60))\r\n\r\n".utf8)
                let start = ContinuousClock.now
                var sent = 0
                // One byte every 50 ms: each read is quick, only the total is slow.
                while sent < bytes.count && !client.isReadable(withinMilliseconds: 50) {
                    try client.send([bytes[sent]])
                    sent += 1
                }
                let response = try client.readResponse()
                return (response, sent, ContinuousClock.now - start)
            }
            #expect(response.status == 408)
            #expect(response.errorCode == "request_timeout")
            #expect(sent < 99, "cut off before the request was complete")
            // Lower bound strict (the deadline is 800 ms from the first byte);
            // the upper one allows for a heavily loaded machine.
            #expect(elapsed >= .milliseconds(700) && elapsed < .seconds(10))
            #expect(try await expectServes(port: server.port))
        }
    }

    @Test func slowBodyGets408() async throws {
        var limits = quickLimits()
        limits.requestTimeout = .milliseconds(500)
        try await withServer(limits: limits, router: testRouter()) { server in
            let (response, closed) = try await requestExpectingClose(
                port: server.port, Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc".utf8))
            #expect(response.status == 408)
            #expect(closed)
        }
    }

    @Test(arguments: [
        "\u{1}\u{2}garbage\u{ff}\r\n\r\n",
        "GET /ok\r\n\r\n",
        "GET /ok HTTP/1.1 extra\r\nHost: t\r\n\r\n",
        "GET  /ok HTTP/1.1\r\nHost: t\r\n\r\n",
        "G(T /ok HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET ok HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /ok HTTX/1.1\r\nHost: t\r\n\r\n",
        "GET /ok HTTP/1.1\r\nHost t\r\n\r\n",
        "GET /ok HTTP/1.1\r\nHost: t\r\nBad Name: v\r\n\r\n",
        "GET /ok HTTP/1.1\r\nHost: t\r\nX: a\r\n folded\r\n\r\n",
        "GET /ok HTTP/1.1\r\nHost: t\r\nX: a\u{0}b\r\n\r\n",
        "GET /ok HTTP/1.1\r\n\r\n",
        "GET /ok%zz HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    ])
    func malformedRequestsGet400AndClose(_ raw: String) async throws {
        try await withServer(router: testRouter()) { server in
            let (response, closed) = try await requestExpectingClose(port: server.port, Array(raw.utf8))
            #expect(response.status == 400)
            #expect(response.errorCode == "bad_request")
            #expect(response.headers["connection"] == "close")
            #expect(closed)
            #expect(try await expectServes(port: server.port))
        }
    }

    @Test func unsupportedVersionGets505() async throws {
        try await withServer(router: testRouter()) { server in
            let (response, _) = try await requestExpectingClose(
                port: server.port, Array("GET /ok HTTP/2.0\r\nHost: t\r\n\r\n".utf8))
            #expect(response.status == 505)
        }
    }

    @Test func wrongMethodGets405AndUnknownPathGets404() async throws {
        try await withServer(router: testRouter()) { server in
            let (wrong, unknown, after) = try await offPool {
                let client = try RawClient(port: server.port)
                try client.send("DELETE /ok HTTP/1.1\r\nHost: t\r\n\r\n")
                let wrong = try client.readResponse()
                try client.send("GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n")
                let unknown = try client.readResponse()
                // Routing errors do not cost the connection.
                try client.send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
                return (wrong, unknown, try client.readResponse())
            }
            #expect(wrong.status == 405)
            #expect(wrong.errorCode == "method_not_allowed")
            #expect(wrong.headers["allow"] == "GET, HEAD")
            #expect(unknown.status == 404)
            #expect(unknown.errorCode == "not_found")
            #expect(unknown.headers["content-type"] == "application/json")
            #expect(after.status == 200)
        }
    }

    @Test func handlerErrorsBecomeJSONResponses() async throws {
        try await withServer(router: testRouter()) { server in
            let typed = try await request(port: server.port, "GET /fail/http HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(typed.status == 409)
            #expect(typed.errorCode == "already_there")
            #expect(typed.errorMessage == "it exists")
            #expect(typed.headers["content-type"] == "application/json")

            let other = try await request(port: server.port, "GET /fail/other HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(other.status == 500)
            #expect(other.text == #"{"error":{"code":"internal","message":"internal error"}}"#)
            #expect(!other.text.contains("hunter2"))
            #expect(try await expectServes(port: server.port))
        }
    }

    @Test func expectContinueGetsInterimResponse() async throws {
        try await withServer(router: testRouter()) { server in
            let (interim, final) = try await offPool {
                let client = try RawClient(port: server.port)
                try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
                let interim = try client.readResponse(interim: true)
                try client.send("body")
                return (interim, try client.readResponse())
            }
            #expect(interim.status == 100)
            #expect(final.status == 201 && final.text == "body")
        }
    }

    @Test func http10ClosesUnlessKeepAliveIsAsked() async throws {
        try await withServer(router: testRouter()) { server in
            let (plain, closed, kept) = try await offPool {
                let first = try RawClient(port: server.port)
                try first.send("GET /ok HTTP/1.0\r\n\r\n")
                let plain = try first.readResponse()
                let second = try RawClient(port: server.port)
                try second.send("GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                let kept = try second.readResponse()
                try second.send("GET /ok HTTP/1.0\r\n\r\n")
                _ = try second.readResponse()
                return (plain, first.closesWithoutData(), kept)
            }
            #expect(plain.status == 200 && plain.headers["connection"] == "close")
            #expect(closed)
            #expect(kept.headers["connection"] == "keep-alive")
        }
    }

    @Test func idleKeepAliveConnectionIsClosedSilently() async throws {
        var limits = quickLimits()
        limits.idleTimeout = .milliseconds(300)
        try await withServer(limits: limits, router: testRouter()) { server in
            let (response, closed, elapsed) = try await offPool {
                let client = try RawClient(port: server.port)
                try client.send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
                let response = try client.readResponse()
                let start = ContinuousClock.now
                return (response, client.closesWithoutData(), ContinuousClock.now - start)
            }
            #expect(response.status == 200)
            #expect(closed)
            #expect(elapsed >= .milliseconds(200) && elapsed < .seconds(10))
        }
    }

    @Test func silentNewConnectionIsClosedAtTheRequestTimeout() async throws {
        var limits = quickLimits()
        limits.idleTimeout = .seconds(30)
        limits.requestTimeout = .milliseconds(300)
        try await withServer(limits: limits, router: testRouter()) { server in
            let (closed, elapsed) = try await offPool {
                let client = try RawClient(port: server.port)
                let start = ContinuousClock.now
                return (client.closesWithoutData(), ContinuousClock.now - start)
            }
            #expect(closed)
            #expect(elapsed >= .milliseconds(200) && elapsed < .seconds(10))
        }
    }

    @Test func manyConcurrentClientsAreServedWhileASlowOneHoldsAConnection() async throws {
        let clients = 50
        let rendezvous = Rendezvous()
        var router = testRouter()
        router.get("/together") { _ in
            // Answers "all" only if every client's request is in flight at once.
            await rendezvous.arrive(waitingFor: clients, timeout: .seconds(10)) ? .text("all") : .text("some")
        }
        try await withServer(router: router) { server in
            let (bodies, slow) = try await offPool {
                let slow = try RawClient(port: server.port)
                try slow.send("GET /ok HTTP/1.1\r\nHo")
                let connections = try (0..<clients).map { _ in try RawClient(port: server.port) }
                for connection in connections {
                    try connection.send("GET /together HTTP/1.1\r\nHost: t\r\n\r\n")
                }
                let bodies = try connections.map { try $0.readResponse().text }
                try slow.send("st: t\r\n\r\n")
                return (bodies, try slow.readResponse())
            }
            #expect(bodies == Array(repeating: "all", count: clients))
            #expect(slow.status == 200 && slow.text == "ok")
            #expect(server.statistics.acceptedConnections == clients + 1)
        }
    }

    @Test func connectionsBeyondTheLimitGet503() async throws {
        var limits = quickLimits()
        limits.maxConnections = 2
        try await withServer(limits: limits, router: testRouter()) { server in
            let (rejected, closed) = try await offPool {
                // Two admitted (each proven by a served request) and held open.
                let held = try (0..<2).map { _ in try RawClient(port: server.port) }
                for client in held {
                    try client.send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
                    _ = try client.readResponse()
                }
                let extra = try RawClient(port: server.port)
                return (try extra.readResponse(), extra.closesWithoutData())
            }
            #expect(rejected.status == 503)
            #expect(rejected.errorCode == "too_many_connections")
            #expect(closed)
            #expect(server.statistics.rejectedConnections == 1)
            // Once the held connections are gone, service resumes.
            let deadline = ContinuousClock.now + .seconds(10)
            while server.statistics.activeConnections > 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(try await expectServes(port: server.port))
        }
    }

    @Test func shutdownFinishesInFlightRequestsAndClosesIdleOnes() async throws {
        let started = Signal()
        var router = testRouter()
        router.get("/slow") { _ in
            started.fire()
            try await Task.sleep(for: .milliseconds(300))
            return .text("finished")
        }
        let server = try HTTPServer(router: router)
        try await onTestThreads {
            let running = startServer(server)
            let port = server.port
            let idleReady = Signal()
            async let idle: Bool = offPool {
                let client = try RawClient(port: port)
                try client.send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
                _ = try client.readResponse()
                idleReady.fire()
                return client.closesWithoutData()
            }
            async let inFlight = request(port: port, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            await idleReady.wait()
            await started.wait()
            let shutdownStart = ContinuousClock.now
            server.shutdown(gracePeriod: .seconds(5))
            let response = try await inFlight
            #expect(response.status == 200 && response.text == "finished")
            #expect(response.headers["connection"] == "close")
            #expect(try await idle)
            try await running.value
            #expect(ContinuousClock.now - shutdownStart < .seconds(10))
            // The listener is closed.
            await #expect(throws: RawClientError.self) {
                try await request(port: port, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
            }
            await #expect(throws: HTTPServerError.alreadyStarted) { try await server.run() }
        }
    }

    @Test func shutdownAbandonsHandlersPastTheGracePeriod() async throws {
        let cancelled = Signal()
        let started = Signal()
        var router = Router()
        router.get("/stuck") { _ in
            started.fire()
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                cancelled.fire()
                throw error
            }
            return .text("late")
        }
        let server = try HTTPServer(router: router)
        try await onTestThreads {
            let running = startServer(server)
            let port = server.port
            async let stuck: Bool = offPool {
                let client = try RawClient(port: port)
                try client.send("GET /stuck HTTP/1.1\r\nHost: t\r\n\r\n")
                return client.closesWithoutData()
            }
            await started.wait()
            let start = ContinuousClock.now
            server.shutdown(gracePeriod: .milliseconds(200))
            try await running.value
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .milliseconds(200) && elapsed < .seconds(10))
            #expect(try await stuck)
            await cancelled.wait()
        }
    }

    @Test func cancellingRunShutsTheServerDown() async throws {
        let server = try HTTPServer(router: testRouter())
        try await onTestThreads {
            let running = startServer(server)
            #expect(try await expectServes(port: server.port))
            running.cancel()
            try await running.value
            await #expect(throws: RawClientError.self) {
                try await request(port: server.port, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
            }
        }
    }
}
