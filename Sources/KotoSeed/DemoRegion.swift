// KotoSeed: deterministic demo data for the five-office region.
public import Foundation
public import KotoCore

/// One record to load into a node's store: a full field map (every field of
/// the kind, nulls included, in the canonical forms the typed views write)
/// and the node id of the office that writes it.
public struct SeedRecord: Hashable, Sendable {
    public let kind: RecordKind
    public let id: UUID
    /// Every field of `kind`; passes `RecordValidator().problems(in:kind:)` with no problems.
    public let fields: FieldMap
    /// Node id (municipality slug) of the office that writes the record.
    public let owner: String

    public init(kind: RecordKind, id: UUID, fields: FieldMap, owner: String) {
        self.kind = kind
        self.id = id
        self.fields = fields
        self.owner = owner
    }
}

/// The generated region.
///
/// **Ownership and loading order.** Every record has exactly one owner, and
/// each node's slice is self-contained:
/// - a service is owned by the office of its main municipality (the first
///   code of its `municipalities`; regional services such as Kela or the
///   interpretation centre are owned by `jakobstad`);
/// - a client is owned by the office of its `ownerMunicipality`;
/// - a placement is owned by the office that owns its client, and a service
///   enrolment only ever references a service owned by that same office. A
///   municipal placement's `municipality` is the client's owner municipality.
///
/// So loading `records(for: node)` in the order returned (that node's
/// services, then its clients, then its placements) into that node's store
/// resolves every `clientId` and `serviceId` locally. Nodes can be loaded
/// independently and in any order; no record references another office's
/// record.
public struct DemoData: Hashable, Sendable {
    /// The date the data was generated for: nothing lies in the past of it
    /// that hasn't happened, statuses are as of this day.
    public let today: LocalDate
    public let services: [SeedRecord]
    public let clients: [SeedRecord]
    /// Municipal placements first, then service enrolments.
    public let placements: [SeedRecord]

    public init(today: LocalDate, services: [SeedRecord], clients: [SeedRecord], placements: [SeedRecord]) {
        self.today = today
        self.services = services
        self.clients = clients
        self.placements = placements
    }

    /// Every record, in a valid load order: services, clients, placements.
    public var all: [SeedRecord] { services + clients + placements }

    /// The records `node` writes, in write order: its services, then its
    /// clients, then its placements (which reference only records earlier in
    /// this list). Empty for a node id that owns nothing.
    public func records(for node: String) -> [SeedRecord] {
        services.filter { $0.owner == node } + clients.filter { $0.owner == node }
            + placements.filter { $0.owner == node }
    }

    /// The node ids that own at least one record, in registry order.
    public var nodes: [String] {
        DemoRegion.registry.all.map(\.slug).filter { node in
            services.contains { $0.owner == node } || clients.contains { $0.owner == node }
        }
    }
}

/// Deterministic seed data for the demo region: the five offices of the
/// Jakobstad region (Jakobstad, Nykarleby, Kronoby, Pedersöre, Larsmo).
///
/// `generate(seed:today:)` depends only on its arguments (its own SplitMix64
/// generator; no clock, no system randomness, no dictionary iteration), so
/// the same seed and date always give identical records and ids.
///
/// What it produces:
/// - 60–90 services covering every `ServiceCategory`;
/// - 2,250–2,350 clients with immigrant background (Jakobstad about 1,250,
///   Pedersöre 380, Nykarleby 300, Larsmo 220, Kronoby 150), 430–490 of them
///   with refugee background (permit basis quota refugee, international or
///   temporary protection). Names are placeholders ("Testi-17 Asiakas-0017",
///   "Exempel-18 Asiakas-0018"); about 40 % have a personal identity code
///   with an individual number in 900–999, the range for temporary codes;
/// - municipal placements (refugees placed in a municipality) for the
///   `today` year and the four years before it, 80–120 in each full year and
///   exactly 23 in Jakobstad in the `today` year (a placement's year is the
///   year of its `offeredDate`); each refers to a refugee-background client
///   of that municipality;
/// - 1,500–3,000 service enrolments.
///
/// Personal data in it is fictional but still goes through the same code
/// paths as real data: don't print it.
public enum DemoRegion {
    /// The seed `deploy/demo.sh` uses unless told otherwise.
    public static let defaultSeed: UInt64 = 0x4B4F_544F_5345_4544  // "KOTOSEED"

    /// Exactly this many municipal placements in Jakobstad in the `today` year.
    public static let jakobstadPlacementsThisYear = 23

    static let registry = MunicipalityRegistry.ostrobothnianCoast

    /// The region's data as of `today`.
    public static func generate(seed: UInt64, today: LocalDate) -> DemoData {
        var generator = RegionGenerator(seed: seed, today: today)
        return generator.run()
    }
}
