import Foundation

/// One thing wrong with a row of an imported file: the row (as a spreadsheet
/// numbers it: the header is row 1; for JSON the item's position from 1), the
/// column (a field name, or `(row)` for the row as a whole, `(file)` for the
/// document) and why. Like `FieldProblem`, the reason never quotes a value.
public struct RowProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public static let wholeRow = "(row)"
    public static let wholeFile = "(file)"

    public let row: Int
    public let column: String
    public let reason: String

    public init(row: Int, column: String, reason: String) {
        self.row = row
        self.column = column
        self.reason = reason
    }

    public var description: String { "row \(row), \(column): \(reason)" }
}

/// A CSV file as tabular records: the header and each data record with its row number.
public struct CSVTable: Sendable {
    public struct Record: Sendable, Hashable {
        /// The spreadsheet row: the header is 1, the first record 2 (a quoted line break does not start a row).
        public let row: Int
        /// One cell per header column; ragged records are reported, not returned.
        public let cells: [String]

        public init(row: Int, cells: [String]) {
            self.row = row
            self.cells = cells
        }
    }

    public var header: [String]
    public var records: [Record]
    /// Rows the reader could not take apart: unterminated quotes, text after a closing quote, ragged rows.
    public var problems: [RowProblem]
    public var encoding: TextEncoding
    public var separator: UInt8
}

/// Reads CSV as Excel writes it with Finnish or Swedish settings: `;`
/// between fields (`,` or a tab when the header holds no `;`), RFC 4180
/// quoting (`"` around a field holding a separator, quote or line break,
/// quotes doubled inside), CRLF or LF line ends, UTF-8 with or without a
/// byte order mark or Windows-1252. Rows whose cells are all empty are
/// skipped (they keep their row numbers). Pure: bytes in, table out.
public enum CSVReader {
    public static func read(_ bytes: [UInt8]) -> CSVTable {
        let (text, encoding) = SpreadsheetText.decode(bytes)
        return read(text: text, encoding: encoding)
    }

    public static func read(text: String, encoding: TextEncoding = .utf8) -> CSVTable {
        // Separators, quotes and line ends are ASCII, which never occurs inside a UTF-8 sequence: scan bytes.
        let bytes = Array(text.utf8)
        let separator = detectSeparator(bytes)
        var table = CSVTable(header: [], records: [], problems: [], encoding: encoding, separator: separator)
        var raw: [(row: Int, fields: [String], problem: (field: Int, reason: String)?)] = []
        var row = 0
        var fields: [String] = []
        var field: [UInt8] = []
        var index = 0
        var problem: (field: Int, reason: String)?
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() {
            endField()
            row += 1
            raw.append((row, fields, problem))
            fields.removeAll(keepingCapacity: true)
            problem = nil
        }
        let quote = UInt8(ascii: "\""), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        while index < bytes.count {
            let byte = bytes[index]
            if byte == quote && field.isEmpty {
                // A quoted field: up to the closing quote, doubled quotes standing for one.
                index += 1
                var closed = false
                while index < bytes.count {
                    if bytes[index] == quote {
                        if index + 1 < bytes.count && bytes[index + 1] == quote {
                            field.append(quote)
                            index += 2
                            continue
                        }
                        closed = true
                        index += 1
                        break
                    }
                    field.append(bytes[index])
                    index += 1
                }
                if !closed {
                    problem = problem ?? (fields.count, "has a quote that is never closed")
                    break
                }
                // After the closing quote: a separator, a line end or the end of the file.
                var stray = false
                while index < bytes.count, bytes[index] != separator, bytes[index] != cr, bytes[index] != lf {
                    stray = true
                    field.append(bytes[index])
                    index += 1
                }
                if stray { problem = problem ?? (fields.count, "has text after a closing quote") }
                continue
            }
            if byte == separator {
                endField()
                index += 1
            } else if byte == cr || byte == lf {
                endRecord()
                index += (byte == cr && index + 1 < bytes.count && bytes[index + 1] == lf) ? 2 : 1
            } else {
                field.append(byte)
                index += 1
            }
        }
        if !field.isEmpty || !fields.isEmpty || problem != nil { endRecord() }

        guard let first = raw.first else { return table }
        table.header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        let width = table.header.count
        func column(_ index: Int) -> String { index < width ? table.header[index] : RowProblem.wholeRow }
        if let problem = first.problem {
            table.problems.append(RowProblem(row: first.row, column: RowProblem.wholeRow, reason: "the header row " + problem.reason))
        }
        for record in raw.dropFirst() {
            if let problem = record.problem {
                table.problems.append(RowProblem(row: record.row, column: column(problem.field), reason: problem.reason))
                continue
            }
            var cells = record.fields
            if cells.allSatisfy({ $0.allSatisfy(\.isWhitespace) }) { continue }
            // Spreadsheets sometimes pad a row with empty cells past the header; only those may be dropped.
            while cells.count > width, cells.last?.isEmpty == true { cells.removeLast() }
            guard cells.count == width else {
                table.problems.append(RowProblem(row: record.row, column: RowProblem.wholeRow,
                                                 reason: "has \(cells.count) fields where the header has \(width)"))
                continue
            }
            table.records.append(CSVTable.Record(row: record.row, cells: cells))
        }
        return table
    }

    /// `;` unless the first line holds none, then a tab or `,` if it holds one.
    static func detectSeparator(_ bytes: [UInt8]) -> UInt8 {
        var counts: [UInt8: Int] = [:]
        var quoted = false
        for byte in bytes {
            if byte == UInt8(ascii: "\"") { quoted.toggle() }
            if !quoted && (byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")) { break }
            if !quoted { counts[byte, default: 0] += 1 }
        }
        for candidate in [UInt8(ascii: ";"), UInt8(ascii: "\t"), UInt8(ascii: ",")] where counts[candidate, default: 0] > 0 {
            return candidate
        }
        return UInt8(ascii: ";")
    }
}
