import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// The public service directory, `GET /v1/directory` and `GET /directory`:
/// which services it lists, in which language, its filters and their
/// errors, the HTML page, and that no client or placement field reaches it.
@Suite struct ServiceDirectoryTests {
    // MARK: Fixture

    /// Fictional, distinctive personal data: none of it may ever appear in the directory.
    enum Personal {
        static let givenName = "Zyxwvuq"
        static let familyName = "Qwvxyzu"
        static let clientNumber = "ZQ-998877"
        static let birthDate = LocalDate(year: 1913, month: 3, day: 17)!
        static let identityCode = PersonalIdentityCode.make(birthDate: birthDate, individual: 987)
        static let familyID = "7a1c0e55-0d2f-4c83-9a55-5c2b3f0e9d11"
        static let elyReference = "ELY-ZQX-4242"
        static let offeredDate = "2019-02-13"
        static let arrivalDate = "2019-02-21"

        static func client(number: String = clientNumber, owner: Int = 598) -> String {
            """
            {"clientNumber":"\(number)","ownerMunicipality":\(owner),"givenName":"\(givenName)","familyName":"\(familyName)",\
            "birthDate":"\(birthDate)","personalIdentityCode":"\(identityCode)","arrivalDate":"\(arrivalDate)",\
            "firstPermitDate":"2019-01-30","permitBasis":"quota_refugee","integrationLanguage":"sv","motherTongue":"ar",\
            "interpreterLanguage":"ar","literacySupport":true,"familyId":"\(familyID)","planStatus":"none","status":"new"}
            """
        }

        /// Every distinctive value, as stored and as the page would format a date.
        static let needles = [givenName, familyName, clientNumber, identityCode, birthDate.description, "17.3.1913", familyID,
                              elyReference, offeredDate, arrivalDate, "13.2.2019", "21.2.2019", "2019-01-30"]
    }

    /// Services of every status (three listed), clients with the personal
    /// data above, enrolments (one fills service C) and a municipal placement.
    struct Directory {
        let node: TestNode
        var services: [String: UUID] = [:]
        var personalIDs: [String] = []

        static let listed = ["A", "B", "C"]

        init() async throws {
            node = try TestNode()
            let json: [(String, String)] = [
                ("A", """
                 {"nameFi":"Suomen kielen kurssi","nameSv":"Kurs i finska","providerName":"Testiopisto","providerType":"adult_education",\
                 "category":"language_course","municipalities":[598,599],"languages":["fi","sv"],"studyPath":"basic","capacity":12,\
                 "startDate":"2026-09-01","endDate":"2027-05-31","contact":"kurssit@testiopisto.example","status":"active"}
                 """),
                ("B", """
                 {"nameSv":"Läs- och skrivkurs","providerName":"Testföreningen","providerType":"ngo","category":"literacy_training",\
                 "municipalities":[893],"languages":["sv","ar"],"studyPath":"slow","status":"full"}
                 """),
                ("C", """
                 {"nameFi":"Työnhaun neuvonta","providerName":"Testikunta","providerType":"municipality","category":"employment",\
                 "municipalities":[288,440],"languages":["fi","en"],"studyPath":"none","capacity":1,"status":"active"}
                 """),
                ("draft", Self.unlisted("Utkast", status: "draft")), ("paused", Self.unlisted("Pausad", status: "paused")),
                ("discontinued", Self.unlisted("Nedlagd", status: "discontinued")), ("deleted", Self.unlisted("Raderad", status: "active")),
                ("erased", Self.unlisted("Utplånad", status: "active")),
            ]
            for (key, text) in json { services[key] = try await node.create(.service, text) }
            for key in ["deleted", "erased"] {
                let id = services[key]!.lowercased
                let answer = key == "deleted" ? try await node.send(.delete, "/v1/services/\(id)", as: .office)
                    : try await node.send(.post, "/v1/services/\(id)/erase", as: .office)
                #expect(answer.status == (key == "deleted" ? .noContent : .ok))
            }
            let client = try await node.create(.client, Personal.client())
            let other = try await node.create(.client, Personal.client(number: "ZQ-998878", owner: 440))
            personalIDs = [client.lowercased, other.lowercased]
            // An active enrolment fills C (capacity 1); A (capacity 12) stays open.
            for service in ["A", "C"] {
                let placement = try await node.create(.placement, """
                    {"type":"service_enrolment","clientId":"\(client.lowercased)","serviceId":"\(services[service]!.lowercased)",\
                    "referralDate":"\(Personal.offeredDate)","startDate":"\(Personal.arrivalDate)","status":"active"}
                    """)
                personalIDs.append(placement.lowercased)
            }
            let waiting = try await node.create(.placement, SampleJSON.enrolment(client: other, service: services["A"]!))
            let municipal = try await node.create(.placement, """
                {"type":"municipal_placement","clientId":"\(other.lowercased)","municipality":440,"route":"quota",\
                "offeredDate":"\(Personal.offeredDate)","arrivalDate":"\(Personal.arrivalDate)","elyReference":"\(Personal.elyReference)",\
                "wellbeingCountyConsulted":true,"status":"arrived"}
                """, as: .officeOf(440))
            personalIDs += [waiting.lowercased, municipal.lowercased]
        }

