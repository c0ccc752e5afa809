/// How a spreadsheet file's bytes became text.
public enum TextEncoding: String, Sendable, Hashable {
    case utf8 = "utf-8"
    /// UTF-8 opened by a byte order mark (as Excel's "CSV UTF-8" saves it).
    case utf8WithBOM = "utf-8-bom"
    /// Excel's plain "CSV" in a Finnish or Swedish Windows: code page 1252.
    case windows1252 = "windows-1252"
}

/// Text of a file Excel saved in Finland: valid UTF-8 (with or without a
/// byte order mark) is UTF-8; anything else is Windows-1252, which maps every
/// byte to a character, so decoding never fails. A Windows-1252 file of
/// plain ASCII is also valid UTF-8 and reads the same either way.
public enum SpreadsheetText {
    public static func decode(_ bytes: [UInt8]) -> (text: String, encoding: TextEncoding) {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]), let text = String(validating: bytes.dropFirst(3), as: UTF8.self) {
            return (text, .utf8WithBOM)
        }
        if let text = String(validating: bytes, as: UTF8.self) { return (text, .utf8) }
        return (Windows1252.decode(bytes), .windows1252)
    }
}

/// Code page 1252 (Windows Western European), decoded with the full table:
/// 0x80–0x9F hold `€`, typographic quotes, dashes, `Š`, `Ž`, `Œ`, `Ÿ`…
/// rather than the C1 controls of Latin-1. The five bytes the code page
/// leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) become the code point of
/// the same number, as the WHATWG Encoding Standard decodes them.
public enum Windows1252 {
    /// The characters of 0x80 through 0x9F.
    static let high: [UInt32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, // 80–87
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F, // 88–8F
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, // 90–97
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178, // 98–9F
    ]

    /// The character a byte stands for.
    public static func scalar(_ byte: UInt8) -> Unicode.Scalar {
        let value = (0x80...0x9F).contains(byte) ? high[Int(byte) - 0x80] : UInt32(byte)
        // Every entry of the table is a valid scalar.
        return Unicode.Scalar(value)!
    }

    public static func decode(_ bytes: some Sequence<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(scalar(byte)) }
        return String(scalars)
    }
}
