import KotoCrypto
import Testing

@Suite struct ConstantTimeTests {
    @Test func equalBytesCompareEqual() {
        #expect(constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(constantTimeEquals([UInt8](), [UInt8]()))
        let digest = SHA256.hash(Array("abc".utf8))
        #expect(constantTimeEquals(digest, SHA256.hash(Array("abc".utf8))))
        // Different collection types with the same bytes.
        #expect(constantTimeEquals(digest[...], digest.lazy.map { $0 }))
    }

    @Test func anyDifferenceCompareUnequal() {
        let digest = SHA256.hash(Array("abc".utf8))
        for index in [0, 15, 31] {
            var other = digest
            other[index] ^= 0x01
            #expect(!constantTimeEquals(digest, other))
        }
    }

    @Test func differentLengthsCompareUnequal() {
        #expect(!constantTimeEquals([1, 2, 3] as [UInt8], [1, 2] as [UInt8]))
        #expect(!constantTimeEquals([1, 2] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(!constantTimeEquals([UInt8](), [0] as [UInt8]))
    }
}
