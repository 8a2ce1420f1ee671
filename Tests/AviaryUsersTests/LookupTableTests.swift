import AviaryUsers
import Testing

@Suite("lookup tables")
struct LookupTableTests {
    @Test("key value lines, continuation lines, comments; keys ignore case, values keep it; first duplicate wins")
    func parse() throws {
        let table = try LookupTable.parse(
            """
            # comment
            Alice@Example.TEST   REJECT Go
              away
            example.net\tOK
            example.net REJECT
            """, file: "t")
        #expect(table.value(for: "alice@example.test") == "REJECT Go away")
        #expect(table.value(for: "EXAMPLE.NET") == "OK")
        #expect(table.warnings.count == 1)
    }

    @Test("a key without a value is an error with its line")
    func missingValue() {
        #expect(throws: (any Error).self) { try LookupTable.parse("lonely\n", file: "t") }
    }

    @Test("access keys: address, domain, parent domains, user@; the null sender is <>")
    func accessKeys() {
        #expect(LookupTable.accessKeys(forAddress: "Bob@Mail.Example.COM") == [
            "Bob@mail.example.com", "mail.example.com", "example.com", "com", "Bob@",
        ])
        #expect(LookupTable.accessKeys(forAddress: "") == ["<>"])
    }
}
