import CCurl
import Dispatch
import Synchronization

/// A failed client request: the kind of failure, curl's own `CURLcode`,
/// and curl's message (from `CURLOPT_ERRORBUFFER`, else `curl_easy_strerror`).
public struct HTTPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The failure classes callers usually branch on; `curlCode` has the detail.
    public enum Kind: Sendable, Hashable {
        case couldNotResolveHost
        case couldNotConnect
        case timedOut
        /// Handshake, certificate or key problems.
        case tls
        /// The body exceeded `Configuration.maxResponseBodyBytes`.
        case responseTooLarge
        /// The awaiting task was cancelled.
        case cancelled
        /// The request itself was unusable (for example a header containing a line break).
        case invalidRequest
        case other
    }

    public let kind: Kind
    /// The raw `CURLcode` value.
    public let curlCode: Int
    public let message: String

    public init(kind: Kind, curlCode: Int, message: String) {
        self.kind = kind
        self.curlCode = curlCode
        self.message = message
    }

    public var description: String { "curl error \(curlCode): \(message)" }
}

/// A blocking HTTP client over one libcurl easy handle, so consecutive
/// requests to the same server reuse the connection (and TLS session).
/// Not `Sendable`: use it from one thread at a time, or use `AsyncHTTPClient`.
public final class HTTPClient {
    /// Timeouts, TLS material and limits applied to every request.
    public struct Configuration: Sendable, Hashable {
        /// Time allowed to establish the TCP (and TLS) connection.
        public var connectTimeout: Duration
        /// Time allowed for a whole request, connection included.
        public var totalTimeout: Duration
        /// PEM bundle of CAs to trust instead of the system store.
        public var caBundlePath: String?
        /// PEM client certificate, for servers that require mutual TLS.
        public var clientCertificatePath: String?
        /// PEM private key for `clientCertificatePath`.
        public var clientKeyPath: String?
        /// Responses with larger bodies fail with `.responseTooLarge`.
        public var maxResponseBodyBytes: Int

        public init(
            connectTimeout: Duration = .seconds(10),
            totalTimeout: Duration = .seconds(60),
            caBundlePath: String? = nil,
            clientCertificatePath: String? = nil,
            clientKeyPath: String? = nil,
            maxResponseBodyBytes: Int = 64 * 1024 * 1024
        ) {
            self.connectTimeout = connectTimeout
            self.totalTimeout = totalTimeout
            self.caBundlePath = caBundlePath
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
            self.maxResponseBodyBytes = maxResponseBodyBytes
        }
    }

    public let configuration: Configuration
    private let easy: CurlEasy

    /// Creates the easy handle (initialising libcurl once per process);
    /// fails only if libcurl cannot start.
    public init(configuration: Configuration = Configuration()) throws(HTTPClientError) {
        try CurlGlobal.ensureInitialized()
        self.configuration = configuration
        self.easy = try CurlEasy()
    }

    /// Performs one request and returns whatever status the server answered
    /// with; only transport failures throw. `timeout` overrides the
    /// configured total timeout for this request.
    public func send(
        _ method: HTTPMethod = .get,
        _ url: String,
        headers: HTTPHeaders = [:],
        body: [UInt8] = [],
        timeout: Duration? = nil
    ) throws(HTTPClientError) -> HTTPResponse {
        try send(method, url, headers: headers, body: body, timeout: timeout, cancellation: nil)
    }

    func send(
        _ method: HTTPMethod,
        _ url: String,
        headers: HTTPHeaders,
        body: [UInt8],
        timeout: Duration?,
        cancellation: CancellationFlag?,
        maxBodyBytes: Int? = nil,
        sink: ((UnsafeRawBufferPointer) -> Bool)? = nil
    ) throws(HTTPClientError) -> HTTPResponse {
        if cancellation?.isCancelled == true {
            throw HTTPClientError(kind: .cancelled, curlCode: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "cancelled")
        }
        let handle = easy.handle
        curl_easy_reset(handle)  // keeps live connections and caches, drops options
        easy.clearErrorMessage()
        let transfer = Transfer(maxBodyBytes: maxBodyBytes ?? configuration.maxResponseBodyBytes, cancellation: cancellation)
        transfer.sink = sink
        let headerList = CurlHeaderList()

        func check(_ code: CURLcode) throws(HTTPClientError) {
            if code != CURLE_OK { throw easy.error(for: code, transfer: transfer) }
        }
        try check(kotosync_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, easy.errorBuffer))
        try check(kotosync_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try check(kotosync_curl_setopt_string(handle, CURLOPT_URL, url))
        try check(kotosync_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        try check(kotosync_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(configuration.connectTimeout)))
        try check(kotosync_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(timeout ?? configuration.totalTimeout)))
        if let path = configuration.caBundlePath {
            try check(kotosync_curl_setopt_string(handle, CURLOPT_CAINFO, path))
        }
        if let path = configuration.clientCertificatePath {
            try check(kotosync_curl_setopt_string(handle, CURLOPT_SSLCERT, path))
        }
        if let path = configuration.clientKeyPath {
            try check(kotosync_curl_setopt_string(handle, CURLOPT_SSLKEY, path))
        }

