import AviaryConfig
import AviarySASL
import AviaryUsers
import Logging

extension SMTPServer {
    /// The SASL set-up main.cf describes (`smtpd_sasl_*`), or nil when `smtpd_sasl_auth_enable = no`.
    /// PLAIN and LOGIN passwords are checked against the users files of virtual_mailbox_maps, or by
    /// saslauthd (system accounts) when `smtpd_sasl_password_check = saslauthd`.
    static func makeAuthenticator(config: MainConfig, directory: UserDirectory, logger: Logger) -> SASLAuthenticator? {
        guard config.bool(.smtpdSASLAuthEnable) else { return nil }
        let plain = SASLSecurityOption.parse(config.list(.smtpdSASLSecurityOptions).joined(separator: " "))
        let overTLS = SASLSecurityOption.parse(config.list(.smtpdSASLTLSSecurityOptions).joined(separator: " "))
        for word in plain.unknown + overTLS.unknown {
            logger.warning("smtpd_sasl_security_options: unknown option \"\(word)\" is ignored")
        }
        let check = config.string(.smtpdSASLPasswordCheck).lowercased()
        let database = config.string(.smtpdSASLDatabase)
        let configuration = SASLServerConfiguration(
            serviceName: config.string(.smtpdSASLService), serverName: config.string(.myhostname),
            users: .lookup { directory.virtualUser($0) },
            mechanisms: config.list(.smtpdSASLMechanisms).map { $0.uppercased() },
            pwcheckMethod: check == "saslauthd" ? "saslauthd" : (database.isEmpty ? nil : "auxprop"),
            sasldbPath: database.isEmpty ? nil : database,
            securityOptions: plain.options, tlsSecurityOptions: overTLS.options)
        return SASLAuthenticator(configuration: configuration, logger: logger)
    }
}
