/// The smtp delivery agent's parameters: timeouts, MX walk, TLS and SASL. Part of THE table (`Parameter.table`
/// lists them); Postfix's names, meanings and, unless a comment says otherwise, defaults.
extension Parameter {
    // The conversation.
    public static let smtpHeloName = Parameter(
        "smtp_helo_name", .string, "$myhostname", "Name the smtp client sends with EHLO and HELO.")
    public static let smtpConnectTimeout = Parameter(
        "smtp_connect_timeout", .time(defaultUnit: "s"), "30s", "Time to complete a TCP connection.")
    public static let smtpHeloTimeout = Parameter(
        "smtp_helo_timeout", .time(defaultUnit: "s"), "300s", "Time to wait for the greeting and the EHLO/HELO reply.")
    public static let smtpStarttlsTimeout = Parameter(
        "smtp_starttls_timeout", .time(defaultUnit: "s"), "300s", "Time for the STARTTLS reply and the TLS handshake.")
    public static let smtpMailTimeout = Parameter(
        "smtp_mail_timeout", .time(defaultUnit: "s"), "300s", "Time to wait for the MAIL FROM reply.")
    public static let smtpRcptTimeout = Parameter(
        "smtp_rcpt_timeout", .time(defaultUnit: "s"), "300s", "Time to wait for each RCPT TO reply.")
    public static let smtpDataInitTimeout = Parameter(
        "smtp_data_init_timeout", .time(defaultUnit: "s"), "120s", "Time to wait for the DATA reply.")
    public static let smtpDataXferTimeout = Parameter(
        "smtp_data_xfer_timeout", .time(defaultUnit: "s"), "180s", "Time to send each piece of the message.")
    public static let smtpDataDoneTimeout = Parameter(
        "smtp_data_done_timeout", .time(defaultUnit: "s"), "600s", "Time to wait for the reply to the final \".\".")
    public static let smtpQuitTimeout = Parameter(
        "smtp_quit_timeout", .time(defaultUnit: "s"), "300s", "Time to wait for the QUIT reply.")
    public static let smtpMXAddressLimit = Parameter(
        "smtp_mx_address_limit", .integer, "5", "Most MX host addresses tried for one delivery; 0: no limit.")
    public static let smtpMXSessionLimit = Parameter(
        "smtp_mx_session_limit", .integer, "2",
        "Most SMTP sessions (greetings received) for one delivery, not counting unreachable hosts; 0: no limit.")

    // TLS.
    public static let smtpTLSSecurityLevel = Parameter(
        "smtp_tls_security_level", .string, "none",
        "none, may (STARTTLS when offered), encrypt (required, unverified), verify (certificate must match the MX name) "
            + "or secure (must match the next-hop domain).")
    public static let smtpTLSCAFile = Parameter(
        "smtp_tls_CAfile", .string, "", "PEM trust anchors for verify and secure, added to the system store.")
    public static let smtpTLSSystemStore = Parameter(
        "smtp_tls_use_system_store", .boolean, "yes",
        "Trust the system's CA store too (Aviary's; Postfix's tls_append_default_CA is no).")

    // SASL.
    public static let smtpSASLAuthEnable = Parameter(
        "smtp_sasl_auth_enable", .boolean, "no", "Authenticate to servers listed in smtp_sasl_password_maps.")
    public static let smtpSASLPasswordMaps = Parameter(
        "smtp_sasl_password_maps", .list, "",
        "Tables of next hop or host -> user:password, e.g. texthash:/etc/aviary/sasl_passwd with [mail.isp.example]:587.")
    public static let smtpSASLMechanismFilter = Parameter(
        "smtp_sasl_mechanism_filter", .list, "", "Mechanisms the client may use (PLAIN, LOGIN); empty: any it knows.")
    public static let smtpSASLSecurityOptions = Parameter(
        "smtp_sasl_security_options", .list, "noplaintext, noanonymous",
        "SASL restrictions without TLS: noplaintext keeps PLAIN and LOGIN (and the password) off clear-text sessions.")
    public static let smtpSASLTLSSecurityOptions = Parameter(
        "smtp_sasl_tls_security_options", .list, "noanonymous",
        "SASL restrictions over TLS (Postfix's default is $smtp_sasl_security_options, which refuses PLAIN even there).")

    // DNS (smtpd's restrictions use the same resolver).
    public static let dnsResolverAddress = Parameter(
        "smtp_dns_resolver_address", .string, "",
        "DNS server (host:port) for smtpd's and smtp's lookups; empty: the servers in /etc/resolv.conf.")

    /// Every parameter of this file, in `aviary conf -d` order.
    static let smtpClientTable: [Parameter] = [
        .smtpHeloName, .smtpConnectTimeout, .smtpHeloTimeout, .smtpStarttlsTimeout, .smtpMailTimeout, .smtpRcptTimeout,
        .smtpDataInitTimeout, .smtpDataXferTimeout, .smtpDataDoneTimeout, .smtpQuitTimeout, .smtpMXAddressLimit,
        .smtpMXSessionLimit, .smtpTLSSecurityLevel, .smtpTLSCAFile, .smtpTLSSystemStore, .smtpSASLAuthEnable,
        .smtpSASLPasswordMaps, .smtpSASLMechanismFilter, .smtpSASLSecurityOptions, .smtpSASLTLSSecurityOptions,
        .dnsResolverAddress,
    ]
}
