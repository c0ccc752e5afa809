public import Foundation

/// A fresh directory under the system temporary directory, removed when the value goes away.
public final class TemporaryDirectory {
    public let url: URL
    public var path: String { url.path }

    public init(prefix: String = "kotosync-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The path of `name` inside the directory.
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `content` to `name` (replacing it) and sets exactly `permissions`
    /// (the umask does not apply); returns the path.
    @discardableResult
    public func write(_ name: String, _ content: [UInt8], permissions: Int = 0o600) throws -> String {
        let file = path(name)
        try Data(content).write(to: URL(fileURLWithPath: file))
        try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: file)
        return file
    }

    /// Writes `text` (UTF-8) to `name` with exactly `permissions`; returns the path.
    @discardableResult
    public func write(_ name: String, _ text: String, permissions: Int = 0o600) throws -> String {
        try write(name, Array(text.utf8), permissions: permissions)
    }
}
