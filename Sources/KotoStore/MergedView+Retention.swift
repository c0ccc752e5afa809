public import Foundation
public import KotoCore

/// What the retention rule needs to know of one client: its own
/// `retentionUntil`, its plan end and when it last changed. Identifiers
/// and dates only.
public struct RetentionFacts: Sendable, Equatable {
    public let id: UUID
    public let ownerMunicipality: Int
    /// The record's own `retentionUntil`, which overrides the default.
    public let retentionUntil: LocalDate?
    public let planEnd: LocalDate?
    /// The newest winning write to any field (its HLC wall clock, Unix ms).
    public let lastChangeMillis: UInt64
    /// The client's placements that are not erased (the job erases them with it).
    public let placements: [UUID]

    public init(id: UUID, ownerMunicipality: Int, retentionUntil: LocalDate?, planEnd: LocalDate?, lastChangeMillis: UInt64,
                placements: [UUID]) {
        self.id = id
        self.ownerMunicipality = ownerMunicipality
        self.retentionUntil = retentionUntil
        self.planEnd = planEnd
        self.lastChangeMillis = lastChangeMillis
        self.placements = placements
    }
}

extension MergedView {
    /// The retention facts of every client `owner` owns that is not erased
    /// (deleted ones included: they still hold personal data), in id order.
    /// `expired` picks the ones to keep (the rule lives with the job); their
    /// placements are read only for those.
    public func retentionFacts(owner: Int, where expired: (RetentionFacts) -> Bool) throws -> [RetentionFacts] {
        try database.readTransaction {
            let clients = try database.query("""
                SELECT id, retention_until, plan_end, stamps FROM clients
                WHERE owner_municipality = ? AND erased = 0 AND awaiting_erase = 0 ORDER BY id
                """, [.integer(Int64(owner))]) { row -> RetentionFacts in
                guard let id = UUID(uuidString: row.string(0) ?? "") else { throw ReplicaStoreError.corrupt("unreadable row id") }
                let stamps = try WireFormat.decodeStamps(row.blob(3) ?? [], record: .client)
                let last = stamps.values.map(\.hlc.wallMillis).max() ?? 0
                return RetentionFacts(id: id, ownerMunicipality: owner, retentionUntil: row.string(1).flatMap(LocalDate.init),
                                      planEnd: row.string(2).flatMap(LocalDate.init), lastChangeMillis: last, placements: [])
            }
            return try clients.filter(expired).map { facts in
                let placements = try database.query("""
                    SELECT id FROM placements WHERE client_id = ? AND erased = 0 AND awaiting_erase = 0 ORDER BY id
                    """, [.text(facts.id.lowercased)]) { row in
                    guard let id = UUID(uuidString: row.string(0) ?? "") else { throw ReplicaStoreError.corrupt("unreadable row id") }
                    return id
                }
                return RetentionFacts(id: facts.id, ownerMunicipality: facts.ownerMunicipality, retentionUntil: facts.retentionUntil,
                                      planEnd: facts.planEnd, lastChangeMillis: facts.lastChangeMillis, placements: placements)
            }
        }
    }
}
