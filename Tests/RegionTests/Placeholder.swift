import Testing

@Test func placeholderRegion() { #expect(Bool(true)) }
