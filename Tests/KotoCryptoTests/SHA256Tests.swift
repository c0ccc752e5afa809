import KotoCrypto
import Testing

@Suite struct SHA256Tests {
    /// FIPS 180-2 / NIST examples and the empty string.
    static let vectors: [(message: String, digest: String)] = [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ]

    @Test(arguments: 0..<vectors.count) func knownVectors(index: Int) {
        let (message, digest) = Self.vectors[index]
        let hash = SHA256.hash(Array(message.utf8))
        #expect(hash.count == SHA256.byteCount)
        #expect(SHA256.hex(hash) == digest)
        // The same through the incremental hasher, a byte at a time.
        let hasher = SHA256Hasher()
        for byte in message.utf8 { hasher.update([byte]) }
        #expect(SHA256.hex(hasher.finalize()) == digest)
    }

    @Test func collectionsWithoutContiguousStorageHashTheSame() {
        let lazy = Array("abc".utf8).lazy.map { $0 }
        #expect(SHA256.hex(SHA256.hash(lazy)) == Self.vectors[1].digest)
        #expect(SHA256.hash(Array("xabcx".utf8).dropFirst().dropLast()) == SHA256.hash(Array("abc".utf8)))
    }

    @Test func oneMillionAsIncrementally() {
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        let hasher = SHA256Hasher()
        for index in 0..<1000 {
            if index.isMultiple(of: 2) {
                hasher.update(chunk)
            } else {
                chunk.withUnsafeBytes { hasher.update($0) }
            }
        }
        #expect(SHA256.hex(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func hasherStartsOverAfterFinalize() {
        let hasher = SHA256Hasher()
        hasher.update(Array("junk".utf8))
        _ = hasher.finalize()
        hasher.update(Array("abc".utf8))
        #expect(SHA256.hex(hasher.finalize()) == Self.vectors[1].digest)
        #expect(SHA256.hex(hasher.finalize()) == Self.vectors[0].digest)
    }

    @Test func partsHashLikeTheirConcatenation() {
        let parts: [[UInt8]] = [Array("abcdbcde".utf8), [], Array("cdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8), []]
        #expect(SHA256.hash(parts: parts) == SHA256.hash(parts.flatMap { $0 }))
        #expect(SHA256.hex(SHA256.hash(parts: parts)) == Self.vectors[2].digest)
        #expect(SHA256.hash(parts: []) == SHA256.hash([UInt8]()))
        // Part boundaries do not matter, only the bytes.
        #expect(SHA256.hash(parts: [[1, 2], [3]]) == SHA256.hash(parts: [[1], [2, 3]]))
    }

    @Test func hexIsLowercaseTwoDigitsPerByte() {
        #expect(SHA256.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(SHA256.hex([UInt8]()) == "")
    }
}
