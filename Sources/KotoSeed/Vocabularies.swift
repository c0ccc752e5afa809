import KotoCore

/// Mother tongues (ISO 639-1) by how people came to the region, weighted
/// after the region's immigrant population: Syrian, Afghan, Somali, Eritrean
/// and Kurdish refugees, Ukrainians under temporary protection, Filipino,
/// Thai, Vietnamese and Eastern European work and family migrants, and EU
/// citizens from the Baltics, Poland, Romania and Bulgaria.
enum MotherTongues {
    static let quota: [(String, Double)] = [
        ("ar", 34), ("fa", 14), ("ps", 6), ("so", 8), ("ti", 5), ("ku", 12), ("sw", 6), ("fr", 4), ("my", 5),
        ("rw", 2), ("am", 4),
    ]
    static let asylum: [(String, Double)] = [
        ("ar", 30), ("so", 18), ("fa", 14), ("ps", 7), ("ku", 11), ("ti", 8), ("ru", 4), ("tr", 4), ("am", 4),
    ]
    static let temporaryProtection: [(String, Double)] = [("uk", 78), ("ru", 22)]
    static let familyOfRefugee: [(String, Double)] = [("ar", 35), ("so", 25), ("fa", 15), ("ti", 12), ("ku", 13)]
    static let family: [(String, Double)] = [
        ("th", 14), ("vi", 10), ("ru", 12), ("ar", 8), ("tl", 10), ("en", 6), ("es", 5), ("tr", 4), ("so", 5),
        ("sq", 5), ("bs", 6), ("uk", 5), ("fa", 3), ("zh", 2),
    ]
    static let work: [(String, Double)] = [
        ("tl", 18), ("vi", 14), ("uk", 10), ("ru", 7), ("ro", 7), ("bg", 5), ("th", 6), ("hi", 4), ("ne", 4),
        ("en", 5), ("sr", 3), ("hr", 2), ("bs", 3), ("es", 3), ("zh", 3), ("bn", 2), ("si", 2), ("ur", 2),
    ]
    static let study: [(String, Double)] = [
        ("en", 14), ("zh", 12), ("vi", 12), ("ne", 10), ("hi", 8), ("bn", 8), ("es", 6), ("fa", 6), ("ar", 6),
        ("ru", 6), ("ur", 6), ("tl", 6),
    ]
    static let eu: [(String, Double)] = [
        ("et", 18), ("lv", 12), ("lt", 14), ("pl", 14), ("ro", 12), ("bg", 8), ("es", 5), ("de", 5), ("it", 3),
        ("pt", 3), ("hu", 3), ("nl", 2), ("fr", 1),
    ]
    static let other: [(String, Double)] = [
        ("ru", 15), ("en", 12), ("ar", 10), ("uk", 10), ("sq", 8), ("bs", 8), ("tr", 8), ("es", 8), ("th", 8),
        ("sr", 7), ("hr", 6),
    ]

    static func weights(for basis: PermitBasis, route: PlacementRoute?) -> [(String, Double)] {
        switch basis {
        case .quotaRefugee: quota
        case .internationalProtection: route == .familyReunification ? familyOfRefugee : asylum
        case .temporaryProtection: temporaryProtection
        case .family: family
        case .work: work
        case .study: study
        case .euRegistration: eu
        case .other: other
        }
    }
}

enum Background {
    /// Quota refugees and people granted international or temporary protection.
    static func isRefugee(_ basis: PermitBasis) -> Bool {
        switch basis {
        case .quotaRefugee, .internationalProtection, .temporaryProtection: true
        default: false
        }
    }
}