        /// A service that is not listed: by its status, or deleted or erased afterwards.
        static func unlisted(_ name: String, status: String) -> String {
            """
            {"nameSv":"\(name)","providerName":"Testiopisto","providerType":"adult_education","category":"language_course",\
            "municipalities":[598],"languages":["sv"],"studyPath":"basic","status":"\(status)"}
            """
        }

        func get(_ target: String, headers: HTTPHeaders = [:]) async throws -> HTTPResponse {
            await node.router.handle(try HTTPRequest(method: .get, target: target, headers: headers))
        }

        /// The items of `GET /v1/directory<query>`, which must answer 200.
        func items(_ query: String = "", sourceLocation: SourceLocation = #_sourceLocation) async throws -> [JSONValue] {
            let response = try await get("/v1/directory\(query)")
            try #require(response.status == .ok, "\(query) answered \(response.status.code)", sourceLocation: sourceLocation)
            return try response.json["items"]?.arrayValue ?? []
        }

        /// Which fixture services (by key) the items are.
        func keys(_ items: [JSONValue]) -> [String] {
            let byID = Dictionary(uniqueKeysWithValues: services.map { ($0.value.lowercased, $0.key) })
            return items.compactMap { $0["id"]?.stringValue.flatMap { byID[$0] } }
        }
    }

    static let itemKeys: Set<String> = [
        "id", "name", "nameFi", "nameSv", "providerName", "providerType", "providerTypeLabel", "category", "categoryLabel",
        "languages", "municipalities", "contact", "studyPath", "studyPathLabel", "capacity", "capacityStatus",
        "capacityStatusLabel", "startDate", "endDate",
    ]

    // MARK: What it lists

