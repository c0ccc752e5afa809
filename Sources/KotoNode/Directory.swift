import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// The public service directory: `GET /v1/directory` (JSON) and
/// `GET /directory` (an HTML page), no login. Every office serves it from
/// its own replica, so it keeps answering while the links to the others
/// are down.
///
/// It can publish nothing but services: all it holds is the registry (for
/// municipality names) and one query that yields `DirectoryService`
/// values, the service columns of listed services. It never sees the
/// merged view, so no client or placement field can reach it.
struct ServiceDirectory: Sendable {
    /// The statuses a service is listed with: running services, open or
    /// full. Drafts, paused and discontinued services are not listed, nor
    /// are deleted or erased ones.
    static let listed: [ServiceStatus] = [.active, .full]

    let registry: MunicipalityRegistry
    /// The directory's only access to the replica.
    let services: @Sendable () async throws -> [DirectoryService]

    init(registry: MunicipalityRegistry, services: @escaping @Sendable () async throws -> [DirectoryService]) {
        self.registry = registry
        self.services = services
    }

    func register(in router: inout Router) {
        router.get("/v1/directory") { request in try await json(request) }
        router.get("/directory") { request in try await page(request) }
    }

    // MARK: Answers

    func json(_ request: HTTPRequest) async throws -> HTTPResponse {
        let query = DirectoryQuery(request, registry: registry)
        if !query.problems.isEmpty {
            throw HTTPError.invalidQuery(query.problems.map { FieldProblem(field: $0.field, reason: $0.issue.reason) })
        }
        let language = query.language
        let entries = try await matching(query)
        let labels = DirectoryLabels(language)
        var filters: [(String, JSONValue)] = []
        filters.append(("municipality", query.municipality.map { .number(Double($0)) } ?? .null))
        filters.append(("language", query.serviceLanguage.map { .string($0) } ?? .null))
        filters.append(("category", query.category.map { .string($0.rawValue) } ?? .null))
        filters.append(("q", query.text.map { .string($0) } ?? .null))
        let body: JSONValue = .object([
            ("language", .string(language.rawValue)),
            ("generatedAt", .string(ISO8601DateFormatter().string(from: Date()))),
            ("filters", .object(filters)),
            ("labels", .object(DirectoryLabels.columns.map { ($0, .string(labels.column($0))) })),
            ("count", .number(Double(entries.count))),
            ("items", .array(entries.map { $0.json })),
        ])
        return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json", "Content-Language": language.rawValue,
                                                   "Vary": "Accept-Language"],
                            body: body.serializedBytes)
    }

    func page(_ request: HTTPRequest) async throws -> HTTPResponse {
        let query = DirectoryQuery(request, registry: registry)
        let all = try await services()
        let entries = query.problems.isEmpty ? entries(all, matching: query) : []
        let inUse = Set(all.flatMap(\.languages)).union(["fi", "sv", "en"])
        let html = DirectoryPage(query: query, entries: entries, registry: registry, languagesInUse: inUse,
                                 generatedAt: Date()).render()
        return HTTPResponse(status: query.problems.isEmpty ? .ok : .badRequest, headers: [
            "Content-Type": "text/html; charset=utf-8",
            "Content-Language": query.language.rawValue,
            "Vary": "Accept-Language",
            // The page needs nothing but itself: no scripts, no outside resources.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        ], body: Array(html.utf8))
    }

    private func matching(_ query: DirectoryQuery) async throws -> [DirectoryEntry] {
        entries(try await services(), matching: query)
    }

    /// The services that pass every filter, as entries in the query's language, ordered by name.
    private func entries(_ services: [DirectoryService], matching query: DirectoryQuery) -> [DirectoryEntry] {
        let needle = query.text?.lowercased()
        return services.filter { service in
            if let code = query.municipality, !service.municipalities.contains(code) { return false }
            if let language = query.serviceLanguage, !service.languages.contains(language) { return false }
            if let category = query.category, service.category != category.rawValue { return false }
            if let needle {
                let haystack = [service.nameFi, service.nameSv, service.providerName, service.contact].compactMap { $0?.lowercased() }
                if !haystack.contains(where: { $0.contains(needle) }) { return false }
            }
            return true
        }
        .map { DirectoryEntry($0, language: query.language, registry: registry) }
        .sorted { ($0.sortKey, $0.service.id.lowercased) < ($1.sortKey, $1.service.id.lowercased) }
    }
}

// MARK: - The query

/// The directory's parameters: `lang` (fi, sv, en; else `Accept-Language`,
/// else fi), and the filters `municipality` (a code of the region),
/// `language` (ISO 639-1), `category` (a `ServiceCategory` raw value) and
/// `q` (free text over names, provider and contact, case-insensitive).
/// An empty value is no filter (a form sends one for "all").
struct DirectoryQuery: Sendable {
    struct Problem: Sendable, Hashable {
        enum Issue: Sendable, Hashable {
            case unknownMunicipality, malformedLanguage, unknownCategory, textTooLong, unknownDisplayLanguage, unknownParameter, repeated

            /// The reason as the JSON answer gives it (English).
            var reason: String {
                switch self {
                case .unknownMunicipality: "must be the code of a municipality of the region"
                case .malformedLanguage: "must be an ISO 639-1 code (two lowercase letters)"
                case .unknownCategory: "must be one of: " + ServiceCategory.allCases.map(\.rawValue).joined(separator: ", ")
                case .textTooLong: "must be at most \(DirectoryQuery.maxTextLength) characters"
                case .unknownDisplayLanguage: "must be fi, sv or en"
                case .unknownParameter: "is not a parameter of the directory (lang, municipality, language, category, q)"
                case .repeated: "must be given at most once"
                }
            }
        }

        let field: String
        let issue: Issue
    }

    static let maxTextLength = 200
    static let parameters = ["lang", "municipality", "language", "category", "q"]

    var language: DirectoryLanguage = .fi
    var municipality: Int?
    var serviceLanguage: String?
    var category: ServiceCategory?
    var text: String?
    var problems: [Problem] = []

    init(_ request: HTTPRequest, registry: MunicipalityRegistry) {
        var seen: Set<String> = []
        var requested: DirectoryLanguage?
        for item in request.queryItems {
            guard Self.parameters.contains(item.name) else {
                problems.append(Problem(field: item.name, issue: .unknownParameter))
                continue
            }
            guard seen.insert(item.name).inserted else {
                if !problems.contains(Problem(field: item.name, issue: .repeated)) {
                    problems.append(Problem(field: item.name, issue: .repeated))
                }
                continue
            }
            let value = item.value.trimmingCharacters(in: .whitespaces)
            if value.isEmpty { continue }
            switch item.name {
            case "lang":
                guard let found = DirectoryLanguage(rawValue: value) else {
                    problems.append(Problem(field: "lang", issue: .unknownDisplayLanguage))
                    continue
                }
                requested = found
            case "municipality":
                guard let code = Int(value), String(code) == value, registry.municipality(code: code) != nil else {
                    problems.append(Problem(field: "municipality", issue: .unknownMunicipality))
                    continue
                }
                municipality = code
            case "language":
                guard RecordValidator(registry: registry).check(.text(value), against: Self.languageSpec).isEmpty else {
                    problems.append(Problem(field: "language", issue: .malformedLanguage))
                    continue
                }
                serviceLanguage = value
            case "category":
                guard let found = ServiceCategory(rawValue: value) else {
                    problems.append(Problem(field: "category", issue: .unknownCategory))
                    continue
                }
                category = found
            default:
                guard value.count <= Self.maxTextLength else {
                    problems.append(Problem(field: "q", issue: .textTooLong))
                    continue
                }
                text = value
            }
        }
        language = requested ?? DirectoryLanguage.preferred(by: request.headers["Accept-Language"]) ?? .fi
    }

    /// How a `language` filter value is checked: as the services' own languages are.
    private static let languageSpec = FieldSpec("language", "language", .languageCode)

    /// The query string of these filters in `language` (for the language links), `?`-prefixed.
    func queryString(language: DirectoryLanguage) -> String {
        var pairs: [(String, String)] = [("lang", language.rawValue)]
        if let municipality { pairs.append(("municipality", String(municipality))) }
        if let serviceLanguage { pairs.append(("language", serviceLanguage)) }
        if let category { pairs.append(("category", category.rawValue)) }
        if let text { pairs.append(("q", text)) }
        return "?" + pairs.map { "\($0.0)=\(Self.percentEncoded($0.1))" }.joined(separator: "&")
    }

    /// Everything but RFC 3986 unreserved characters percent-encoded.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return result
    }
}

