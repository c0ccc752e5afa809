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

    /// `{"title", "columns": [{"key", "label"}], "rows": [{<key>: <value>}]}`.
    func write(to writer: inout JSONWriter) {
        writer.raw("{\"title\":")
        writer.string(title)
        writer.raw(",\"columns\":[")
        for (index, column) in columns.enumerated() {
            writer.raw(index == 0 ? "{\"key\":" : ",{\"key\":")
            writer.string(column.key)
            writer.raw(",\"label\":")
            writer.string(column.label)
            writer.raw("}")
        }
        writer.raw("],\"rows\":[")
        // Each row repeats the keys: encode them once.
        let keys = columns.enumerated().map { index, column in
            var key = JSONWriter()
            key.raw(index == 0 ? "{" : ",")
            key.string(column.key)
            key.raw(":")
            return key.bytes
        }
        for (index, row) in rows.enumerated() {
            if index > 0 { writer.raw(",") }
            for (column, value) in row.enumerated() {
                writer.bytes += keys[column]
                writer.value(value)
            }
            writer.raw(row.isEmpty ? "{}" : "}")
        }
        writer.raw("]}")
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

    /// The JSON answer, written straight to bytes: a deadlines list of tens
    /// of thousands of rows is megabytes, too many for a `JSONValue` tree.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        writer.bytes.reserveCapacity(256 + tables.reduce(0) { $0 + $1.rows.count * $1.columns.count * 24 })
        writer.raw("{\"report\":")
        writer.string(report)
        writer.raw(",\"generatedAt\":")
        writer.string(Self.timestamp(generatedAt))
        writer.raw(",\"scope\":{\"municipality\":")
        writer.value(.integer(scope.municipality))
        writer.raw("},\"language\":")
        writer.string(language.rawValue)
        writer.raw(",\"tables\":{")
        for (index, table) in tables.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.string(table.key)
            writer.raw(":")
            table.write(to: &writer)
        }
        writer.raw("}")
        for (key, value) in extra {
            writer.raw(",")
            writer.string(key)
            writer.raw(":")
            writer.bytes += value.serializedBytes
        }
        writer.raw("}")
        return writer.bytes
    }

    public func table(_ key: String) -> ReportTable? { tables.first { $0.key == key } }

    /// UTC, whole seconds: `2026-12-01T12:00:00Z`.
    static func timestamp(_ date: Date) -> String {
        timestamp(millis: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// UTC, whole seconds, from Unix milliseconds (without a date formatter: conflicts list hundreds).
    static func timestamp(millis: Int64) -> String {
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let time = Int(seconds - days * 86_400)
        let day = LocalDate(dayNumber: Int(days))?.description ?? "1970-01-01"
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(day)T\(two(time / 3600)):\(two(time / 60 % 60)):\(two(time % 60))Z"
    }
}

/// Appends JSON to bytes (RFC 8259): strings escaped as `JSONValue` escapes
/// them, numbers as it prints them, with a fast path for text that needs no escape.
struct JSONWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ text: String) {
        let utf8 = text.utf8
        if !utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            bytes.append(0x22)
            bytes.append(contentsOf: utf8)
            bytes.append(0x22)
        } else {
            bytes += JSONValue.string(text).serializedBytes
        }
    }

    mutating func value(_ value: ReportValue) {
        switch value {
        case .null: raw("null")
        case .integer(let number): bytes.append(contentsOf: String(number).utf8)
        case .decimal(let number): bytes += JSONValue.number(number).serializedBytes
        case .text(let text): string(text)
        case .bool(let flag): flag ? raw("true") : raw("false")
        }
    }
}
