/// The API's JSON shape of a record's fields: one member per field, list
/// fields (`municipalities`, `languages`) as arrays, dates as strings.
public enum RecordJSON {
    /// Fields from a JSON object, with every problem of type or shape; the
    /// schema's own rules are checked later by `RecordValidator`. Reasons
    /// never quote the value.
    public static func fields(from json: JSONValue, kind: RecordKind, ignoring ignored: Set<String> = []) -> (FieldMap, [FieldProblem]) {
        guard let members = json.objectMembers else {
            return ([:], [FieldProblem(field: "(body)", reason: "must be a JSON object")])
        }
        var fields: FieldMap = [:]
        var problems: [FieldProblem] = []
        for (name, value) in members where !ignored.contains(name) {
            guard let spec = kind.field(named: name) else {
                problems.append(FieldProblem(field: name, reason: "unknown field"))
                continue
            }
            switch convert(value, spec: spec) {
            case .success(let fieldValue): fields[name] = fieldValue
            case .failure(let problem): problems.append(problem)
            }
        }
        return (fields, problems)
    }

    private static func convert(_ value: JSONValue, spec: FieldSpec) -> Result<FieldValue, FieldProblem> {
        func wrongType(_ expected: String) -> Result<FieldValue, FieldProblem> {
            .failure(FieldProblem(field: spec.name, reason: "must be \(expected), not \(value.typeName)"))
        }
        if case .null = value { return .success(.null) }
        switch spec.type {
        case .municipalityCodes:
            if let items = value.arrayValue {
                var codes: [String] = []
                for item in items {
                    guard let code = item.int64Value else { return wrongType("an array of municipality codes") }
                    codes.append(String(code))
                }
                return .success(codes.isEmpty ? .null : .text(codes.joined(separator: ",")))
            }
            return value.stringValue.map { .success(.text($0)) } ?? wrongType("an array of municipality codes")
        case .languageCodes:
            if let items = value.arrayValue {
                var codes: [String] = []
                for item in items {
                    guard let code = item.stringValue else { return wrongType("an array of language codes") }
                    codes.append(code)
                }
                return .success(codes.isEmpty ? .null : .text(codes.joined(separator: ",")))
            }
            return value.stringValue.map { .success(.text($0)) } ?? wrongType("an array of language codes")
        default:
            switch spec.type.storage {
            case .text: return value.stringValue.map { .success(.text($0)) } ?? wrongType("a string")
            case .integer: return value.int64Value.map { .success(.integer($0)) } ?? wrongType("an integer")
            case .bool: return value.boolValue.map { .success(.bool($0)) } ?? wrongType("true or false")
            }
        }
    }

    /// Every field of the kind as JSON members, in schema order.
    public static func members(of fields: FieldMap, kind: RecordKind) -> [(String, JSONValue)] {
        kind.fields.map { spec in (spec.name, json(fields[spec.name] ?? .null, spec: spec)) }
    }

    public static func json(_ value: FieldValue, spec: FieldSpec) -> JSONValue {
        switch value {
        case .null:
            switch spec.type {
            case .municipalityCodes, .languageCodes: return .array([])
            default: return .null
            }
        case .bool(let flag): return .bool(flag)
        case .integer(let number): return .number(Double(number))
        case .text(let text):
            switch spec.type {
            case .municipalityCodes:
                return .array(text.split(separator: ",").map { Int64($0).map { .number(Double($0)) } ?? .string(String($0)) })
            case .languageCodes:
                return .array(text.split(separator: ",").map { .string(String($0)) })
            default: return .string(text)
            }
        }
    }
}
