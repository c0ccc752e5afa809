import Foundation

/// A spreadsheet cell as a field value: the inverse of how the list exports
/// write one (lists comma-separated, dates ISO, flags true/false, free text
/// with an apostrophe guarding a leading `=`, `+`, `-`, `@`), lenient where
/// Excel in Finland rewrites a value on saving (dates as `1.2.2026`, flags
/// as `TOSI`/`EPÄTOSI`). Problems name the field, never the value; the
/// schema's own rules are checked afterwards by `RecordValidator`.
public enum RecordCells {
    public static func value(_ cell: String, spec: FieldSpec) -> Result<FieldValue, FieldProblem> {
        func problem(_ reason: String) -> Result<FieldValue, FieldProblem> { .failure(FieldProblem(field: spec.name, reason: reason)) }
        if case .text = spec.type {
            if cell.isEmpty { return .success(.null) }
            return .success(.text(unguarded(cell)))
        }
        let trimmed = cell.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return .success(.null) }
        switch spec.type {
        case .integer, .municipalityCode:
            guard let number = Int64(trimmed) else { return problem("must be an integer") }
            return .success(.integer(number))
        case .bool:
            guard let flag = flag(trimmed) else { return problem("must be true or false") }
            return .success(.bool(flag))
        case .date:
            return .success(.text(isoDate(trimmed) ?? trimmed))
        case .uuid:
            return .success(.text(trimmed.lowercased()))
        case .municipalityCodes, .languageCodes:
            // "598, 893" and "598,893" alike; the validator checks each element.
            let parts = trimmed.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            return .success(.text(parts.joined(separator: ",")))
        default:
            return .success(.text(trimmed))
        }
    }

    /// Undoes `CSV.text`'s guard: an apostrophe before a formula character.
    static func unguarded(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.first == "'", let second = scalars.dropFirst().first, "=+-@\t\r".unicodeScalars.contains(second) else { return text }
        return String(String.UnicodeScalarView(scalars.dropFirst()))
    }

    /// true/false as exports write them, and the spellings spreadsheets and people use in Finnish, Swedish and English.
    static func flag(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "kyllä", "k", "tosi", "ja", "sant", "x": true
        case "false", "0", "no", "ei", "e", "epätosi", "nej", "falskt": false
        default: nil
        }
    }

    /// `D.M.YYYY` (how Excel with Finnish settings saves a date) as `YYYY-MM-DD`; nil for anything else.
    static func isoDate(_ text: String) -> String? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count <= 2, parts[1].count <= 2, parts[2].count == 4,
              let day = Int(parts[0]), let month = Int(parts[1]), let year = Int(parts[2]),
              let date = LocalDate(year: year, month: month, day: day) else { return nil }
        return date.description
    }
}
