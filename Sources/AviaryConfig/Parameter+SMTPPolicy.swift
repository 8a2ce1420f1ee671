/// smtpd's policy parameters: TLS, SASL, restriction lists and abuse limits. Part of THE table
/// (`Parameter.table` lists them); Postfix's names, meanings and, unless a comment says otherwise, defaults.
extension Parameter {
    // TLS.
    public static let smtpdTLSSecurityLevel = Parameter(
        "smtpd_tls_security_level", .string, "",
        "none, may (offer STARTTLS) or encrypt (require it); empty: may when a certificate is set, else none.")
    public static let smtpdTLSCertFile = Parameter(
        "smtpd_tls_cert_file", .string, "", "PEM server certificate, followed by its chain.")
    public static let smtpdTLSKeyFile = Parameter(
        "smtpd_tls_key_file", .string, "$smtpd_tls_cert_file", "PEM private key of smtpd_tls_cert_file.")
    public static let smtpdTLSWrappermode = Parameter(
        "smtpd_tls_wrappermode", .boolean, "no", "TLS from the first byte (port 465, submissions).")
    public static let smtpdTLSAuthOnly = Parameter(
        "smtpd_tls_auth_only", .boolean, "yes", "Offer AUTH only after STARTTLS (Postfix's default is no).")
    public static let smtpdTLSProtocols = Parameter(
        "smtpd_tls_protocols", .string, ">=TLSv1.2", "Lowest TLS version smtpd accepts (>=TLSv1.2 or >=TLSv1.3).")
    public static let smtpdTLSReceivedHeader = Parameter(
        "smtpd_tls_received_header", .boolean, "yes",
        "Record the TLS version and cipher in Received: (Postfix's default is no).")

    // SASL.
    public static let smtpdSASLAuthEnable = Parameter(
        "smtpd_sasl_auth_enable", .boolean, "no", "Offer SMTP AUTH (RFC 4954).")
    public static let smtpdSASLSecurityOptions = Parameter(
        "smtpd_sasl_security_options", .list, "noanonymous",
        "SASL mechanism restrictions without TLS: noanonymous, noplaintext, noactive, nodictionary, mutual_auth.")
    public static let smtpdSASLTLSSecurityOptions = Parameter(
        "smtpd_sasl_tls_security_options", .list, "$smtpd_sasl_security_options",
        "SASL mechanism restrictions over TLS.")
    public static let smtpdSASLService = Parameter(
        "smtpd_sasl_service", .string, "smtp", "Service name handed to libsasl2 (sasldb realms, saslauthd).")
    public static let smtpdSASLMechanisms = Parameter(
        "smtpd_sasl_mechanism_list", .list, "PLAIN LOGIN",
        "Mechanisms offered (Postfix reads this from smtpd.conf's mech_list); CRAM-MD5 and SCRAM need a sasldb.")
    public static let smtpdSASLPasswordCheck = Parameter(
        "smtpd_sasl_password_check", .string, "users",
        "Where PLAIN and LOGIN passwords are checked: users (virtual_mailbox_maps users files) or saslauthd.")
    public static let smtpdSASLDatabase = Parameter(
        "smtpd_sasl_sasldb_path", .string, "", "sasldb for CRAM-MD5/SCRAM secrets (saslpasswd2 -f FILE).")
    public static let smtpdSASLAuthenticatedHeader = Parameter(
        "smtpd_sasl_authenticated_header", .boolean, "no", "Name the SASL login in the Received: header.")
    public static let smtpdAuthFailureDelay = Parameter(
        "smtpd_auth_failure_delay", .time(defaultUnit: "s"), "1s",
        "Pause before answering a failed AUTH, doubled for each further failure in the session.")

