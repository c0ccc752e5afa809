import Foundation
import KotoHTTP
import Testing

/// The threads of this process now (`Threads:` in /proc/self/status).
private func threadCount() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("Threads:") {
        return Int(line.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces))
    }
    return nil
}

@Suite struct HTTPServerIdleConnectionTests {
    /// Idle connections wait on the poller, not on a thread each: a
    /// thousand of them (half kept alive after a request, half never
    /// having sent a byte) leave the server serving a new client, and the
    /// kept-alive ones still serve their next request.
    @Test func aThousandIdleConnectionsDoNotStopANewClient() async throws {
        var router = Router()
        router.get("/ok") { _ in .text("ok") }
        router.get("/n/{n}") { request in .text("n=\(request.pathParameters["n"]!)") }
        try await withServer(router: router) { server in
            // One served request proves `run()` has started (and raised the descriptor limit).
            #expect(try await expectServes(port: server.port))
            let port = server.port
            let idle = 1000
            let threadsBefore = try #require(threadCount())
            let outcome = try await offPool {
                var clients: [RawClient] = []
                var firstAnswers: [String] = []
                for index in 0..<idle {
                    let client = try RawClient(port: port)
                    if index.isMultiple(of: 2) {
                        try client.send("GET /n/\(index) HTTP/1.1\r\nHost: t\r\n\r\n")
                        firstAnswers.append(try client.readResponse().text)
                    }
                    clients.append(client)
                }
                // Every one of them admitted and still open (none turned away).
                let deadline = ContinuousClock.now + .seconds(20)
                while server.statistics.acceptedConnections < idle + 1 && ContinuousClock.now < deadline {
                    Thread.sleep(forTimeInterval: 0.01)
                }
                let threadsWhileIdle = threadCount()
                let statistics = server.statistics

                let fresh = try RawClient(port: port)
                try fresh.send("GET /n/fresh HTTP/1.1\r\nHost: t\r\n\r\n")
                let freshAnswer = try fresh.readResponse()

                // A kept-alive one and a silent one still work.
                try clients[0].send("GET /n/again HTTP/1.1\r\nHost: t\r\n\r\n")
                let again = try clients[0].readResponse().text
                try clients[1].send("GET /n/late HTTP/1.1\r\nHost: t\r\n\r\n")
                let late = try clients[1].readResponse().text
                return (firstAnswers, statistics, threadsWhileIdle, freshAnswer, again, late)
            }
            let (firstAnswers, statistics, threadsWhileIdle, fresh, again, late) = outcome
            #expect(firstAnswers == stride(from: 0, to: idle, by: 2).map { "n=\($0)" })
            #expect(statistics.acceptedConnections == idle + 1)
            #expect(statistics.activeConnections >= idle)
            #expect(statistics.rejectedConnections == 0)
            #expect(fresh.status == 200 && fresh.text == "n=fresh")
            #expect(again == "n=again")
            #expect(late == "n=late")
            // A thread per idle connection would add a thousand; the poller adds none.
            let added = try #require(threadsWhileIdle) - threadsBefore
            #expect(added < 200, "idle connections must not hold a thread each (\(added) threads added)")
        }
    }
}
