import Foundation
import KotoCore
import KotoCrypto
import KotoStore

// What the reports' derived state costs the writes: remote apply of batches
// of changes (new clients, new placements of them into 50 services, status
// and owner updates, deletes) from a second node into the
// bench's replica, under four schemas on the same replica in one run:
// this build's (its report indexes, the trigger-kept report aggregates and
// the next limits, `deadline_next`), the same without `deadline_next` (the
// build before it), main's before the aggregates (its nine report indexes,
// no triggers), and none. Passes go A B C D D C B A so the load's drift hits
// each alike.

/// The report indexes before the report aggregates (main at 5d10756), as the
/// baseline schema for the apply cost.
let reportIndexesBeforeAggregates: [String] = {
    let live = "(deleted IS NULL OR deleted = 0) AND erased = 0 AND awaiting_erase = 0"
    let columns = "deleted, erased, awaiting_erase"
    return [
        "report_clients_groups ON clients (owner_municipality, permit_basis, status, \(columns)) WHERE \(live)",
        "report_clients_owner ON clients (owner_municipality, id, \(columns)) WHERE \(live)",
        "report_clients_numbers ON clients (client_number, owner_municipality, \(columns)) WHERE \(live)",
        """
        report_clients_deadlines ON clients (id, status, owner_municipality, client_number, first_permit_date, arrival_date, \
        assessment_date, plan_start, plan_end, \(columns)) WHERE \(live)
        """,
        "report_placements_groups ON placements (type, status, service_id, \(columns)) WHERE \(live)",
        "report_placements_by_client ON placements (client_id, type, status, service_id, municipality, \(columns)) WHERE \(live)",
        "report_placements_by_service ON placements (service_id, type, status, \(columns)) WHERE \(live)",
        "report_placements_municipal ON placements (type, municipality, status, offered_date, arrival_date, \(columns)) WHERE \(live)",
        "report_placements_referrals ON placements (client_id, referral_date, type, \(columns)) WHERE referral_date IS NOT NULL AND \(live)",
    ].map { "CREATE INDEX IF NOT EXISTS " + $0 }
}()

/// The report schema objects on `database`: indexes named `report_…` and the aggregates' tables and triggers
/// (with `aggregates`, the next limits' `deadline_…` too).
func dropReportObjects(_ database: Database, indexes: Bool, aggregates: Bool) throws {
    let objects = try database.query("""
        SELECT type, name FROM sqlite_master WHERE (substr(name, 1, 7) = 'report_' OR substr(name, 1, 9) = 'deadline_')
          AND type IN ('index', 'table', 'trigger') AND sql IS NOT NULL
        ORDER BY type = 'trigger' DESC, type = 'table' DESC
        """) { ($0.string(0) ?? "", $0.string(1) ?? "") }.filter { aggregates || !$0.1.hasPrefix("deadline_") }
    var tables: Set<String> = []
    for (type, name) in objects {
        switch type {
        case "trigger" where aggregates: try database.execute("DROP TRIGGER \(name)")
        case "table" where aggregates: try database.execute("DROP TABLE \(name)"); tables.insert(name)
        case "index" where indexes: try database.execute("DROP INDEX IF EXISTS \(name)")
        default: break
        }
    }
}

struct ApplyCost {
    let schema: String
    /// Microseconds per applied change, one value a batch.
    var microsPerChange: [Double] = []
}