        switch method {
        case .get where body.isEmpty:
            try check(kotosync_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        case .head:
            try check(kotosync_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
        default:
            if method != .post {
                try check(kotosync_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method.rawValue))
            }
            if !body.isEmpty || [.post, .put, .patch].contains(method) {
                // COPYPOSTFIELDS copies, so `body` need not outlive this call.
                try check(kotosync_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
                let code = body.isEmpty
                    ? kotosync_curl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, "")
                    : body.withUnsafeBytes {
                        kotosync_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress))
                    }
                try check(code)
            }
        }

        for field in headers {
            guard !field.name.isEmpty, !field.name.contains(where: { $0 == ":" || $0.isWhitespace || $0.isNewline }),
                  !field.value.contains(where: \.isNewline), !field.value.contains("\0")
            else {
                throw HTTPClientError(
                    kind: .invalidRequest, curlCode: Int(CURLE_BAD_FUNCTION_ARGUMENT.rawValue),
                    message: "invalid header field '\(field.name)'")
            }
            // "Name;" is curl's way to send a header with an empty value.
            try headerList.append(field.value.isEmpty ? "\(field.name);" : "\(field.name): \(field.value)")
        }
        if !headers.contains("Expect") {
            // Without this curl waits up to a second for "100 Continue" on larger bodies.
            try headerList.append("Expect:")
        }
        try check(kotosync_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList.list))

        let context = Unmanaged.passUnretained(transfer).toOpaque()
        try check(kotosync_curl_setopt_write_function(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
        })
        try check(kotosync_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        try check(kotosync_curl_setopt_write_function(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
        })
        try check(kotosync_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        if cancellation != nil {
            try check(kotosync_curl_setopt_xferinfo_function(handle) { context, _, _, _, _ in
                let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
                return transfer.cancellation?.isCancelled == true ? 1 : 0
            })
            try check(kotosync_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context))
            try check(kotosync_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0))
        }

        // Both must stay alive while curl holds pointers to them.
        let code = withExtendedLifetime((transfer, headerList)) { curl_easy_perform(handle) }
        try check(code)
        var status = 0
        try check(kotosync_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status))
        return HTTPResponse(status: HTTPStatus(status), headers: transfer.headers, body: transfer.body)
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        max(1, Int(duration.roundedUpMilliseconds))
    }
}

/// A `Sendable` front for `HTTPClient`: requests run one at a time on a
/// private serial queue, off Swift's cooperative pool (curl blocks), and
/// cancelling the awaiting task aborts the transfer.
public final class AsyncHTTPClient: Sendable {
    let client: Mutex<HTTPClient>
    let queue = DispatchQueue(label: "kotohttp.client")

    /// One `HTTPClient`, hence one connection cache, shared by all callers.
    public init(configuration: HTTPClient.Configuration = HTTPClient.Configuration()) throws(HTTPClientError) {
        client = Mutex(try HTTPClient(configuration: configuration))
    }

