import AviarySMTP
import AviaryTestSupport
import Foundation
import Testing

@testable import AviarySMTPServer

/// smtpd's milter client against real milters: OpenDKIM (Debian's opendkim) signing a message, and a milter that
/// accepts the connection and never answers (IntegrationTests/clients/stalled_milter.py).
@Suite("smtpd milter client")
struct MilterClientTests {
    static let header: [(name: String, value: String)] = [
        ("From", " Alice <alice@example.com>"), ("To", " bob@example.net"), ("Subject", " Milter test"),
        ("Date", " Tue, 08 Dec 2026 01:00:00 +0000"), ("Message-ID", " <milter-1@example.com>"),
    ]
    static let body = Array("Hello Bob,\r\n\r\nthis message is signed by OpenDKIM.\r\n".utf8)

    static let macros = [
        "j": "mx.example.com", "{daemon_name}": "smtpd", "i": "4ABC123", "{mail_addr}": "alice@example.com",
        "{rcpt_addr}": "bob@example.net", "_": "localhost [127.0.0.1]", "v": "Aviary",
    ]

    /// Runs one message through `client` as smtpd would; the end-of-message verdict and modifications.
    static func converse(_ client: MilterClient) -> (MilterVerdict, [MilterResponse], [MilterVerdict]) {
        var stages: [MilterVerdict] = []
        stages.append(client.open())
        stages.append(client.ask(
            .connect(hostname: "localhost", family: UInt8(ascii: "4"), port: 40000, address: "127.0.0.1"),
            stage: .connect, macros: macros))
        stages.append(client.ask(.helo("client.example.com"), stage: .helo, macros: macros))
        stages.append(client.ask(.mail(["<alice@example.com>"]), stage: .mail, macros: macros))
        stages.append(client.ask(.rcpt(["<bob@example.net>"]), stage: .rcpt, macros: macros))
        stages.append(client.ask(.data, stage: .data, macros: macros))
        let end = client.endOfMessage(header: header, body: [body], macros: macros)
        client.close()
        return (end.verdict, end.modifications, stages)
    }

    @Test("OpenDKIM signs a message: its DKIM-Signature field verifies with dkimpy")
    func openDKIMSigns() async throws {
        let milter = try await OpenDKIMMilter()
        let client = MilterClient(endpoint: .unix(milter.socket), settings: MilterSettings())
        let (verdict, modifications, stages) = Self.converse(client)
        #expect(client.failure == nil, "\(client.failure.map(\.description) ?? "")")
        #expect(stages.allSatisfy { $0 == .proceed }, "\(stages)")
        #expect(verdict == .proceed || verdict == .accept)
        var fields = Self.header.map { "\($0.name):\($0.value)\r\n" }
        var added = 0
        for modification in modifications {
            switch modification {
            case .insertHeader(let index, let name, let value):
                fields.insert("\(name): \(value)\r\n", at: min(Int(index), fields.count))
                added += 1
            case .addHeader(let name, let value):
                fields.append("\(name): \(value)\r\n")
                added += 1
            default:
                Issue.record("unexpected modification \(modification)")
            }
        }
        #expect(added == 1, "\(modifications)")
        let message = Array(fields.joined().utf8) + Array("\r\n".utf8) + Self.body
        let result = try await milter.verify(message)
        #expect(result.isSuccess, "\(result)\n\(String(decoding: message, as: UTF8.self))")
        #expect(result.standardOutput.contains("verified d=example.com"))
        await milter.stop()
    }

    /// A stalled_milter.py on a socket in a temporary directory.
    static func withStalledMilter(_ body: (String) async throws -> Void) async throws {
        let milter = try await PythonMilter("stalled_milter.py")
        do {
            try await body(milter.socket)
        } catch {
            await milter.stop()
            throw error
        }
        await milter.stop()
    }

    @Test("a milter that never answers hits milter_command_timeout and gets milter_default_action", arguments: [
        MilterDefaultAction.tempfail, .accept, .reject, .quarantine,
    ])
    func stalledMilter(_ action: MilterDefaultAction) async throws {
        try await Self.withStalledMilter { socket in
            var settings = MilterSettings()
            settings.commandTimeout = 0.5
            settings.defaultAction = action
            let client = MilterClient(endpoint: .unix(socket), settings: settings)
            let (verdict, modifications, stages) = Self.converse(client)
            #expect(client.failure?.description.hasPrefix("timeout waiting for a reply from milter unix:") == true)
            let expected = MilterClient.verdict(for: action)
            #expect(stages.allSatisfy { $0 == expected }, "\(stages)")
            #expect(verdict == expected)
            #expect(modifications.isEmpty)
        }
    }

    @Test("nobody listening: milter_default_action at once")
    func absentMilter() {
        let client = MilterClient(endpoint: .unix("/nonexistent/milter.sock"), settings: MilterSettings())
        #expect(client.open() == .refuse(MilterVerdict.tempfailed))
        #expect(client.failure?.description == "cannot connect to milter unix:/nonexistent/milter.sock")
    }

    @Test("REPLYCODE text becomes the SMTP reply, with the enhanced code when it has one")
    func replyCodes() {
        #expect(MilterClient.reply(code: 550, text: "5.7.0 Spam") == SMTPReply(550, EnhancedStatusCode(5, 7, 0), "Spam"))
        #expect(MilterClient.reply(code: 451, text: "Later") == SMTPReply(451, EnhancedStatusCode(4, 7, 1), "Later"))
        #expect(MilterClient.reply(code: 554, text: "4.7.0 wrong class") == SMTPReply(554, EnhancedStatusCode(5, 7, 1), "4.7.0 wrong class"))
    }
}