/// Applies `batches` batches of `size` changes per pass under each schema; medians per schema.
func measureApplyCost(path: String, writer: Database, size: Int, batches: Int) throws -> [ApplyCost] {
    let originKey = try SigningKey.generate(), replicaKey = try SigningKey.generate()
    let region = RegionKeys(["larsmo": [originKey.publicKey], "jakobstad": [replicaKey.publicKey]])
    var options = StoreOptions()
    options.synchronous = .normal
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
    let origin = try ReplicaStore(path: directory.appendingPathComponent("larsmo.sqlite").path, nodeID: "larsmo",
                                  identity: StoreIdentity(signingKey: originKey, region: region), options: options)
    func openReplica(deadlineRules: [DeadlineRule] = DeadlineRule.integrationActDefaults) throws -> ReplicaStore {
        var replicaOptions = options
        replicaOptions.deadlineRules = deadlineRules
        return try ReplicaStore(path: path, nodeID: "jakobstad", identity: StoreIdentity(signingKey: replicaKey, region: region),
                                options: replicaOptions)
    }
    var replica = try openReplica()
    var random = BenchRandom(state: 681)
    // The origin validates a placement's client and service against its own rows: it names its own.
    var ownClients: [UUID] = [], ownPlacements: [UUID] = [], services: [String] = []
    var read: UInt64 = 0

    /// The next batch from larsmo: a fifth new clients, two fifths new enrolments or municipal placements of its
    /// clients, a fifth updates (placement status; client owner and status), a tenth deletes.
    func nextBatch() throws -> ChangeBatch {
        try origin.batch {
            while services.count < 50 {
                let id = UUID()
                _ = try origin.create(.service, id: id, fields: ApplySample.benchService(number: services.count + 1))
                services.append(id.lowercased)
            }
            for _ in 0..<size {
                let roll = random.next(10)
                if roll < 2 || ownClients.isEmpty {
                    let id = UUID()
                    var fields = ApplySample.benchClient(number: 900_000 + ownClients.count)
                    fields["ownerMunicipality"] = .integer(random.pick(ReportsDataset.codes))
                    if random.chance(0.5) { fields["planStart"] = .text("2026-0\(1 + random.next(9))-15") }
                    _ = try origin.create(.client, id: id, fields: fields)
                    ownClients.append(id)
                } else if roll < 6 || ownPlacements.isEmpty {
                    let id = UUID()
                    let client = random.pick(ownClients).lowercased
                    var fields: FieldMap = ["clientId": .text(client)]
                    if random.chance(0.8) {
                        fields["type"] = .text("service_enrolment")
                        fields["serviceId"] = .text(random.pick(services))
                        fields["status"] = .text(random.pick(EnrolmentStatus.allCases).rawValue)
                        // Half are referrals: each recomputes its client's next limit (deadline_next).
                        if random.chance(0.5) { fields["referralDate"] = .text("2026-1\(random.next(3))-0\(1 + random.next(9))") }
                    } else {
                        fields["type"] = .text("municipal_placement")
                        fields["municipality"] = .integer(random.pick(ReportsDataset.codes))
                        fields["route"] = .text("quota")
                        fields["status"] = .text(random.pick(MunicipalPlacementStatus.allCases).rawValue)
                    }
                    _ = try origin.create(.placement, id: id, fields: fields)
                    ownPlacements.append(id)
                } else if roll < 8 {
                    let id = random.pick(ownPlacements)
                    guard let record = try origin.view.record(.placement, id: id), record.fields["deleted"] != .bool(true) else { continue }
                    let statuses = record.fields["type"] == .text("service_enrolment") ? EnrolmentStatus.allCases.map(\.rawValue)
                        : MunicipalPlacementStatus.allCases.map(\.rawValue)
                    _ = try origin.update(.placement, id: id, fields: ["status": .text(random.pick(statuses))])
                } else if roll < 9 {
                    _ = try origin.update(.client, id: random.pick(ownClients),
                                          fields: ["ownerMunicipality": .integer(random.pick(ReportsDataset.codes)),
                                                   "status": .text(random.pick(["assessed", "plan_active"]))])
                } else {
                    let id = random.pick(ownPlacements)
                    _ = try? origin.delete(.placement, id: id)
                }
            }
        }
        let batch = try origin.readLog(after: read, notCoveredBy: replica.versionVector, limit: size * 2)
        read = origin.logPosition
        return batch
    }

    enum Schema: String {
        case this = "this build (report indexes + aggregates + deadline_next)"
        case aggregates = "report indexes + aggregates, no deadline_next (the build before)"
        case before = "before the aggregates (main's 9 report indexes)"
        case none = "no report index, no aggregates"
    }
    var results: [Schema: ApplyCost] = [:]
    var current = Schema.this
    func switchTo(_ schema: Schema) throws {
        guard schema != current else { return }
        try dropReportObjects(writer, indexes: true, aggregates: true)
        switch schema {
        case .before: for sql in reportIndexesBeforeAggregates { try writer.execute(sql) }
        case .this: replica = try openReplica()  // an open creates this build's indexes and aggregates
        case .aggregates: replica = try openReplica(deadlineRules: [])
        case .none: break
        }
        try writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        current = schema
    }
    // Unmeasured: larsmo's first rows reach the replica, and every statement is prepared.
    _ = try replica.apply(try nextBatch(), from: "larsmo")
    for schema in [Schema.this, .aggregates, .before, .none, .none, .before, .aggregates, .this] {
        try switchTo(schema)
        FileHandle.standardError.write(Data("apply under \(schema.rawValue)\n".utf8))
        for _ in 0..<batches {
            let batch = try nextBatch()
            let elapsed = try seconds { _ = try replica.apply(batch, from: "larsmo") }
            results[schema, default: ApplyCost(schema: schema.rawValue)].microsPerChange.append(elapsed * 1_000_000 / Double(batch.changes.count))
        }
    }
    return [Schema.before, .aggregates, .this, .none].compactMap { results[$0] }
}

/// Minimal valid client and service fields for the apply batches.
enum ApplySample {
    static func benchService(number: Int) -> FieldMap {
        ["nameFi": .text("Palvelu A-\(number)"), "providerName": .text("Bench provider"), "providerType": .text("adult_education"),
         "category": .text("language_course"), "municipalities": .text("598,599"), "studyPath": .text("basic"), "status": .text("active")]
    }

    static func benchClient(number: Int) -> FieldMap {
        ["clientNumber": .text("A-\(number)"), "givenName": .text("Bench"), "familyName": .text("Client"), "birthDate": .text("1990-01-01"),
         "integrationLanguage": .text("fi"), "planStatus": .text("none"), "status": .text("new"), "firstPermitDate": .text("2026-03-01")]
    }
}
