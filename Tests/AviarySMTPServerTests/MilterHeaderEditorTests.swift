import AviaryQueue
import AviarySMTP
import Foundation
import Testing

@testable import AviarySMTPServer

/// Milters' header changes applied to a message held in memory, and the fields milters are sent.
@Suite("milter header changes")
struct MilterHeaderEditorTests {
    static let message = Array(
        "Received: from a by b\r\n\tid 1\r\nFrom: a@example.com\r\nSubject: one\r\nSubject: two\r\n\r\nbody\r\n".utf8)

    static func edited(_ modifications: [MilterResponse], hasLeadingSpace: Bool = false) -> String {
        var bytes = message
        MilterHeaderEditor.apply(modifications, to: &bytes, hasLeadingSpace: hasLeadingSpace)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("fields go to milters with their names as written, folded lines joined by LF")
    func fields() {
        let fields = MilterHeaderEditor.fields(of: Self.message)
        #expect(fields.map(\.name) == ["Received", "From", "Subject", "Subject"])
        #expect(fields[0].value == " from a by b\n\tid 1")
        #expect(fields[2].value == " one")
        #expect(MilterHeaderEditor.bodyStart(of: Self.message) == Self.message.count - 6)
    }

    @Test("ADDHEADER appends, INSHEADER inserts at its index, folded values get CRLF")
    func addAndInsert() {
        #expect(Self.edited([.addHeader(name: "X-Spam", value: "no")]).contains("Subject: two\r\nX-Spam: no\r\n\r\nbody"))
        #expect(Self.edited([.insertHeader(index: 0, name: "DKIM-Signature", value: "v=1;\n\tb=x")])
            .hasPrefix("DKIM-Signature: v=1;\r\n\tb=x\r\nReceived: from a by b\r\n"))
        #expect(Self.edited([.insertHeader(index: 1, name: "X-A", value: "1")]).contains("\tid 1\r\nX-A: 1\r\nFrom:"))
        #expect(Self.edited([.insertHeader(index: 99, name: "X-A", value: "1")]).contains("two\r\nX-A: 1\r\n\r\n"))
        #expect(Self.edited([.addHeader(name: "X-L", value: " lead")], hasLeadingSpace: true).contains("X-L: lead\r\n"))
    }

    @Test("CHGHEADER changes the n-th field of that name, deletes it with an empty value, adds it when absent")
    func change() {
        #expect(Self.edited([.changeHeader(index: 2, name: "subject", value: "2")]).contains("Subject: one\r\nsubject: 2\r\n\r\n"))
        #expect(Self.edited([.changeHeader(index: 1, name: "Subject", value: "")]) == String(decoding: Self.message, as: UTF8.self).replacingOccurrences(of: "Subject: one\r\n", with: ""))
        #expect(Self.edited([.changeHeader(index: 1, name: "X-New", value: "v")]).contains("two\r\nX-New: v\r\n\r\n"))
        #expect(Self.edited([.changeHeader(index: 3, name: "Subject", value: "")]) == String(decoding: Self.message, as: UTF8.self))
    }
}

/// A milter's body and envelope changes.
@Suite("milter body and envelope changes")
struct MilterEnvelopeTests {
    @Test("a REPLBODY body gets CRLF line ends for bare LF and CR")
    func replaceBody() {
        let body = MilterHeaderEditor.withCRLF(Array("new\nlines\rend\r\n".utf8))
        #expect(String(decoding: body, as: UTF8.self) == "new\r\nlines\r\nend\r\n")
    }

    @Test("CHGFROM, ADDRCPT, ADDRCPT_PAR and DELRCPT change the envelope; brackets optional, duplicates not added")
    func envelope() {
        let before = QueueEnvelope(
            arrivalTime: 0, sender: "a@example.com",
            recipients: [QueueRecipient(address: "b@example.net"), QueueRecipient(address: "c@example.net")])
        let after = MilterSession.applying(
            [
                .changeSender("<new@example.com>", parameters: nil), .addRecipient("<d@example.net>"),
                .addRecipientWithParameters("B@example.net", parameters: "NOTIFY=NEVER"),
                .deleteRecipient("<C@EXAMPLE.NET>"),
            ], to: before)
        #expect(after.sender == "new@example.com")
        #expect(after.recipients.map(\.address) == ["b@example.net", "d@example.net"])
    }
}
