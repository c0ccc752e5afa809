import Foundation

/// Deterministic PRNG (SplitMix64) so a seed reproduces a whole scenario.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    /// The generator of scenario `seed`: its state starts one golden-ratio step past the seed.
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// A generator whose state starts at exactly `state`.
    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seeds of a seeded property test: `<prefix>_SEEDS=N` runs N scenarios
/// (default `defaultCount`), `<prefix>_FIRST_SEED=S` starts at S (default 1).
public func scenarioSeeds(environmentPrefix prefix: String, defaultCount: UInt64) -> [UInt64] {
    let environment = ProcessInfo.processInfo.environment
    let count = environment["\(prefix)_SEEDS"].flatMap(UInt64.init) ?? defaultCount
    let first = environment["\(prefix)_FIRST_SEED"].flatMap(UInt64.init) ?? 1
    return Array(first..<(first + count))
}
