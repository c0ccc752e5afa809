import CCurl
import Dispatch
import Glibc
import Synchronization

/// Receiving a large body as it arrives (a replica's snapshot), never whole
/// in memory: a 2xx body goes to a sink piece by piece, any other status's
/// body (an error's JSON) is returned as usual.
extension HTTPClient {
    /// Like `send`, but a 2xx body goes to `sink` as curl delivers it (the
    /// returned response's body is then empty). `sink` returning false, or
    /// the body passing `maxBodyBytes`, aborts the transfer; `timeout`
    /// bounds the whole transfer.
    public func receive(
        _ method: HTTPMethod = .get, _ url: String, headers: HTTPHeaders = [:], body: [UInt8] = [],
        timeout: Duration? = nil, maxBodyBytes: Int, into sink: (UnsafeRawBufferPointer) -> Bool
    ) throws(HTTPClientError) -> HTTPResponse {
        try withoutActuallyEscaping(sink) { sink throws(HTTPClientError) in
            try send(method, url, headers: headers, body: body, timeout: timeout, cancellation: nil,
                     maxBodyBytes: maxBodyBytes, sink: sink)
        }
    }
}

extension AsyncHTTPClient {
    /// Receives a 2xx body into the file at `path` (created or truncated,
    /// mode 0600) as it arrives; see `HTTPClient.receive`. A transfer that
    /// fails or is cut off throws and leaves the file incomplete (the
    /// caller removes it). Cancellation throws `.cancelled`.
    public func download(
        _ method: HTTPMethod = .get, _ url: String, headers: HTTPHeaders = [:], body: [UInt8] = [],
        timeout: Duration? = nil, maxBodyBytes: Int, toFile path: String
    ) async throws(HTTPClientError) -> HTTPResponse {
        let cancellation = CancellationFlag()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponse, HTTPClientError>, Never>) in
                queue.async { [self] in
                    let result = client.withLock { client in
                        Result { () throws(HTTPClientError) in
                            let file = try DownloadFile(path: path)
                            let response = try withoutActuallyEscaping({ (bytes: UnsafeRawBufferPointer) in file.write(bytes) }) {
                                sink throws(HTTPClientError) in
                                try client.send(method, url, headers: headers, body: body, timeout: timeout, cancellation: cancellation,
                                                maxBodyBytes: maxBodyBytes, sink: sink)
                            }
                            if let failure = file.failure {
                                throw HTTPClientError(kind: .other, curlCode: Int(CURLE_WRITE_ERROR.rawValue), message: failure)
                            }
                            return response
                        }
                    }
                    continuation.resume(returning: result)
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
        return try result.get()
    }
}

/// Sole owner of the descriptor a download writes to.
final class DownloadFile {
    private let descriptor: Int32
    /// Why a write failed, if one did (the transfer then aborts).
    private(set) var failure: String?

    init(path: String) throws(HTTPClientError) {
        let opened = try? systemCall("open") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }.get("open")
        guard let opened else {
            throw HTTPClientError(kind: .other, curlCode: Int(CURLE_WRITE_ERROR.rawValue), message: "cannot create \(path)")
        }
        descriptor = opened
    }

    deinit { Glibc.close(descriptor) }

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            do {
                let written = try systemCall("write") {
                    Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                }.get("write")
                offset += written
            } catch {
                failure = "cannot write the download: \(error)"
                return false
            }
        }
        return true
    }
}
