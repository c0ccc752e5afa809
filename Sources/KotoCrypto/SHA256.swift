import COpenSSL

/// SHA-256 from libcrypto (`EVP_sha256()`), for content addresses and
/// message digests.
///
/// The functions do not throw: with OpenSSL's built-in SHA-256 they can
/// only fail when memory runs out, which stops the process instead.
public enum SHA256 {
    public static let byteCount = 32

    /// One-shot digest (EVP_Digest with EVP_sha256()).
    public static func hash(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        let status = bytes.withContiguousBytes { input in
            digest.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.cBytes, input.count, output.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        precondition(status == 1 && length == byteCount, "\(CryptoError.openSSL("EVP_Digest"))")
        return digest
    }

    /// Digest of several parts concatenated, without concatenating them first.
    public static func hash(parts: [[UInt8]]) -> [UInt8] {
        let hasher = SHA256Hasher()
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }

    /// Lowercase hex, two digits per byte, the form digests are shown and stored in.
    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Incremental hashing; owns one EVP_MD_CTX.
///
/// For inputs that arrive in pieces (files, streamed bodies). Not
/// `Sendable`: feed it from one task at a time.
public final class SHA256Hasher {
    /// The EVP_MD_CTX*, freed in deinit.
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new() else {
            preconditionFailure("\(CryptoError.openSSL("EVP_MD_CTX_new"))")
        }
        self.context = context
        start()
    }

    deinit { EVP_MD_CTX_free(context) }

    private func start() {
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "\(CryptoError.openSSL("EVP_DigestInit_ex"))")
    }

    public func update(_ bytes: some Collection<UInt8>) {
        bytes.withContiguousBytes { update($0) }
    }

    public func update(_ buffer: UnsafeRawBufferPointer) {
        precondition(
            EVP_DigestUpdate(context, buffer.cBytes, buffer.count) == 1,
            "\(CryptoError.openSSL("EVP_DigestUpdate"))")
    }

    /// The digest of everything fed so far. The hasher then starts over
    /// empty, so one hasher can digest several inputs in turn.
    public func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: SHA256.byteCount)
        var length: UInt32 = 0
        let status = digest.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        precondition(status == 1 && length == SHA256.byteCount, "\(CryptoError.openSSL("EVP_DigestFinal_ex"))")
        start()
        return digest
    }
}
