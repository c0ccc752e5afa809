// swift-tools-version:6.1
import PackageDescription

/// Strict settings shared by every Swift target: the project builds without warnings under them.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "kotosync",
    products: [
        .library(name: "KotoCore", targets: ["KotoCore"]),
        .library(name: "KotoStore", targets: ["KotoStore"]),
        .library(name: "KotoHTTP", targets: ["KotoHTTP"]),
        .library(name: "KotoNode", targets: ["KotoNode"]),
        .library(name: "KotoCrypto", targets: ["KotoCrypto"]),
        .executable(name: "kotosyncd", targets: ["kotosyncd"]),
        .executable(name: "kotosync-bench", targets: ["kotosync-bench"]),
        .executable(name: "kotosync", targets: ["kotosync"]),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "KotoCore", swiftSettings: strict),
        .target(name: "KotoStore", dependencies: ["KotoCore", "KotoCrypto", "KotoHTTP", "CSQLite"], swiftSettings: strict),
        .target(name: "KotoHTTP", dependencies: ["CCurl"], swiftSettings: strict),
        .target(name: "KotoSeed", dependencies: ["KotoCore"], swiftSettings: strict),
        .target(name: "KotoCrypto", dependencies: ["COpenSSL"], swiftSettings: strict),
        .target(name: "KotoNode", dependencies: ["KotoCore", "KotoStore", "KotoHTTP", "KotoSeed"], swiftSettings: strict),
        .executableTarget(name: "kotosyncd", dependencies: ["KotoNode"], swiftSettings: strict),
        // The command-line client: talks to a daemon over HTTP, so it knows no node internals; only
        // `backup` opens the node's SQLite files itself (KotoStore's online backup, read-only source).
        .target(name: "KotoCLI", dependencies: ["KotoCore", "KotoHTTP", "KotoStore"], swiftSettings: strict),
        .executableTarget(name: "kotosync", dependencies: ["KotoCLI"], swiftSettings: strict),
        .executableTarget(
            name: "kotosync-bench",
            dependencies: ["KotoCore", "KotoStore", "KotoHTTP", "KotoCrypto", "KotoNode", "CSQLite"],
            swiftSettings: strict
        ),
        // Helpers shared by the test targets: seeded generator, temporary directories, clock, fictional records, test keys.
        .target(
            name: "KotoTestSupport",
            dependencies: ["KotoCore", "KotoCrypto", "KotoStore"],
            path: "Tests/KotoTestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "KotoCoreTests", dependencies: ["KotoCore", "KotoTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "KotoStoreTests",
            dependencies: ["KotoStore", "KotoCore", "KotoCrypto", "KotoHTTP", "KotoTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(name: "KotoHTTPTests", dependencies: ["KotoHTTP"], swiftSettings: strict),
        .testTarget(name: "KotoSeedTests", dependencies: ["KotoSeed", "KotoCore"], swiftSettings: strict),
        .testTarget(
            name: "KotoNodeTests",
            dependencies: ["KotoNode", "KotoStore", "KotoHTTP", "KotoCore", "KotoTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(name: "RegionTests", dependencies: ["KotoHTTP", "KotoCore", "KotoCrypto", "KotoTestSupport"], swiftSettings: strict),
        .testTarget(name: "KotoCLITests", dependencies: ["KotoCLI", "KotoCore", "KotoHTTP", "KotoStore", "KotoTestSupport"], swiftSettings: strict),
        .testTarget(name: "KotoCryptoTests", dependencies: ["KotoCrypto", "KotoTestSupport"], swiftSettings: strict),
    ]
)
