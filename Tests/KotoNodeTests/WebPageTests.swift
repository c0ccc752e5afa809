import Foundation
import KotoCore
import KotoHTTP
import Testing
@testable import KotoNode

/// The web page's routes: `/` and its assets (no login, content types,
/// caching, the strict policy), and the three endpoints the page asks first:
/// `/v1/whoami`, `/v1/schema`, `/v1/region`.
@Suite struct WebPageTests {
    static let assets: [(path: String, type: String)] = [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
    ]

    // MARK: Page and assets

    @Test(arguments: [TestCaller.none, .wrongToken, .office, .peer])
    func assetsNeedNoLoginAndCarryTheirHeaders(caller: TestCaller) async throws {
        let node = try TestNode()
        for asset in Self.assets {
            let response = try await node.send(.get, asset.path, as: caller)
            #expect(response.status == .ok, "\(asset.path)")
            #expect(response.headers["Content-Type"] == asset.type, "\(asset.path)")
            #expect(response.headers["Cache-Control"] == "no-cache", "\(asset.path)")
            #expect(response.headers["X-Content-Type-Options"] == "nosniff", "\(asset.path)")
            let policy = try #require(response.headers["Content-Security-Policy"], "\(asset.path)")
            #expect(policy.hasPrefix("default-src 'self';"), "\(asset.path)")
            #expect(policy.contains("frame-ancestors 'none'") && policy.contains("object-src 'none'"), "\(asset.path)")
            #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "\(asset.path)")
            #expect(!response.body.isEmpty, "\(asset.path)")
        }
    }

    @Test func anETagThatMatchesAnswersNotModified() async throws {
        let node = try TestNode()
        for asset in Self.assets {
            let first = try await node.send(.get, asset.path, as: .none)
            let etag = try #require(first.headers["ETag"], "\(asset.path)")
            #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""), "\(asset.path)")
            let again = try await node.send(.get, asset.path, as: .none, headers: ["If-None-Match": "\"other\", \(etag)"])
            #expect(again.status.code == 304, "\(asset.path)")
            #expect(again.body.isEmpty, "\(asset.path)")
            #expect(again.headers["ETag"] == etag, "\(asset.path)")
            let stale = try await node.send(.get, asset.path, as: .none, headers: ["If-None-Match": "\"stale\""])
            #expect(stale.status == .ok && stale.body == first.body, "\(asset.path)")
        }
    }

