import Foundation
import Glibc
import KotoCrypto
import KotoTestSupport
import Testing

@Suite struct KeyFileTests {
    @Test func writtenKeyLoadsBackWithMode0600() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("node.key")
        let key = try SigningKey.generate()
        try key.write(to: path)

        #expect(mode(of: path) == 0o600)
        let content = try String(contentsOfFile: path, encoding: .utf8)
        let encoded = Data(key.rawPrivateKey).base64EncodedString()
        #expect(content == "kotosync-ed25519-private-key:\(encoded)\n")

        let loaded = try SigningKey.load(path: path)
        #expect(loaded.rawPrivateKey == key.rawPrivateKey)
        #expect(loaded.publicKey == key.publicKey)
        let message = Array("after a restart".utf8)
        #expect(key.publicKey.verify(signature: try loaded.sign(message), message: message))
    }

    @Test func readOnlyKeyFileLoads() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("node.key")
        let key = try SigningKey.generate()
        try key.write(to: path)
        #expect(chmod(path, 0o400) == 0)
        #expect(try SigningKey.load(path: path).publicKey == key.publicKey)
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o700 | 0o007] as [mode_t])
    func loadRefusesGroupOrOtherPermissions(_ permissions: mode_t) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("node.key")
        try SigningKey.generate().write(to: path)
        #expect(chmod(path, permissions) == 0)

        let error = try #require(throws: CryptoError.self) { try SigningKey.load(path: path) }
        let octal = "0" + String(permissions, radix: 8)
        #expect(error.description.contains(octal), "\(error)")
        #expect(error.description.contains(path), "\(error)")
    }

    @Test func writeRefusesToOverwrite() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("node.key")
        let first = try SigningKey.generate()
        try first.write(to: path)

        let error = try #require(throws: CryptoError.self) { try SigningKey.generate().write(to: path) }
        #expect(error.description.contains("exists"), "\(error)")
        #expect(try SigningKey.load(path: path).publicKey == first.publicKey)

        // Nor over any other file that happens to be there.
        let other = try directory.write("other", "not a key\n", permissions: 0o644)
        #expect(throws: CryptoError.self) { try first.write(to: other) }
        #expect(try String(contentsOfFile: other, encoding: .utf8) == "not a key\n")
        #expect(mode(of: other) == 0o644)
    }

    @Test func writeIntoMissingDirectoryFails() throws {
        let directory = try TemporaryDirectory()
        #expect(throws: CryptoError.self) { try SigningKey.generate().write(to: directory.path("missing/node.key")) }
    }

    @Test func missingFileIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("absent.key")
        let error = try #require(throws: CryptoError.self) { try SigningKey.load(path: path) }
        #expect(error.description.contains(path), "\(error)")
    }

    @Test func directoryIsRefused() throws {
        let directory = try TemporaryDirectory()
        #expect(chmod(directory.path, 0o700) == 0)
        #expect(throws: CryptoError.self) { try SigningKey.load(path: directory.path) }
    }

    static let goodBase64 = Data([UInt8](repeating: 7, count: 32)).base64EncodedString()

    @Test(arguments: [
        "",
        "\n",
        "kotosync-ed25519-private-key:\(goodBase64)",
        "kotosync-ed25519-private-key:\(goodBase64)\r\n",
        "kotosync-ed25519-private-key:\(goodBase64)\n\n",
        "kotosync-ed25519-private-key:\(goodBase64) \n",
        " kotosync-ed25519-private-key:\(goodBase64)\n",
        "kotosync-ed25519-public-key:\(goodBase64)\n",
        "ed25519:\(goodBase64)\n",
        "kotosync-ed25519-private-key:\n",
        "kotosync-ed25519-private-key:not base64!\n",
        "kotosync-ed25519-private-key:\(Data([UInt8](repeating: 7, count: 31)).base64EncodedString())\n",
        "kotosync-ed25519-private-key:\(Data([UInt8](repeating: 7, count: 33)).base64EncodedString())\n",
        "kotosync-ed25519-private-key:\(goodBase64)\nkotosync-ed25519-private-key:\(goodBase64)\n",
        String(repeating: "A", count: 5000),
    ])
    func malformedContentIsRefused(_ content: String) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("node.key", content)
        let error = try #require(throws: CryptoError.self) { try SigningKey.load(path: path) }
        #expect(error.description.contains(path), "\(error)")
        // The complaint never repeats the (possibly secret) content.
        #expect(!error.description.contains(Self.goodBase64), "\(error)")
    }

    @Test func wellFormedHandWrittenFileLoads() throws {
        let directory = try TemporaryDirectory()
        let secret = bytes(hex: RFC8032Vector.all[0].secretKey)
        let path = try directory.write("node.key", "kotosync-ed25519-private-key:\(Data(secret).base64EncodedString())\n")
        let key = try SigningKey.load(path: path)
        #expect(key.publicKey.raw == bytes(hex: RFC8032Vector.all[0].publicKey))
    }
}
