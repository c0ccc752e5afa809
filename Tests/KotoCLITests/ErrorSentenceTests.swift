import Foundation
import KotoCore
import KotoHTTP
import Testing
@testable import KotoCLI

/// An HTTP error reads as one sentence: the server's message, each
/// problem's field and reason, status and code. Transport failures map to
/// exit 3 (unreachable) or 1.
@Suite struct ErrorSentenceTests {
    func response(_ status: HTTPStatus, _ body: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: Array(body.utf8))
    }

    @Test func validationProblemsAreNamedFieldByField() {
        let body = #"{"error":{"code":"validation_failed","message":"2 problems with the record","problems":[{"field":"birthDate","reason":"is required"},{"field":"status","reason":"must be one of: new, closed"}]}}"#
        #expect(ServerError.sentence(for: response(.unprocessableContent, body), sentToken: true)
            == "2 problems with the record — birthDate: is required; status: must be one of: new, closed (HTTP 422 validation_failed)")
    }

    @Test func aPlainErrorKeepsItsMessageAndCode() {
        let body = #"{"error":{"code":"not_found","message":"no client 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10."}}"#
        let error = CLIError.failure(ServerError.sentence(for: response(.notFound, body), sentToken: true))
        #expect(error.description == "kotosync: no client 0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10 (HTTP 404 not_found).")
        #expect(error.status == .failure)
    }

    @Test func a401WithoutATokenSaysHowToGiveOne() {
        let body = #"{"error":{"code":"unauthorized","message":"a valid bearer token is required"}}"#
        #expect(ServerError.sentence(for: response(.unauthorized, body), sentToken: false)
            == "a valid bearer token is required (HTTP 401 unauthorized); no token was given: use --token-file FILE or KOTOSYNC_TOKEN")
        #expect(ServerError.sentence(for: response(.unauthorized, body), sentToken: true)
            == "a valid bearer token is required (HTTP 401 unauthorized)")
    }

    @Test func aBodyThatIsNotAnErrorDocumentIsNotEchoed() {
        let html = HTTPResponse(status: 502, headers: ["Content-Type": "text/html"], body: Array("<h1>Bad gateway: secret</h1>".utf8))
        let sentence = ServerError.sentence(for: html, sentToken: true)
        #expect(sentence == "the server answered HTTP 502 Bad Gateway without an error message")
    }

    @Test func controlCharactersInAServerMessageAreNeutralised() {
        let body = #"{"error":{"code":"x","message":"bad\u001b[2Jthing\nhere"}}"#
        let sentence = ServerError.sentence(for: response(.badRequest, body), sentToken: true)
        #expect(sentence == "bad [2Jthing here (HTTP 400 x)")
    }

    @Test func transportFailuresMapToTheirExitStatus() throws {
        let client = try DaemonClient(settings: Settings(baseURL: "http://user:pw@127.0.0.1:9", timeoutSeconds: 4))
        let cases: [(HTTPClientError.Kind, ExitCode)] = [
            (.couldNotConnect, .unreachable), (.couldNotResolveHost, .unreachable), (.timedOut, .unreachable),
            (.tls, .failure), (.other, .failure), (.responseTooLarge, .failure),
        ]
        for (kind, status) in cases {
            let error = client.transportError(HTTPClientError(kind: kind, curlCode: 7, message: "detail"))
            #expect(error.status == status, "\(kind)")
            #expect(!error.description.contains("pw"), "the URL's password is not shown")
            #expect(error.description.contains("http://127.0.0.1:9"))
        }
        #expect(client.transportError(HTTPClientError(kind: .timedOut, curlCode: 28, message: "")).message
            == "the daemon at http://127.0.0.1:9 did not answer within 4 s (see --timeout)")
    }

    @Test func urlsArePercentEncoded() {
        #expect(URLText.query([QueryItem("familyName", "Öst & Väst=1")]) == "?familyName=%C3%96st%20%26%20V%C3%A4st%3D1")
        #expect(URLText.path("v1", "conflicts", "clients:x/../y:status", "resolve") == "/v1/conflicts/clients%3Ax%2F..%2Fy%3Astatus/resolve")
        #expect(URLText.query([]) == "")
        #expect(URLText.withoutUserInfo("https://a:b@host:1/x") == "https://host:1/x")
    }
}
