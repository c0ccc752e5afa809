import Glibc

/// Key files: one line, `kotosync-ed25519-private-key:<base64 of the 32 raw bytes>\n`.
/// The prefix names the format so no other file is taken for a key; the
/// permission check is the same one ssh makes, since a readable key is a
/// leaked identity.
extension SigningKey {
    static let keyFilePrefix = "kotosync-ed25519-private-key:"
    /// Far more than a key line; anything longer is not a key file.
    private static let keyFileMaxBytes = 1024

    /// Reads a key file written by `write(to:)`; refuses (CryptoError naming the path and the mode) a file whose mode grants any group or other permission (must be 0600 or 0400), a missing file, or malformed content.
    public static func load(path: String) throws(CryptoError) -> SigningKey {
        let operation = "SigningKey.load(path: \(path))"
        let fd = try retryingEINTR(operation, "open") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = close(fd) }

        // fstat on the open descriptor: the mode checked is the mode of the file read.
        var info = stat()
        _ = try retryingEINTR(operation, "fstat") { fstat(fd, &info) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw CryptoError(operation: operation, detail: "\(path) is not a regular file")
        }
        let permissions = info.st_mode & 0o7777
        guard permissions & 0o077 == 0 else {
            throw CryptoError(
                operation: operation,
                detail: "\(path) has mode \(octal(permissions)), which grants group or other permission; "
                    + "a key file must be mode 0600 or 0400")
        }

        var content = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: keyFileMaxBytes + 1)
        while true {
            let count = try retryingEINTR(operation, "read") {
                chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            }
            if count == 0 { break }
            content += chunk.prefix(count)
            guard content.count <= keyFileMaxBytes else {
                throw CryptoError(operation: operation, detail: "\(path) is too long to be a key file")
            }
        }
        // Complaints name what is wrong, never the content: it may be a secret.
        let prefix = Array(keyFilePrefix.utf8)
        guard content.starts(with: prefix), content.last == UInt8(ascii: "\n") else {
            throw CryptoError(
                operation: operation,
                detail: "\(path) is not a kotosync key file (expected one line \"\(keyFilePrefix)<base64>\")")
        }
        let encoded = content[prefix.count..<(content.count - 1)]
        guard let encodedText = String(validating: encoded, as: UTF8.self),
            let raw = base64Decoded(encodedText), raw.count == rawPrivateKeyByteCount
        else {
            throw CryptoError(
                operation: operation,
                detail: "\(path) does not hold the standard base64 of \(rawPrivateKeyByteCount) key bytes")
        }
        do throws(CryptoError) {
            return try SigningKey(rawPrivateKey: raw)
        } catch {
            throw CryptoError(operation: operation, detail: error.description)
        }
    }

    /// Writes the key to a NEW file created with mode 0600 (O_CREAT|O_EXCL, refusing to overwrite an existing file), fsynced.
    ///
    /// The directory is fsynced too, so the new name survives a crash; a
    /// failed write removes the partial file rather than leave a broken key.
    public func write(to path: String) throws(CryptoError) {
        let operation = "SigningKey.write(to: \(path))"
        let content = Array((Self.keyFilePrefix + base64Encoded(rawPrivateKey) + "\n").utf8)
        var fd: Int32
        repeat {
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        } while fd == -1 && errno == EINTR
        if fd == -1 {
            let code = errno
            if code == EEXIST {
                throw CryptoError(operation: operation, detail: "\(path) already exists; a key file is never overwritten")
            }
            throw systemError(operation, "open", code: code)
        }
        do throws(CryptoError) {
            // The umask can only have narrowed 0600; make it exactly 0600 so the owner can read it back.
            _ = try retryingEINTR(operation, "fchmod") { fchmod(fd, 0o600) }
            var written = 0
            while written < content.count {
                written += try retryingEINTR(operation, "write") {
                    content.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
                }
            }
            _ = try retryingEINTR(operation, "fsync") { fsync(fd) }
        } catch {
            _ = close(fd)
            _ = unlink(path)
            throw error
        }
        // close is not retried: on Linux the descriptor is gone even after EINTR.
        if close(fd) != 0 {
            let failure = systemError(operation, "close", code: errno)
            _ = unlink(path)
            throw failure
        }
        try fsyncDirectory(containing: path, operation)
    }
}

/// Flushes the directory entry of `path` to disk.
private func fsyncDirectory(containing path: String, _ operation: String) throws(CryptoError) {
    let directory: String
    if let slash = path.lastIndex(of: "/") {
        directory = slash == path.startIndex ? "/" : String(path[..<slash])
    } else {
        directory = "."
    }
    let fd = try retryingEINTR(operation, "open \(directory)") { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    defer { _ = close(fd) }
    _ = try retryingEINTR(operation, "fsync \(directory)") { fsync(fd) }
}

/// Runs a POSIX call until it does not fail with EINTR; any other `-1`
/// becomes a CryptoError carrying `strerror(errno)`.
private func retryingEINTR<Value: FixedWidthInteger>(
    _ operation: String,
    _ call: String,
    _ body: () -> Value
) throws(CryptoError) -> Value {
    while true {
        let result = body()
        if result != -1 { return result }
        if errno == EINTR { continue }
        throw systemError(operation, call, code: errno)
    }
}

/// The error for a POSIX call that failed with `code` (its `errno`).
private func systemError(_ operation: String, _ call: String, code: Int32) -> CryptoError {
    return CryptoError(operation: operation, detail: "\(call): \(String(cString: strerror(code))) (errno \(code))")
}

/// A permission mode in the four-digit octal form people write it in (0644).
private func octal(_ mode: mode_t) -> String {
    let digits = String(mode, radix: 8)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
