import Foundation
import KotoCore
import KotoHTTP

/// What a report or list answers in: JSON, or CSV for spreadsheets.
enum ExportFormat: String, CaseIterable, Sendable {
    case json, csv

    /// `?format=json|csv` if given (another value is a problem naming
    /// `format`), else CSV when `Accept` prefers `text/csv` to JSON, else JSON.
    static func requested(by request: HTTPRequest, problems: inout [FieldProblem]) -> ExportFormat {
        if let text = request.query("format") {
            guard let format = ExportFormat(rawValue: text) else {
                problems.append(FieldProblem(field: "format", reason: "must be json or csv"))
                return .json
            }
            return format
        }
        guard let accept = request.headers["Accept"] else { return .json }
        let csv = quality(of: "text", "csv", in: accept), json = quality(of: "application", "json", in: accept)
        return csv > json ? .csv : .json
    }

    /// The q an `Accept` value gives `type/subtype`: of its most specific matching range.
    private static func quality(of type: String, _ subtype: String, in accept: String) -> Double {
        var best: (specificity: Int, q: Double) = (-1, 0)
        for item in accept.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            let range = (parts.first ?? "").split(separator: "/").map(String.init)
            guard range.count == 2 else { continue }
            let specificity: Int
            switch (range[0], range[1]) {
            case (type, subtype): specificity = 2
            case (type, "*"): specificity = 1
            case ("*", "*"): specificity = 0
            default: continue
            }
            var q = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") { q = Double(parameter.dropFirst(2)) ?? 0 }
            if specificity > best.specificity { best = (specificity, q) }
        }
        return best.q
    }
}

/// CSV as spreadsheets with Finnish and Swedish settings open it: UTF-8 with
/// a byte order mark, `;` between fields, CRLF line ends, RFC 4180 quoting
/// (a field holding `;`, `"`, CR or LF is quoted, quotes doubled), a header
/// row of labels, ISO dates as they are and decimals with the language's mark.
enum CSV {
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// The document: header then rows, each line ended by CRLF.
    static func encode(header: [String], rows: [[String]]) -> [UInt8] {
        var text = ""
        text.reserveCapacity(64 * (rows.count + 1))
        for line in [header] + rows {
            text += line.map(quote).joined(separator: ";")
            text += "\r\n"
        }
        return byteOrderMark + Array(text.utf8)
    }

    /// The field, quoted if it must be.
    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == ";" || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Free text a spreadsheet would run as a formula (starting `=`, `+`,
    /// `-`, `@`, tab or CR) gets a leading apostrophe, the usual defence
    /// against formula injection; numbers, dates and codes never need it.
    static func text(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return text }
        return "'" + text
    }

    /// A report cell: numbers plainly (decimals with a comma in Finnish and Swedish), null empty.
    static func cell(_ value: ReportValue, _ language: ReportLanguage) -> String {
        switch value {
        case .null: ""
        case .integer(let number): String(number)
        case .decimal(let number): decimal(number, language)
        case .text(let value): text(value)
        case .bool(let flag): flag ? "true" : "false"
        }
    }

    /// At most four decimals, trailing zeros dropped.
    static func decimal(_ number: Double, _ language: ReportLanguage) -> String {
        var digits = String(format: "%.4f", number)
        while digits.hasSuffix("0") { digits.removeLast() }
        if digits.hasSuffix(".") { digits.removeLast() }
        return language == .en ? digits : digits.replacingOccurrences(of: ".", with: ",")
    }

    /// A `text/csv` attachment named `filename`.
    static func response(_ body: [UInt8], filename: String, language: ReportLanguage) -> HTTPResponse {
        HTTPResponse(status: .ok, headers: [
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": "attachment; filename=\"\(filename)\"",
            "Content-Language": language.rawValue,
        ], body: body)
    }

    /// A report table as CSV: its column labels, then its rows.
    static func table(_ table: ReportTable, _ language: ReportLanguage) -> [UInt8] {
        encode(header: table.columns.map(\.label), rows: table.rows.map { $0.map { cell($0, language) } })
    }
}