    @Test func listsActiveAndFullServicesOnlyWithoutLogin() async throws {
        let directory = try await Directory()
        let response = try await directory.get("/v1/directory")
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == "application/json")
        let json = try response.json
        #expect(Set(json.objectMembers?.map(\.0) ?? []) == ["language", "generatedAt", "filters", "labels", "count", "items"])
        let items = json["items"]?.arrayValue ?? []
        #expect(Set(directory.keys(items)) == Set(Directory.listed), "drafts, paused, discontinued, deleted and erased services are not listed")
        #expect(items.count == 3)
        #expect(json["count"] == .number(3))
        for item in items {
            #expect(Set(item.objectMembers?.map(\.0) ?? []) == Self.itemKeys, "an item holds exactly the directory's keys")
        }
        // A wrong token changes nothing: the directory ignores credentials.
        let withToken = try await directory.get("/v1/directory", headers: ["Authorization": "Bearer \(Token.unknown)"])
        #expect(withToken.status == .ok)
        let head = try await directory.node.router.handle(HTTPRequest(method: .head, target: "/directory"))
        #expect(head.status == .ok)
    }

    @Test func anItemCarriesTheServicesPublishedFields() async throws {
        let directory = try await Directory()
        let items = try await directory.items("?lang=fi")
        let byKey = Dictionary(uniqueKeysWithValues: zip(directory.keys(items), items))
        let a = try #require(byKey["A"])
        #expect(a["id"] == .string(directory.services["A"]!.lowercased))
        #expect(a["name"] == .string("Suomen kielen kurssi"))
        #expect(a["nameFi"] == .string("Suomen kielen kurssi"))
        #expect(a["nameSv"] == .string("Kurs i finska"))
        #expect(a["providerName"] == .string("Testiopisto"))
        #expect(a["providerType"] == .string("adult_education"))
        #expect(a["providerTypeLabel"] == .string("Aikuiskoulutus"))
        #expect(a["category"] == .string("language_course"))
        #expect(a["categoryLabel"] == .string("Kielikurssi"))
        #expect(a["languages"] == .array([.object([("code", .string("fi")), ("name", .string("suomi"))]),
                                          .object([("code", .string("sv")), ("name", .string("ruotsi"))])]))
        #expect(a["municipalities"] == .array([.object([("code", .number(598)), ("name", .string("Pietarsaari"))]),
                                               .object([("code", .number(599)), ("name", .string("Pedersören kunta"))])]))
        #expect(a["contact"] == .string("kurssit@testiopisto.example"))
        #expect(a["studyPath"] == .string("basic"))
        #expect(a["studyPathLabel"] == .string("Perusopintopolku"))
        #expect(a["capacity"] == .number(12))
        #expect(a["capacityStatus"] == .string("open"), "one active enrolment of twelve places")
        #expect(a["startDate"] == .string("2026-09-01"))
        #expect(a["endDate"] == .string("2027-05-31"))
        let b = try #require(byKey["B"])
        #expect(b["capacityStatus"] == .string("full"), "status full")
        #expect(b["capacityStatusLabel"] == .string("Täynnä"))
        #expect(b["capacity"] == .null)
        #expect(b["contact"] == .null && b["startDate"] == .null && b["nameFi"] == .null)
        let c = try #require(byKey["C"])
        #expect(c["capacityStatus"] == .string("full"), "its one place is taken by an active enrolment")
    }

    // MARK: Languages

    /// (query, headers, the language answered); one fixture for all of them.
    static let languageCases: [(String, [String: String], String)] = [
        ("?lang=fi", [String: String](), "fi"), ("?lang=sv", [:], "sv"), ("?lang=en", [:], "en"), ("", [:], "fi"),
        ("", ["Accept-Language": "sv-FI,sv;q=0.9,en;q=0.5"], "sv"), ("", ["Accept-Language": "en-GB,en;q=0.9"], "en"),
        ("", ["Accept-Language": "de-DE,fr;q=0.8"], "fi"), ("", ["Accept-Language": "fi;q=0.1, en;q=0.8"], "en"),
        ("", ["Accept-Language": "sv;q=0, en;q=0.2"], "en"), ("?lang=fi", ["Accept-Language": "sv"], "fi"),
        ("?lang=", ["Accept-Language": "sv"], "sv"),
    ]

    @Test func theLanguageComesFromLangThenAcceptLanguageThenFinnish() async throws {
        let directory = try await Directory()
        for (query, headers, expected) in Self.languageCases {
            let headerFields = HTTPHeaders(headers.map { ($0.key, $0.value) })
            let json = try await directory.get("/v1/directory\(query)", headers: headerFields)
            let context = "\(query) \(headers)"
            #expect(json.status == .ok, "\(context)")
            #expect(try json.json["language"] == .string(expected), "\(context)")
            #expect(json.headers["Content-Language"] == expected, "\(context)")
            let page = try await directory.get("/directory\(query)", headers: headerFields)
            #expect(page.bodyText.contains("<html lang=\"\(expected)\">"), "\(context)")
        }
    }

    @Test func namesAndLabelsFollowTheLanguage() async throws {
        let directory = try await Directory()
        let expected: [(String, [String: String], String, String, String)] = [
            // language, names of A, B, C; A's category label; the first municipality of A
            ("fi", ["A": "Suomen kielen kurssi", "B": "Läs- och skrivkurs", "C": "Työnhaun neuvonta"], "Kielikurssi", "Pietarsaari", "Palvelu"),
            ("sv", ["A": "Kurs i finska", "B": "Läs- och skrivkurs", "C": "Työnhaun neuvonta"], "Språkkurs", "Jakobstad", "Tjänst"),
            ("en", ["A": "Kurs i finska", "B": "Läs- och skrivkurs", "C": "Työnhaun neuvonta"], "Language course",
             "Jakobstad (Pietarsaari)", "Service"),
        ]
        for (language, names, category, municipality, nameLabel) in expected {
            let response = try await directory.get("/v1/directory?lang=\(language)")
            let json = try response.json
            let items = json["items"]?.arrayValue ?? []
            let byKey = Dictionary(uniqueKeysWithValues: zip(directory.keys(items), items))
            for (key, name) in names { #expect(byKey[key]?["name"] == .string(name), "\(language) \(key)") }
            #expect(byKey["A"]?["categoryLabel"] == .string(category))
            #expect(byKey["A"]?["municipalities"]?.arrayValue?.first?["name"] == .string(municipality))
            #expect(json["labels"]?["name"] == .string(nameLabel))
            #expect(Set(json["labels"]?.objectMembers?.map(\.0) ?? []) == Set(DirectoryLabels.columns))
            // Ordered by name in that language.
            let shown = items.compactMap { $0["name"]?.stringValue }
            #expect(shown == shown.sorted { DirectoryLabels.sortKey($0) < DirectoryLabels.sortKey($1) })
        }
        let page = try await directory.get("/directory?lang=sv").bodyText
        #expect(page.contains(">Kurs i finska</h2>"))
        #expect(page.contains("<p class=\"other-name\" lang=\"fi\">Suomen kielen kurssi</p>"))
        #expect(page.contains("<h2 id=\"service-\(directory.services["C"]!.lowercased)\" lang=\"fi\">Työnhaun neuvonta</h2>"),
                "a Finnish-only name on the Swedish page says its language")
        #expect(page.contains("Jakobstad, Pedersöre"))
        #expect(page.contains("Fullbokad"))
    }

    // MARK: Filters

    /// (query, the fixture services it lists).
    static let filterCases: [(String, [String])] = [
        ("municipality=598", ["A"]), ("municipality=599", ["A"]), ("municipality=893", ["B"]), ("municipality=440", ["C"]),
        ("language=sv", ["A", "B"]), ("language=ar", ["B"]), ("language=ti", []), ("category=literacy_training", ["B"]),
        ("category=housing", []), ("q=KURS", ["A", "B"]), ("q=testf%C3%B6reningen", ["B"]), ("q=kurssit%40testiopisto", ["A"]),
        ("q=neuvonta", ["C"]), ("q=i+finska", ["A"]), ("municipality=598&language=sv", ["A"]),
        ("municipality=893&category=language_course", []), ("municipality=&language=&category=&q=", ["A", "B", "C"]),
        ("q=Utkast", []), ("q=Raderad", []),
    ]

    @Test func filtersNarrowTheList() async throws {
        let directory = try await Directory()
        for (query, expected) in Self.filterCases {
            #expect(Set(directory.keys(try await directory.items("?\(query)"))) == Set(expected), "\(query)")
            let page = try await directory.get("/directory?\(query)")
            #expect(page.status == .ok, "\(query)")
            for key in Directory.listed {
                let shown = page.bodyText.contains("id=\"service-\(directory.services[key]!.lowercased)\"")
                #expect(shown == expected.contains(key), "\(key) on the page for \(query)")
            }
        }
    }

    /// (query, the fields its problems name).
    static let invalidCases: [(String, [String])] = [
        ("municipality=999", ["municipality"]), ("municipality=abc", ["municipality"]), ("municipality=0598", ["municipality"]),
        ("language=SV", ["language"]), ("language=swe", ["language"]), ("language=s1", ["language"]),
        ("category=courses", ["category"]), ("q=" + String(repeating: "x", count: 201), ["q"]), ("lang=de", ["lang"]),
        ("kind=clients", ["kind"]), ("municipality=598&municipality=893", ["municipality"]),
        ("municipality=999&category=x&language=1", ["municipality", "category", "language"]),
    ]

    @Test func invalidFiltersAnswer400NamingTheField() async throws {
        let directory = try await Directory()
        for (query, fields) in Self.invalidCases {
            let json = try await directory.get("/v1/directory?\(query)")
            #expect(json.status == .badRequest, "\(query)")
            #expect(json.errorCode == "invalid_query", "\(query)")
            #expect(json.hasErrorShape, "\(query)")
            #expect(json.problemFields == Set(fields), "\(query)")
            for language in DirectoryLanguage.allCases {
                let page = try await directory.get("/directory?\(query)\(fields.contains("lang") ? "" : "&lang=\(language.rawValue)")")
                #expect(page.status == .badRequest, "\(query) \(language)")
                #expect(page.headers["Content-Type"] == "text/html; charset=utf-8")
                let body = page.bodyText
                #expect(body.contains("role=\"alert\""), "\(query) \(language)")
                let labels = DirectoryLabels(fields.contains("lang") ? .fi : language)
                #expect(body.contains(HTML.escape(labels.problemsHeading)), "\(query) \(language)")
                #expect(!body.contains("class=\"services\""), "no list under an invalid search")
                #expect(body.contains("<form method=\"get\" action=\"/directory\">"), "the form stays to fix the search")
            }
        }
        let swedish = try await directory.get("/directory?municipality=999&lang=sv").bodyText
        #expect(swedish.contains("<li>Kommun: okänd kommun</li>"))
        #expect(swedish.contains("id=\"municipality\" name=\"municipality\" aria-invalid=\"true\""))
    }

    // MARK: The page

    @Test func thePageIsSelfContainedLabelledAndPrintable() async throws {
        let directory = try await Directory()
        let response = try await directory.get("/directory?lang=en&municipality=598")
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == "text/html; charset=utf-8")
        #expect(response.headers["Content-Security-Policy"]?.contains("default-src 'none'") == true)
        let page = response.bodyText
        #expect(page.hasPrefix("<!doctype html>\n<html lang=\"en\">"))
        #expect(page.contains("<meta charset=\"utf-8\">"))
        #expect(page.contains("@media print"))
        for forbidden in ["<script", "<link", "src=", "http://", "https://", "@import", "url("] {
            #expect(!page.contains(forbidden), "no script or outside resource: \(forbidden)")
        }
        #expect(page.contains("<form method=\"get\" action=\"/directory\">"))
        for control in ["municipality", "language", "category", "q"] {
            #expect(page.contains("<label for=\"\(control)\">"), "\(control) has a label")
            #expect(page.contains("id=\"\(control)\" name=\"\(control)\""))
        }
        #expect(page.contains("<option value=\"598\" selected>Jakobstad (Pietarsaari)</option>"))
        // The language switch keeps the filters.
        #expect(page.contains("<a href=\"/directory?lang=fi&amp;municipality=598\" lang=\"fi\" hreflang=\"fi\">Suomeksi</a>"))
        #expect(page.contains("<a href=\"/directory?lang=sv&amp;municipality=598\" lang=\"sv\" hreflang=\"sv\">På svenska</a>"))
        #expect(page.contains("hreflang=\"en\" aria-current=\"page\">In English</a>"))
        #expect(page.contains("<p class=\"filters-summary\">Filters: Municipality: Jakobstad (Pietarsaari)</p>"))
        #expect(page.contains("<p class=\"count\" role=\"status\">1 service</p>"))
        #expect(page.contains("<time datetime=\"2026-09-01\">2026-09-01</time>"))
        let finnish = try await directory.get("/directory?lang=fi").bodyText
        #expect(finnish.contains("<time datetime=\"2026-09-01\">1.9.2026</time>"))
        #expect(finnish.contains("<p class=\"count\" role=\"status\">3 palvelua</p>"))
        let none = try await directory.get("/directory?lang=sv&category=housing").bodyText
        #expect(none.contains(DirectoryLabels(.sv).noResults))
    }

    @Test func everyRecordValueIsEscapedOnThePage() async throws {
        let node = try TestNode()
        let hostile = #"<script>alert("x")</script> & 'quoted'"#
        let json = JSONValue.object([
            ("nameFi", .string(hostile)), ("nameSv", .string("</h2><script>alert(2)</script>")),
            ("providerName", .string("<b>Bold</b> provider")), ("providerType", .string("ngo")), ("category", .string("other")),
            ("municipalities", .array([.number(598)])), ("studyPath", .string("none")),
            ("contact", .string(#"<img src=x onerror="alert(1)">"#)), ("status", .string("active")),
        ])
        try await node.create(.service, json.serialized)
        for language in DirectoryLanguage.allCases {
            let page = await node.router.handle(try HTTPRequest(method: .get, target: "/directory?lang=\(language.rawValue)&q=%3Cscript%3E"))
            #expect(page.status == .ok)
            let body = page.bodyText
            #expect(!body.contains("<script"), "\(language): no script element")
            #expect(!body.contains("<img") && !body.contains("<b>"), "\(language): no element from a record")
            #expect(body.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;"))
            #expect(body.contains("&lt;/h2&gt;&lt;script&gt;alert(2)&lt;/script&gt;"))
            #expect(body.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"))
            #expect(body.contains("value=\"&lt;script&gt;\""), "the search text is escaped in the form")
            #expect(body.contains("lang=\(language.rawValue)&amp;q=%3Cscript%3E"), "and percent-encoded in the language links")
        }
        let items = try await node.router.handle(HTTPRequest(method: .get, target: "/v1/directory")).json["items"]?.arrayValue ?? []
        #expect(items.first?["nameFi"] == .string(hostile), "JSON carries the text as it is")
    }

    // MARK: No personal data

    @Test func noClientOrPlacementFieldReachesTheDirectory() async throws {
        let directory = try await Directory()
        var queries = ["", "municipality=598", "municipality=440", "language=ar", "language=sv", "category=employment",
                       "category=language_course", "q=kurs", "q=test", "q=1913", "q=2019", "q=ar", "municipality=440&q=e"]
        let personalQueries = (Personal.needles + directory.personalIDs).map { "q=\(DirectoryQuery.percentEncoded($0))" }
        queries += personalQueries
        let needles = (Personal.needles + directory.personalIDs).map { $0.lowercased() }
        var checked = 0
        for language in DirectoryLanguage.allCases {
            for query in queries {
                let target = "?lang=\(language.rawValue)\(query.isEmpty ? "" : "&\(query)")"
                let isPersonal = personalQueries.contains(query)
                let json = try await directory.get("/v1/directory\(target)")
                #expect(json.status == .ok, "\(target)")
                let parsed = try json.json
                for item in parsed["items"]?.arrayValue ?? [] {
                    #expect(Set(item.objectMembers?.map(\.0) ?? []) == Self.itemKeys)
                }
                if isPersonal { #expect(parsed["items"] == .array([]), "a search for personal data finds no service") }
                // The search text itself is echoed back under "filters"; everything else must hold none of it.
                let published = JSONValue.object((parsed.objectMembers ?? []).filter { $0.0 != "filters" }).serialized.lowercased()
                let page = try await directory.get("/directory\(target)")
                #expect(page.status == .ok, "\(target)")
                let results = Self.withoutEcho(page.bodyText).lowercased()
                if !(parsed["items"]?.arrayValue ?? []).isEmpty {
                    #expect(results.contains("class=\"services\""), "\(target): the checked part holds the list")
                }
                let leaked = needles.filter { published.contains($0) || results.contains($0) }.count
                #expect(leaked == 0, "\(target): \(leaked) personal values reached the directory")
                checked += 1
            }
        }
        #expect(checked == 3 * queries.count)
    }

    /// The page without where it repeats the visitor's own search: the
    /// language links, the form and the printed filter summary.
    static func withoutEcho(_ page: String) -> String {
        guard let formEnd = page.range(of: "</section>") else { return page }
        let lines = page[formEnd.upperBound...].split(separator: "\n").filter { !$0.hasPrefix("<p class=\"filters-summary\">") }
        return lines.joined(separator: "\n")
    }

    @Test func theDirectoryIsBuiltFromServiceColumnsOnly() async throws {
        // The store query behind it selects service columns; everything the
        // directory gets is a `DirectoryService`, whose fields are exactly these.
        let fields = Set(Mirror(reflecting: DirectoryService(
            id: UUID(), nameFi: nil, nameSv: nil, providerName: "", providerType: "", category: "", municipalities: [], languages: [],
            studyPath: "", capacity: nil, startDate: nil, endDate: nil, contact: nil, status: "", enrolmentsReachCapacity: false))
            .children.compactMap(\.label))
        let serviceFields = Set(RecordKind.service.fields.map(\.name)).subtracting([deletedFieldName])
        #expect(fields == serviceFields.union(["id", "enrolmentsReachCapacity"]))
        #expect(fields.isDisjoint(with: Set(RecordKind.client.fields.filter(\.personal).map(\.name))))
    }

    // MARK: Served from the office's own replica

    @Test func aNodeCutOffFromEveryPeerServesTheDirectoryFromItsReplica() async throws {
        let peers = ["jakobstad", "nykarleby", "pedersore", "larsmo"].map { PeerConfig(node: $0, url: "http://127.0.0.1:9", mode: .pull) }
        try await StatusTests.withRunningNode(peers: peers) { _, base, client in
            let office: HTTPHeaders = ["Authorization": "Bearer \(Token.office(of: 288))", "Content-Type": "application/json"]
            var created = HTTPResponse(status: .serviceUnavailable)
            for _ in 0..<100 where created.status == .serviceUnavailable {
                created = try await client.send(.post, "\(base)/v1/services", headers: office,
                                                body: Array(SampleJSON.service(number: 7, municipalities: "[288]").utf8))
                if created.status == .serviceUnavailable { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(created.status == .created)
            // Every link has failed at least once: the peers really are out of reach.
            let admin: HTTPHeaders = ["Authorization": "Bearer \(Token.admin)"]
            try await ServiceDirectoryTests.pollUntil {
                let status = try JSONValue.parse(try await client.send(.get, "\(base)/v1/status", headers: admin).body)
                let links = status["peers"]?.arrayValue ?? []
                return links.count == 4 && links.allSatisfy { ($0["consecutiveFailures"]?.int64Value ?? 0) > 0 }
            }
            let json = try await client.send(.get, "\(base)/v1/directory?municipality=288")
            #expect(json.status == .ok)
            #expect(try JSONValue.parse(json.body)["items"]?.arrayValue?.map { $0["name"] } == [.string("Testikurssi 7")])
            let page = try await client.send(.get, "\(base)/directory?lang=sv")
            #expect(page.status == .ok)
            #expect(page.bodyText.contains("Testikurssi 7"))
        }
    }

    /// Polls `condition` every 100 ms for up to 10 s.
    static func pollUntil(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<100 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("condition not met within 10 s")
    }
}
