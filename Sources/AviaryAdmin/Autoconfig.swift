import ArgumentParser
import AviaryConfig
import AviaryCore
import AviaryInstance

extension AviaryCommand {
    /// `aviary autoconfig DOMAIN`: the Thunderbird autoconfig file and the RFC 6186 SRV records for the
    /// IMAP, POP3 and submission services master.cf runs, so that a mail client finds them from the address.
    public struct Autoconfig: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Write the Thunderbird autoconfig file for a mail domain and print its SRV records.",
            discussion: """
                The file describes the imapd, pop3d and submission smtpd services of master.cf on $myhostname. \
                Serve it as https://autoconfig.DOMAIN/mail/config-v1.1.xml (Thunderbird, Evolution, K-9 Mail); \
                put the SRV records (RFC 6186, RFC 8314) in the domain's DNS zone for other clients.
                """
        )

        @OptionGroup public var config: ConfigOption
        @Option(name: .shortAndLong, help: "Where to write the file (- for standard output).")
        var output = "config-v1.1.xml"
        @Argument(help: "The domain of the users' mail addresses.") var domain: String

        public init() {}

        public func run() throws {
            let main: MainConfig
            let master: MasterConfig
            do {
                main = try MainConfig.load(directory: config.directory)
                master = try MasterConfig.load(directory: config.directory)
            } catch {
                printError("aviary: fatal: \(error)")
                throw ExitCode.failure
            }
            let domain = domain.lowercased()
            let setup = ClientAutoconfig(
                domain: domain, hostname: main.string(.myhostname), services: master.services,
                loginIsAddress: main.list(.virtualMailboxDomains).contains { $0.lowercased() == domain })
            guard !setup.endpoints.isEmpty else {
                printError("aviary: fatal: master.cf runs no imapd, pop3d or submission smtpd service")
                throw ExitCode.failure
            }
            if output == "-" {
                print(setup.xml, terminator: "")
            } else {
                do {
                    try SafeFile.writeDurably(Array(setup.xml.utf8), to: output, mode: 0o644)
                } catch {
                    printError("aviary: fatal: cannot write \(output): \(error)")
                    throw ExitCode.failure
                }
                printError("aviary: wrote \(output): serve it as https://autoconfig.\(domain)/mail/config-v1.1.xml")
            }
            for record in setup.srvRecords { print(record) }
        }
    }
}

/// What a mail client needs to set itself up for a domain: the services of master.cf a user reaches.
public struct ClientAutoconfig: Sendable {
    public struct Endpoint: Sendable, Equatable {
        public enum Kind: String, Sendable { case imap, pop3, smtp }
        public var kind: Kind
        public var port: UInt16
        /// TLS from the first byte (imaps, pop3s, submissions); otherwise STARTTLS.
        public var isTLSOnConnect: Bool
    }

    public var domain: String
    public var hostname: String
    /// IMAP first, then POP3, then submission; TLS on connect before STARTTLS (the order clients try them).
    public var endpoints: [Endpoint]
    /// Virtual users log in with their address, system users with their name.
    public var loginIsAddress: Bool

    public init(domain: String, hostname: String, services: [ServiceEntry], loginIsAddress: Bool) {
        self.domain = domain
        self.hostname = hostname
        self.loginIsAddress = loginIsAddress
        var found: [Endpoint] = []
        for service in services where service.kind == .inet {
            guard let address = try? InetServiceAddress(parsing: service.name), address.port != 0 else { continue }
            func isSet(_ name: String) -> Bool {
                service.overrides.contains { $0.name == name && ["yes", "true", "1"].contains($0.value.lowercased()) }
            }
            let kind: Endpoint.Kind
            switch service.command {
            case "imapd": kind = .imap
            case "pop3d": kind = .pop3
            // Users submit on 587 or 465, or where AUTH is on; an smtpd without it (port 25, the demo's 2525)
            // takes mail from other servers.
            case "smtpd"
            where [587, 465].contains(address.port) || service.name.contains("submission")
                || isSet("smtpd_sasl_auth_enable"):
                kind = .smtp
            default: continue
            }
            let wrapper = isSet("\(service.command)_tls_wrappermode")
            let endpoint = Endpoint(kind: kind, port: address.port, isTLSOnConnect: wrapper)
            if !found.contains(endpoint) { found.append(endpoint) }
        }
        let order: [Endpoint.Kind] = [.imap, .pop3, .smtp]
        endpoints = found.sorted {
            ($0.kind == $1.kind) ? ($0.isTLSOnConnect && !$1.isTLSOnConnect)
                : order.firstIndex(of: $0.kind)! < order.firstIndex(of: $1.kind)!
        }
    }

    /// config-v1.1.xml, as Thunderbird's ISP database writes it.
    public var xml: String {
        var lines = [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<clientConfig version=\"1.1\">",
            "  <emailProvider id=\"\(Self.escaped(domain))\">",
            "    <domain>\(Self.escaped(domain))</domain>",
            "    <displayName>\(Self.escaped(domain)) mail</displayName>",
            "    <displayShortName>\(Self.escaped(domain))</displayShortName>",
        ]
        for endpoint in endpoints {
            let element = endpoint.kind == .smtp ? "outgoingServer" : "incomingServer"
            lines += [
                "    <\(element) type=\"\(endpoint.kind.rawValue)\">",
                "      <hostname>\(Self.escaped(hostname))</hostname>",
                "      <port>\(endpoint.port)</port>",
                "      <socketType>\(endpoint.isTLSOnConnect ? "SSL" : "STARTTLS")</socketType>",
                "      <authentication>password-cleartext</authentication>",
                "      <username>\(loginIsAddress ? "%EMAILADDRESS%" : "%EMAILLOCALPART%")</username>",
                "    </\(element)>",
            ]
        }
        lines += ["  </emailProvider>", "</clientConfig>"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The SRV records of RFC 6186 and RFC 8314, in zone-file form; a service master.cf does not run gets
    /// the "not available" record (target ".").
    public var srvRecords: [String] {
        let services: [(String, Endpoint.Kind, Bool)] = [
            ("_imaps", .imap, true), ("_imap", .imap, false), ("_pop3s", .pop3, true), ("_pop3", .pop3, false),
            ("_submissions", .smtp, true), ("_submission", .smtp, false),
        ]
        return services.map { name, kind, isTLSOnConnect in
            let owner = "\(name)._tcp.\(domain)."
            guard let endpoint = endpoints.first(where: { $0.kind == kind && $0.isTLSOnConnect == isTLSOnConnect })
            else { return "\(owner) 3600 IN SRV 0 0 0 ." }
            return "\(owner) 3600 IN SRV 0 1 \(endpoint.port) \(hostname)."
        }
    }

    static func escaped(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            default: result.append(character)
            }
        }
        return result
    }
}
