import Foundation
import Glibc
import KotoCore
import KotoHTTP
import Testing

// A node whose data directory (replica and access log) sits on a small
// tmpfs that fills up. CI runs as root: a machine where the mount fails
// fails this test with the reason, it never passes without the disk full.

/// A tmpfs mounted at a directory for one test.
struct TmpfsMount {
    let path: String

    /// Mounts a tmpfs of `megabytes` at `path` (created, mode 0700 as the
    /// daemon wants its data directory); throws, loudly, when it cannot.
    init(at path: String, megabytes: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(megabytes)m,mode=0700") == 0 else {
            let reason = String(cString: strerror(errno))
            throw RegionError("""
                cannot mount a tmpfs at \(path) (\(reason)): the disk-full test needs root (CI runs deploy/test.sh as root) \
                and a kernel that allows tmpfs mounts; it does not pass without a full disk
                """)
        }
        self.path = path
    }

    /// Detaches it (lazily: a daemon still holding files keeps them until it exits).
    func unmount() { _ = Glibc.umount2(path, Int32(MNT_DETACH)) }

    /// Fills the file system with `name` until no block is left; returns the bytes written.
    func fill(_ name: String) throws -> Int {
        let file = "\(path)/\(name)"
        let descriptor = Glibc.open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw RegionError("cannot create \(file): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(descriptor) }
        var total = 0
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        for size in [1 << 20, 1 << 16, 4096, 512] {
            while true {
                let written = chunk.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, size) }
                if written > 0 { total += written }
                if written == size { continue }
                if written < 0, errno == EINTR { continue }
                guard written >= 0 || errno == ENOSPC else { throw RegionError("filling \(file): \(String(cString: strerror(errno)))") }
                break
            }
        }
        return total
    }

    /// Free bytes on it (statvfs).
    var freeBytes: Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return -1 }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }
}

extension Region {
    @Suite("Region: disk full")
    struct DiskFull {
        /// A 507's body: the stable code, a message that says so, no record content.
        static func expectInsufficientStorage(_ result: APIResult, _ what: String) {
            #expect(result.status == 507, "\(what): HTTP \(result.status) \(result.errorCode ?? "")")
            #expect(result.errorCode == "insufficient_storage", "\(what): code \(result.errorCode ?? "none")")
            let message = result.errorMessage ?? ""
            #expect(message.contains("disk is full"), "\(what): message \(message)")
            for personal in ["Testi", "Henkilö", "1990-05-17", "Testipalvelu", "SQLite", "INSERT"] {
                #expect(!message.contains(personal), "\(what): the message leaks record content or internals")
            }
        }

