import COpenSSL

/// Owns one EVP_MD_CTX* for a single sign or verify, so concurrent calls
/// on a shared key never share a context (the key itself stays read-only).
final class SignatureContext {
    let pointer: OpaquePointer

    init() throws(CryptoError) {
        guard let pointer = EVP_MD_CTX_new() else { throw .openSSL("EVP_MD_CTX_new") }
        self.pointer = pointer
    }

    deinit { EVP_MD_CTX_free(pointer) }
}

/// Owns one EVP_PKEY_CTX* for generating an Ed25519 key.
final class KeyGenerationContext {
    let pointer: OpaquePointer

    init() throws(CryptoError) {
        guard let pointer = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else { throw .openSSL("EVP_PKEY_CTX_new_id") }
        self.pointer = pointer
    }

    deinit { EVP_PKEY_CTX_free(pointer) }
}

/// Reads the raw bytes of a key through `EVP_PKEY_get_raw_public_key` or
/// `EVP_PKEY_get_raw_private_key` (passed as `get`), asking for the length first.
func rawKeyBytes(
    of key: OpaquePointer,
    _ operation: String,
    _ get: (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Int>?) -> Int32
) throws(CryptoError) -> [UInt8] {
    var length = 0
    guard get(key, nil, &length) == 1 else { throw .openSSL(operation) }
    var bytes = [UInt8](repeating: 0, count: length)
    let status = bytes.withUnsafeMutableBufferPointer { get(key, $0.baseAddress, &length) }
    guard status == 1 else { throw .openSSL(operation) }
    return Array(bytes.prefix(length))
}
