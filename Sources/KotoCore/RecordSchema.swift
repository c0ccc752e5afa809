/// What values a field accepts; drives validation, the wire decoder and the
/// SQLite column type.
public enum FieldType: Hashable, Sendable {
    case text(maxLength: Int)
    case integer(min: Int64, max: Int64)
    case bool
    /// `YYYY-MM-DD`.
    case date
    case uuid
    /// One of a closed vocabulary (an enum's raw values).
    case choice([String])
    /// A Statistics Finland code the registry knows.
    case municipalityCode
    /// Comma-separated municipality codes, e.g. `"598,893"`.
    case municipalityCodes
    /// ISO 639-1, two lowercase letters.
    case languageCode
    /// Comma-separated ISO 639-1 codes.
    case languageCodes
    /// Finnish personal identity code (henkilötunnus).
    case personalIdentityCode

    /// How the value is stored and carried.
    public var storage: FieldStorage {
        switch self {
        case .integer, .municipalityCode: .integer
        case .bool: .bool
        default: .text
        }
    }
}

public enum FieldStorage: Sendable {
    case text, integer, bool

    public var sqlType: String {
        switch self {
        case .text: "TEXT"
        case .integer, .bool: "INTEGER"
        }
    }
}

/// One field of a record kind. A class so that the hot paths (merge, wire,
/// store) pass specs around by reference instead of copying their strings.
public final class FieldSpec: Hashable, Sendable {
    /// Wire and API name (camelCase).
    public let name: String
    /// SQLite column name (snake_case).
    public let column: String
    public let type: FieldType
    public let required: Bool
    /// Personal data: never logged, and the reason `erase` exists.
    public let personal: Bool

    public init(_ name: String, _ column: String, _ type: FieldType, required: Bool = false, personal: Bool = false) {
        self.name = name
        self.column = column
        self.type = type
        self.required = required
        self.personal = personal
    }

    public static func == (lhs: FieldSpec, rhs: FieldSpec) -> Bool {
        lhs === rhs || (lhs.name == rhs.name && lhs.column == rhs.column && lhs.type == rhs.type
            && lhs.required == rhs.required && lhs.personal == rhs.personal)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(column)
    }
}

/// The three record kinds every node agrees on.
public enum RecordKind: String, CaseIterable, Hashable, Sendable, Codable {
    case service
    case client
    case placement

    /// The SQLite table and the URL path segment.
    public var table: String {
        switch self {
        case .service: "services"
        case .client: "clients"
        case .placement: "placements"
        }
    }

    /// Stable one-byte tag used by the wire format.
    public var wireTag: UInt8 {
        switch self {
        case .service: 1
        case .client: 2
        case .placement: 3
        }
    }

    public init?(wireTag: UInt8) {
        guard let kind = RecordKind.allCases.first(where: { $0.wireTag == wireTag }) else { return nil }
        self = kind
    }

    public init?(table: String) {
        guard let kind = RecordKind.allCases.first(where: { $0.table == table }) else { return nil }
        self = kind
    }

    /// Every replicated field, `deleted` included, in column order.
    public var fields: [FieldSpec] {
        switch self {
        case .service: RecordSchema.service
        case .client: RecordSchema.client
        case .placement: RecordSchema.placement
        }
    }

    public func field(named name: String) -> FieldSpec? {
        switch self {
        case .service: RecordSchema.serviceByName[name]
        case .client: RecordSchema.clientByName[name]
        case .placement: RecordSchema.placementByName[name]
        }
    }
}

/// The soft-delete flag: a field under the same merge rule as any other.
public let deletedFieldName = "deleted"

enum RecordSchema {
    static let deleted = FieldSpec(deletedFieldName, "deleted", .bool)

