import KotoCore
import Testing

@Suite struct LocalDateTests {
    @Test func parsesAndPrintsCanonicalDates() throws {
        let date = try #require(LocalDate("2024-03-09"))
        #expect((date.year, date.month, date.day) == (2024, 3, 9))
        #expect(date.description == "2024-03-09")
        #expect(LocalDate(year: 1800, month: 1, day: 1)?.description == "1800-01-01")
        #expect(LocalDate("9999-12-31")?.description == "9999-12-31")
    }

    @Test func leapYears() {
        #expect(LocalDate("2024-02-29") != nil)
        #expect(LocalDate("2000-02-29") != nil)
        #expect(LocalDate("2023-02-29") == nil)
        #expect(LocalDate("1900-02-29") == nil)
        #expect(LocalDate("2100-02-29") == nil)
        #expect(LocalDate.daysIn(month: 2, year: 2024) == 29)
        #expect(LocalDate.daysIn(month: 2, year: 1900) == 28)
        #expect(LocalDate.daysIn(month: 4, year: 2023) == 30)
        #expect(LocalDate.daysIn(month: 12, year: 2023) == 31)
    }

    @Test(arguments: [
        "", "2024-3-09", "2024-03-9", "24-03-09", "2024/03/09", "2024-03-09 ", " 2024-03-09", "2024-03-09T00:00",
        "2024-00-10", "2024-13-01", "2024-04-31", "2024-01-00", "2024-01-32", "1799-12-31", "0000-01-01",
        "+024-01-01", "2024-0a-01", "２０２４-03-09", "20240309", "2024--3-09", "2024-03-+9",
    ])
    func rejectsMalformedDates(text: String) {
        #expect(LocalDate(text) == nil)
    }

    @Test func componentInitRejectsOutOfRange() {
        #expect(LocalDate(year: 1799, month: 12, day: 31) == nil)
        #expect(LocalDate(year: 10_000, month: 1, day: 1) == nil)
        #expect(LocalDate(year: 2024, month: 0, day: 1) == nil)
        #expect(LocalDate(year: 2024, month: 6, day: 31) == nil)
        #expect(LocalDate(year: 2024, month: 6, day: 0) == nil)
    }

    @Test func orderingIsDateOrderAndStringOrder() throws {
        let texts = ["2023-12-31", "2024-01-01", "2024-01-02", "2024-02-01", "2024-10-01", "2025-01-01", "1999-12-31"]
        let dates = try texts.map { try #require(LocalDate($0)) }
        let sorted = dates.sorted()
        #expect(sorted.map(\.description) == texts.sorted())
        #expect(sorted.first?.description == "1999-12-31")
        #expect(try #require(LocalDate("2024-01-31")) < #require(LocalDate("2024-02-01")))
        #expect(!(try #require(LocalDate("2024-05-05")) < #require(LocalDate("2024-05-05"))))
        #expect(LocalDate("2024-05-05") == LocalDate(year: 2024, month: 5, day: 5))
    }
}
