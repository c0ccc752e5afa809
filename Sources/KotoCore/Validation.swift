/// One thing wrong with a record: which field and why. The reason never
/// quotes the value, which may be personal data.
public struct FieldProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public let field: String
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// A record failed validation; carries every problem found, not just the first.
public struct ValidationError: Error, Sendable, CustomStringConvertible {
    public let problems: [FieldProblem]

    public init(_ problems: [FieldProblem]) { self.problems = problems }

    public var description: String {
        "invalid record: " + problems.map(\.description).joined(separator: "; ")
    }
}

/// Finnish personal identity code (henkilötunnus): `DDMMYYCZZZQ`.
public enum PersonalIdentityCode {
    private static let checkCharacters = Array("0123456789ABCDEFHJKLMNPRSTUVWXY")

    /// The birth date the code encodes, or nil when the code is malformed
    /// (wrong length, century sign, date, individual number or check character).
    public static func birthDate(of code: String) -> LocalDate? {
        let chars = Array(code)
        guard chars.count == 11 else { return nil }
        let century: Int
        switch chars[6] {
        case "+": century = 1800
        case "-", "Y", "X", "W", "V", "U": century = 1900
        case "A", "B", "C", "D", "E", "F": century = 2000
        default: return nil
        }
        let digitPart = chars[0..<6] + chars[7..<10]
        guard digitPart.allSatisfy({ $0.isASCII && $0.isNumber }),
              let number = Int(String(digitPart)) else { return nil }
        let day = number / 10_000_000, month = number / 100_000 % 100, year = number / 1000 % 100
        let individual = number % 1000
        guard individual >= 2,
              checkCharacters[number % 31] == chars[10],
              let date = LocalDate(year: century + year, month: month, day: day) else { return nil }
        return date
    }

    public static func isValid(_ code: String) -> Bool { birthDate(of: code) != nil }

    /// A valid code for `date` and `individual` (2...999); used by test data.
    public static func make(birthDate date: LocalDate, individual: Int) -> String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let sign: String = date.year >= 2000 ? "A" : (date.year >= 1900 ? "-" : "+")
        let number = date.day * 10_000_000 + date.month * 100_000 + (date.year % 100) * 1000 + individual
        return pad(date.day, 2) + pad(date.month, 2) + pad(date.year % 100, 2) + sign + pad(individual, 3)
            + String(checkCharacters[number % 31])
    }
}

/// Validates a whole record (every field, after a patch is laid over the
/// stored row) against its kind's schema and rules.
public struct RecordValidator: Sendable {
    public let registry: MunicipalityRegistry

    public init(registry: MunicipalityRegistry = .ostrobothnianCoast) {
        self.registry = registry
    }

