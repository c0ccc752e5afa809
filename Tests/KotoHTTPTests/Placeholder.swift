import Testing

@Test func placeholderKotoHTTP() { #expect(Bool(true)) }
