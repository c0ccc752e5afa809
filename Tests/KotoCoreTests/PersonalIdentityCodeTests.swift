import KotoCore
import Testing

@Suite struct PersonalIdentityCodeTests {
    /// Check characters computed by hand from the algorithm:
    /// `"0123456789ABCDEFHJKLMNPRSTUVWXY"[Int(DDMMYYZZZ) % 31]`.
    @Test(arguments: [
        ("131052-308T", LocalDate(year: 1952, month: 10, day: 13)!), // 131052308 % 31 = 25 → T
        ("010101A123N", LocalDate(year: 2001, month: 1, day: 1)!),   // 10101123 % 31 = 20 → N
        ("290200A002C", LocalDate(year: 2000, month: 2, day: 29)!),  // leap day 2000
        ("311299-999E", LocalDate(year: 1999, month: 12, day: 31)!),
        ("010150+200T", LocalDate(year: 1850, month: 1, day: 1)!),
        ("280264Y0028", LocalDate(year: 1964, month: 2, day: 28)!),  // new 1900s sign, digit check
        ("010203B0045", LocalDate(year: 2003, month: 2, day: 1)!),   // new 2000s sign
    ])
    func knownValidCodes(code: String, birthDate: LocalDate) {
        #expect(PersonalIdentityCode.isValid(code))
        #expect(PersonalIdentityCode.birthDate(of: code) == birthDate)
    }

    @Test func everyCenturySignOfAGroupGivesTheSameDate() {
        for sign in ["-", "Y", "X", "W", "V", "U"] {
            #expect(PersonalIdentityCode.birthDate(of: "131052\(sign)308T") == LocalDate(year: 1952, month: 10, day: 13))
        }
        for sign in ["A", "B", "C", "D", "E", "F"] {
            #expect(PersonalIdentityCode.birthDate(of: "131052\(sign)308T") == LocalDate(year: 2052, month: 10, day: 13))
        }
    }

    @Test func wrongCheckCharacterIsRejected() {
        let valid = "131052-308T"
        for check in "0123456789ABCDEFHJKLMNPRSUVWXYtZ" where check != "T" {
            #expect(!PersonalIdentityCode.isValid(String(valid.dropLast()) + String(check)))
        }
    }

    @Test func badCenturySignIsRejected() {
        for sign in ["G", "Z", "a", "/", "*", " ", "1"] {
            #expect(!PersonalIdentityCode.isValid("131052\(sign)308T"))
        }
    }

    @Test func impossibleDatesAreRejected() {
        // Each has the check character its digits would need, so only the date is wrong.
        for digits in ["290201123", "310452308", "001052308", "131352308", "130052308"] {
            let code = String(digits.prefix(6)) + "A" + String(digits.suffix(3)) + check(digits)
            #expect(!PersonalIdentityCode.isValid(code))
        }
        // 29 February exists in 2000 but not in 1900.
        #expect(PersonalIdentityCode.isValid("290200A002C"))
        #expect(!PersonalIdentityCode.isValid("290200-002C"))
    }

    @Test func individualNumbersBelowTwoAreRejected() {
        // Correct check characters (131052000 % 31 = 27 → V, 131052001 % 31 = 28 → W): only the number is wrong.
        #expect(!PersonalIdentityCode.isValid("131052-000V"))
        #expect(!PersonalIdentityCode.isValid("131052-001W"))
        #expect(PersonalIdentityCode.isValid("131052-002" + check("131052002")))
    }

    @Test func otherMalformedCodesAreRejected() {
        for code in ["", "131052-308", "131052-308TT", "131052-3O8T", "13105Z-308T", "131052-308t", "１31052-308T",
                     " 131052-308T", "131052-308T "] {
            #expect(!PersonalIdentityCode.isValid(code))
        }
    }

    @Test func makeRoundTrips() {
        let dates = [
            LocalDate(year: 1850, month: 7, day: 4)!, LocalDate(year: 1900, month: 1, day: 1)!,
            LocalDate(year: 1999, month: 12, day: 31)!, LocalDate(year: 2000, month: 2, day: 29)!,
            LocalDate(year: 2024, month: 11, day: 9)!,
        ]
        for date in dates {
            for individual in [2, 99, 123, 900, 999] {
                let code = PersonalIdentityCode.make(birthDate: date, individual: individual)
                #expect(code.count == 11)
                #expect(PersonalIdentityCode.birthDate(of: code) == date)
                #expect(code.dropFirst(7).prefix(3) == String(1000 + individual).suffix(3))
            }
        }
        #expect(PersonalIdentityCode.make(birthDate: LocalDate(year: 1952, month: 10, day: 13)!, individual: 308) == "131052-308T")
        #expect(PersonalIdentityCode.make(birthDate: LocalDate(year: 2001, month: 1, day: 1)!, individual: 123) == "010101A123N")
    }

    private func check(_ digits: String) -> String {
        let characters = Array("0123456789ABCDEFHJKLMNPRSTUVWXY")
        return String(characters[Int(digits)! % 31])
    }
}
