import COpenSSL

/// A failed cryptographic or key-file operation, as data: what was being
/// done and why it failed (OpenSSL's own error string, or the system's).
public struct CryptoError: Error, Sendable, CustomStringConvertible {
    /// The operation that failed, such as `"EVP_DigestSign"` or `"SigningKey.load(/etc/key)"`.
    public let operation: String
    /// Why it failed: OpenSSL's error string, `strerror`, or a format complaint.
    public let detail: String

    public init(operation: String, detail: String) {
        self.operation = operation
        self.detail = detail
    }

    public var description: String { "\(operation) failed: \(detail)" }

    /// The error OpenSSL queued for the failed call `operation`. Takes the
    /// earliest queued error (the root cause) and empties this thread's queue,
    /// so a stale entry never shows up in a later, unrelated error.
    static func openSSL(_ operation: String) -> CryptoError {
        let code = ERR_get_error()
        defer { ERR_clear_error() }
        guard code != 0 else {
            return CryptoError(operation: operation, detail: "OpenSSL reported no error detail")
        }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        let detail = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return CryptoError(operation: operation, detail: detail)
    }
}
