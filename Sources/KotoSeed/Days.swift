import KotoCore

/// Day arithmetic on `LocalDate` through a serial day number (days since
/// 1970-01-01, proleptic Gregorian; Hinnant's `days_from_civil`).
enum Days {
    static func number(_ date: LocalDate) -> Int {
        let year = date.month <= 2 ? date.year - 1 : date.year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let monthIndex = date.month > 2 ? date.month - 3 : date.month + 9
        let dayOfYear = (153 * monthIndex + 2) / 5 + date.day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func date(_ number: Int) -> LocalDate {
        let shifted = number + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        // Day numbers come from valid dates plus bounded offsets, so this never fails in practice.
        return LocalDate(year: year, month: month, day: day) ?? LocalDate(year: 1970, month: 1, day: 1)!
    }

    /// The day number of `month`/`day` in `year` (day clamped to the month's length).
    static func number(year: Int, month: Int, day: Int) -> Int {
        let clamped = min(day, LocalDate.daysIn(month: month, year: year))
        return number(LocalDate(year: year, month: month, day: clamped) ?? LocalDate(year: 1970, month: 1, day: 1)!)
    }
}
