import AviaryConfig
import AviaryCore
import AviaryTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The TLS files the services load: server certificates and keys, the smtp client's CA file.
extension ConfigurationCheck {
    /// A certificate warns this long before it expires.
    static let expiryWarning = 30 * 86_400

    /// Every certificate and key pair smtpd, pop3d and imapd would load, from main.cf and from master.cf `-o`
    /// overrides: unreadable, not a certificate or key, key not matching, expired or not yet valid (errors),
    /// expiring within 30 days (a warning). The daemons read them at start as the user master runs as (root
    /// for a system install), before dropping privileges; `aviary check` reads them as whoever runs it.
    static func certificates(_ main: MainConfig, master: MasterConfig?, directory: String) -> [ConfigurationDiagnostic] {
        struct Use {
            var file: String
            var line: Int?
            var prefix: String
            var certificate: String
            var key: String
        }
        let prefixes = ["smtpd", "pop3d", "imapd"]
        func pair(_ config: MainConfig, _ prefix: String) -> (String, String) {
            guard let certificate = Parameter.byName[prefix + "_tls_cert_file"],
                let key = Parameter.byName[prefix + "_tls_key_file"]
            else { return ("", "") }
            return (config.string(certificate), config.string(key))
        }
        var uses = prefixes.map { prefix in
            let (certificate, key) = pair(main, prefix)
            return Use(file: main.path, line: nil, prefix: prefix, certificate: certificate, key: key)
        }
        for service in master?.services ?? [] where service.kind == .inet && !service.overrides.isEmpty {
            guard let master, prefixes.contains(service.command),
                let config = try? MainConfig.load(directory: directory, overrides: service.overridePairs)
            else { continue }
            let (certificate, key) = pair(config, service.command)
            uses.append(Use(file: master.path, line: service.line, prefix: service.command, certificate: certificate, key: key))
        }
        var seen: Set<String> = []
        var problems: [ConfigurationDiagnostic] = []
        for use in uses where !use.certificate.isEmpty {
            guard seen.insert(use.certificate + "\u{0}" + use.key).inserted else { continue }
            let certificateParameter = use.prefix + "_tls_cert_file"
            do {
                let context = try TLSContext.server(
                    certificateFile: TLSFile(use.certificate, parameter: certificateParameter),
                    keyFile: TLSFile(use.key, parameter: use.prefix + "_tls_key_file"))
                if let expiry = context.certificateExpiry, expiry.secondsLeft < expiryWarning {
                    let days = expiry.secondsLeft / 86_400
                    problems.append(.init(.warning, file: use.file, line: use.line, parameter: nil,
                        "\(certificateParameter) \(use.certificate): certificate expires on \(expiry.date) (\(days == 0 ? "within a day" : "in \(days) day(s)")); renew it: clients that verify will refuse it after that"))
                }
            } catch {
                guard error.code == .unreadableFile, !Privileges.isRoot else {
                    problems.append(.init(.error, file: use.file, line: use.line, parameter: nil, error.message))
                    continue
                }
                // A key only root may read is normal: the daemons read it as root before dropping privileges.
                problems.append(.init(.warning, file: use.file, line: use.line, parameter: nil,
                    "\(error.message) (as uid \(geteuid()); smtpd, pop3d and imapd read it at start as the user master runs as, root for a system install, before dropping privileges: run aviary check as that user to check it)"))
            }
        }
        problems += clientCAFile(main)
        return problems
    }

    /// `smtp_tls_CAfile`: the smtp client reads it after dropping privileges, as `mail_owner` when master runs as
    /// root, so that account must be able to read it. (The smtp client presents no certificate of its own.)
    static func clientCAFile(_ main: MainConfig) -> [ConfigurationDiagnostic] {
        let path = main.string(.smtpTLSCAFile)
        guard !path.isEmpty, main.string(.smtpTLSSecurityLevel).lowercased() != "none",
            let reader = ServiceAccount.unprivileged(main)
        else { return [] }
        guard reader.may(R_OK, path) else {
            let why = SafeFile.exists(path) ? "is not readable by \(reader)" : "does not exist"
            return [.init(.error, file: main.path, line: nil, parameter: "smtp_tls_CAfile",
                "smtp_tls_CAfile \(path) \(why), who runs smtp: TLS to other servers would be unavailable; fix: chmod 0644 \(path) (and let \(reader.name) search its directories)")]
        }
        do {
            _ = try TLSContext.client(caFile: TLSFile(path, parameter: "smtp_tls_CAfile"), useSystemStore: false)
            return []
        } catch {
            return [.init(.error, file: main.path, line: nil, parameter: "smtp_tls_CAfile", error.message)]
        }
    }
}
