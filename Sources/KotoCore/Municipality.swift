/// A municipality that runs a kotosync office or is named by records.
/// The set is data (a registry), not an enum, so another municipality can
/// join the cooperation without a schema change.
public struct Municipality: Hashable, Sendable {
    /// Statistics Finland municipality code, e.g. 598.
    public let code: Int
    /// Stable node id of the office, e.g. `jakobstad`.
    public let slug: String
    public let nameFi: String
    public let nameSv: String

    public init(code: Int, slug: String, nameFi: String, nameSv: String) {
        self.code = code
        self.slug = slug
        self.nameFi = nameFi
        self.nameSv = nameSv
    }
}

/// The municipalities records may name.
public struct MunicipalityRegistry: Sendable {
    public let all: [Municipality]
    private let byCode: [Int: Municipality]
    private let bySlug: [String: Municipality]

    public init(_ municipalities: [Municipality]) {
        all = municipalities
        byCode = Dictionary(municipalities.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
        bySlug = Dictionary(municipalities.map { ($0.slug, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func municipality(code: Int) -> Municipality? { byCode[code] }
    public func municipality(slug: String) -> Municipality? { bySlug[slug] }

    /// The five offices of the Jakobstad region cooperation.
    public static let ostrobothnianCoast = MunicipalityRegistry([
        Municipality(code: 598, slug: "jakobstad", nameFi: "Pietarsaari", nameSv: "Jakobstad"),
        Municipality(code: 893, slug: "nykarleby", nameFi: "Uusikaarlepyy", nameSv: "Nykarleby"),
        Municipality(code: 288, slug: "kronoby", nameFi: "Kruunupyy", nameSv: "Kronoby"),
        Municipality(code: 599, slug: "pedersore", nameFi: "Pedersören kunta", nameSv: "Pedersöre"),
        Municipality(code: 440, slug: "larsmo", nameFi: "Luoto", nameSv: "Larsmo"),
    ])
}
