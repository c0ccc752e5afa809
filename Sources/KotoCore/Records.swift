public import Foundation

/// A typed view of one record kind, converting to and from the `FieldMap`
/// that merge, wire and store work with. `init(id:fields:)` validates first,
/// so a typed record always came from a valid map; `fields` gives the full
/// map (every field of the kind, nulls included) and round-trips exactly:
/// `try T(id: r.id, fields: r.fields) == r`.
public protocol Record: Sendable, Hashable {
    static var kind: RecordKind { get }
    var id: UUID { get }
    /// Every field of the kind by wire name, nulls included.
    var fields: FieldMap { get }
    /// Validates `fields` with `RecordValidator()` and throws every problem, then converts.
    init(id: UUID, fields: FieldMap) throws(ValidationError)
}

// MARK: - Service

/// A service offered to clients (a course, advice, a support service).
public struct Service: Record {
    public static let kind = RecordKind.service

    public var id: UUID
    public var nameFi: String?
    public var nameSv: String?
    public var providerName: String
    public var providerType: ProviderType
    public var category: ServiceCategory
    /// Municipality codes; empty is null in the map (and invalid: at least one is required).
    public var municipalities: [Int]
    /// ISO 639-1 codes the service is given in; empty is null in the map.
    public var languages: [String]
    public var studyPath: StudyPath
    public var capacity: Int?
    public var startDate: LocalDate?
    public var endDate: LocalDate?
    public var contact: String?
    public var status: ServiceStatus
    public var deleted: Bool

    public init(id: UUID, nameFi: String? = nil, nameSv: String? = nil, providerName: String,
                providerType: ProviderType, category: ServiceCategory, municipalities: [Int],
                languages: [String] = [], studyPath: StudyPath, capacity: Int? = nil,
                startDate: LocalDate? = nil, endDate: LocalDate? = nil, contact: String? = nil,
                status: ServiceStatus, deleted: Bool = false) {
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
        self.deleted = deleted
    }

    public init(id: UUID, fields: FieldMap) throws(ValidationError) {
        let map = try FieldReader(validating: fields, kind: Self.kind)
        self.init(
            id: id, nameFi: map.text("nameFi"), nameSv: map.text("nameSv"),
            providerName: try map.need("providerName", map.text),
            providerType: try map.need("providerType", map.choice),
            category: try map.need("category", map.choice),
            municipalities: map.codes("municipalities"), languages: map.list("languages"),
            studyPath: try map.need("studyPath", map.choice), capacity: map.int("capacity"),
            startDate: map.date("startDate"), endDate: map.date("endDate"), contact: map.text("contact"),
            status: try map.need("status", map.choice), deleted: map.bool(deletedFieldName))
    }

    public var fields: FieldMap {
        [
            "nameFi": FieldValue(nameFi),
            "nameSv": FieldValue(nameSv),
            "providerName": FieldValue(providerName),
            "providerType": FieldValue(choice: providerType),
            "category": FieldValue(choice: category),
            "municipalities": FieldValue(codes: municipalities),
            "languages": FieldValue(list: languages),
            "studyPath": FieldValue(choice: studyPath),
            "capacity": FieldValue(capacity),
            "startDate": FieldValue(startDate),
            "endDate": FieldValue(endDate),
            "contact": FieldValue(contact),
            "status": FieldValue(choice: status),
            deletedFieldName: .bool(deleted),
        ]
    }
}

// MARK: - Client