        @Test("a full data directory: writes 507, personal reads 507 (the access log cannot record them), sync pauses with a disk-full status, no batch half-applied; freeing space resumes it by itself and the region converges")
        func diskFullPausesAndResumes() async throws {
            let options = RegionOptions(nodes: ["jakobstad", "nykarleby", "kronoby"])
            try await withRegion(options, start: false) { region in
                let full = "kronoby", source = "jakobstad"
                _ = try RegionPaths.sqliteShell()
                let mount = try TmpfsMount(at: region[full].dataDirectory, megabytes: 24)
                defer { mount.unmount() }
                try await region.startAll()
                let node = region[full]

                // Before: a client (personal data, access-logged) and services at the node, converged.
                let clientID = newID()
                try expectCreated(try await node.create(.client, Fixture.client(id: clientID, office: full, number: "DF-1")), "client")
                var acknowledged = try await writeServices(at: node, count: 20, streams: 2, label: "before").acknowledged
                try await region.waitConverged()

                let filled = try mount.fill("filler")
                note("disk full: filler of \(filled / 1024) KiB, \(mount.freeBytes) bytes left")

                // Writes: each one either saved (201) or refused whole with 507; the disk is soon full.
                var refused: APIResult?
                var savedOnFullDisk = 0
                for index in 0..<400 {
                    let id = newID()
                    let result = try await node.create(.service, Fixture.service(id: id, office: full, label: "full-\(index)"))
                    if result.status == 201 { acknowledged.append(id); savedOnFullDisk += 1; continue }
                    refused = result
                    break
                }
                let refusal = try #require(refused, "400 writes on a full disk were all saved")
                Self.expectInsufficientStorage(refusal, "a write on the full disk")
                let patch = try await node.send(.patch, "/v1/services/\(acknowledged[0])", json: .fields(["capacity": .number(3)]))
                #expect(patch.status == 200 || patch.status == 507, "an update on the full disk: HTTP \(patch.status)")
                if patch.status == 507 { Self.expectInsufficientStorage(patch, "an update on the full disk") }
                let patched = patch.status == 200

                // Reads without personal data still answer; a personal read must be recorded first, and is refused when it cannot be.
                #expect(try await node.send(.get, "/v1/services?limit=5", role: .coordinator).status == 200)
                #expect(try await node.send(.get, "/v1/status", role: .admin).status == 200)
                var personal: APIResult?
                var recordedOnFullDisk = 0
                for _ in 0..<400 {
                    let read = try await node.send(.get, "/v1/clients/\(clientID)")
                    if read.status == 200 { recordedOnFullDisk += 1; continue }
                    personal = read
                    break
                }
                let personalRefusal = try #require(personal, "400 personal reads on a full disk were all recorded")
                Self.expectInsufficientStorage(personalRefusal, "a personal read on the full disk")
                #expect(personalRefusal.errorMessage?.contains("access log") == true)
                #expect(!(personalRefusal.json?["error"]?.serialized.contains("DF-1") ?? true), "the refusal discloses nothing of the client")

                // A backlog at the source: the full node cannot apply it, and says so.
                let seqBefore = try await node.holds(of: source)
                let servicesBefore = try await node.serviceCapacities().count
                let backlog = (0..<600).map { Fixture.service(office: source, label: "backlog-\($0)") }
                let imported = try await region[source].importServices(backlog)
                try #require((200..<300).contains(imported.status), "import at \(source): HTTP \(imported.status)")
                acknowledged += backlog.compactMap { $0["id"]?.stringValue }
                var linkError = ""
                try await waitUntil("\(full)'s link to \(source) to say the disk is full", timeout: .seconds(30)) {
                    linkError = try await node.peerStatus(source)?["lastError"]?.stringValue ?? ""
                    return linkError.contains("disk full")
                }
                #expect(node.log.contains("disk full"), "the daemon log says why sync stopped")
                // All or nothing: whatever the node holds of the backlog is exactly what its version vector says.
                let seqDuring = try await node.holds(of: source)
                let servicesDuring = try await node.serviceCapacities().count
                #expect(servicesDuring - servicesBefore == Int(seqDuring - seqBefore),
                        "\(full) holds \(servicesDuring - servicesBefore) backlog services but its version vector moved \(seqDuring - seqBefore)")
                #expect(seqDuring < seqBefore + 600, "the whole backlog fit on the full disk")
                note("disk full: \(savedOnFullDisk) writes and \(recordedOnFullDisk) personal reads still fitted (freed WAL space) before the first 507; "
                     + "\(seqDuring - seqBefore) of the 600 backlog changes applied while full")
                #expect(node.isRunning, "\(full) still runs on the full disk")
                let status = try await node.status()
                #expect(status["acceptingWrites"] == .bool(true), "a full disk is not a reason to stop taking writes once space is back")

                // Space is freed: the node resumes by itself.
                try FileManager.default.removeItem(atPath: "\(mount.path)/filler")
                try await region.waitConverged(timeout: .seconds(60))
                try await waitUntil("\(full)'s link to \(source) to be ok again", timeout: .seconds(20)) {
                    try await node.peerStatus(source)?["state"]?.stringValue == "ok"
                }
                let after = newID()
                try expectCreated(try await node.create(.service, Fixture.service(id: after, office: full, label: "after")), "write after freeing space")
                acknowledged.append(after)
                #expect(try await node.send(.get, "/v1/clients/\(clientID)").status == 200, "personal reads are recorded again")
                try await region.waitConverged()
                for peer in region.all {
                    let capacities = try await peer.serviceCapacities()
                    let missing = acknowledged.filter { capacities[$0] == nil }
                    #expect(missing.isEmpty, "\(peer.name) lacks \(missing.count) acknowledged services")
                    if patched { #expect(capacities[acknowledged[0]] == 3, "\(peer.name) lacks the update acknowledged on the full disk") }
                }
                await region.stopAll()
                for name in region.names {
                    let result = try await region.integrityCheck(name)
                    #expect(result == "ok", "PRAGMA integrity_check on \(name): \(result)")
                }
            }
        }
    }
}
