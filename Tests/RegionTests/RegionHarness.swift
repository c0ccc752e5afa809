import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

// End-to-end harness: real `kotosyncd` processes on loopback, one temporary
// directory per region (configs, manifest, keys, secrets, data, one log per node).
//
// Everything blocking stays off Swift's cooperative pool: HTTP goes through
// `AsyncHTTPClient` (its own queue), waits are `Task.sleep` polls.
// Output never quotes record field values (they may be personal data): only
// ids, kinds, field names, dots and node names.

/// The root of every region suite: `.serialized` is inherited by the nested
/// suites (one per file), so only one region of daemons runs at a time.
@Suite(.serialized)
enum Region {}

/// The five offices, in the order of the demo configs.
let offices = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"]

struct RegionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Running a region

/// Child processes working in one temporary directory, as `withCleanup` runs them.
protocol RegionLab: AnyObject, Sendable {
    var directory: String { get }
    /// Stops every child gracefully (SIGKILL for any that hangs).
    func stopAll() async
    /// Synchronous last resort: SIGKILL whatever still runs.
    func killAll()
    /// Log tails for the failure report (ids and counts, never field values).
    func failureLogs() -> String
}

/// Runs `body`, then always stops `lab`'s children: gracefully after
/// success; with SIGKILL after a thrown error, printing its log tails. The
/// directory is removed either way unless `KOTOSYNC_KEEP_REGION` is set.
func withCleanup<Lab: RegionLab, T>(_ lab: Lab, _ body: () async throws -> T) async throws -> T {
    let keep = ProcessInfo.processInfo.environment["KOTOSYNC_KEEP_REGION"] != nil
    do {
        let result = try await body()
        await lab.stopAll()
        if !keep { try? FileManager.default.removeItem(atPath: lab.directory) }
        return result
    } catch {
        lab.killAll()
        let report = keep ? "region kept at \(lab.directory)" : "region failed (set KOTOSYNC_KEEP_REGION=1 to keep its directory)"
        note(report + lab.failureLogs())
        if !keep { try? FileManager.default.removeItem(atPath: lab.directory) }
        throw error
    }
}

/// Creates a region, starts its nodes (unless `start` is false), runs
/// `body`, and always stops the daemons (see `withCleanup`).
func withRegion<T>(_ options: RegionOptions = RegionOptions(), start: Bool = true,
                   _ body: (RegionCluster) async throws -> T) async throws -> T {
    let region = try RegionCluster(options)
    return try await withCleanup(region) {
        if start { try await region.startAll() }
        return try await body(region)
    }
}

/// A line of test output (counts, seqs, timings; never field values).
func note(_ line: String) {
    print("region: \(line)")
}

/// Polls `condition` until it holds; a throwing poll counts as "not yet",
/// except that with `failFast` a thrown `RegionError` ends the wait at once.
func waitUntil(_ what: String, timeout: Duration = .seconds(30), poll: Duration = .milliseconds(100), failFast: Bool = false,
               _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
        } catch let error as RegionError where failFast {
            throw error
        } catch {
            lastError = error
        }
        if ContinuousClock.now >= deadline { break }
        try await Task.sleep(for: poll)
    }
    throw RegionError("timed out after \(timeout) waiting for \(what)" + (lastError.map { " (last error: \($0))" } ?? ""))
}