/// A person in the integration service. Most fields are personal data, so
/// `description` and reflection (`dump`, test failure output) show only the id.
public struct Client: Record, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public static let kind = RecordKind.client

    public var id: UUID
    public var clientNumber: String
    /// Municipality code of the office responsible for the client.
    public var ownerMunicipality: Int
    public var givenName: String
    public var familyName: String
    public var birthDate: LocalDate
    public var personalIdentityCode: String?
    public var arrivalDate: LocalDate?
    public var firstPermitDate: LocalDate?
    public var permitBasis: PermitBasis?
    public var integrationLanguage: IntegrationLanguage
    /// ISO 639-1 code.
    public var motherTongue: String?
    /// ISO 639-1 code.
    public var interpreterLanguage: String?
    /// Null in the map reads as false.
    public var literacySupport: Bool
    /// Null in the map reads as false.
    public var jobseeker: Bool
    public var familyId: UUID?
    public var assessmentDate: LocalDate?
    public var planStart: LocalDate?
    public var planEnd: LocalDate?
    public var planStatus: PlanStatus
    public var status: ClientStatus
    public var retentionUntil: LocalDate?
    public var deleted: Bool

    public init(id: UUID, clientNumber: String, ownerMunicipality: Int, givenName: String, familyName: String,
                birthDate: LocalDate, personalIdentityCode: String? = nil, arrivalDate: LocalDate? = nil,
                firstPermitDate: LocalDate? = nil, permitBasis: PermitBasis? = nil,
                integrationLanguage: IntegrationLanguage, motherTongue: String? = nil,
                interpreterLanguage: String? = nil, literacySupport: Bool = false, jobseeker: Bool = false,
                familyId: UUID? = nil, assessmentDate: LocalDate? = nil, planStart: LocalDate? = nil,
                planEnd: LocalDate? = nil, planStatus: PlanStatus, status: ClientStatus,
                retentionUntil: LocalDate? = nil, deleted: Bool = false) {
        self.id = id
        self.clientNumber = clientNumber
        self.ownerMunicipality = ownerMunicipality
        self.givenName = givenName
        self.familyName = familyName
        self.birthDate = birthDate
        self.personalIdentityCode = personalIdentityCode
        self.arrivalDate = arrivalDate
        self.firstPermitDate = firstPermitDate
        self.permitBasis = permitBasis
        self.integrationLanguage = integrationLanguage
        self.motherTongue = motherTongue
        self.interpreterLanguage = interpreterLanguage
        self.literacySupport = literacySupport
        self.jobseeker = jobseeker
        self.familyId = familyId
        self.assessmentDate = assessmentDate
        self.planStart = planStart
        self.planEnd = planEnd
        self.planStatus = planStatus
        self.status = status
        self.retentionUntil = retentionUntil
        self.deleted = deleted
    }

    public init(id: UUID, fields: FieldMap) throws(ValidationError) {
        let map = try FieldReader(validating: fields, kind: Self.kind)
        self.init(
            id: id, clientNumber: try map.need("clientNumber", map.text),
            ownerMunicipality: try map.need("ownerMunicipality", map.int),
            givenName: try map.need("givenName", map.text), familyName: try map.need("familyName", map.text),
            birthDate: try map.need("birthDate", map.date), personalIdentityCode: map.text("personalIdentityCode"),
            arrivalDate: map.date("arrivalDate"), firstPermitDate: map.date("firstPermitDate"),
            permitBasis: map.choice("permitBasis"),
            integrationLanguage: try map.need("integrationLanguage", map.choice),
            motherTongue: map.text("motherTongue"), interpreterLanguage: map.text("interpreterLanguage"),
            literacySupport: map.bool("literacySupport"), jobseeker: map.bool("jobseeker"),
            familyId: map.uuid("familyId"), assessmentDate: map.date("assessmentDate"),
            planStart: map.date("planStart"), planEnd: map.date("planEnd"),
            planStatus: try map.need("planStatus", map.choice), status: try map.need("status", map.choice),
            retentionUntil: map.date("retentionUntil"), deleted: map.bool(deletedFieldName))
    }

    public var fields: FieldMap {
        [
            "clientNumber": FieldValue(clientNumber),
            "ownerMunicipality": FieldValue(ownerMunicipality),
            "givenName": FieldValue(givenName),
            "familyName": FieldValue(familyName),
            "birthDate": FieldValue(birthDate),
            "personalIdentityCode": FieldValue(personalIdentityCode),
            "arrivalDate": FieldValue(arrivalDate),
            "firstPermitDate": FieldValue(firstPermitDate),
            "permitBasis": FieldValue(choice: permitBasis),
            "integrationLanguage": FieldValue(choice: integrationLanguage),
            "motherTongue": FieldValue(motherTongue),
            "interpreterLanguage": FieldValue(interpreterLanguage),
            "literacySupport": .bool(literacySupport),
            "jobseeker": .bool(jobseeker),
            "familyId": FieldValue(familyId),
            "assessmentDate": FieldValue(assessmentDate),
            "planStart": FieldValue(planStart),
            "planEnd": FieldValue(planEnd),
            "planStatus": FieldValue(choice: planStatus),
            "status": FieldValue(choice: status),
            "retentionUntil": FieldValue(retentionUntil),
            deletedFieldName: .bool(deleted),
        ]
    }

    public var description: String { "Client(\(id.lowercased))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["id": id]) }
}

