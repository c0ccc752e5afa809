extension Collection<UInt8> {
    /// Runs `body` over the bytes as one contiguous buffer, copying only
    /// when the collection has no contiguous storage of its own (so arrays
    /// and array slices are hashed or signed in place).
    func withContiguousBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        if let result = withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(self).withUnsafeBytes(body)
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as the `const unsigned char *` OpenSSL takes. Never nil,
    /// even for an empty buffer, so no C function sees NULL with length 0.
    var cBytes: UnsafePointer<UInt8> {
        if let base = baseAddress { return base.assumingMemoryBound(to: UInt8.self) }
        return UnsafePointer(emptyByte)
    }
}

/// A valid address to hand C for an empty input; allocated once, never
/// written or freed, hence safe to share despite the raw pointer type.
nonisolated(unsafe) private let emptyByte = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
