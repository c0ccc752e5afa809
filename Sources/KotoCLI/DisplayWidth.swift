/// How many terminal columns text takes, so that tables line up with
/// Finnish, Swedish, Arabic or CJK text and emoji alike: wide (East Asian)
/// characters and emoji take two, combining marks and format characters
/// none, anything else one, counted per grapheme (what a terminal draws).
enum DisplayWidth {
    static func of(_ text: some StringProtocol) -> Int {
        text.reduce(0) { $0 + of($1) }
    }

    static func of(_ character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if scalars.contains(where: { $0.properties.isEmojiPresentation })
            || (scalars.contains("\u{FE0F}") && first.properties.isEmoji) {
            return 2
        }
        switch first.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format, .control: return 0
        default: return isWide(first.value) ? 2 : 1
        }
    }

    /// East Asian Wide and Fullwidth ranges (Unicode's EastAsianWidth W and F, in blocks).
    static func isWide(_ value: UInt32) -> Bool {
        switch value {
        case 0x1100...0x115F, 0x2329...0x232A, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
             0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
             0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x2FFFD, 0x30000...0x3FFFD:
            true
        default:
            false
        }
    }

    /// `text` cut to at most `width` columns, ending in "…" when cut.
    static func truncate(_ text: String, to width: Int) -> String {
        guard of(text) > width else { return text }
        var result = ""
        var used = 0
        for character in text {
            let next = of(character)
            if used + next > width - 1 { break }
            result.append(character)
            used += next
        }
        return result + "…"
    }

    /// `text` followed by spaces up to `width` columns.
    static func pad(_ text: String, to width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - of(text)))
    }
}

/// Rows in aligned columns, two spaces apart, no trailing spaces. A column
/// whose every non-empty cell is a number is right-aligned.
struct TextTable: Sendable {
    var headers: [String]
    var rows: [[String]]
    /// Cells wider than this are cut with "…" (nil: never).
    var maxCellWidth: Int?
    /// False for a bare two-column list (field and value), whose header would say nothing.
    var showsHeaders: Bool

    init(headers: [String], rows: [[String]] = [], maxCellWidth: Int? = nil, showsHeaders: Bool = true) {
        self.headers = headers
        self.rows = rows
        self.maxCellWidth = maxCellWidth
        self.showsHeaders = showsHeaders
    }

    mutating func append(_ row: [String]) { rows.append(row) }

    func render() -> String {
        let columns = headers.count
        let cells: [[String]] = ((showsHeaders ? [headers] : []) + rows).map { row in
            (0..<columns).map { index in
                let text = index < row.count ? Sentence.printable(row[index]) : ""
                return maxCellWidth.map { DisplayWidth.truncate(text, to: $0) } ?? text
            }
        }
        let widths = (0..<columns).map { column in cells.map { DisplayWidth.of($0[column]) }.max() ?? 0 }
        let rightAligned = (0..<columns).map { column in
            let values = cells.dropFirst(showsHeaders ? 1 : 0).map { $0[column] }.filter { !$0.isEmpty }
            return !values.isEmpty && values.allSatisfy(Self.isNumber)
        }
        var output = ""
        for row in cells {
            var line = ""
            for column in 0..<columns {
                let text = row[column]
                let padding = String(repeating: " ", count: widths[column] - DisplayWidth.of(text))
                if column > 0 { line += "  " }
                line += rightAligned[column] ? padding + text : text + padding
            }
            while line.last == " " { line.removeLast() }
            output += line + "\n"
        }
        return output
    }

    static func isNumber(_ text: String) -> Bool {
        var text = Substring(text)
        if text.first == "-" { text = text.dropFirst() }
        return !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") } && text.filter { $0 == "." }.count <= 1
    }
}
