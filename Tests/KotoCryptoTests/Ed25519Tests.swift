import KotoCrypto
import Testing

/// RFC 8032 §7.1, Ed25519 TEST 1–3.
struct RFC8032Vector: Sendable, CustomTestStringConvertible {
    let name: String
    let secretKey: String
    let publicKey: String
    let message: String
    let signature: String

    var testDescription: String { name }

    static let all: [RFC8032Vector] = [
        RFC8032Vector(
            name: "TEST 1",
            secretKey: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            message: "",
            signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
        RFC8032Vector(
            name: "TEST 2",
            secretKey: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            message: "72",
            signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
        RFC8032Vector(
            name: "TEST 3",
            secretKey: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            message: "af82",
            signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
    ]
}

@Suite struct Ed25519Tests {
    @Test(arguments: RFC8032Vector.all) func rfc8032Vector(_ vector: RFC8032Vector) throws {
        let key = try SigningKey(rawPrivateKey: bytes(hex: vector.secretKey))
        #expect(key.rawPrivateKey == bytes(hex: vector.secretKey))
        #expect(key.publicKey.raw == bytes(hex: vector.publicKey))
        let message = bytes(hex: vector.message)
        let signature = try key.sign(message)
        #expect(signature.count == SigningKey.signatureByteCount)
        #expect(SHA256.hex(signature) == vector.signature)
        // Verification by a key known only from its public bytes.
        let publicKey = try PublicKey(raw: bytes(hex: vector.publicKey))
        #expect(publicKey == key.publicKey)
        #expect(publicKey.verify(signature: bytes(hex: vector.signature), message: message))
    }

    @Test func anyFlippedBitFailsVerification() throws {
        let key = try SigningKey(rawPrivateKey: bytes(hex: RFC8032Vector.all[2].secretKey))
        let message = Array("a record worth signing".utf8)
        let signature = try key.sign(message)
        #expect(key.publicKey.verify(signature: signature, message: message))

        for index in message.indices {
            var tampered = message
            tampered[index] ^= 0x01 << (index % 8)
            #expect(!key.publicKey.verify(signature: signature, message: tampered))
        }
        #expect(!key.publicKey.verify(signature: signature, message: message.dropLast()))
        #expect(!key.publicKey.verify(signature: signature, message: message + [0]))

        for index in signature.indices {
            var tampered = signature
            tampered[index] ^= 0x01 << (index % 8)
            #expect(!key.publicKey.verify(signature: tampered, message: message))
        }

        for index in key.publicKey.raw.indices {
            var raw = key.publicKey.raw
            raw[index] ^= 0x01 << (index % 8)
            // Some flips give bytes that are no point at all; either way nothing verifies.
            let verified = (try? PublicKey(raw: raw))?.verify(signature: signature, message: message) ?? false
            #expect(!verified)
        }
    }

    @Test func wrongLengthOrGarbageSignaturesAreFalseNotErrors() throws {
        let key = try SigningKey.generate()
        let message = Array("m".utf8)
        let signature = try key.sign(message)
        #expect(!key.publicKey.verify(signature: [UInt8](), message: message))
        #expect(!key.publicKey.verify(signature: signature.dropLast(), message: message))
        #expect(!key.publicKey.verify(signature: signature + [0], message: message))
        #expect(!key.publicKey.verify(signature: [UInt8](repeating: 0xff, count: 64), message: message))
        #expect(!key.publicKey.verify(signature: [UInt8](repeating: 0, count: 64), message: message))
        // Verification still works after all those rejections.
        #expect(key.publicKey.verify(signature: signature, message: message))
        // Slices and other collections are accepted as inputs.
        let padded = [0] + signature + [0]
        #expect(key.publicKey.verify(signature: padded.dropFirst().dropLast(), message: message.lazy.map { $0 }))
    }

    @Test func generatedKeysAreDistinctAndRoundTripTheirRawBytes() throws {
        let first = try SigningKey.generate()
        let second = try SigningKey.generate()
        #expect(first.rawPrivateKey.count == 32)
        #expect(first.publicKey.raw.count == PublicKey.byteCount)
        #expect(first.rawPrivateKey != second.rawPrivateKey)
        #expect(first.publicKey != second.publicKey)

        let restored = try SigningKey(rawPrivateKey: first.rawPrivateKey)
        #expect(restored.publicKey == first.publicKey)
        let message = Array("hello".utf8)
        // Ed25519 is deterministic: the same key signs the same message identically.
        #expect(try restored.sign(message) == first.sign(message))
        #expect(!second.publicKey.verify(signature: try first.sign(message), message: message))
    }

    @Test func wrongKeyLengthsAreRefused() {
        for count in [0, 31, 33, 64] {
            #expect(throws: CryptoError.self) { try SigningKey(rawPrivateKey: [UInt8](repeating: 1, count: count)) }
            #expect(throws: CryptoError.self) { try PublicKey(raw: [UInt8](repeating: 1, count: count)) }
        }
    }

    @Test func publicKeysHashAndCompareByRawBytes() throws {
        let raw = bytes(hex: RFC8032Vector.all[0].publicKey)
        let set: Set<PublicKey> = [try PublicKey(raw: raw), try PublicKey(raw: raw), try SigningKey.generate().publicKey]
        #expect(set.count == 2)
    }

    @Test func oneKeySignsAndVerifiesFromManyTasksAtOnce() async throws {
        let key = try SigningKey.generate()
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<32 {
                group.addTask {
                    let message = Array("message \(index)".utf8)
                    guard let signature = try? key.sign(message) else { return false }
                    return key.publicKey.verify(signature: signature, message: message)
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 32 && results.allSatisfy { $0 })
    }
}

@Suite struct PublicKeyTextTests {
    @Test func textRoundTrips() throws {
        let key = try PublicKey(raw: bytes(hex: RFC8032Vector.all[0].publicKey))
        #expect(key.text == "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
        #expect(key.description == key.text)
        #expect(try PublicKey(text: key.text) == key)
        let generated = try SigningKey.generate().publicKey
        #expect(try PublicKey(text: generated.text).raw == generated.raw)
    }

    @Test(arguments: [
        "",
        "ed25519:",
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "Ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "ed448:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        " ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n",
        "ed25519: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "ed25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "ed25519:!!qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=",
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUQ==",
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURoA",
        "ed25519:AAAA",
    ])
    func malformedTextIsRefused(_ text: String) {
        #expect(throws: CryptoError.self) { try PublicKey(text: text) }
    }
}