// MARK: - One listed service

/// A service as the directory shows it in one language.
struct DirectoryEntry: Sendable {
    let service: DirectoryService
    let language: DirectoryLanguage
    /// The name in the page's language, or the other national language's
    /// when the service has none in it (English: the Swedish name first, as
    /// for the region's municipalities).
    let name: String
    /// The language `name` is in (`fi` or `sv`), for the page's `lang` attributes.
    let nameLanguage: String
    /// The other national language's name when the service has one that differs.
    let otherName: (text: String, language: String)?
    let full: Bool
    let municipalities: [(code: Int, name: String)]
    let languages: [(code: String, name: String)]
    let sortKey: String

    init(_ service: DirectoryService, language: DirectoryLanguage, registry: MunicipalityRegistry) {
        self.service = service
        self.language = language
        let fi = service.nameFi.flatMap { $0.allSatisfy(\.isWhitespace) ? nil : $0 }
        let sv = service.nameSv.flatMap { $0.allSatisfy(\.isWhitespace) ? nil : $0 }
        let prefersSwedish = language != .fi
        let primary = prefersSwedish ? (sv.map { ($0, "sv") } ?? fi.map { ($0, "fi") }) : (fi.map { ($0, "fi") } ?? sv.map { ($0, "sv") })
        let name = primary?.0 ?? ""
        let nameLanguage = primary?.1 ?? language.rawValue
        self.name = name
        self.nameLanguage = nameLanguage
        let other = nameLanguage == "fi" ? sv.map { ($0, "sv") } : fi.map { ($0, "fi") }
        otherName = other.flatMap { $0.0 == name ? nil : (text: $0.0, language: $0.1) }
        full = service.status == ServiceStatus.full.rawValue || service.enrolmentsReachCapacity
        let labels = DirectoryLabels(language)
        municipalities = service.municipalities.map { code in
            (code, registry.municipality(code: code).map(labels.municipalityName) ?? String(code))
        }
        languages = service.languages.map { ($0, labels.languageName($0)) }
        sortKey = DirectoryLabels.sortKey(name)
    }

