import Foundation
import Glibc

/// Every replica holds every municipality's clients (so each office works
/// offline), so the files themselves are protected: the data directory is
/// 0700, every file in it (database, `-wal`, `-shm`, the access log) and
/// the key and secrets files at most 0600. The daemon refuses to start when
/// any is wider, naming the file, its mode and the `chmod` that fixes it,
/// and creates what it creates with those modes.
enum DataFileModes {
    /// The widest mode allowed: the owner's bits only.
    static let directoryMode: mode_t = 0o700
    static let fileMode: mode_t = 0o600

    /// Checks every path the node keeps secret; a path that does not exist yet is not checked (it is created so).
    static func check(_ config: NodeConfig) throws(ConfigError) {
        try checkFile(config.keyFile, key: "keyFile")
        try checkFile(config.secretsFile, key: "secretsFile")
        let directory = config.dataDirectory
        guard let mode = mode(of: directory) else { return }
        if mode & ~directoryMode != 0 {
            throw ConfigError(key: "dataDirectory", reason: "\(directory) has mode \(octal(mode)), wider than 0700 "
                              + "(it must grant nothing to group or others); chmod 700 \(directory)")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() {
            let path = (directory as NSString).appendingPathComponent(name)
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            let kind = info.st_mode & S_IFMT
            let mode = info.st_mode & 0o7777
            if kind == S_IFDIR, mode & ~directoryMode != 0 {
                throw ConfigError(key: "dataDirectory", reason: "\(path) has mode \(octal(mode)), wider than 0700; chmod 700 \(path)")
            }
            if kind == S_IFREG, mode & ~fileMode != 0 {
                throw ConfigError(key: "dataDirectory", reason: "\(path) has mode \(octal(mode)), wider than 0600 "
                                  + "(it must grant nothing to group or others); chmod 600 \(path)")
            }
        }
    }

    /// A regular file at most 0600 (0400 is fine too).
    static func checkFile(_ path: String, key: String) throws(ConfigError) {
        guard let mode = mode(of: path) else { return }
        if mode & ~fileMode != 0 {
            throw ConfigError(key: key, reason: "\(path) has mode \(octal(mode)), wider than 0600 "
                              + "(it must grant nothing to group or others); chmod 600 \(path)")
        }
    }

    /// Creates the data directory (0700) if it is missing, and the database
    /// file (0600, empty) so SQLite, which gives `-wal` and `-shm` the
    /// database's mode, never creates one with the umask's default.
    static func prepare(_ config: NodeConfig) throws(ConfigError) {
        do {
            try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: Int(directoryMode)])
        } catch {
            throw ConfigError(key: "dataDirectory", reason: "cannot create \(config.dataDirectory): \(error.localizedDescription)")
        }
        try createFile(config.databasePath, key: "dataDirectory")
    }

    /// Creates `path` empty with mode 0600 unless it exists.
    static func createFile(_ path: String, key: String) throws(ConfigError) {
        var fd: Int32
        repeat {
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        } while fd == -1 && errno == EINTR
        if fd == -1 {
            if errno == EEXIST { return }
            throw ConfigError(key: key, reason: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { _ = close(fd) }
        // The umask can only have narrowed 0600; make it exactly that.
        _ = fchmod(fd, fileMode)
    }

    static func mode(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    static func octal(_ mode: mode_t) -> String { String(format: "%04o", mode) }
}