    // Restrictions (smtpd_delay_reject = yes: every list is evaluated at RCPT TO).
    public static let smtpdClientRestrictions = Parameter(
        "smtpd_client_restrictions", .list, "", "Restrictions on the client's address and name.")
    public static let smtpdHeloRestrictions = Parameter(
        "smtpd_helo_restrictions", .list, "", "Restrictions on the HELO/EHLO name.")
    public static let smtpdSenderRestrictions = Parameter(
        "smtpd_sender_restrictions", .list, "", "Restrictions on the MAIL FROM address.")
    public static let smtpdRelayRestrictions = Parameter(
        "smtpd_relay_restrictions", .list, "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
        "Relay control, evaluated at RCPT TO before smtpd_recipient_restrictions (Postfix defers: defer_unauth_destination).")
    public static let smtpdRecipientRestrictions = Parameter(
        "smtpd_recipient_restrictions", .list, "", "Restrictions on the RCPT TO address.")
    public static let smtpdDataRestrictions = Parameter(
        "smtpd_data_restrictions", .list, "", "Restrictions applied at DATA (e.g. reject_unauth_pipelining).")
    public static let smtpdSenderLoginMaps = Parameter(
        "smtpd_sender_login_maps", .list, "",
        "Tables of sender address -> SASL logins that may use it (for reject_sender_login_mismatch).")
    public static let unknownAddressRejectCode = Parameter(
        "unknown_address_reject_code", .integer, "450", "Reply code when a recipient domain has no DNS record.")
    public static let relayDomainsRejectCode = Parameter(
        "relay_domains_reject_code", .integer, "554", "Reply code of reject_unauth_destination.")
    public static let accessMapRejectCode = Parameter(
        "access_map_reject_code", .integer, "554", "Reply code of REJECT in an access table.")

    // DNS blocklists and policy servers (issue 15).
    public static let mapsRBLRejectCode = Parameter(
        "maps_rbl_reject_code", .integer, "554",
        "Reply code when reject_rbl_client or reject_rhsbl_* finds the client or a domain listed.")
    public static let smtpdPolicyServiceTimeout = Parameter(
        "smtpd_policy_service_timeout", .time(defaultUnit: "s"), "100s",
        "Time limit for connecting to, writing to and reading from a check_policy_service server, per attempt.")
    public static let smtpdPolicyServiceMaxIdle = Parameter(
        "smtpd_policy_service_max_idle", .time(defaultUnit: "s"), "300s",
        "Close a policy server connection after it was idle this long.")
    public static let smtpdPolicyServiceMaxTTL = Parameter(
        "smtpd_policy_service_max_ttl", .time(defaultUnit: "s"), "1000s",
        "Close a policy server connection after it was open this long (at its next use).")
    public static let smtpdPolicyServiceRequestLimit = Parameter(
        "smtpd_policy_service_request_limit", .integer, "0", "Requests per policy server connection; 0: no limit.")
    public static let smtpdPolicyServiceTryLimit = Parameter(
        "smtpd_policy_service_try_limit", .integer, "2", "Attempts to ask a policy server before the default action.")
    public static let smtpdPolicyServiceRetryDelay = Parameter(
        "smtpd_policy_service_retry_delay", .time(defaultUnit: "s"), "1s", "Pause between attempts to ask a policy server.")
    public static let smtpdPolicyServiceDefaultAction = Parameter(
        "smtpd_policy_service_default_action", .string, "451 4.3.5 Server configuration problem",
        "Access action when a policy server cannot be reached, does not answer in time or answers garbage.")
    public static let smtpdPolicyServicePolicyContext = Parameter(
        "smtpd_policy_service_policy_context", .string, "",
        "Sent as policy_context= in each request, so one policy server can tell configurations apart.")

    // Sender authentication (issue 15).
    public static let smtpdSPFEnable = Parameter(
        "smtpd_spf_enable", .boolean, "no",
        "Check SPF (RFC 7208) for mail from clients outside mynetworks that have not logged in: the MAIL FROM domain, or the HELO name for the null sender. Needed by reject_spf_fail and for Received-SPF:; no: no SPF look-ups at all.")
    public static let smtpdDKIMVerify = Parameter(
        "smtpd_dkim_verify", .boolean, "no",
        "Verify DKIM signatures (RFC 6376; rsa-sha256, ed25519-sha256) of mail from clients outside mynetworks that have not logged in, for Authentication-Results:; no: no key look-ups.")
    public static let smtpdDMARCEnable = Parameter(
        "smtpd_dmarc_enable", .boolean, "no",
        "Evaluate DMARC (RFC 7489) on mail from clients outside mynetworks that have not logged in, from the SPF and DKIM verdicts: p=reject refused with 550 5.7.1 at the end of DATA, p=quarantine delivered to the Junk folder, dmarc= in Authentication-Results:; no: no _dmarc look-ups.")
    public static let dmarcPublicSuffixList = Parameter(
        "dmarc_public_suffix_list", .string, "/usr/share/publicsuffix/public_suffix_list.dat",
        "The Public Suffix List (Debian's publicsuffix package) that gives DMARC the organisational domain of a name; read once when smtpd starts.")
    public static let authservID = Parameter(
        "authserv_id", .string, "$myhostname",
        "Name in the Authentication-Results: fields this host adds (RFC 8601); incoming fields that claim it are removed as forged.")

