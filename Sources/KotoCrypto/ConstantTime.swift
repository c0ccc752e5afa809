import COpenSSL

/// Constant-time comparison of two byte strings, for secrets and MACs: for
/// equal lengths the time does not depend on where the bytes differ
/// (`CRYPTO_memcmp`); different lengths are unequal without looking at the
/// content at all.
public func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withContiguousBytes { left in
        b.withContiguousBytes { right in
            CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
        }
    }
}