    /// Every problem of `fields` as a record of `kind`; empty when valid.
    public func problems(in fields: FieldMap, kind: RecordKind) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        // Only the unknown names are sorted (most records have none).
        for name in fields.keys.filter({ kind.field(named: $0) == nil }).sorted() {
            problems.append(FieldProblem(field: name, reason: "unknown field"))
        }
        for spec in kind.fields {
            problems += check(fields[spec.name] ?? .null, against: spec)
        }
        problems += crossFieldProblems(fields, kind: kind)
        return problems
    }

    public func validate(_ fields: FieldMap, kind: RecordKind) throws(ValidationError) {
        let found = problems(in: fields, kind: kind)
        if !found.isEmpty { throw ValidationError(found) }
    }

    /// Problems of one value against its spec (type, vocabulary, format, length).
    public func check(_ value: FieldValue, against spec: FieldSpec) -> [FieldProblem] {
        func problem(_ reason: String) -> [FieldProblem] { [FieldProblem(field: spec.name, reason: reason)] }
        if value.isNull {
            return spec.required ? problem("is required") : []
        }
        switch spec.type.storage {
        case .text where value.text == nil: return problem("must be a string")
        case .integer where value.integer == nil: return problem("must be an integer")
        case .bool where value.bool == nil: return problem("must be true or false")
        default: break
        }
        switch spec.type {
        case .text(let maxLength):
            let text = value.text!
            if spec.required && text.allSatisfy(\.isWhitespace) { return problem("must not be empty") }
            // No more UTF-8 bytes than the limit: no more characters either, without counting graphemes.
            if text.utf8.count > maxLength && text.count > maxLength { return problem("is longer than \(maxLength) characters") }
        case .integer(let min, let max):
            let number = value.integer!
            if number < min { return problem("must be at least \(min)") }
            if number > max { return problem("must be at most \(max)") }
        case .bool:
            break
        case .date:
            if LocalDate(value.text!) == nil { return problem("must be a date YYYY-MM-DD") }
        case .uuid:
            if !Self.isUUID(value.text!) { return problem("must be a UUID") }
        case .choice(let allowed):
            if !allowed.contains(value.text!) {
                return problem("must be one of: " + allowed.joined(separator: ", "))
            }
        case .municipalityCode:
            if registry.municipality(code: Int(value.integer!)) == nil { return problem("unknown municipality code") }
        case .municipalityCodes:
            let text = value.text!
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            if text.isEmpty || parts.isEmpty { return spec.required ? problem("must name at least one municipality") : [] }
            for part in parts {
                // Canonical digits only: `Int` also reads "+598" and "0598", which
                // would slip past the duplicate check below.
                guard let code = Int(part), String(code) == part, registry.municipality(code: code) != nil else {
                    return problem("unknown municipality code")
                }
            }
            if Set(parts).count != parts.count { return problem("names a municipality twice") }
        case .languageCode:
            if !Self.isLanguageCode(value.text!) { return problem("must be an ISO 639-1 code (two lowercase letters)") }
        case .languageCodes:
            let text = value.text!
            if text.isEmpty { return [] }
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            if !parts.allSatisfy({ Self.isLanguageCode(String($0)) }) {
                return problem("must be ISO 639-1 codes (two lowercase letters each)")
            }
            if Set(parts).count != parts.count { return problem("names a language twice") }
        case .personalIdentityCode:
            if !PersonalIdentityCode.isValid(value.text!) { return problem("malformed personal identity code") }
        }
        return []
    }

    static func isLanguageCode(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == 2 && bytes.allSatisfy { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
    }

    /// Canonical lowercase 8-4-4-4-12 form only, so ids compare as strings.
    static func isUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                if byte != UInt8(ascii: "-") { return false }
            } else if !((byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))) {
                return false
            }
        }
        return true
    }

    private func crossFieldProblems(_ fields: FieldMap, kind: RecordKind) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        func date(_ name: String) -> LocalDate? { fields[name]?.text.flatMap(LocalDate.init) }
        func order(_ first: String, _ second: String) {
            if let a = date(first), let b = date(second), b < a {
                problems.append(FieldProblem(field: second, reason: "must not be before \(first)"))
            }
        }
        func text(_ name: String) -> String? { fields[name]?.text }
        func forbid(_ names: [String], reason: String) {
            for name in names where !(fields[name] ?? .null).isNull {
                problems.append(FieldProblem(field: name, reason: reason))
            }
        }
        switch kind {
        case .service:
            let fi = text("nameFi") ?? "", sv = text("nameSv") ?? ""
            if fi.allSatisfy(\.isWhitespace) && sv.allSatisfy(\.isWhitespace) {
                problems.append(FieldProblem(field: "nameFi", reason: "a Finnish or Swedish name is required"))
            }
            order("startDate", "endDate")
        case .client:
            order("birthDate", "arrivalDate")
            order("birthDate", "firstPermitDate")
            order("planStart", "planEnd")
            if let code = text("personalIdentityCode"), let encoded = PersonalIdentityCode.birthDate(of: code),
               let birth = date("birthDate"), encoded != birth {
                problems.append(FieldProblem(field: "personalIdentityCode", reason: "does not match birthDate"))
            }
            if text("planStatus") == PlanStatus.active.rawValue && fields["planStart"]?.text == nil {
                problems.append(FieldProblem(field: "planStart", reason: "is required while the plan is active"))
            }
        case .placement:
            switch text("type").flatMap(PlacementType.init(rawValue:)) {
            case .serviceEnrolment:
                if (fields["serviceId"] ?? .null).isNull {
                    problems.append(FieldProblem(field: "serviceId", reason: "is required for a service enrolment"))
                }
                if let status = text("status"), EnrolmentStatus(rawValue: status) == nil {
                    problems.append(FieldProblem(field: "status", reason: "must be one of: "
                        + EnrolmentStatus.allCases.map(\.rawValue).joined(separator: ", ")))
                }
                forbid(["municipality", "route", "offeredDate", "elyReference", "wellbeingCountyConsulted"],
                       reason: "applies only to a municipal placement")
                order("referralDate", "startDate")
                order("startDate", "endDate")
            case .municipalPlacement:
                if (fields["municipality"] ?? .null).isNull {
                    problems.append(FieldProblem(field: "municipality", reason: "is required for a municipal placement"))
                }
                if (fields["route"] ?? .null).isNull {
                    problems.append(FieldProblem(field: "route", reason: "is required for a municipal placement"))
                }
                if let status = text("status"), MunicipalPlacementStatus(rawValue: status) == nil {
                    problems.append(FieldProblem(field: "status", reason: "must be one of: "
                        + MunicipalPlacementStatus.allCases.map(\.rawValue).joined(separator: ", ")))
                }
                forbid(["serviceId", "referralDate", "outcome"], reason: "applies only to a service enrolment")
                order("offeredDate", "arrivalDate")
                order("startDate", "endDate")
            case nil:
                break
            }
        }
        return problems
    }
}
