import Testing

@Test func placeholderKotoNode() { #expect(Bool(true)) }
