import KotoCore

/// What the generator knows about each office: its municipality, how many
/// clients it has, its share of the refugee placements and how often its
/// clients integrate in Swedish.
struct Office {
    let municipality: Municipality
    /// Typical number of clients; the generated count is within ± `clientJitter`.
    let clientTarget: Int
    let clientJitter: Int
    /// Share of a full year's municipal placements.
    let placementShare: Double
    /// Probability that a household's integration language is Swedish.
    let swedishShare: Double
    /// The municipality as a service provider.
    let providerName: String

    var code: Int { municipality.code }
    var slug: String { municipality.slug }
    var nameFi: String { municipality.nameFi }
    var nameSv: String { municipality.nameSv }

    /// The five offices in registry order. Jakobstad is bilingual with a
    /// Swedish-speaking majority of about half; the others are clearly
    /// Swedish-majority municipalities.
    static let all: [Office] = {
        let registry = MunicipalityRegistry.ostrobothnianCoast
        func office(_ slug: String, _ target: Int, _ jitter: Int, _ share: Double, _ swedish: Double,
                    _ provider: String) -> Office {
            guard let municipality = registry.municipality(slug: slug) else {
                preconditionFailure("the registry has no office \(slug)")
            }
            return Office(municipality: municipality, clientTarget: target, clientJitter: jitter,
                          placementShare: share, swedishShare: swedish, providerName: provider)
        }
        let offices = [
            office("jakobstad", 1250, 15, 0.53, 0.5, "Jakobstads stad – Pietarsaaren kaupunki"),
            office("nykarleby", 300, 8, 0.15, 0.88, "Nykarleby stad"),
            office("kronoby", 150, 8, 0.08, 0.85, "Kronoby kommun"),
            office("pedersore", 380, 8, 0.16, 0.9, "Pedersöre kommun"),
            office("larsmo", 220, 8, 0.08, 0.92, "Larsmo kommun"),
        ]
        // Keep the registry order, whatever the table above says.
        return registry.all.compactMap { municipality in offices.first { $0.slug == municipality.slug } }
    }()

    static let jakobstad = all.firstIndex { $0.slug == "jakobstad" } ?? 0
}
