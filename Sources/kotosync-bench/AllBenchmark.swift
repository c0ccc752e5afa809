import Foundation

/// The issue-10 modes by name (`kotosync-bench scale`, `wire`, `rss`, `all`), dispatched from main.swift.
let issue10Modes: [String: @Sendable ([String]) async -> Void] = [
    "scale": { runScaleBenchmark($0) },
    "wire": { runWireBenchmark($0) },
]