    var capacityStatus: String { full ? "full" : "open" }

    /// The item of `GET /v1/directory`; `ServiceDirectoryTests` pins its keys.
    var json: JSONValue {
        let labels = DirectoryLabels(language)
        func optional(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        return .object([
            ("id", .string(service.id.lowercased)),
            ("name", .string(name)),
            ("nameFi", optional(service.nameFi)),
            ("nameSv", optional(service.nameSv)),
            ("providerName", .string(service.providerName)),
            ("providerType", .string(service.providerType)),
            ("providerTypeLabel", .string(labels.providerType(service.providerType))),
            ("category", .string(service.category)),
            ("categoryLabel", .string(labels.category(service.category))),
            ("languages", .array(languages.map { .object([("code", .string($0.code)), ("name", .string($0.name))]) })),
            ("municipalities", .array(municipalities.map { .object([("code", .number(Double($0.code))), ("name", .string($0.name))]) })),
            ("contact", optional(service.contact)),
            ("studyPath", .string(service.studyPath)),
            ("studyPathLabel", .string(labels.studyPath(service.studyPath))),
            ("capacity", service.capacity.map { .number(Double($0)) } ?? .null),
            ("capacityStatus", .string(capacityStatus)),
            ("capacityStatusLabel", .string(labels.capacityStatus(full: full))),
            ("startDate", optional(service.startDate)),
            ("endDate", optional(service.endDate)),
        ])
    }
}