    /// See `HTTPClient.send`; cancellation throws `.cancelled`.
    public func send(
        _ method: HTTPMethod = .get,
        _ url: String,
        headers: HTTPHeaders = [:],
        body: [UInt8] = [],
        timeout: Duration? = nil
    ) async throws(HTTPClientError) -> HTTPResponse {
        let cancellation = CancellationFlag()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponse, HTTPClientError>, Never>) in
                queue.async { [self] in
                    let result = client.withLock { client in
                        Result { () throws(HTTPClientError) in
                            try client.send(
                                method, url, headers: headers, body: body, timeout: timeout, cancellation: cancellation)
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

/// Set from any thread to make the transfer in progress abort.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// Makes `curl_global_init` run exactly once per process, before any handle.
enum CurlGlobal {
    private static let result: CURLcode = kotosync_curl_global_init_default()

    static func ensureInitialized() throws(HTTPClientError) {
        let code = result
        guard code == CURLE_OK else {
            throw HTTPClientError(kind: .other, curlCode: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)))
        }
    }
}

/// Sole owner of a `CURL*` easy handle and its error buffer.
final class CurlEasy {
    let handle: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>

    init() throws(HTTPClientError) {
        guard let handle = curl_easy_init() else {
            throw HTTPClientError(
                kind: .other, curlCode: Int(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed")
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    func clearErrorMessage() { errorBuffer[0] = 0 }

    /// The typed error for a failed call, with the most specific message.
    func error(for code: CURLcode, transfer: Transfer) -> HTTPClientError {
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        let kind: HTTPClientError.Kind
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            kind = .couldNotResolveHost
        case CURLE_COULDNT_CONNECT:
            kind = .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timedOut
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND,
             CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_CRL_BADFILE,
             CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_SHUTDOWN_FAILED,
             CURLE_USE_SSL_FAILED:
            kind = .tls
        case CURLE_WRITE_ERROR where transfer.bodyTooLarge:
            return HTTPClientError(
                kind: .responseTooLarge, curlCode: Int(code.rawValue),
                message: "response body exceeds \(transfer.maxBodyBytes) bytes")
        case CURLE_ABORTED_BY_CALLBACK where transfer.cancellation?.isCancelled == true:
            kind = .cancelled
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT:
            kind = .invalidRequest
        default:
            kind = .other
        }
        return HTTPClientError(kind: kind, curlCode: Int(code.rawValue), message: message)
    }
}

/// Sole owner of a `curl_slist` of request headers.
final class CurlHeaderList {
    private(set) var list: UnsafeMutablePointer<curl_slist>?

    func append(_ line: String) throws(HTTPClientError) {
        guard let extended = curl_slist_append(list, line) else {
            throw HTTPClientError(
                kind: .other, curlCode: Int(CURLE_OUT_OF_MEMORY.rawValue), message: "curl_slist_append failed")
        }
        list = extended
    }

    deinit { curl_slist_free_all(list) }
}

/// What curl's callbacks collect during one transfer (on the calling thread).
final class Transfer {
    let maxBodyBytes: Int
    let cancellation: CancellationFlag?
    private(set) var body: [UInt8] = []
    private(set) var headers = HTTPHeaders()
    private(set) var bodyTooLarge = false
    /// Set for a streamed receive: a 2xx body goes here as it arrives instead of into `body`.
    var sink: ((UnsafeRawBufferPointer) -> Bool)?
    /// The status of the response whose headers arrive last (a 1xx or redirect is replaced by the next).
    private(set) var status = 0
    /// Body bytes handed to `sink` so far.
    private(set) var streamedBytes = 0

    init(maxBodyBytes: Int, cancellation: CancellationFlag?) {
        self.maxBodyBytes = maxBodyBytes
        self.cancellation = cancellation
    }

    /// Returns the bytes taken; anything else makes curl fail the transfer.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        if let sink, (200..<300).contains(status) {
            guard streamedBytes + bytes.count <= maxBodyBytes else {
                bodyTooLarge = true
                return 0
            }
            streamedBytes += bytes.count
            return sink(bytes) ? bytes.count : 0
        }
        guard body.count + bytes.count <= maxBodyBytes else {
            bodyTooLarge = true
            return 0
        }
        body.append(contentsOf: bytes)
        return bytes.count
    }

    /// Called per header line, including status lines of interim (1xx) and
    /// redirect responses: a status line starts the header set afresh.
    func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) -> Int {
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            headers = HTTPHeaders()
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        } else if let first = line.first, first == " " || first == "\t", let last = headers.fields.last {
            // Obsolete folding: continuation of the previous field's value.
            headers.remove(last.name)
            headers.add(name: last.name, value: last.value + " " + line.trimmingASCIIWhitespace().trimmingLineBreaks())
        } else if let colon = line.firstIndex(of: ":") {
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingLineBreaks().trimmingASCIIWhitespace()
            headers.add(name: name, value: value)
        }
        return bytes.count
    }
}

extension StringProtocol {
    fileprivate func trimmingLineBreaks() -> String {
        var text = Substring(self)
        while let last = text.last, last == "\r" || last == "\n" || last == "\r\n" { text = text.dropLast() }
        return String(text)
    }
}
