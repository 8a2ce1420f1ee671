import AviaryIMAP
import AviaryMessage
import Testing

@Suite("BODYSTRUCTURE, BODY and ENVELOPE")
struct BodyStructureTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("BODYSTRUCTURE matches Dovecot's", arguments: DovecotFixtures.all.map(\.name))
    func bodyStructure(_ name: String) throws {
        let fixture = try #require(DovecotFixtures.all.first { $0.name == name })
        let bytes = Array(fixture.message.utf8)
        let entity = MIMEParser.parse(bytes)
        #expect(Self.text(IMAPBodyStructure.render(entity, in: bytes, extensible: true)) == fixture.bodyStructure)
    }

    @Test("BODY matches Dovecot's", arguments: DovecotFixtures.all.map(\.name))
    func body(_ name: String) throws {
        let fixture = try #require(DovecotFixtures.all.first { $0.name == name })
        let bytes = Array(fixture.message.utf8)
        let entity = MIMEParser.parse(bytes)
        #expect(Self.text(IMAPBodyStructure.render(entity, in: bytes, extensible: false)) == fixture.body)
    }

    @Test("ENVELOPE matches Dovecot's", arguments: DovecotFixtures.all.map(\.name))
    func envelope(_ name: String) throws {
        let fixture = try #require(DovecotFixtures.all.first { $0.name == name })
        let bytes = Array(fixture.message.utf8)
        let entity = MIMEParser.parse(bytes)
        #expect(Self.text(IMAPEnvelope.render(entity, in: bytes)) == fixture.envelope)
    }
}