    /// The HTML names its script and styles by URL and holds nothing inline
    /// that `default-src 'self'` would block.
    @Test func htmlHasNothingInlineForThePolicyToBlock() async throws {
        let node = try TestNode()
        let html = try await node.send(.get, "/", as: .none).bodyText
        #expect(html.contains(#"<script src="/assets/app.js" defer></script>"#))
        #expect(html.contains(#"<link rel="stylesheet" href="/assets/app.css">"#))
        #expect(html.components(separatedBy: "<script").count == 2, "one script element, by src")
        #expect(!html.contains("<style") && !html.contains(" style="))
        #expect(html.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil, "no inline event handlers")
        #expect(!html.contains("http://") && !html.contains("https://"), "no external assets")
        let script = try await node.send(.get, "/assets/app.js", as: .none).bodyText
        #expect(!script.contains("innerHTML") && !script.contains("eval("), "DOM built by calls, never from markup strings")
        // The SVG namespace is a name, not an address the script loads.
        let addresses = script.replacingOccurrences(of: "\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!addresses.contains("http://") && !addresses.contains("https://"), "the script loads nothing from elsewhere")
        let css = try await node.send(.get, "/assets/app.css", as: .none).bodyText
        #expect(!css.contains("@import") && !css.contains("url("), "the styles load nothing")
    }

    @Test(arguments: [
        (nil, "fi"), ("sv", "sv"), ("sv-FI,sv;q=0.9,en;q=0.8", "sv"), ("en-GB,en;q=0.9", "en"), ("fi-FI", "fi"),
        ("de-DE,de;q=0.9,en;q=0.5", "en"), ("en;q=0.5, sv;q=0.9", "sv"), ("de", "fi"), ("sv;q=0, en;q=0.1", "en"), ("*", "fi"),
    ] as [(String?, String)])
    func pageLanguageFollowsAcceptLanguage(header: String?, language: String) async throws {
        let node = try TestNode()
        var headers: HTTPHeaders = [:]
        if let header { headers["Accept-Language"] = header }
        let response = try await node.send(.get, "/", as: .none, headers: headers)
        #expect(response.bodyText.contains("<html lang=\"\(language)\">"))
        #expect(response.headers["Content-Language"] == language)
        #expect(response.headers["Vary"] == "Accept-Language")
    }

    @Test func thePageIsNotAnAPIRouteAndHeadWorks() async throws {
        let node = try TestNode()
        let head = try await node.send(.head, "/assets/app.js", as: .none)
        #expect(head.status == .ok)
        #expect(head.headers["Content-Type"] == "text/javascript; charset=utf-8")
        let post = try await node.send(.post, "/", as: .office, json: "{}")
        #expect(post.status == .methodNotAllowed)
        let missing = try await node.send(.get, "/assets/other.js", as: .none)
        #expect(missing.status == .notFound)
    }

    // MARK: /v1/whoami

    @Test func whoamiNamesTheHolder() async throws {
        let node = try TestNode()
        let cases: [(String, String, JSONValue, JSONValue, JSONValue)] = [
            (Token.office, "office", .number(598), .null, .null),
            (Token.larsmoOffice, "office", .number(440), .string("Test Person"), .null),
            (Token.coordinator, "coordinator", .null, .string("Test coordinator"), .null),
            (Token.admin, "admin", .null, .string("Test operator"), .null),
            (Token.peer("larsmo"), "peer", .null, .null, .string("larsmo")),
            (Token.scrape, "scrape", .null, .string("Test Prometheus"), .null),
        ]
        for (token, role, municipality, name, peerNode) in cases {
            let response = try await node.send(.get, "/v1/whoami", authorization: "Bearer \(token)")
            #expect(response.status == .ok, "\(role)")
            #expect(response.headers["Content-Type"] == "application/json")
            let json = try response.json
            #expect(json["role"] == .string(role))
            #expect(json["municipality"] == municipality, "\(role)")
            #expect(json["name"] == name, "\(role)")
            #expect(json["node"] == peerNode, "\(role)")
            #expect(json.objectMembers?.map(\.0) == ["role", "municipality", "name", "node"])
        }
    }

    @Test(arguments: [TestCaller.none, .wrongToken])
    func whoamiNeedsAValidToken(caller: TestCaller) async throws {
        let node = try TestNode()
        let response = try await node.send(.get, "/v1/whoami", as: caller)
        #expect(response.status == .unauthorized)
        #expect(response.errorCode == "unauthorized")
        #expect(response.headers["WWW-Authenticate"] == "Bearer")
    }

    // MARK: /v1/schema

    @Test func schemaDescribesEveryFieldButDeleted() async throws {
        let node = try TestNode()
        let response = try await node.send(.get, "/v1/schema", as: .office)
        #expect(response.status == .ok)
        let kinds = try #require(try response.json["kinds"]?.arrayValue)
        #expect(kinds.map { $0["table"] } == RecordKind.allCases.map { .string($0.table) })
        let codes = JSONValue.array(TestRegion.offices.map { .number(Double($0.code)) })
        for (kind, described) in zip(RecordKind.allCases, kinds) {
            #expect(described["kind"] == .string(kind.rawValue))
            let fields = try #require(described["fields"]?.arrayValue)
            let specs = kind.fields.filter { $0.name != deletedFieldName }
            #expect(fields.map { $0["name"] } == specs.map { .string($0.name) }, "\(kind)")
            for (spec, field) in zip(specs, fields) {
                #expect(field["required"] == .bool(spec.required), "\(spec.name)")
                #expect(field["personal"] == .bool(spec.personal), "\(spec.name)")
                switch spec.type {
                case .choice(let values):
                    #expect(field["type"] == .string("choice"))
                    #expect(field["allowed"] == .array(values.map { .string($0) }), "\(spec.name)")
                case .municipalityCode, .municipalityCodes:
                    #expect(field["allowed"] == codes, "\(spec.name)")
                case .text(let maxLength):
                    #expect(field["type"] == .string("text"))
                    #expect(field["maxLength"] == .number(Double(maxLength)), "\(spec.name)")
                case .integer(let min, let max):
                    #expect(field["min"] == .number(Double(min)) && field["max"] == .number(Double(max)), "\(spec.name)")
                default:
                    #expect(field["allowed"] == nil, "\(spec.name)")
                }
            }
        }
        let client = try #require(kinds.first { $0["table"] == .string("clients") })
        let status = try #require(client["fields"]?.arrayValue?.first { $0["name"] == .string("status") })
        #expect(status["allowed"] == .array(ClientStatus.allCases.map { .string($0.rawValue) }))
        let birthDate = try #require(client["fields"]?.arrayValue?.first { $0["name"] == .string("birthDate") })
        #expect(birthDate["type"] == .string("date") && birthDate["personal"] == .bool(true) && birthDate["required"] == .bool(true))
    }

    @Test(arguments: [(TestCaller.office, 200), (.coordinator, 200), (.admin, 200), (.peer, 403), (.scrape, 403), (.none, 401), (.wrongToken, 401)])
    func schemaIsForStaff(caller: TestCaller, status: Int) async throws {
        let node = try TestNode()
        let response = try await node.send(.get, "/v1/schema", as: caller)
        #expect(response.status.code == status)
    }

    // MARK: /v1/region

    @Test func regionListsTheManifestsMunicipalitiesWithoutLogin() async throws {
        let node = try TestNode()
        let response = try await node.send(.get, "/v1/region", as: .none)
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == "application/json")
        let json = try response.json
        #expect(json.objectMembers?.map(\.0) == ["region", "node", "municipalities"])
        #expect(json["region"] == .string("test-region"))
        #expect(json["node"] == .string("jakobstad"))
        let members = try #require(json["municipalities"]?.arrayValue)
        #expect(members.count == TestRegion.offices.count)
        for (office, member) in zip(TestRegion.offices, members) {
            #expect(member.objectMembers?.map(\.0) == ["code", "node", "nameFi", "nameSv"])
            #expect(member["code"] == .number(Double(office.code)))
            #expect(member["node"] == .string(office.slug))
            #expect(member["nameFi"] == .string(office.nameFi))
            #expect(member["nameSv"] == .string(office.nameSv))
        }
    }

    /// The answer is the manifest's and nothing else: records written since
    /// change nothing in it, and none of their values reach it.
    @Test func regionCarriesNoPersonalData() async throws {
        let node = try TestNode()
        let before = try await node.send(.get, "/v1/region", as: .none).body
        try await node.create(.client, SampleJSON.client(number: 4711, extra: #""motherTongue":"ar""#))
        try await node.create(.service, SampleJSON.service(number: 8))
        let after = try await node.send(.get, "/v1/region", as: .none)
        #expect(after.body == before)
        let text = after.bodyText
        for value in ["Testi", "Henkilö", "1990-01-01", "T-4711", "Testikurssi", "Testiopisto"] {
            #expect(!text.contains(value))
        }
    }
}
