import Foundation
import KotoCore
import KotoCrypto
import Synchronization
@testable import KotoStore

/// One Ed25519 key per office of the test region, made once per test run,
/// and the region every test store belongs to.
enum TestKeys {
    static let offices = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"]
    static let signing: [String: SigningKey] = Dictionary(uniqueKeysWithValues: offices.map { ($0, try! SigningKey.generate()) })
    static let region = RegionKeys(signing.mapValues { [$0.publicKey] })

    static func identity(_ node: String) -> StoreIdentity {
        StoreIdentity(signingKey: signing[node] ?? signing["jakobstad"]!, region: region)
    }
}

/// Deterministic PRNG (SplitMix64) so a seed reproduces a whole scenario.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A wall clock the test moves by hand; shared by the stores of one scenario.
final class ManualClock: Sendable {
    private let millis: Mutex<UInt64>
    init(start: UInt64 = 1_795_000_000_000) { millis = Mutex(start) }
    var now: UInt64 { millis.withLock { $0 } }
    func advance(by delta: UInt64) { millis.withLock { $0 += delta } }
}

/// A directory removed when the value goes away.
final class TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("kotosync-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

func makeStore(_ directory: TemporaryDirectory, node: String, clock: ManualClock, skewMillis: Int64 = 0,
               synchronous: SynchronousMode = .normal) throws -> ReplicaStore {
    var options = StoreOptions()
    options.synchronous = synchronous
    options.now = { UInt64(Int64(clock.now) + skewMillis) }
    return try ReplicaStore(path: directory.path("\(node).sqlite"), nodeID: node, identity: TestKeys.identity(node), options: options)
}

/// Fictional, obviously made-up test data.
enum Sample {
    static let givenNames = ["Testi", "Exempel", "Malli", "Prov", "Demo", "Fiktiv"]
    static let familyNames = ["Henkilö", "Person", "Asiakas", "Klient", "Nimetön"]
    static let languages = ["ar", "fa", "uk", "ru", "so", "ti", "en", "ku"]
    static let codes: [Int64] = [598, 893, 288, 599, 440]

    static func client<G: RandomNumberGenerator>(_ rng: inout G, number: Int) -> FieldMap {
        let birth = LocalDate(year: Int.random(in: 1950...2015, using: &rng), month: Int.random(in: 1...12, using: &rng),
                              day: Int.random(in: 1...28, using: &rng))!
        var fields: FieldMap = [
            "clientNumber": .text("T-\(number)"),
            "ownerMunicipality": .integer(codes.randomElement(using: &rng)!),
            "givenName": .text(givenNames.randomElement(using: &rng)!),
            "familyName": .text(familyNames.randomElement(using: &rng)!),
            "birthDate": .text(birth.description),
            "integrationLanguage": .text(Bool.random(using: &rng) ? "fi" : "sv"),
            "planStatus": .text("none"),
            "status": .text("new"),
        ]
        if Bool.random(using: &rng) {
            fields["personalIdentityCode"] = .text(PersonalIdentityCode.make(birthDate: birth, individual: Int.random(in: 900...999, using: &rng)))
        }
        return fields
    }

    static func service<G: RandomNumberGenerator>(_ rng: inout G, number: Int) -> FieldMap {
        [
            "nameFi": .text("Kotoutumiskoulutus \(number)"),
            "nameSv": .text("Integrationsutbildning \(number)"),
            "providerName": .text("Testiopisto"),
            "providerType": .text(ProviderType.allCases.randomElement(using: &rng)!.rawValue),
            "category": .text(ServiceCategory.allCases.randomElement(using: &rng)!.rawValue),
            "municipalities": .text("598,599"),
            "studyPath": .text("basic"),
            "capacity": .integer(Int64.random(in: 0...40, using: &rng)),
            "status": .text("active"),
        ]
    }

    static func enrolment(client: UUID, service: UUID) -> FieldMap {
        ["type": .text("service_enrolment"), "clientId": .text(client.lowercased), "serviceId": .text(service.lowercased),
         "status": .text("proposed")]
    }

    /// Fields that many writers touch, so concurrent writes overlap; each
    /// value valid on its own whatever the rest of the record holds.
    static func update<G: RandomNumberGenerator>(_ kind: RecordKind, _ rng: inout G) -> FieldMap {
        var fields: FieldMap = [:]
        let choices: [(String, (inout G) -> FieldValue)]
        switch kind {
        case .client:
            choices = [
                ("status", { .text(ClientStatus.allCases.randomElement(using: &$0)!.rawValue) }),
                ("jobseeker", { .bool(Bool.random(using: &$0)) }),
                ("familyName", { .text(familyNames.randomElement(using: &$0)!) }),
                ("motherTongue", { .text(languages.randomElement(using: &$0)!) }),
                ("interpreterLanguage", { Bool.random(using: &$0) ? .null : .text(languages.randomElement(using: &$0)!) }),
            ]
        case .service:
            choices = [
                ("status", { .text(ServiceStatus.allCases.randomElement(using: &$0)!.rawValue) }),
                ("capacity", { .integer(Int64.random(in: 0...60, using: &$0)) }),
                ("contact", { .text("palvelu\(Int.random(in: 1...9, using: &$0))@example.invalid") }),
                ("languages", { .text(["fi", "sv", "fi,sv", "fi,sv,en"].randomElement(using: &$0)!) }),
            ]
        case .placement:
            choices = [
                ("status", { .text(EnrolmentStatus.allCases.randomElement(using: &$0)!.rawValue) }),
                ("outcome", { Bool.random(using: &$0) ? .null : .text(EnrolmentOutcome.allCases.randomElement(using: &$0)!.rawValue) }),
            ]
        }
        let count = Int.random(in: 1...min(3, choices.count), using: &rng)
        for (name, make) in choices.shuffled(using: &rng).prefix(count) {
            fields[name] = make(&rng)
        }
        return fields
    }
}

// MARK: - Helpers for the focused store tests

/// A temporary directory and a manual clock, and stores opened in that
/// directory on that clock. Opening goes through the harness, so the
/// directory outlives every store opened from it by path.
final class StoreHarness {
    let directory: TemporaryDirectory
    let clock: ManualClock

    init(clock: ManualClock = ManualClock()) throws {
        directory = try TemporaryDirectory()
        self.clock = clock
    }

    func path(_ name: String) -> String { directory.path(name) }

    /// Opens (creating if needed) `<file ?? node>.sqlite` for `node`; `configure` adjusts the options.
    func open(_ node: String, file: String? = nil, clock: ManualClock? = nil, skewMillis: Int64 = 0,
              configure: (inout StoreOptions) -> Void = { _ in }) throws -> ReplicaStore {
        let wall = clock ?? self.clock
        var options = StoreOptions()
        options.synchronous = .normal
        options.now = { UInt64(Int64(wall.now) + skewMillis) }
        configure(&options)
        return try ReplicaStore(path: path("\(file ?? node).sqlite"), nodeID: node, identity: TestKeys.identity(node), options: options)
    }
}

/// Pulls from `peer` into `puller` batch after batch until nothing is left,
/// exactly as a node does (cursor, version vector); returns what was sent.
@discardableResult
func pullAll(_ puller: ReplicaStore, from peer: ReplicaStore, limit: Int = 100) throws -> [Change] {
    var received: [Change] = []
    for _ in 0..<10_000 {
        let since = try puller.peerCursor(peer.nodeID)?.position ?? 0
        let batch = try peer.readLog(after: since, notCoveredBy: puller.versionVector, limit: limit)
        try puller.apply(batch, from: peer.nodeID)
        received += batch.changes
        if batch.changes.isEmpty { return received }
    }
    throw PullDidNotSettle()
}

struct PullDidNotSettle: Error {}

extension Sample {
    /// A fixed, valid, obviously fictional client.
    static func fixedClient(number: Int, owner: Int64 = 598, integrationLanguage: String = "fi") -> FieldMap {
        [
            "clientNumber": .text("T-\(number)"),
            "ownerMunicipality": .integer(owner),
            "givenName": .text("Testi"),
            "familyName": .text("Henkilö"),
            "birthDate": .text("1990-01-01"),
            "integrationLanguage": .text(integrationLanguage),
            "planStatus": .text("none"),
            "status": .text("new"),
        ]
    }

    /// A fixed, valid, obviously fictional service.
    static func fixedService(number: Int, municipalities: String = "598,599", category: String = "language_course") -> FieldMap {
        [
            "nameFi": .text("Testikurssi \(number)"),
            "providerName": .text("Testiopisto"),
            "providerType": .text("adult_education"),
            "category": .text(category),
            "municipalities": .text(municipalities),
            "studyPath": .text("basic"),
            "status": .text("active"),
        ]
    }
}

/// Everything observable about a store, in memory and on disk, to check that
/// a refused or rolled-back operation changed nothing. Its description leaves
/// out record values (the dump holds personal data), so a failed comparison
/// never prints them.
struct StoreSnapshot: Equatable, CustomStringConvertible {
    let dump: String
    let versionVector: VersionVector
    let seq: UInt64
    let logPosition: UInt64
    let lastHLC: HLC
    let incarnation: String
    /// `node_state` (seq, hlc, log_end) and `version_vector` as stored.
    let persistedState: [Int64]
    let persistedVector: VersionVector
    let log: [LogLine]
    let cursors: [PeerCursor]

    struct LogLine: Equatable {
        let position: UInt64
        let change: Change
    }

    init(_ store: ReplicaStore) throws {
        dump = try store.canonicalDump()
        versionVector = store.versionVector
        seq = store.seq
        logPosition = store.logPosition
        lastHLC = store.lastHLC
        incarnation = store.incarnation
        persistedState = try store.database.query("SELECT seq, hlc, log_end FROM node_state") { row in
            [row.int64(0), row.int64(1), row.int64(2)]
        }.first ?? []
        persistedVector = VersionVector(Dictionary(
            try store.database.query("SELECT origin, seq FROM version_vector") { ($0.string(0) ?? "", UInt64($0.int64(1))) },
            uniquingKeysWith: max))
        log = try store.logEntries().map { LogLine(position: $0.position, change: $0.change) }
        let peers = try store.database.query("SELECT peer FROM peer_cursors ORDER BY peer") { $0.string(0) ?? "" }
        cursors = try peers.compactMap { try store.peerCursor($0) }
    }

    var description: String {
        "StoreSnapshot(seq: \(seq), log: \(logPosition) [\(log.map { "\($0.position):\($0.change.dot)" }.joined(separator: " "))], "
            + "vv: \(versionVector), hlc: \(lastHLC), persisted: \(persistedState) \(persistedVector), "
            + "cursors: \(cursors.map { "\($0.peer)@\($0.position)/\($0.consecutiveFailures)" }), dump: \(dump.utf8.count) bytes)"
    }
}

/// The error `body` throws when it is an `E`; nil when it throws nothing or
/// another error. Used instead of `#expect(throws:)` inside closures: with
/// Swift 6.3.1, a `#expect(throws:)` closure in a closure body followed by
/// more `#expect`s and another closure literal can end up sharing that
/// literal's closure discriminator, so the later literal runs the
/// `#expect` closure's body instead of its own.
func thrownError<E: Error, R>(_ type: E.Type, _ body: () throws -> R) -> E? {
    do {
        _ = try body()
        return nil
    } catch let error as E {
        return error
    } catch {
        return nil
    }
}
