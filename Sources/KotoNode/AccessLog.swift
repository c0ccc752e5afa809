public import Foundation
public import KotoCore
public import KotoCrypto
public import KotoStore
import KotoHTTP

/// The node's persistent access log (Act 906/2019 §17): the one owner of
/// `access.sqlite`. Every personal-data access the API reports is appended
/// before its answer leaves (fail closed: if appending fails, the request
/// fails with 503 — 507 when the disk is full — and nothing is disclosed); a daily purge removes entries
/// older than the retention and leaves a signed checkpoint.
public actor AccessLog: AccessRecorder {
    let store: AccessLogStore
    /// The actor's executor: a thread of its own, so a commit's fsync never blocks Swift's cooperative pool.
    public nonisolated let storeThread = StoreThread(name: "kotosync-access")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { storeThread.asUnownedSerialExecutor() }
    /// The accesses waiting for the next group append, and whether it is scheduled.
    private var pending: [PendingEntry] = []
    private var appendScheduled = false
    /// Transactions that appended entries (a group holds every access recorded meanwhile).
    public private(set) var appendCommits = 0
    public nonisolated let node: String
    /// This node's public keys in the region manifest: checkpoints and heads verify against them.
    nonisolated let publicKeys: [PublicKey]
    public nonisolated let retentionYears: Int
    private nonisolated let now: @Sendable () -> Int64

    /// The longest purpose kept; longer ones are cut (the purpose is the caller's free text).
    static let maxPurposeLength = 200

    public init(path: String, node: String, signingKey: SigningKey, publicKeys: [PublicKey], retentionYears: Int,
                synchronous: SynchronousMode = .full,
                now: @escaping @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }) throws {
        store = try AccessLogStore(path: path, node: node, signingKey: signingKey, synchronous: synchronous)
        self.node = node
        self.publicKeys = publicKeys
        self.retentionYears = retentionYears
        self.now = now
    }

    // MARK: Recording

    public func record(_ access: PersonalDataAccess, by caller: Caller) async throws {
        let draft = AccessLogEntry.Draft(
            timeMillis: now(),
            holder: .init(role: caller.role.rawValue, municipality: caller.municipality, name: caller.name),
            action: access.action.rawValue, kind: access.kind.table, ids: access.ids.map(\.lowercased).sorted(),
            fields: access.fields.sorted(), route: access.route, purpose: Self.cleanPurpose(access.purpose))
        do {
            try AccessLogStore.check(draft)
        } catch {
            Log.error("access.record_failed", ["error": String(describing: error), "route": access.route])
            throw AccessLogUnavailable()
        }
        // No daemon-log line per entry: the access log is the record, and a line per read would bury the sync events.
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            pending.append(PendingEntry(draft: draft, route: access.route, continuation: continuation))
            guard !appendScheduled else { return }
            appendScheduled = true
            // Behind the records already queued on this thread: they join one transaction.
            Task { self.appendPending() }
        }
    }

    /// One entry waiting for the next group append.
    struct PendingEntry {
        let draft: AccessLogEntry.Draft
        let route: String
        let continuation: CheckedContinuation<Void, any Error>
    }

    /// Appends every entry waiting now in one transaction (one fsync, one
    /// signed head); each access's answer waits for it (fail closed).
    private func appendPending() {
        appendScheduled = false
        let group = pending
        pending = []
        guard !group.isEmpty else { return }
        do {
            _ = try store.append(group.map(\.draft))
            appendCommits += 1
            for entry in group { entry.continuation.resume() }
        } catch let error as SQLiteError where error.isStorageFull {
            // Fail closed here too, but say why: 507, like every write on a full disk.
            Log.error("access.record_failed", ["error": "disk full", "route": group[0].route, "entries": String(group.count)])
            for entry in group {
                entry.continuation.resume(throwing: InsufficientStorage(refused: "this access could not be recorded in the access log, so its answer is withheld"))
            }
        } catch {
            Log.error("access.record_failed", ["error": String(describing: error), "route": group[0].route, "entries": String(group.count)])
            for entry in group { entry.continuation.resume(throwing: AccessLogUnavailable()) }
        }
    }

    /// The purpose as kept: control characters as spaces, trimmed, at most
    /// `maxPurposeLength` characters; nil when nothing is left.
    static func cleanPurpose(_ purpose: String?) -> String? {
        guard let purpose else { return nil }
        let scalars = purpose.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }
        let text = String(String.UnicodeScalarView(scalars)).trimmingCharacters(in: .whitespaces)
        return text.isEmpty ? nil : String(text.prefix(maxPurposeLength))
    }

    // MARK: Reading

    /// Entries of the UTC days `from` through `to`, both included.
    public func entries(from: LocalDate, to: LocalDate) throws -> [AccessLogEntry] {
        try store.entries(fromMillis: Int64(from.dayNumber) * Self.dayMillis, toMillis: Int64(to.dayNumber + 1) * Self.dayMillis)
    }

    /// Entries naming any of these records.
    public func entries(naming ids: Set<UUID>) throws -> [AccessLogEntry] {
        try store.entries(naming: Set(ids.map(\.lowercased)))
    }

    public func verify() throws -> AccessLogVerification {
        try store.verify(publicKeys: publicKeys)
    }

    // MARK: Retention

    static let dayMillis: Int64 = 86_400_000

    /// The first instant kept: midnight UTC of today's date `years` years
    /// ago (29 February becomes 28 February).
    static func cutoff(nowMillis: Int64, years: Int) -> Int64 {
        let today = LocalDate(dayNumber: Int(nowMillis.dividedRoundingDown(by: dayMillis)))!
        let day = min(today.day, LocalDate.daysIn(month: today.month, year: today.year - years))
        let then = LocalDate(year: today.year - years, month: today.month, day: day)!
        return Int64(then.dayNumber) * dayMillis
    }

    /// Removes the entries older than the retention, leaving a signed checkpoint.
    @discardableResult
    public func purge() throws -> Int {
        let nowMillis = now()
        let (removed, checkpoint) = try store.purge(olderThan: Self.cutoff(nowMillis: nowMillis, years: retentionYears), nowMillis: nowMillis)
        if let checkpoint {
            try store.checkpointWAL()
            Log.info("access.purged", ["removed": String(removed), "checkpointSeq": String(checkpoint.seq),
                                       "retentionYears": String(retentionYears)])
        }
        return removed
    }

    /// Purges now and then once a day until cancelled.
    func runDailyPurge() async {
        while !Task.isCancelled {
            do {
                try purge()
            } catch {
                Log.error("access.purge_failed", ["error": String(describing: error)])
            }
            try? await Task.sleep(for: .seconds(86_400))
        }
    }
}

/// 503 `access_log_unavailable`: the access could not be recorded, so nothing was disclosed or the write's answer is withheld.
struct AccessLogUnavailable: HTTPResponseError {
    var status: HTTPStatus { .serviceUnavailable }
    var code: String { "access_log_unavailable" }
    var message: String { "the access log cannot record this access, so it is refused; try again later or ask the operator" }
    var description: String { "\(code): \(message)" }
}

extension Int64 {
    /// Floor division (toward minus infinity), for day numbers of instants before 1970.
    func dividedRoundingDown(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