// MARK: - Placement

/// A client's enrolment in a service, or a refugee's placement in a municipality.
public struct Placement: Record {
    public static let kind = RecordKind.placement

    /// The status, whose vocabulary depends on the placement's `type`. On the
    /// wire it is the bare raw value; which case applies follows from `type`.
    public enum Status: Hashable, Sendable {
        case enrolment(EnrolmentStatus)
        case municipal(MunicipalPlacementStatus)

        public var rawValue: String {
            switch self {
            case .enrolment(let status): status.rawValue
            case .municipal(let status): status.rawValue
            }
        }

        /// The status `rawValue` spells for a placement of `type`; nil when
        /// it belongs to the other type's vocabulary or to none.
        public init?(rawValue: String, type: PlacementType) {
            switch type {
            case .serviceEnrolment: guard let status = EnrolmentStatus(rawValue: rawValue) else { return nil }
                self = .enrolment(status)
            case .municipalPlacement: guard let status = MunicipalPlacementStatus(rawValue: rawValue) else { return nil }
                self = .municipal(status)
            }
        }
    }

    public var id: UUID
    public var type: PlacementType
    public var clientId: UUID
    /// Required for a service enrolment, absent for a municipal placement.
    public var serviceId: UUID?
    public var referralDate: LocalDate?
    public var startDate: LocalDate?
    public var endDate: LocalDate?
    public var outcome: EnrolmentOutcome?
    /// Municipality code; required for a municipal placement.
    public var municipality: Int?
    public var route: PlacementRoute?
    public var offeredDate: LocalDate?
    public var arrivalDate: LocalDate?
    public var elyReference: String?
    /// Applies only to a municipal placement; a service enrolment must leave it
    /// null, so `false` is carried as null in the map (and null reads as false).
    public var wellbeingCountyConsulted: Bool
    public var status: Status
    public var deleted: Bool

    public init(id: UUID, type: PlacementType, clientId: UUID, serviceId: UUID? = nil,
                referralDate: LocalDate? = nil, startDate: LocalDate? = nil, endDate: LocalDate? = nil,
                outcome: EnrolmentOutcome? = nil, municipality: Int? = nil, route: PlacementRoute? = nil,
                offeredDate: LocalDate? = nil, arrivalDate: LocalDate? = nil, elyReference: String? = nil,
                wellbeingCountyConsulted: Bool = false, status: Status, deleted: Bool = false) {
        self.id = id
        self.type = type
        self.clientId = clientId
        self.serviceId = serviceId
        self.referralDate = referralDate
        self.startDate = startDate
        self.endDate = endDate
        self.outcome = outcome
        self.municipality = municipality
        self.route = route
        self.offeredDate = offeredDate
        self.arrivalDate = arrivalDate
        self.elyReference = elyReference
        self.wellbeingCountyConsulted = wellbeingCountyConsulted
        self.status = status
        self.deleted = deleted
    }