    // Abuse limits (counted across all smtpd processes by the anvil service).
    public static let smtpdClientConnectionCountLimit = Parameter(
        "smtpd_client_connection_count_limit", .integer, "50", "Simultaneous connections per client address; 0: none.")
    public static let smtpdClientConnectionRateLimit = Parameter(
        "smtpd_client_connection_rate_limit", .integer, "0",
        "Connections per client address in anvil_rate_time_unit; 0: no limit.")
    public static let smtpdClientEventLimitExceptions = Parameter(
        "smtpd_client_event_limit_exceptions", .list, "$mynetworks", "Clients exempt from the connection limits.")
    public static let localHeaderRewriteClients = Parameter(
        "local_header_rewrite_clients", .list, "permit_inet_interfaces",
        "Clients whose messages get a Message-ID: and Date: when they lack one, as Postfix's cleanup adds them: permit_inet_interfaces (a client on this host), permit_mynetworks, permit_sasl_authenticated, static:all.")
    public static let anvilRateTimeUnit = Parameter(
        "anvil_rate_time_unit", .time(defaultUnit: "s"), "60s", "Time unit of the connection rate limit.")
    public static let smtpdSoftErrorLimit = Parameter(
        "smtpd_soft_error_limit", .integer, "10", "Errors after which each further error is answered slowly.")
    public static let smtpdErrorSleepTime = Parameter(
        "smtpd_error_sleep_time", .time(defaultUnit: "s"), "1s", "Pause before an error reply past the soft limit.")
    public static let smtpdForbidUnauthPipelining = Parameter(
        "smtpd_forbid_unauth_pipelining", .boolean, "yes",
        "Hang up on clients that send commands ahead where RFC 2920 does not allow it.")

    /// Every parameter of this file, in `aviary conf -d` order.
    static let smtpPolicyTable: [Parameter] = [
        .smtpdTLSSecurityLevel, .smtpdTLSCertFile, .smtpdTLSKeyFile, .smtpdTLSWrappermode, .smtpdTLSAuthOnly,
        .smtpdTLSProtocols, .smtpdTLSReceivedHeader,
        .smtpdSASLAuthEnable, .smtpdSASLSecurityOptions, .smtpdSASLTLSSecurityOptions, .smtpdSASLService,
        .smtpdSASLMechanisms, .smtpdSASLPasswordCheck, .smtpdSASLDatabase, .smtpdSASLAuthenticatedHeader,
        .smtpdAuthFailureDelay,
        .smtpdClientRestrictions, .smtpdHeloRestrictions, .smtpdSenderRestrictions, .smtpdRelayRestrictions,
        .smtpdRecipientRestrictions, .smtpdDataRestrictions, .smtpdSenderLoginMaps, .unknownAddressRejectCode,
        .relayDomainsRejectCode, .accessMapRejectCode, .mapsRBLRejectCode, .smtpdPolicyServiceTimeout,
        .smtpdPolicyServiceMaxIdle, .smtpdPolicyServiceMaxTTL, .smtpdPolicyServiceRequestLimit,
        .smtpdPolicyServiceTryLimit, .smtpdPolicyServiceRetryDelay, .smtpdPolicyServiceDefaultAction,
        .smtpdPolicyServicePolicyContext, .smtpdSPFEnable, .smtpdDKIMVerify, .smtpdDMARCEnable,
        .dmarcPublicSuffixList, .authservID,
        .smtpdClientConnectionCountLimit, .smtpdClientConnectionRateLimit, .smtpdClientEventLimitExceptions,
        .localHeaderRewriteClients,
        .anvilRateTimeUnit, .smtpdSoftErrorLimit, .smtpdErrorSleepTime, .smtpdForbidUnauthPipelining,
    ]
}
