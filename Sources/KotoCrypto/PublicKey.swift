import COpenSSL

/// An Ed25519 public key (owns its EVP_PKEY*). Sendable the same way.
///
/// That is: `@unchecked Sendable` because the key is immutable after init
/// and every `verify` uses its own EVP_MD_CTX.
public final class PublicKey: @unchecked Sendable, Hashable, CustomStringConvertible {
    public static let byteCount = 32
    /// Marks the text form, leaving room for other algorithms later.
    static let textPrefix = "ed25519:"

    /// The EVP_PKEY*, freed in deinit.
    private let key: OpaquePointer
    /// The 32 raw bytes (RFC 8032 encoding).
    public let raw: [UInt8]

    public init(raw: [UInt8]) throws(CryptoError) {
        guard raw.count == Self.byteCount else {
            throw CryptoError(
                operation: "PublicKey(raw:)",
                detail: "an Ed25519 public key is \(Self.byteCount) bytes, not \(raw.count)")
        }
        let key = raw.withUnsafeBytes { EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.cBytes, $0.count) }
        guard let key else { throw .openSSL("EVP_PKEY_new_raw_public_key") }
        self.key = key
        self.raw = raw
    }

    /// Parses the text form "ed25519:<standard base64 of the 32 raw bytes>".
    public convenience init(text: String) throws(CryptoError) {
        let operation = "PublicKey(text:)"
        guard text.hasPrefix(Self.textPrefix) else {
            throw CryptoError(operation: operation, detail: "the text does not start with \"\(Self.textPrefix)\"")
        }
        guard let raw = base64Decoded(text.dropFirst(Self.textPrefix.count)) else {
            throw CryptoError(operation: operation, detail: "the key is not canonical standard base64")
        }
        guard raw.count == Self.byteCount else {
            throw CryptoError(
                operation: operation,
                detail: "an Ed25519 public key is \(Self.byteCount) bytes, not \(raw.count)")
        }
        try self.init(raw: raw)
    }

    deinit { EVP_PKEY_free(key) }

    /// "ed25519:<base64>", the form keys take in configuration and logs.
    public var text: String { Self.textPrefix + base64Encoded(raw) }

    public var description: String { text }

    /// False for a wrong signature, a wrong length, or any OpenSSL failure; never throws, never crashes on input.
    public func verify(signature: some Collection<UInt8>, message: some Collection<UInt8>) -> Bool {
        guard signature.count == SigningKey.signatureByteCount else { return false }
        // A rejected signature may leave entries on the error queue; they mean nothing to later calls.
        defer { ERR_clear_error() }
        guard let context = try? SignatureContext(),
            EVP_DigestVerifyInit(context.pointer, nil, nil, nil, key) == 1
        else { return false }
        let status = signature.withContiguousBytes { signature in
            message.withContiguousBytes { message in
                EVP_DigestVerify(context.pointer, signature.cBytes, signature.count, message.cBytes, message.count)
            }
        }
        return status == 1
    }

    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.raw == rhs.raw }

    public func hash(into hasher: inout Hasher) { hasher.combine(raw) }
}