    static let service: [FieldSpec] = [
        FieldSpec("nameFi", "name_fi", .text(maxLength: 200)),
        FieldSpec("nameSv", "name_sv", .text(maxLength: 200)),
        FieldSpec("providerName", "provider_name", .text(maxLength: 200), required: true),
        FieldSpec("providerType", "provider_type", .choice(ProviderType.allCases.map(\.rawValue)), required: true),
        FieldSpec("category", "category", .choice(ServiceCategory.allCases.map(\.rawValue)), required: true),
        FieldSpec("municipalities", "municipalities", .municipalityCodes, required: true),
        FieldSpec("languages", "languages", .languageCodes),
        FieldSpec("studyPath", "study_path", .choice(StudyPath.allCases.map(\.rawValue)), required: true),
        FieldSpec("capacity", "capacity", .integer(min: 0, max: 1_000_000)),
        FieldSpec("startDate", "start_date", .date),
        FieldSpec("endDate", "end_date", .date),
        FieldSpec("contact", "contact", .text(maxLength: 300)),
        FieldSpec("status", "status", .choice(ServiceStatus.allCases.map(\.rawValue)), required: true),
        deleted,
    ]

    static let client: [FieldSpec] = [
        FieldSpec("clientNumber", "client_number", .text(maxLength: 32), required: true),
        FieldSpec("ownerMunicipality", "owner_municipality", .municipalityCode, required: true),
        FieldSpec("givenName", "given_name", .text(maxLength: 100), required: true, personal: true),
        FieldSpec("familyName", "family_name", .text(maxLength: 100), required: true, personal: true),
        FieldSpec("birthDate", "birth_date", .date, required: true, personal: true),
        FieldSpec("personalIdentityCode", "personal_identity_code", .personalIdentityCode, personal: true),
        FieldSpec("arrivalDate", "arrival_date", .date, personal: true),
        FieldSpec("firstPermitDate", "first_permit_date", .date, personal: true),
        FieldSpec("permitBasis", "permit_basis", .choice(PermitBasis.allCases.map(\.rawValue)), personal: true),
        FieldSpec("integrationLanguage", "integration_language", .choice(IntegrationLanguage.allCases.map(\.rawValue)), required: true),
        FieldSpec("motherTongue", "mother_tongue", .languageCode, personal: true),
        FieldSpec("interpreterLanguage", "interpreter_language", .languageCode, personal: true),
        FieldSpec("literacySupport", "literacy_support", .bool, personal: true),
        FieldSpec("jobseeker", "jobseeker", .bool),
        FieldSpec("familyId", "family_id", .uuid, personal: true),
        FieldSpec("assessmentDate", "assessment_date", .date),
        FieldSpec("planStart", "plan_start", .date),
        FieldSpec("planEnd", "plan_end", .date),
        FieldSpec("planStatus", "plan_status", .choice(PlanStatus.allCases.map(\.rawValue)), required: true),
        FieldSpec("status", "status", .choice(ClientStatus.allCases.map(\.rawValue)), required: true),
        FieldSpec("retentionUntil", "retention_until", .date),
        deleted,
    ]

    static let placementStatuses = Array(Set(EnrolmentStatus.allCases.map(\.rawValue))
        .union(MunicipalPlacementStatus.allCases.map(\.rawValue))).sorted()

    static let placement: [FieldSpec] = [
        FieldSpec("type", "type", .choice(PlacementType.allCases.map(\.rawValue)), required: true),
        FieldSpec("clientId", "client_id", .uuid, required: true),
        FieldSpec("serviceId", "service_id", .uuid),
        FieldSpec("referralDate", "referral_date", .date),
        FieldSpec("startDate", "start_date", .date),
        FieldSpec("endDate", "end_date", .date),
        FieldSpec("outcome", "outcome", .choice(EnrolmentOutcome.allCases.map(\.rawValue))),
        FieldSpec("municipality", "municipality", .municipalityCode),
        FieldSpec("route", "route", .choice(PlacementRoute.allCases.map(\.rawValue))),
        FieldSpec("offeredDate", "offered_date", .date),
        FieldSpec("arrivalDate", "arrival_date", .date),
        FieldSpec("elyReference", "ely_reference", .text(maxLength: 64)),
        FieldSpec("wellbeingCountyConsulted", "wellbeing_county_consulted", .bool),
        FieldSpec("status", "status", .choice(placementStatuses), required: true),
        deleted,
    ]

    static let serviceByName = byName(service)
    static let clientByName = byName(client)
    static let placementByName = byName(placement)

    static func byName(_ specs: [FieldSpec]) -> [String: FieldSpec] {
        Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0) })
    }
}
