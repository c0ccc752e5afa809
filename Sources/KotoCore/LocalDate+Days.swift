/// Day arithmetic on `LocalDate`, for time limits counted in days or
/// months (the reports' deadlines), through a serial day number: days since
/// 1970-01-01 in the proleptic Gregorian calendar (Hinnant's `days_from_civil`).
extension LocalDate {
    /// Days since 1970-01-01 (negative before it).
    public var dayNumber: Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let monthIndex = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * monthIndex + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day number; nil outside the years `LocalDate` accepts.
    public init?(dayNumber: Int) {
        let shifted = dayNumber + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        self.init(year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day)
    }

    /// This date `days` later (earlier when negative).
    public func adding(days: Int) -> LocalDate? {
        LocalDate(dayNumber: dayNumber + days)
    }

    /// This date `months` calendar months later, the day clamped to the
    /// last day of the target month (31 January + 1 month is 28 or 29 February):
    /// a limit of "one month" never runs into the month after.
    public func adding(months: Int) -> LocalDate? {
        let index = year * 12 + (month - 1) + months
        let targetYear = index >= 0 ? index / 12 : (index - 11) / 12
        let targetMonth = index - targetYear * 12 + 1
        guard (1800...9999).contains(targetYear) else { return nil }
        return LocalDate(year: targetYear, month: targetMonth, day: min(day, LocalDate.daysIn(month: targetMonth, year: targetYear)))
    }

    /// Days from this date to `other`: positive when `other` is later.
    public func days(until other: LocalDate) -> Int {
        other.dayNumber - dayNumber
    }
}
