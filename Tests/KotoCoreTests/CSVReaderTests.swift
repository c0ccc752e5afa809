import Foundation
import KotoCore
import Testing

/// The CSV reader takes files as Excel saves them in Finland: `;`, RFC 4180
/// quotes, CRLF or LF, UTF-8 with or without BOM, or Windows-1252.
@Suite struct CSVReaderTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func readsSemicolonSeparatedRowsWithCRLF() {
        let table = CSVReader.read(bytes("a;b;c\r\n1;2;3\r\n4;;6\r\n"))
        #expect(table.header == ["a", "b", "c"])
        #expect(table.records == [CSVTable.Record(row: 2, cells: ["1", "2", "3"]), CSVTable.Record(row: 3, cells: ["4", "", "6"])])
        #expect(table.problems.isEmpty)
        #expect(table.encoding == .utf8)
        #expect(table.separator == UInt8(ascii: ";"))
    }

    @Test func readsLFAndAFinalLineWithoutLineEnd() {
        let table = CSVReader.read(bytes("a;b\n1;2\n3;4"))
        #expect(table.records.map(\.cells) == [["1", "2"], ["3", "4"]])
    }

    @Test func quotedFieldsHoldSeparatorsQuotesAndLineBreaks() {
        let table = CSVReader.read(bytes("name;note\r\n\"Virtanen; Matti\";\"he said \"\"hei\"\"\r\nsecond line\"\r\nx;\"\"\r\n"))
        #expect(table.problems.isEmpty)
        #expect(table.records.count == 2)
        #expect(table.records[0].cells == ["Virtanen; Matti", "he said \"hei\"\r\nsecond line"])
        // A quoted line break does not start a spreadsheet row: the next record is row 3.
        #expect(table.records[1] == CSVTable.Record(row: 3, cells: ["x", ""]))
    }

    @Test func aByteOrderMarkIsDroppedAndNamed() {
        let table = CSVReader.read([0xEF, 0xBB, 0xBF] + bytes("givenName;familyName\r\nÄlli;Öberg\r\n"))
        #expect(table.encoding == .utf8WithBOM)
        #expect(table.header == ["givenName", "familyName"])
        #expect(table.records[0].cells == ["Älli", "Öberg"])
    }

    @Test func windows1252BytesDecodeWithTheFullTable() {
        // "Määrä;Hinta\r\nkäsi;5 €\r\n‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ" in code page 1252.
        var file = bytes("M") + [0xE4, 0xE4] + bytes("r") + [0xE4] + bytes(";Hinta\r\nk") + [0xE4] + bytes("si;5 ") + [0x80] + bytes("\r\n")
        file += [0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8E, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
                 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9E, 0x9F] + bytes(";") + [0xC5, 0xD6, 0xF6, 0xFF] + bytes("\r\n")
        let table = CSVReader.read(file)
        #expect(table.encoding == .windows1252)
        #expect(table.header == ["Määrä", "Hinta"])
        #expect(table.records[0].cells == ["käsi", "5 €"])
        #expect(table.records[1].cells == ["‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ", "ÅÖöÿ"])
    }

    @Test func theUndefinedBytesOfCodePage1252DecodeToTheirOwnCodePoints() {
        #expect(Windows1252.decode([0x81, 0x8D, 0x8F, 0x90, 0x9D]).unicodeScalars.map(\.value) == [0x81, 0x8D, 0x8F, 0x90, 0x9D])
        #expect(Windows1252.decode([0x41, 0xA0, 0xE9]) == "A\u{A0}é")
    }

    @Test func validUTF8IsNeverReadAsWindows1252() {
        // "ä" in UTF-8 is C3 A4, which in 1252 would read "Ã¤".
        let (text, encoding) = SpreadsheetText.decode(bytes("ä"))
        #expect(encoding == .utf8)
        #expect(text == "ä")
    }

    @Test func raggedRowsAreProblemsNamingTheirRow() {
        let table = CSVReader.read(bytes("a;b;c\r\n1;2;3\r\n1;2\r\n1;2;3;4\r\n5;6;7;;\r\n"))
        #expect(table.records.map(\.row) == [2, 5])
        #expect(table.records.last?.cells == ["5", "6", "7"])
        #expect(table.problems == [
            RowProblem(row: 3, column: RowProblem.wholeRow, reason: "has 2 fields where the header has 3"),
            RowProblem(row: 4, column: RowProblem.wholeRow, reason: "has 4 fields where the header has 3"),
        ])
    }

    @Test func quotingErrorsAreProblemsOfTheirRowAndColumn() {
        let stray = CSVReader.read(bytes("a;b\r\n\"x\"y;2\r\n3;4\r\n"))
        #expect(stray.problems == [RowProblem(row: 2, column: "a", reason: "has text after a closing quote")])
        #expect(stray.records.map(\.cells) == [["3", "4"]])
        let open = CSVReader.read(bytes("a;b\r\n1;\"never closed\r\n3;4\r\n"))
        #expect(open.problems == [RowProblem(row: 2, column: "b", reason: "has a quote that is never closed")])
        #expect(open.records.isEmpty)
    }

    @Test func emptyRowsAreSkippedButKeepTheirNumbers() {
        let table = CSVReader.read(bytes("a;b\r\n\r\n;\r\n1;2\r\n"))
        #expect(table.records == [CSVTable.Record(row: 4, cells: ["1", "2"])])
        #expect(table.problems.isEmpty)
    }

    @Test func aHeaderWithoutSemicolonsMaySeparateByComma() {
        let table = CSVReader.read(bytes("a,b\n\"1,5\",2\n"))
        #expect(table.separator == UInt8(ascii: ","))
        #expect(table.records[0].cells == ["1,5", "2"])
    }

    @Test func cellsBecomeFieldValuesAsTheExportsWriteThem() throws {
        let client = RecordKind.client, service = RecordKind.service
        func value(_ cell: String, _ kind: RecordKind, _ name: String) -> Result<FieldValue, FieldProblem> {
            RecordCells.value(cell, spec: kind.field(named: name)!)
        }
        #expect(value("", client, "givenName") == .success(.null))
        #expect(value("'=SUM(A1)", client, "givenName") == .success(.text("=SUM(A1)")))
        #expect(value("'plain", client, "givenName") == .success(.text("'plain")))
        #expect(value("598", client, "ownerMunicipality") == .success(.integer(598)))
        #expect(value("x598", client, "ownerMunicipality") == .failure(FieldProblem(field: "ownerMunicipality", reason: "must be an integer")))
        #expect(value("1.2.2026", client, "arrivalDate") == .success(.text("2026-02-01")))
        #expect(value("2026-02-01", client, "arrivalDate") == .success(.text("2026-02-01")))
        #expect(value("TOSI", client, "jobseeker") == .success(.bool(true)))
        #expect(value("false", client, "jobseeker") == .success(.bool(false)))
        #expect(value("maybe", client, "jobseeker") == .failure(FieldProblem(field: "jobseeker", reason: "must be true or false")))
        #expect(value("598, 893", service, "municipalities") == .success(.text("598,893")))
        #expect(value("0B6F2C1E-8C1D-4D9B-9A51-2F0C7A3E9D10", client, "familyId") == .success(.text("0b6f2c1e-8c1d-4d9b-9a51-2f0c7a3e9d10")))
    }
}
