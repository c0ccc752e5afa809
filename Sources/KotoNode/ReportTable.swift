public import Foundation
public import KotoCore
public import KotoStore

/// One cell of a report table: a JSON number, string, boolean or null.
public enum ReportValue: Sendable, Hashable {
    case null
    case integer(Int)
    /// A fraction (utilisation), written with the language's decimal mark in CSV.
    case decimal(Double)
    case text(String)
    case bool(Bool)

    var json: JSONValue {
        switch self {
        case .null: .null
        case .integer(let number): .number(Double(number))
        case .decimal(let number): .number(number)
        case .text(let text): .string(text)
        case .bool(let flag): .bool(flag)
        }
    }

    static func text(_ text: String?) -> ReportValue { text.map { .text($0) } ?? .null }
    static func integer(_ number: Int?) -> ReportValue { number.map { .integer($0) } ?? .null }
}

/// A report table: column keys with their labels in the answer's language, and rows of cells in column order.
public struct ReportTable: Sendable {
    public struct Column: Sendable, Hashable {
        public let key: String
        public let label: String
    }

    /// The key under `tables` and in `?table=`.
    public let key: String
    public let title: String
    public let columns: [Column]
    public let rows: [[ReportValue]]

    /// A table whose column labels and title come from `ReportLabels` (`<report>.<key>`).
    init(report: String, key: String, columns: [String], rows: [[ReportValue]], language: ReportLanguage) {
        self.key = key
        title = ReportLabels.title("\(report).\(key)", language)
        self.columns = columns.map { Column(key: $0, label: ReportLabels.column($0, language)) }
        self.rows = rows
    }

    init(key: String, title: String, columns: [Column], rows: [[ReportValue]]) {
        self.key = key
        self.title = title
        self.columns = columns
        self.rows = rows
    }

    var json: JSONValue {
        let keys = columns.map(\.key)
        return .object([
            ("title", .string(title)),
            ("columns", .array(columns.map { .object([("key", .string($0.key)), ("label", .string($0.label))]) })),
            ("rows", .array(rows.map { row in .object(zip(keys, row).map { ($0, $1.json) }) })),
        ])
    }
}

/// A whole report as `GET /v1/reports/<name>` answers it (see docs/reports.md):
/// tables in a stable order and the report's own top-level members.
public struct ReportDocument: Sendable {
    public let report: String
    public let generatedAt: Date
    public let scope: ReportScope
    public let language: ReportLanguage
    public let tables: [ReportTable]
    /// Report-specific members after `tables` (`rules`, `year`, `regionTarget`, …).
    public let extra: [(String, JSONValue)]

    public var json: JSONValue {
        .object([
            ("report", .string(report)),
            ("generatedAt", .string(Self.timestamp(generatedAt))),
            ("scope", .object([("municipality", scope.municipality.map { .number(Double($0)) } ?? .null)])),
            ("language", .string(language.rawValue)),
            ("tables", .object(tables.map { ($0.key, $0.json) })),
        ] + extra)
    }

    public func table(_ key: String) -> ReportTable? { tables.first { $0.key == key } }

    /// UTC, whole seconds: `2026-12-01T12:00:00Z`.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
