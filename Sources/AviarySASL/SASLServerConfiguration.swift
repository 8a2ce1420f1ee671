import AviaryUsers

/// How a server authenticates clients: which mechanisms, which password stores, which security rules. Every
/// option reaches libsasl2 through a GETOPT callback, so no SASL configuration file is needed.
public struct SASLServerConfiguration: Sendable {
    /// The SASL service name: `smtp`, `pop` or `imap` (saslauthd and PAM see it).
    public var serviceName: String
    /// This host's name (`myhostname`); Cyrus uses it as the default realm (for sasldb lookups).
    public var serverName: String
    /// The realm appended to user names given without `@` (Postfix `smtpd_sasl_local_domain`); nil appends none.
    public var userRealm: String?
    /// Where PLAIN and LOGIN passwords are checked first: the virtual users files.
    public var users: SASLUserSource
    /// The mechanisms offered, before security options filter them (Cyrus `mech_list`).
    public var mechanisms: [String]
    /// Cyrus `pwcheck_method` for passwords the users files do not confirm: nil makes the users files
    /// authoritative; `saslauthd` checks system accounts; `auxprop` checks the sasldb.
    public var pwcheckMethod: String?
    /// The sasldb file holding cleartext secrets for CRAM-MD5, DIGEST-MD5 and SCRAM (Cyrus `sasldb_path`, made with
    /// `saslpasswd2 -c -f FILE -u REALM -a aviary user`).
    public var sasldbPath: String?
    /// Security options for connections without TLS (Postfix `smtpd_sasl_security_options`).
    public var securityOptions: Set<SASLSecurityOption>
    /// Security options once TLS is active (Postfix `smtpd_sasl_tls_security_options`).
    public var tlsSecurityOptions: Set<SASLSecurityOption>
    /// Further Cyrus options by name (`saslauthd_path`, `auxprop_plugin`, `log_level`, ...); they override the ones
    /// above.
    public var extraOptions: [String: String]

    /// - Parameters:
    ///   - serviceName: `smtp`, `pop` or `imap`.
    ///   - serverName: this host's name.
    ///   - users: the users files (or another lookup) that check PLAIN and LOGIN passwords.
    ///   - mechanisms: `PLAIN` and `LOGIN` unless a sasldb provides the secrets other mechanisms need.
    ///   - securityOptions: Postfix's default is `noanonymous`.
    ///   - tlsSecurityOptions: defaults to `securityOptions`, as Postfix's does.
    public init(
        serviceName: String,
        serverName: String,
        userRealm: String? = nil,
        users: SASLUserSource,
        mechanisms: [String] = ["PLAIN", "LOGIN"],
        pwcheckMethod: String? = nil,
        sasldbPath: String? = nil,
        securityOptions: Set<SASLSecurityOption> = [.noAnonymous],
        tlsSecurityOptions: Set<SASLSecurityOption>? = nil,
        extraOptions: [String: String] = [:]
    ) {
        self.serviceName = serviceName
        self.serverName = serverName
        self.userRealm = userRealm
        self.users = users
        self.mechanisms = mechanisms
        self.pwcheckMethod = pwcheckMethod
        self.sasldbPath = sasldbPath
        self.securityOptions = securityOptions
        self.tlsSecurityOptions = tlsSecurityOptions ?? securityOptions
        self.extraOptions = extraOptions
    }

    /// The name given as `pwcheck_method` when the users files are authoritative: no such verifier exists, so a
    /// password the checkpass callback refuses is refused (Cyrus would otherwise fall through to `auxprop`).
    static let authoritativeUsersMethod = "aviary_users_file"

    /// The Cyrus options this configuration sets, by name.
    var cyrusOptions: [String: String] {
        var options: [String: String] = [
            "mech_list": mechanisms.joined(separator: " "),
            "pwcheck_method": pwcheckMethod ?? Self.authoritativeUsersMethod,
        ]
        if let sasldbPath {
            options["sasldb_path"] = sasldbPath
            options["auxprop_plugin"] = "sasldb"
        }
        options.merge(extraOptions) { _, extra in extra }
        return options
    }
}

/// Where the SASL server finds virtual users and their passwords.
public enum SASLUserSource: Sendable {
    /// No users files: only `pwcheckMethod` and the sasldb check passwords.
    case none
    /// Users files in Dovecot passwd-file format, searched in order and re-read when their modification time
    /// changes (a `stat` per attempt), so password changes take effect without a restart.
    case files([String])
    /// Another lookup, such as `UserDirectory.virtualUser`. It is called on a SASL thread and may block briefly.
    case lookup(@Sendable (String) -> PasswdEntry?)
}

/// Postfix's SASL security option words (`smtpd_sasl_security_options`), each a Cyrus `SASL_SEC_*` flag.
public enum SASLSecurityOption: String, Sendable, Hashable, CaseIterable {
    /// `noplaintext`: no mechanism that sends the password in the clear (PLAIN, LOGIN).
    case noPlaintext = "noplaintext"
    /// `noactive`: no mechanism open to active (non-dictionary) attacks.
    case noActive = "noactive"
    /// `nodictionary`: no mechanism open to passive dictionary attacks.
    case noDictionary = "nodictionary"
    /// `noanonymous`: no ANONYMOUS.
    case noAnonymous = "noanonymous"
    /// `mutual_auth`: only mechanisms that authenticate the server too.
    case mutualAuth = "mutual_auth"
    /// `forward_secrecy`: only mechanisms with forward secrecy.
    case forwardSecrecy = "forward_secrecy"

    /// Parses a parameter value such as `noanonymous, noplaintext`; returns the options and the words it does not
    /// know (for a configuration warning).
    public static func parse(_ value: String) -> (options: Set<SASLSecurityOption>, unknown: [String]) {
        var options: Set<SASLSecurityOption> = []
        var unknown: [String] = []
        for word in value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
            if let option = SASLSecurityOption(rawValue: word.lowercased()) {
                options.insert(option)
            } else {
                unknown.append(String(word))
            }
        }
        return (options, unknown)
    }
}