    public init(id: UUID, fields: FieldMap) throws(ValidationError) {
        let map = try FieldReader(validating: fields, kind: Self.kind)
        let type: PlacementType = try map.need("type", map.choice)
        self.init(
            id: id, type: type, clientId: try map.need("clientId", map.uuid), serviceId: map.uuid("serviceId"),
            referralDate: map.date("referralDate"), startDate: map.date("startDate"), endDate: map.date("endDate"),
            outcome: map.choice("outcome"), municipality: map.int("municipality"), route: map.choice("route"),
            offeredDate: map.date("offeredDate"), arrivalDate: map.date("arrivalDate"),
            elyReference: map.text("elyReference"), wellbeingCountyConsulted: map.bool("wellbeingCountyConsulted"),
            status: try map.need("status") { map.text($0).flatMap { Status(rawValue: $0, type: type) } },
            deleted: map.bool(deletedFieldName))
    }

    public var fields: FieldMap {
        [
            "type": FieldValue(choice: type),
            "clientId": FieldValue(clientId),
            "serviceId": FieldValue(serviceId),
            "referralDate": FieldValue(referralDate),
            "startDate": FieldValue(startDate),
            "endDate": FieldValue(endDate),
            "outcome": FieldValue(choice: outcome),
            "municipality": FieldValue(municipality),
            "route": FieldValue(choice: route),
            "offeredDate": FieldValue(offeredDate),
            "arrivalDate": FieldValue(arrivalDate),
            "elyReference": FieldValue(elyReference),
            "wellbeingCountyConsulted": wellbeingCountyConsulted ? .bool(true) : .null,
            "status": FieldValue(status.rawValue),
            deletedFieldName: .bool(deleted),
        ]
    }
}

// MARK: - Conversions

/// Reads typed values out of a map that has passed validation.
private struct FieldReader {
    let map: FieldMap

    init(validating fields: FieldMap, kind: RecordKind) throws(ValidationError) {
        try RecordValidator().validate(fields, kind: kind)
        map = fields
    }

    func text(_ name: String) -> String? { map[name]?.text }
    func int(_ name: String) -> Int? { map[name]?.integer.map { Int($0) } }
    /// Null (or absent) reads as false.
    func bool(_ name: String) -> Bool { map[name]?.bool ?? false }
    func date(_ name: String) -> LocalDate? { text(name).flatMap { LocalDate($0) } }
    func uuid(_ name: String) -> UUID? { text(name).flatMap { UUID(uuidString: $0) } }
    func choice<T: RawRepresentable<String>>(_ name: String) -> T? { text(name).flatMap { T(rawValue: $0) } }
    /// Comma-separated text as a list; null or empty is `[]`.
    func list(_ name: String) -> [String] { text(name)?.split(separator: ",").map(String.init) ?? [] }
    func codes(_ name: String) -> [Int] { list(name).compactMap { Int($0) } }

    /// A required field's value. Validation guarantees it; a failed read
    /// (a validator/reader mismatch) is reported rather than trapped.
    func need<T>(_ name: String, _ read: (String) -> T?) throws(ValidationError) -> T {
        guard let value = read(name) else {
            throw ValidationError([FieldProblem(field: name, reason: "is required")])
        }
        return value
    }
}

extension FieldValue {
    fileprivate init(_ text: String?) { self = text.map { .text($0) } ?? .null }
    fileprivate init(_ number: Int?) { self = number.map { .integer(Int64($0)) } ?? .null }
    fileprivate init(_ date: LocalDate?) { self.init(date?.description) }
    /// Lowercase canonical form, as the validator requires.
    fileprivate init(_ id: UUID?) { self.init(id?.lowercased) }
    fileprivate init<T: RawRepresentable<String>>(choice: T?) { self.init(choice?.rawValue) }
    /// Comma-separated; an empty list is null.
    fileprivate init(list: [String]) { self = list.isEmpty ? .null : .text(list.joined(separator: ",")) }
    fileprivate init(codes: [Int]) { self.init(list: codes.map { String($0) }) }
}
