// libFuzzer harness for KotoHTTP's request head parsing (built by
// deploy/fuzz.sh), the steps a connection takes for each request: find
// the end of the head (also scanning in two pieces, as a connection does
// while bytes arrive), parse it, decide the framing, build the request
// (target, path, query), and serialise a response that echoes its headers.
// Any input must be accepted or refused with an HTTPError, never trap.
@testable import KotoHTTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let end = RequestParser.headEnd(in: bytes)
    // Incremental scanning from where the previous piece stopped finds the same end.
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let firstPiece = Array(bytes[..<split])
    let incremental = RequestParser.headEnd(in: firstPiece) ?? RequestParser.headEnd(in: bytes, from: max(0, firstPiece.count - 2))
    precondition(incremental == end, "scanning in two pieces finds another end of the head")
    guard let end else { return 0 }
    do {
        let head = try RequestParser.parse(bytes[..<end], maxHeaderCount: 100)
        let framing = try RequestParser.framing(of: head, maxBodyBytes: 4 * 1024 * 1024)
        precondition(framing.contentLength >= 0 && framing.contentLength <= 4 * 1024 * 1024, "framing allows an impossible body")
        let request = try HTTPRequest(method: head.method, target: head.target, headers: head.headers)
        _ = request.query("a")
        var response = HTTPResponse(status: .ok, headers: [:], body: Array(request.path.utf8))
        for field in head.headers { response.headers.add(name: field.name, value: field.value) }
        let wire = ResponseWriter.serialize(response, keepAlive: framing.keepAlive, minorVersion: head.minorVersion, includeBody: true)
        // Whatever the request held, the response head has no line break but its own.
        if let blank = RequestParser.headEnd(in: wire) {
            let lines = wire[..<blank].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            for line in lines.dropLast() {
                precondition(line.last == UInt8(ascii: "\r") && !line.dropLast().contains(UInt8(ascii: "\r")), "a response line is split")
            }
        }
    } catch {
        // An HTTPError with a client status is the expected refusal.
        let status = (error as any Error as? HTTPError)?.status.code ?? 0
        precondition((400...599).contains(status), "a refusal that is no HTTPError with an error status")
    }
    return 0
}
