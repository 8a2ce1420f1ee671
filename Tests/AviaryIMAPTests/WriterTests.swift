import AviaryIMAP
import Testing

@Suite struct IMAPWriterTests {
    @Test("Strings are quoted when safe and sent as literals otherwise")
    func stringForms() {
        var writer = IMAPWriter()
        writer.appendString("a \"b\" \\c")
        writer.appendSpace()
        writer.appendString("line\r\nbreak")
        writer.appendSpace()
        writer.appendNString(nil as String?)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "\"a \\\"b\\\" \\\\c\" {11}\r\nline\r\nbreak NIL")
    }
}
