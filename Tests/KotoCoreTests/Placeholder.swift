import Testing

@Test func placeholderKotoCore() { #expect(Bool(true)) }
