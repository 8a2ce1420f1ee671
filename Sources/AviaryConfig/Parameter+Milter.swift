// Milters (issue 15): the Sendmail milter protocol as Postfix's MILTER_README describes it.
extension Parameter {
    public static let smtpdMilters = Parameter(
        "smtpd_milters", .list, "",
        "Milters (unix:/path or inet:host:port) that smtpd asks about each connection and message, in order.")
    public static let nonSMTPDMilters = Parameter(
        "non_smtpd_milters", .list, "",
        "Milters for mail that does not arrive by SMTP (sendmail, pickup). Not used yet: such mail is not filtered.")
    public static let milterDefaultAction = Parameter(
        "milter_default_action", .string, "tempfail",
        "What a milter that cannot be reached, times out or breaks the protocol means: tempfail, accept, reject or quarantine.")
    public static let milterProtocol = Parameter(
        "milter_protocol", .integer, "6", "Milter protocol version offered (2 to 6).")
    public static let milterConnectTimeout = Parameter(
        "milter_connect_timeout", .time(defaultUnit: "s"), "30s", "Time limit for connecting to a milter and negotiating.")
    public static let milterCommandTimeout = Parameter(
        "milter_command_timeout", .time(defaultUnit: "s"), "30s",
        "Time limit for a milter's reply to a command other than the message content.")
    public static let milterContentTimeout = Parameter(
        "milter_content_timeout", .time(defaultUnit: "s"), "300s",
        "Time limit for a milter's reply to the message header, body and end of message.")
    public static let milterConnectMacros = Parameter(
        "milter_connect_macros", .list, "j {daemon_name} {daemon_addr} v _", "Macros sent with CONNECT.")
    public static let milterHeloMacros = Parameter(
        "milter_helo_macros", .list, "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}",
        "Macros sent with HELO.")
    public static let milterMailMacros = Parameter(
        "milter_mail_macros", .list, "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}",
        "Macros sent with MAIL FROM.")
    public static let milterRcptMacros = Parameter(
        "milter_rcpt_macros", .list, "i {rcpt_addr} {rcpt_host} {rcpt_mailer}", "Macros sent with RCPT TO.")
    public static let milterDataMacros = Parameter("milter_data_macros", .list, "i", "Macros sent with DATA.")
    public static let milterEndOfHeaderMacros = Parameter(
        "milter_end_of_header_macros", .list, "i", "Macros sent at the end of the header.")
    public static let milterEndOfDataMacros = Parameter(
        "milter_end_of_data_macros", .list, "i", "Macros sent at the end of the message.")

    /// Every parameter of this file, in `aviary conf -d` order.
    static let milterTable: [Parameter] = [
        .smtpdMilters, .nonSMTPDMilters, .milterDefaultAction, .milterProtocol, .milterConnectTimeout,
        .milterCommandTimeout, .milterContentTimeout, .milterConnectMacros, .milterHeloMacros, .milterMailMacros,
        .milterRcptMacros, .milterDataMacros, .milterEndOfHeaderMacros, .milterEndOfDataMacros,
    ]
}
