import Foundation
import KotoHTTP
import Testing
@testable import KotoNode

/// docs/openapi.yaml describes exactly the routes the daemon serves: every
/// registered method and pattern is described, and every described one is
/// registered. (Tests/python/test_openapi.py checks the rest of the
/// description against a running region.)
@Suite struct OpenAPIRoutesTests {
    @Test func describesExactlyTheRegisteredRoutes() throws {
        let node = try TestNode()
        let served = Set(node.router.registeredRoutes.map { "\($0.method.rawValue) \($0.pattern)" })
        let described = try DescribedOperations.read(packageRoot.appendingPathComponent("docs/openapi.yaml"))
        #expect(described.contains("GET /healthz"), "the scan of docs/openapi.yaml found no GET /healthz")
        let undescribed = served.subtracting(described).sorted()
        let unserved = described.subtracting(served).sorted()
        #expect(undescribed.isEmpty, "routes docs/openapi.yaml does not describe: \(undescribed)")
        #expect(unserved.isEmpty, "operations docs/openapi.yaml describes but the router does not serve: \(unserved)")
    }
}

/// The operations of an OpenAPI file's `paths`, as "METHOD /pattern",
/// found by a line scan of its block-style YAML: path keys indented two
/// spaces under `paths:`, operation keys four.
private enum DescribedOperations {
    static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    static func read(_ url: URL) throws -> Set<String> {
        let text = try String(contentsOf: url, encoding: .utf8)
        var operations: Set<String> = []
        var inPaths = false
        var path: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if !line.hasPrefix(" ") && !line.hasPrefix("#") {
                inPaths = line.hasPrefix("paths:")
                path = nil
                continue
            }
            guard inPaths, line.hasSuffix(":") else { continue }
            let key = unquoted(String(line.drop { $0 == " " }.dropLast()))
            let indent = line.prefix { $0 == " " }.count
            if indent == 2 && key.hasPrefix("/") {
                path = key
            } else if indent == 4, let path, methods.contains(key) {
                operations.insert("\(key.uppercased()) \(path)")
            }
        }
        return operations
    }

    private static func unquoted(_ key: String) -> String {
        guard key.count >= 2, let first = key.first, first == "'" || first == "\"", key.last == first else { return key }
        return String(key.dropFirst().dropLast())
    }
}
