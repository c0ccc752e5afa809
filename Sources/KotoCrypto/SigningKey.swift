import COpenSSL

/// An Ed25519 private key (owns its EVP_PKEY*). @unchecked Sendable: the key is immutable after init and every sign uses its own EVP_MD_CTX.
public final class SigningKey: @unchecked Sendable {
    public static let signatureByteCount = 64
    /// Length of a raw Ed25519 private key (the RFC 8032 seed).
    static let rawPrivateKeyByteCount = 32

    /// The EVP_PKEY*, freed in deinit.
    private let key: OpaquePointer
    public let publicKey: PublicKey

    /// Takes ownership of `key`, freeing it right away if its public half
    /// cannot be read.
    private init(adopting key: OpaquePointer) throws(CryptoError) {
        do throws(CryptoError) {
            publicKey = try PublicKey(raw: rawKeyBytes(of: key, "EVP_PKEY_get_raw_public_key", EVP_PKEY_get_raw_public_key))
        } catch {
            EVP_PKEY_free(key)
            throw error
        }
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    /// A new key from OpenSSL's CSPRNG (EVP_PKEY_keygen).
    public static func generate() throws(CryptoError) -> SigningKey {
        let context = try KeyGenerationContext()
        guard EVP_PKEY_keygen_init(context.pointer) == 1 else { throw .openSSL("EVP_PKEY_keygen_init") }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen(context.pointer, &key) == 1, let key else { throw .openSSL("EVP_PKEY_keygen") }
        return try SigningKey(adopting: key)
    }

    /// The key whose 32 raw private bytes (RFC 8032 secret key) are `rawPrivateKey`.
    public convenience init(rawPrivateKey: [UInt8]) throws(CryptoError) {
        guard rawPrivateKey.count == Self.rawPrivateKeyByteCount else {
            throw CryptoError(
                operation: "SigningKey(rawPrivateKey:)",
                detail: "an Ed25519 private key is \(Self.rawPrivateKeyByteCount) bytes, not \(rawPrivateKey.count)")
        }
        let key = rawPrivateKey.withUnsafeBytes {
            EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.cBytes, $0.count)
        }
        guard let key else { throw .openSSL("EVP_PKEY_new_raw_private_key") }
        try self.init(adopting: key)
    }

    /// The 32 raw private bytes, for storing the key; treat them as secret.
    public var rawPrivateKey: [UInt8] {
        do {
            return try rawKeyBytes(of: key, "EVP_PKEY_get_raw_private_key", EVP_PKEY_get_raw_private_key)
        } catch {
            // Every SigningKey holds an Ed25519 private key, whose raw form OpenSSL always has.
            preconditionFailure("\(error)")
        }
    }

    /// The 64-byte Ed25519 signature of `message` (EVP_DigestSign with NULL md: Ed25519 hashes internally).
    public func sign(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        let context = try SignatureContext()
        guard EVP_DigestSignInit(context.pointer, nil, nil, nil, key) == 1 else { throw .openSSL("EVP_DigestSignInit") }
        var signature = [UInt8](repeating: 0, count: Self.signatureByteCount)
        var length = signature.count
        let status = message.withUnsafeBytes { message in
            signature.withUnsafeMutableBufferPointer { output in
                EVP_DigestSign(context.pointer, output.baseAddress, &length, message.cBytes, message.count)
            }
        }
        guard status == 1 else { throw .openSSL("EVP_DigestSign") }
        guard length == Self.signatureByteCount else {
            throw CryptoError(operation: "EVP_DigestSign", detail: "signature of \(length) bytes, expected \(Self.signatureByteCount)")
        }
        return signature
    }
}
