import Testing

@Test func placeholderKotoStore() { #expect(Bool(true)) }
