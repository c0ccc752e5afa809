import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

// MARK: - Locations

enum RegionPaths {
    /// The package root: the first directory above this file holding Package.swift.
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url = url.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    static var demoConfigDirectory: URL { packageRoot.appendingPathComponent("Config/demo") }

    /// The daemon to run: `KOTOSYNCD` from the environment when set, else the
    /// one built with this test bundle (see `builtBinary`).
    static func daemonBinary() throws -> String { try builtBinary("kotosyncd", override: "KOTOSYNCD") }

    /// The command-line client, found like the daemon (`KOTOSYNC_CLI` overrides).
    static func cliBinary() throws -> String { try builtBinary("kotosync", override: "KOTOSYNC_CLI") }

    /// An executable of this package: `override` from the environment when
    /// set, else the one built with this test bundle, next to the test
    /// executable (`swift build --build-tests` builds both into the same
    /// directory), else `.build/debug/<name>`.
    static func builtBinary(_ name: String, override: String) throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment[override] { candidates.append(explicit) }
        var directories: [URL] = []
        if let executable = Bundle.main.executableURL { directories.append(executable.resolvingSymlinksInPath().deletingLastPathComponent()) }
        directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
        directories.append(Bundle.main.bundleURL.resolvingSymlinksInPath().deletingLastPathComponent())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append(bundle.bundleURL.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        // Inside a macOS-style bundle the executable sits deeper; walk up a few levels.
        for directory in directories {
            var url = directory
            for _ in 0..<4 {
                candidates.append(url.appendingPathComponent(name).path)
                url = url.deletingLastPathComponent()
            }
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/\(name)").path)
        if let found = firstExecutable(candidates) { return found }
        throw RegionError("""
            \(name) binary not found (looked next to the test bundle and in .build/debug: \
            \(candidates.joined(separator: ", "))). Build it with the tests: \
            `swift build --build-tests` (or set \(override)=/path/to/\(name)).
            """)
    }

    /// The `sqlite3` command-line shell, needed for `PRAGMA integrity_check`.
    static func sqliteShell() throws -> String {
        try tool("sqlite3", fallbackDirectories: ["/usr/bin", "/usr/local/bin"], missing: """
            the sqlite3 command-line shell is not installed, so PRAGMA integrity_check cannot run: \
            deploy/test.sh must install the Debian package `sqlite3` (add it to need_packages)
            """)
    }

    /// An installed tool: the first executable among `preferred` (nil
    /// entries skipped), then `name` in each directory of `PATH`, then in
    /// `fallbackDirectories`; throws `missing` when there is none.
    static func tool(_ name: String, preferred: [String?] = [], fallbackDirectories: [String] = [], missing: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + fallbackDirectories
        guard let found = firstExecutable(preferred.compactMap { $0 } + directories.map { "\($0)/\(name)" }) else {
            throw RegionError(missing)
        }
        return found
    }

    private static func firstExecutable(_ candidates: [String]) -> String? {
        candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A new directory only its owner can use, `<prefix>-XXXXXX` in the system's temporary directory.
    static func makeTemporaryDirectory(prefix: String) throws -> String {
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-XXXXXX").path
        var buffer = Array(template.utf8CString)
        guard mkdtemp(&buffer) != nil else { throw RegionError("mkdtemp failed: \(String(cString: strerror(errno)))") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

// MARK: - Files

/// Writes `text` to `path` (replacing what was there), then sets `permissions` when given.
func writeFile(_ text: String, to path: String, permissions: Int? = nil) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { throw RegionError("cannot write \(path)") }
    if let permissions { try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: path) }
}

/// The last `lines` lines of a log file, for failure messages (the daemons
/// log ids and counts, never field values).
func tail(ofFile path: String, lines: Int, missing: String = "(no log)") -> String {
    guard let data = FileManager.default.contents(atPath: path) else { return missing }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: "\n")
}

// MARK: - Child processes

/// Pids of child processes still running, with the signal that ends each,
/// sent at exit in case a test crashed past its cleanup.
let liveChildren = Mutex<[Int32: Int32]>([:])
private let exitHook: Void = {
    atexit {
        for (pid, number) in liveChildren.withLock({ $0 }) { Glibc.kill(pid, number) }
    }
}()

/// One child process (a daemon, nginx's master, a tool), its output
/// appended to a log file. Waits poll with `Task.sleep`.
final class ChildProcess: @unchecked Sendable {
    typealias Exit = (status: Int32, signalled: Bool)

    let name: String
    let logPath: String
    private let lock = NSLock()
    private let process: Process

    /// Launches it: `environment` on top of this process's, in `directory`
    /// when given, `banner` written to the log first. `atExit`: the signal it
    /// gets if the test process exits with it still running (nginx's master:
    /// SIGTERM, so that it stops its workers).
    init(name: String, executable: String, arguments: [String], logPath: String, environment: [String: String] = [:],
         directory: String? = nil, banner: String? = nil, atExit: Int32 = SIGKILL) throws {
        _ = exitHook
        self.name = name
        self.logPath = logPath
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw RegionError("cannot open \(logPath)") }
        defer { try? log.close() }
        _ = try log.seekToEnd()
        if let banner { log.write(Data(banner.utf8)) }
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let pid = process.processIdentifier
        liveChildren.withLock { $0[pid] = atExit }
    }

    /// Runs a tool to completion, its output appended to `logPath`, and
    /// returns its exit status; killed, and thrown, after `timeout`.
    static func run(_ executable: String, _ arguments: [String], logPath: String, directory: String? = nil,
                    timeout: Duration) async throws -> Int32 {
        let child = try ChildProcess(name: (executable as NSString).lastPathComponent, executable: executable, arguments: arguments,
                                     logPath: logPath, directory: directory)
        guard let exit = await child.exitOrKill(after: timeout) else {
            throw RegionError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        return exit.status
    }

    var isRunning: Bool { lock.withLock { process.isRunning } }

    /// Sends `number` while it runs; false when it no longer does.
    @discardableResult
    func signal(_ number: Int32) -> Bool {
        lock.withLock { process.isRunning && Glibc.kill(process.processIdentifier, number) == 0 }
    }

    /// Waits for it to exit; nil on timeout.
    func waitForExit(timeout: Duration) async throws -> Exit? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let exit: Exit? = lock.withLock {
                guard !process.isRunning else { return nil }
                liveChildren.withLock { _ = $0.removeValue(forKey: process.processIdentifier) }
                return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
            }
            if let exit { return exit }
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits up to `timeout` for it to exit, else SIGKILLs it (with its
    /// children) and waits up to 5 s more; nil when it had to be killed.
    @discardableResult
    func exitOrKill(after timeout: Duration) async -> Exit? {
        if let exit = try? await waitForExit(timeout: timeout) { return exit }
        kill()
        _ = try? await waitForExit(timeout: .seconds(5))
        return nil
    }

    /// SIGCONT (in case it was stopped), `number`, then `exitOrKill`.
    @discardableResult
    func stop(_ number: Int32 = SIGTERM, timeout: Duration = .seconds(15)) async -> Exit? {
        signal(SIGCONT)
        signal(number)
        return await exitOrKill(after: timeout)
    }

    /// SIGKILL for it and its direct children (nginx's workers would
    /// otherwise outlive a killed master), at once.
    func kill() {
        lock.withLock {
            guard process.isRunning else { return }
            let pid = process.processIdentifier
            let children = Self.children(of: pid)
            if Glibc.kill(pid, SIGKILL) == 0 { liveChildren.withLock { _ = $0.removeValue(forKey: pid) } }
            for child in children { _ = Glibc.kill(child, SIGKILL) }
        }
    }

    /// Pids whose parent is `pid`, from /proc.
    static func children(of pid: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let candidate = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After "pid (comm)": state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid ? candidate : nil
        }
    }
}
