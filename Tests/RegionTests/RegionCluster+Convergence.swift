import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Synchronization
import Testing

extension RegionCluster {
    // MARK: Convergence

    struct Snapshot: Sendable {
        let node: String
        /// kind table -> id -> record JSON
        let records: [String: [String: JSONValue]]
        let versionVector: JSONValue
        let conflicts: [JSONValue]
    }

    func snapshot(_ name: String) async throws -> Snapshot {
        let node = self[name]
        var records: [String: [String: JSONValue]] = [:]
        for kind in RecordKind.allCases {
            var byID: [String: JSONValue] = [:]
            for item in try await node.list(kind) {
                guard let id = item["id"]?.stringValue else { throw RegionError("\(name): a \(kind.rawValue) without id") }
                if byID[id] != nil { throw RegionError("\(name): \(kind.rawValue) \(id) listed twice") }
                byID[id] = item
            }
            records[kind.table] = byID
        }
        let status = try await node.status()
        let conflicts = try await node.conflicts().map(Self.comparableConflict).sorted { $0.serialized < $1.serialized }
        return Snapshot(node: name, records: records, versionVector: status["versionVector"] ?? .null, conflicts: conflicts)
    }

    /// A conflict without what is local to a replica (when it was first seen there).
    static func comparableConflict(_ conflict: JSONValue) -> JSONValue {
        .object((conflict.objectMembers ?? []).filter { $0.0 != "firstSeen" })
    }

    /// Differences between the nodes' records (all kinds, deleted and
    /// erased included), version vectors and open conflicts; empty when
    /// they converged. Names ids and fields, never values.
    func differences(among names: [String]? = nil) async throws -> [String] {
        let names = names ?? self.names
        var snapshots: [Snapshot] = []
        for name in names { snapshots.append(try await snapshot(name)) }
        guard let reference = snapshots.first else { return [] }
        var differences: [String] = []
        for other in snapshots.dropFirst() {
            if other.versionVector != reference.versionVector {
                differences.append("version vectors: \(reference.node) \(reference.versionVector.serialized), \(other.node) \(other.versionVector.serialized)")
            }
            for kind in RecordKind.allCases {
                let mine = reference.records[kind.table] ?? [:], theirs = other.records[kind.table] ?? [:]
                let missing = Set(mine.keys).subtracting(theirs.keys), extra = Set(theirs.keys).subtracting(mine.keys)
                if !missing.isEmpty { differences.append("\(other.node) lacks \(missing.count) \(kind.table) that \(reference.node) has, e.g. \(missing.sorted().first!)") }
                if !extra.isEmpty { differences.append("\(other.node) has \(extra.count) \(kind.table) that \(reference.node) lacks, e.g. \(extra.sorted().first!)") }
                for (id, record) in mine {
                    guard let theirRecord = theirs[id], theirRecord != record else { continue }
                    differences.append("\(kind.rawValue) \(id) differs between \(reference.node) and \(other.node) in \(Self.differingMembers(record, theirRecord))")
                }
            }
            if other.conflicts != reference.conflicts {
                differences.append("open conflicts differ: \(reference.node) has \(reference.conflicts.count), \(other.node) \(other.conflicts.count)")
            }
        }
        return differences
    }

    /// Names of the members (and fields) in which two record JSONs differ.
    static func differingMembers(_ a: JSONValue, _ b: JSONValue) -> String {
        var names: [String] = []
        for (key, value) in a.objectMembers ?? [] where b[key] != value {
            if key == "fields", let fields = value.objectMembers {
                for (field, fieldValue) in fields where b["fields"]?[field] != fieldValue { names.append("fields.\(field)") }
            } else {
                names.append(key)
            }
        }
        return names.isEmpty ? "(member order)" : names.joined(separator: ", ")
    }

    func converged(among names: [String]? = nil) async -> Bool {
        (try? await differences(among: names).isEmpty) ?? false
    }

    /// Waits until the nodes converge; on timeout throws the last differences.
    func waitConverged(among names: [String]? = nil, timeout: Duration = .seconds(30)) async throws {
        var last: [String] = []
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                last = try await differences(among: names)
                if last.isEmpty { return }
            } catch {
                last = ["\(error)"]
            }
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw RegionError("not converged after \(timeout): " + last.prefix(8).joined(separator: "; "))
    }

    /// Waits until every node reports the same version vector (all changes
    /// delivered everywhere), whether or not the records agree.
    /// Waits until every node but `origin` holds `origin`'s changes up to `seq`.
    func waitPeersHold(of origin: String, seq: Int64, timeout: Duration = .seconds(20)) async throws {
        try await waitUntil("every peer to hold \(origin):\(seq)", timeout: timeout) {
            for peer in all where peer.name != origin {
                if try await peer.holds(of: origin) < seq { return false }
            }
            return true
        }
    }

    func waitVersionVectorsAgree(among names: [String]? = nil, timeout: Duration = .seconds(30)) async throws {
        let names = names ?? self.names
        try await waitUntil("version vectors to agree", timeout: timeout, poll: .milliseconds(200)) {
            var vectors: Set<JSONValue> = []
            for name in names { vectors.insert(try await self[name].status()["versionVector"] ?? .null) }
            return vectors.count == 1
        }
    }

    // MARK: SQLite

    /// `PRAGMA integrity_check` on a stopped node's database via the sqlite3 shell.
    func integrityCheck(_ name: String) async throws -> String {
        let shell = try RegionPaths.sqliteShell()
        let output = "\(directory)/\(name)-integrity.txt"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        _ = try await ChildProcess.run(shell, [self[name].databasePath, "PRAGMA integrity_check;"], logPath: output, timeout: .seconds(60))
        let text = FileManager.default.contents(atPath: output).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
