public import Foundation
public import KotoCore

/// A service as the public directory may publish it: the service's own
/// columns and nothing else. It is all the directory ever gets from the
/// replica, so no client or placement field can reach it.
public struct DirectoryService: Sendable, Equatable {
    public let id: UUID
    public let nameFi: String?
    public let nameSv: String?
    public let providerName: String
    /// Raw values as stored (`ProviderType`, `ServiceCategory`, `StudyPath`, `ServiceStatus`).
    public let providerType: String
    public let category: String
    public let municipalities: [Int]
    /// ISO 639-1 codes.
    public let languages: [String]
    public let studyPath: String
    public let capacity: Int?
    /// `YYYY-MM-DD`.
    public let startDate: String?
    public let endDate: String?
    public let contact: String?
    public let status: String
    /// True when the service has a capacity and its active enrolments reach
    /// it: the one fact derived from placements, a count compared in SQL.
    public let enrolmentsReachCapacity: Bool

    public init(id: UUID, nameFi: String?, nameSv: String?, providerName: String, providerType: String, category: String,
                municipalities: [Int], languages: [String], studyPath: String, capacity: Int?, startDate: String?,
                endDate: String?, contact: String?, status: String, enrolmentsReachCapacity: Bool) {
        self.id = id
        self.nameFi = nameFi
        self.nameSv = nameSv
        self.providerName = providerName
        self.providerType = providerType
        self.category = category
        self.municipalities = municipalities
        self.languages = languages
        self.studyPath = studyPath
        self.capacity = capacity
        self.startDate = startDate
        self.endDate = endDate
        self.contact = contact
        self.status = status
        self.enrolmentsReachCapacity = enrolmentsReachCapacity
    }
}

extension MergedView {
    /// The service columns the directory publishes, in the order the query selects them.
    static let directoryFields = ["nameFi", "nameSv", "providerName", "providerType", "category", "municipalities", "languages",
                                  "studyPath", "capacity", "startDate", "endDate", "contact", "status"]

    /// Live services (not deleted, erased or awaiting an erase) whose status
    /// is one of `statuses`, ordered by id. Selects service columns only;
    /// placements are only counted (active service enrolments of services
    /// with a capacity, through the `placements_service` index) and only
    /// the comparison with the capacity leaves the query.
    public func directoryServices(statuses: [ServiceStatus]) throws -> [DirectoryService] {
        guard !statuses.isEmpty else { return [] }
        let kind = RecordKind.service
        let columns = Self.directoryFields.map { "s." + kind.field(named: $0)!.column }
        let capacity = "s." + kind.field(named: "capacity")!.column
        let placement = RecordKind.placement
        func column(_ name: String) -> String { "p." + placement.field(named: name)!.column }
        let full = """
            CASE WHEN \(capacity) IS NULL THEN 0 ELSE (SELECT count(*) FROM \(placement.table) p
              WHERE \(column("serviceId")) = s.id AND \(column("type")) = ? AND \(column("status")) = ?
                AND (p.deleted IS NULL OR p.deleted = 0) AND p.erased = 0 AND p.awaiting_erase = 0) >= \(capacity) END
            """
        let placeholders = Array(repeating: "?", count: statuses.count).joined(separator: ", ")
        let statusColumn = "s." + kind.field(named: "status")!.column
        let sql = """
            SELECT s.id, \(columns.joined(separator: ", ")), \(full) FROM \(kind.table) s
            WHERE \(statusColumn) IN (\(placeholders)) AND (s.deleted IS NULL OR s.deleted = 0) AND s.erased = 0 AND s.awaiting_erase = 0
            ORDER BY s.id
            """
        let values: [SQLiteValue] = [.text(PlacementType.serviceEnrolment.rawValue), .text(EnrolmentStatus.active.rawValue)]
            + statuses.map { .text($0.rawValue) }
        return try database.query(sql, values) { row in
            guard let id = UUID(uuidString: row.string(0) ?? "") else { throw ReplicaStoreError.corrupt("unreadable service id") }
            func text(_ index: Int32) -> String? { row.string(index) }
            func list(_ index: Int32) -> [String] { text(index)?.split(separator: ",").map(String.init) ?? [] }
            return DirectoryService(
                id: id, nameFi: text(1), nameSv: text(2), providerName: text(3) ?? "", providerType: text(4) ?? "",
                category: text(5) ?? "", municipalities: list(6).compactMap { Int($0) }, languages: list(7),
                studyPath: text(8) ?? "", capacity: row.isNull(9) ? nil : Int(row.int64(9)), startDate: text(10),
                endDate: text(11), contact: text(12), status: text(13) ?? "", enrolmentsReachCapacity: row.int64(14) != 0)
        }
    }
}
