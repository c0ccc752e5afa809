import KotoCore
import KotoHTTP

/// What the web page asks before it shows anything: who the caller is, the
/// record kinds' fields (so forms and tables follow the schema instead of
/// copying it) and the region's municipalities (names in both languages).
extension API {
    /// The page, its assets and the three endpoints below.
    func registerPageRoutes(_ router: inout Router) {
        WebPage.register(in: &router)
        router.get("/v1/whoami", endpoint(Set(Role.allCases)) { _, caller in APIResponse.json(Self.whoami(caller)) })
        router.get("/v1/schema", endpoint([.office, .coordinator, .admin]) { [manifest] _, _ in
            APIResponse.json(Self.schema(registry: manifest.registry))
        })
        // No login: the page names the municipalities on its sign-in screen; nothing here is personal.
        router.get("/v1/region") { [manifest, config] _ in APIResponse.json(Self.region(manifest, node: config.node)) }
    }

    /// The credential's holder as the node knows it. The name goes to the
    /// holder only (this answer), never to logs.
    static func whoami(_ caller: Caller) -> JSONValue {
        .object([
            ("role", .string(caller.role.rawValue)),
            ("municipality", caller.municipality.map { .number(Double($0)) } ?? .null),
            ("name", caller.name.map { .string($0) } ?? .null),
            ("node", caller.node.map { .string($0) } ?? .null),
        ])
    }

    /// Each kind's fields in schema order, without `deleted` (which
    /// DELETE and restore change, not a form). `allowed` lists a closed
    /// vocabulary or the region's municipality codes; `personal` marks
    /// personal data, which the page shows only on request.
    static func schema(registry: MunicipalityRegistry) -> JSONValue {
        let codes = JSONValue.array(registry.all.map { .number(Double($0.code)) })
        let kinds: [JSONValue] = RecordKind.allCases.map { kind in
            let fields: [JSONValue] = kind.fields.filter { $0.name != deletedFieldName }.map { spec in
                var members: [(String, JSONValue)] = [
                    ("name", .string(spec.name)),
                    ("type", .string(typeName(spec.type))),
                    ("required", .bool(spec.required)),
                    ("personal", .bool(spec.personal)),
                ]
                switch spec.type {
                case .text(let maxLength): members.append(("maxLength", .number(Double(maxLength))))
                case .integer(let min, let max): members += [("min", .number(Double(min))), ("max", .number(Double(max)))]
                case .choice(let values): members.append(("allowed", .array(values.map { .string($0) })))
                case .municipalityCode, .municipalityCodes: members.append(("allowed", codes))
                case .bool, .date, .uuid, .languageCode, .languageCodes, .personalIdentityCode: break
                }
                return .object(members)
            }
            return .object([("kind", .string(kind.rawValue)), ("table", .string(kind.table)), ("fields", .array(fields))])
        }
        return .object([("kinds", .array(kinds))])
    }

    /// The API's name of a field type (the list ones take JSON arrays).
    static func typeName(_ type: FieldType) -> String {
        switch type {
        case .text: "text"
        case .integer: "integer"
        case .bool: "bool"
        case .date: "date"
        case .uuid: "uuid"
        case .choice: "choice"
        case .municipalityCode: "municipalityCode"
        case .municipalityCodes: "municipalityCodes"
        case .languageCode: "languageCode"
        case .languageCodes: "languageCodes"
        case .personalIdentityCode: "personalIdentityCode"
        }
    }

    /// The region's members from the manifest: node id, municipality code
    /// and its Finnish and Swedish names; `node` is the one answering.
    static func region(_ manifest: RegionManifest, node: String) -> JSONValue {
        .object([
            ("region", .string(manifest.region)),
            ("node", .string(node)),
            ("municipalities", .array(manifest.members.map { member in
                .object([
                    ("code", .number(Double(member.municipality.code))),
                    ("node", .string(member.node)),
                    ("nameFi", .string(member.municipality.nameFi)),
                    ("nameSv", .string(member.municipality.nameSv)),
                ])
            })),
        ])
    }
}
