import KotoCore

/// Day arithmetic for the generator, over KotoCore's serial day numbers
/// (`LocalDate.dayNumber`, days since 1970-01-01).
enum Days {
    static func number(_ date: LocalDate) -> Int { date.dayNumber }

    static func date(_ number: Int) -> LocalDate {
        // Day numbers come from valid dates plus bounded offsets, so this never fails in practice.
        LocalDate(dayNumber: number) ?? LocalDate(year: 1970, month: 1, day: 1)!
    }

    /// The day number of `month`/`day` in `year` (day clamped to the month's length).
    static func number(year: Int, month: Int, day: Int) -> Int {
        let clamped = min(day, LocalDate.daysIn(month: month, year: year))
        return number(LocalDate(year: year, month: month, day: clamped) ?? LocalDate(year: 1970, month: 1, day: 1)!)
    }
}
