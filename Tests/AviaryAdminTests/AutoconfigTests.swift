import AviaryConfig
import AviaryTestSupport
import Foundation
import Testing

@testable import AviaryAdmin

@Suite("aviary autoconfig")
struct AutoconfigTests {
    /// The services of the shipped master.cf.example.
    static func exampleServices() throws -> [ServiceEntry] {
        var root = #filePath
        for _ in 0..<3 { root = (root as NSString).deletingLastPathComponent }
        let text = try String(contentsOfFile: root + "/master.cf.example", encoding: .utf8)
        return try MasterConfig.parse(text, path: "master.cf.example").services
    }

    @Test("master.cf.example's imap(s), pop3(s) and submission(s) become the file's servers and the SRV records; port 25 does not")
    func example() throws {
        let setup = ClientAutoconfig(
            domain: "example.org", hostname: "mail.example.org", services: try Self.exampleServices(), loginIsAddress: true)
        #expect(setup.endpoints.map { "\($0.kind.rawValue):\($0.port):\($0.isTLSOnConnect)" } == [
            "imap:993:true", "imap:143:false", "pop3:995:true", "pop3:110:false", "smtp:465:true", "smtp:587:false",
        ])
        #expect(setup.xml.contains("""
                <incomingServer type="imap">
                  <hostname>mail.example.org</hostname>
                  <port>993</port>
                  <socketType>SSL</socketType>
                  <authentication>password-cleartext</authentication>
                  <username>%EMAILADDRESS%</username>
                </incomingServer>
            """))
        #expect(setup.xml.contains("<outgoingServer type=\"smtp\">\n      <hostname>mail.example.org</hostname>\n      <port>587</port>\n      <socketType>STARTTLS</socketType>"))
        #expect(setup.srvRecords == [
            "_imaps._tcp.example.org. 3600 IN SRV 0 1 993 mail.example.org.",
            "_imap._tcp.example.org. 3600 IN SRV 0 1 143 mail.example.org.",
            "_pop3s._tcp.example.org. 3600 IN SRV 0 1 995 mail.example.org.",
            "_pop3._tcp.example.org. 3600 IN SRV 0 1 110 mail.example.org.",
            "_submissions._tcp.example.org. 3600 IN SRV 0 1 465 mail.example.org.",
            "_submission._tcp.example.org. 3600 IN SRV 0 1 587 mail.example.org.",
        ])
    }

    @Test("a service that is not run gets the not-available SRV record; system users log in with their name; names are escaped")
    func partial() throws {
        let master = try MasterConfig.parse(
            """
            127.0.0.1:1430 inet n - n - - imapd
            25 inet n - n - - smtpd
            127.0.0.1:2525 inet n - n - - smtpd
            127.0.0.1:5870 inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes
            local unix - n n - - local

            """, path: "m")
        let setup = ClientAutoconfig(domain: "a&b.test", hostname: "mx.test", services: master.services, loginIsAddress: false)
        // The smtpd services without AUTH (25, and 2525 as in the demo) are not for users.
        #expect(setup.endpoints.map(\.port) == [1430, 5870])
        #expect(setup.srvRecords[0] == "_imaps._tcp.a&b.test. 3600 IN SRV 0 0 0 .")
        #expect(setup.srvRecords[1] == "_imap._tcp.a&b.test. 3600 IN SRV 0 1 1430 mx.test.")
        #expect(setup.xml.contains("<domain>a&amp;b.test</domain>"))
        #expect(setup.xml.contains("<username>%EMAILLOCALPART%</username>"))
    }

    @Test("aviary autoconfig writes a well-formed file (Python's XML parser reads it) and prints the SRV records")
    func command() async throws {
        let instance = try TestInstance(masterCf: [
            "143 inet n - n - - imapd", "993 inet n - n - - imapd -o imapd_tls_wrappermode=yes",
            "587 inet n - n - - smtpd", "qmgr unix n - n 300 1 qmgr",
        ])
        let path = instance.directory + "/config-v1.1.xml"
        let result = try await instance.run("aviary", ["autoconfig", "-c", instance.directory, "-o", path, "EXAMPLE.test"])
        #expect(result.isSuccess, "\(result)")
        #expect(result.standardOutput.contains("_imaps._tcp.example.test. 3600 IN SRV 0 1 993 mail.example.test.\n"))
        #expect(result.standardOutput.contains("_pop3._tcp.example.test. 3600 IN SRV 0 0 0 .\n"))
        let script = """
            import sys, xml.etree.ElementTree as ET
            provider = ET.parse(sys.argv[1]).getroot().find("emailProvider")
            print(len(provider.findall("incomingServer")), len(provider.findall("outgoingServer")),
                  provider.find("domain").text, provider.find("incomingServer/username").text)
            """
        let parsed = try await instance.run("python3", ["-c", script, path])
        #expect(parsed.standardOutput == "2 1 example.test %EMAILADDRESS%\n", "\(parsed)")
    }
}
