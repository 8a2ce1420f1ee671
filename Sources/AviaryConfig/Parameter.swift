/// THE parameter table: every `main.cf` parameter Aviary knows, its type, default and meaning.
///
/// Names are Postfix's wherever the meaning is the same, so an administrator's knowledge carries over.
/// Defaults may refer to other parameters with `$name`; they are expanded like values from `main.cf`.
/// `aviary conf -d` prints this table; `aviary conf -n` prints what `main.cf` changes.
public struct Parameter: Sendable, Hashable, CustomStringConvertible {
    /// How a value is read.
    public enum Kind: Sendable, Hashable {
        /// Free text.
        case string
        /// A whole number.
        case integer
        /// `yes` or `no`.
        case boolean
        /// A time with an optional unit suffix (s, m, h, d, w); a bare number means `defaultUnit`.
        case time(defaultUnit: Character)
        /// A list separated by commas and/or whitespace.
        case list
    }

    public let name: String
    public let kind: Kind
    public let defaultValue: String
    public let summary: String

    public init(_ name: String, _ kind: Kind, _ defaultValue: String, _ summary: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.summary = summary
    }

    public var description: String { name }
}

extension Parameter {
    // Identity and locations.
    public static let configDirectory = Parameter(
        "config_directory", .string, "/etc/aviary", "Directory of main.cf and master.cf (set by -c).")
    public static let queueDirectory = Parameter(
        "queue_directory", .string, "/var/spool/aviary", "Root of the queue tree.")
    public static let daemonDirectory = Parameter(
        "daemon_directory", .string, "", "Where master finds the service programs; empty: beside master itself.")
    public static let mailOwner = Parameter(
        "mail_owner", .string, "aviary", "Unprivileged account that every service but local runs as.")
    public static let setgidGroup = Parameter(
        "setgid_group", .string, "aviarydrop",
        "Group of maildrop/ and public/; the installed sendmail is setgid to it so any local user can submit.")
    public static let mailName = Parameter("mail_name", .string, "Aviary", "The name in the SMTP greeting.")
    public static let myhostname = Parameter(
        "myhostname", .string, "", "Fully qualified name of this host; empty: from the system.")
    public static let mydomain = Parameter(
        "mydomain", .string, "", "Domain of this host; empty: myhostname less its first label.")
    public static let myorigin = Parameter(
        "myorigin", .string, "$myhostname", "Domain added to locally submitted unqualified addresses.")
    public static let mydestination = Parameter(
        "mydestination", .list, "$myhostname, localhost.$mydomain, localhost",
        "Domains delivered to local system accounts and aliases.")
    public static let mynetworks = Parameter(
        "mynetworks", .list, "127.0.0.0/8 [::1]/128", "Client networks trusted to relay.")
    public static let relayDomains = Parameter(
        "relay_domains", .list, "", "Other domains this host relays mail to, from any client.")
    public static let relayhost = Parameter(
        "relayhost", .string, "", "Next hop for all remote mail; empty: deliver by MX.")
    public static let maillogFile = Parameter(
        "maillog_file", .string, "", "Log file; empty: stderr in the foreground, syslog or the queue's maillog in the background.")
    public static let syslogName = Parameter("syslog_name", .string, "aviary", "Prefix of every log line.")

    public static let localTransport = Parameter(
        "local_transport", .string, "local", "Transport for domains in mydestination.")
    public static let virtualTransport = Parameter(
        "virtual_transport", .string, "local",
        "Transport for virtual_mailbox_domains (Aviary's local also writes virtual mailboxes).")
    public static let relayTransport = Parameter(
        "relay_transport", .string, "smtp", "Transport for relay_domains.")
    public static let defaultTransport = Parameter(
        "default_transport", .string, "smtp", "Transport for every other domain.")

    // smtpd.
    public static let smtpdBanner = Parameter(
        "smtpd_banner", .string, "$myhostname ESMTP $mail_name", "Text after 220 in the greeting.")
    public static let messageSizeLimit = Parameter(
        "message_size_limit", .integer, "10240000", "Largest message accepted, in bytes.")
    public static let queueMinfree = Parameter(
        "queue_minfree", .integer, "0",
        "Free bytes the queue file system must keep: smtpd answers MAIL with 452 4.3.1 below it, or below 1.5 x message_size_limit (as Postfix).")
    public static let hopcountLimit = Parameter(
        "hopcount_limit", .integer, "50",
        "Most Received: header fields a message may carry (counting the one Aviary adds) before it is refused as looping (5.4.6).")
    public static let smtpdRecipientLimit = Parameter(
        "smtpd_recipient_limit", .integer, "1000", "Most recipients per message.")
    public static let smtpdTimeout = Parameter(
        "smtpd_timeout", .time(defaultUnit: "s"), "300s", "Idle time before smtpd hangs up.")
    public static let smtpdHardErrorLimit = Parameter(
        "smtpd_hard_error_limit", .integer, "20", "Errors in one session before smtpd hangs up.")
    public static let smtpdConnectionLimit = Parameter(
        "smtpd_connection_limit", .integer, "500", "Most simultaneous sessions per smtpd process.")
    public static let lineLengthLimit = Parameter(
        "line_length_limit", .integer, "2048", "Longest SMTP command line, in bytes.")
    public static let smtpdHeloRequired = Parameter(
        "smtpd_helo_required", .boolean, "no", "Require HELO or EHLO before MAIL.")
    public static let disableVrfyCommand = Parameter(
        "disable_vrfy_command", .boolean, "no", "Refuse VRFY.")

    // pop3d.
    public static let pop3dBanner = Parameter(
        "pop3d_banner", .string, "$mail_name ready.", "Text after +OK in the POP3 greeting.")
    public static let pop3dTimeout = Parameter(
        "pop3d_timeout", .time(defaultUnit: "s"), "600s",
        "Time without traffic before pop3d hangs up (RFC 1939 asks for at least 10 minutes).")
    public static let pop3dAuthFailureLimit = Parameter(
        "pop3d_auth_failure_limit", .integer, "3", "Failed logins in one session before pop3d hangs up.")
    public static let pop3dAuthFailureDelay = Parameter(
        "pop3d_auth_failure_delay", .time(defaultUnit: "s"), "2s",
        "Wait before answering a failed login, multiplied by the failures so far in the session.")
    public static let pop3dUIDLFormat = Parameter(
        "pop3d_uidl_format", .string, "%f",
        "UIDL of a Maildir message: %f its file's base name; %u its IMAP UID and %v the UIDVALIDITY, with Dovecot's modifiers (%08Xu: eight hex digits); Dovecot's default is %08Xu%08Xv.")
    public static let pop3dTLSAuthOnly = Parameter(
        "pop3d_tls_auth_only", .boolean, "yes",
        "Refuse USER/PASS and AUTH until STLS; without a certificate, nobody can log in unless this is no.")
    public static let pop3dTLSCertFile = Parameter(
        "pop3d_tls_cert_file", .string, "$smtpd_tls_cert_file", "PEM certificate (and chain) for STLS and pop3s.")
    public static let pop3dTLSKeyFile = Parameter(
        "pop3d_tls_key_file", .string, "$smtpd_tls_key_file", "PEM private key of pop3d_tls_cert_file.")
    public static let pop3dTLSWrappermode = Parameter(
        "pop3d_tls_wrappermode", .boolean, "no", "TLS from the first byte (pop3s, port 995).")
    public static let pop3dSASLMechanisms = Parameter(
        "pop3d_sasl_mechanism_list", .list, "PLAIN LOGIN", "Mechanisms AUTH offers (RFC 5034).")
    public static let pop3dConnectionLimit = Parameter(
        "pop3d_connection_limit", .integer, "500", "Most simultaneous sessions per pop3d process.")
    public static let pop3dMailboxService = Parameter(
        "pop3d_mailbox_service", .string, "pop3mail",
        "The private/ service (pop3mail) that serves system users' sessions as the user; empty: pop3d serves them.")

    // imapd.
    public static let imapdBanner = Parameter(
        "imapd_banner", .string, "$mail_name ready.", "Text after `* OK [CAPABILITY ...]` in the IMAP greeting.")
    public static let imapdTimeout = Parameter(
        "imapd_timeout", .time(defaultUnit: "s"), "30m",
        "Time without traffic before imapd hangs up (RFC 9051 asks for at least 30 minutes; IDLE keepalives count).")
    public static let imapdLoginTimeout = Parameter(
        "imapd_login_timeout", .time(defaultUnit: "s"), "60s", "Time a client has to log in after connecting.")
    public static let imapdIdleKeepalive = Parameter(
        "imapd_idle_keepalive", .time(defaultUnit: "s"), "2m",
        "How often an IDLE session gets `* OK Still here`, so NAT boxes keep push connections open.")
    public static let imapdAuthFailureLimit = Parameter(
        "imapd_auth_failure_limit", .integer, "3", "Failed logins in one session before imapd hangs up.")
    public static let imapdAuthFailureDelay = Parameter(
        "imapd_auth_failure_delay", .time(defaultUnit: "s"), "2s",
        "Pause before answering a failed login; doubled for every further failure in the session (at most 15 s).")
    public static let loginTrustedNetworks = Parameter(
        "login_trusted_networks", .list, "",
        "Client networks where pop3d and imapd take passwords without TLS, as from a connection whose remote address is the server's own (always allowed, as in Dovecot).")
    public static let imapdTLSAuthOnly = Parameter(
        "imapd_tls_auth_only", .boolean, "yes", "No LOGIN or AUTHENTICATE without TLS (LOGINDISABLED before STARTTLS).")
    public static let imapdTLSCertFile = Parameter(
        "imapd_tls_cert_file", .string, "$smtpd_tls_cert_file", "PEM certificate (and chain) for STARTTLS and imaps.")
    public static let imapdTLSKeyFile = Parameter(
        "imapd_tls_key_file", .string, "$smtpd_tls_key_file", "PEM private key of imapd_tls_cert_file.")
    public static let imapdTLSWrappermode = Parameter(
        "imapd_tls_wrappermode", .boolean, "no", "TLS from the first byte (imaps, port 993).")
    public static let imapdSASLMechanisms = Parameter(
        "imapd_sasl_mechanism_list", .list, "PLAIN LOGIN", "Mechanisms AUTHENTICATE offers.")
    public static let imapdConnectionLimit = Parameter(
        "imapd_connection_limit", .integer, "1000", "Most simultaneous sessions per imapd process.")
    public static let imapdAppendLimit = Parameter(
        "imapd_append_limit", .integer, "0",
        "Largest message APPEND accepts, in bytes (APPENDLIMIT), and the largest literal after login; 0: message_size_limit.")
    public static let imapdMailboxService = Parameter(
        "imapd_mailbox_service", .string, "imapmail",
        "The private/ service (imapmail) that serves system users' sessions as the user; empty: imapd serves them.")
    public static let imapdSpecialUseFolders = Parameter(
        "imapd_special_use_folders", .list, "Drafts Sent Trash Junk Archive",
        "Folders every mailbox gets at its first IMAP login, each marked with the SPECIAL-USE attribute of its name (RFC 6154).")

    // Recipients and mailboxes.
    public static let aliasMaps = Parameter(
        "alias_maps", .list, "hash:/etc/aliases", "Alias tables in aliases(5) format, for local domains.")
    public static let aliasDatabase = Parameter(
        "alias_database", .list, "$alias_maps", "Alias tables that newaliases checks.")
    public static let virtualMailboxDomains = Parameter(
        "virtual_mailbox_domains", .list, "", "Domains whose users are in virtual_mailbox_maps.")
    public static let virtualMailboxMaps = Parameter(
        "virtual_mailbox_maps", .list, "", "Virtual users, e.g. passwd-file:/etc/aviary/users.")
    public static let virtualMailboxBase = Parameter(
        "virtual_mailbox_base", .string, "/var/mail/vhosts", "Virtual users' Maildirs live in BASE/DOMAIN/USER/.")
    public static let homeMailbox = Parameter(
        "home_mailbox", .string, "", "Mailbox in a system user's home (Maildir/ for Maildir); empty: mail_spool_directory.")
    public static let mailSpoolDirectory = Parameter(
        "mail_spool_directory", .string, "/var/mail", "Directory of system users' mbox files.")
    public static let mailboxSizeLimit = Parameter(
        "mailbox_size_limit", .integer, "51200000",
        "Largest mbox file (and /file delivery target) local appends to, and largest Maildir message file, in bytes; 0: no limit. Also the largest mbox pop3d loads.")
    public static let mailboxQuotaLimit = Parameter(
        "mailbox_quota_limit", .integer, "0",
        "Default quota of a Maildir account (INBOX and folders together), in bytes; a users-file entry's userdb_quota_rule overrides it; 0: no limit. Counted in the Maildir++ maildirsize file.")
    public static let quotaWarningPercent = Parameter(
        "quota_warning_percent", .integer, "90",
        "When a delivery takes a Maildir account to this percentage of its quota, the user gets one warning message in INBOX (again only after dropping below it); 0: no warning.")
    public static let quotaFullTempfail = Parameter(
        "quota_full_tempfail", .boolean, "no",
        "Defer (4.2.2) a delivery to an account over its quota instead of bouncing it (5.2.2), as Dovecot's quota_full_tempfail.")
    public static let recipientDelimiter = Parameter(
        "recipient_delimiter", .string, "", "Separator of address extensions, e.g. + for user+tag.")
    public static let forwardPath = Parameter(
        "forward_path", .list, "$home/.forward", ".forward files to look for.")
    public static let allowMailToCommands = Parameter(
        "allow_mail_to_commands", .list, "alias, forward", "Where |command deliveries are allowed.")
    public static let strictMailboxOwnership = Parameter(
        "strict_mailbox_ownership", .boolean, "yes",
        "Defer delivery into a system mailbox (mbox) that is not owned by its recipient, as Postfix does.")
    public static let allowMailToFiles = Parameter(
        "allow_mail_to_files", .list, "alias, forward", "Where /file deliveries are allowed.")
    public static let defaultPrivs = Parameter(
        "default_privs", .string, "nobody", "Account that runs |command and /file deliveries from aliases (as root).")
    public static let commandTimeout = Parameter(
        "command_time_limit", .time(defaultUnit: "s"), "1000s", "Longest a |command delivery may run.")

    // Queue manager.
    public static let queueRunDelay = Parameter(
        "queue_run_delay", .time(defaultUnit: "s"), "300s", "How often the deferred queue is scanned.")
    public static let minimalBackoffTime = Parameter(
        "minimal_backoff_time", .time(defaultUnit: "s"), "300s", "Shortest wait before retrying a deferred message.")
    public static let maximalBackoffTime = Parameter(
        "maximal_backoff_time", .time(defaultUnit: "s"), "4000s", "Longest wait before retrying a deferred message.")
    public static let maximalQueueLifetime = Parameter(
        "maximal_queue_lifetime", .time(defaultUnit: "d"), "5d", "Age at which undeliverable mail is bounced.")
    public static let bounceQueueLifetime = Parameter(
        "bounce_queue_lifetime", .time(defaultUnit: "d"), "5d", "Age at which an undeliverable bounce is dropped.")
    public static let defaultProcessLimit = Parameter(
        "default_process_limit", .integer, "10", "Processes of a service whose master.cf maxproc is -.")
    public static let doubleBounceSender = Parameter(
        "double_bounce_sender", .string, "double-bounce", "Sender of bounces that must not bounce.")
    public static let maxUse = Parameter(
        "max_use", .integer, "100", "Requests a delivery process serves before it retires.")
    public static let maxIdle = Parameter(
        "max_idle", .time(defaultUnit: "s"), "100s", "Idle time after which a delivery process retires.")
    public static let serviceThrottleTime = Parameter(
        "service_throttle_time", .time(defaultUnit: "s"), "60s", "Longest wait before master restarts a failing service.")
    public static let transportMaps = Parameter(
        "transport_maps", .list, "", "Tables of recipient or domain -> transport:nexthop (transport(5)).")
    public static let defaultDestinationConcurrencyLimit = Parameter(
        "default_destination_concurrency_limit", .integer, "20",
        "Deliveries in flight per destination (next hop); at most half the transport's processes.")
    public static let qmgrMessageActiveLimit = Parameter(
        "qmgr_message_active_limit", .integer, "1000",
        "Most messages qmgr works on at once (the active queue); the rest wait in incoming and deferred. Postfix's default is 20000.")
    public static let delayWarningTime = Parameter(
        "delay_warning_time", .time(defaultUnit: "h"), "0h",
        "Tell the sender when mail has waited this long (once); 0: never.")
    public static let metricsEnable = Parameter(
        "metrics_enable", .boolean, "no",
        "Daemons send their counts (one datagram each, never waiting) to the metrics service in master.cf; no: nothing is sent.")

    /// Every parameter, in the order `aviary conf -d` prints them.
    public static let table: [Parameter] = [
        .configDirectory, .queueDirectory, .daemonDirectory, .mailOwner, .setgidGroup, .mailName, .myhostname, .mydomain,
        .myorigin, .mydestination, .mynetworks, .relayDomains, .relayhost, .maillogFile, .syslogName,
        .localTransport, .virtualTransport, .relayTransport, .defaultTransport,
        .smtpdBanner, .messageSizeLimit, .queueMinfree, .hopcountLimit, .smtpdRecipientLimit, .smtpdTimeout, .smtpdHardErrorLimit,
        .smtpdConnectionLimit, .lineLengthLimit, .smtpdHeloRequired, .disableVrfyCommand,
        .pop3dBanner, .pop3dTimeout, .pop3dAuthFailureLimit, .pop3dAuthFailureDelay, .pop3dTLSAuthOnly, .pop3dUIDLFormat,
        .pop3dConnectionLimit, .pop3dTLSCertFile, .pop3dTLSKeyFile, .pop3dTLSWrappermode, .pop3dSASLMechanisms,
        .pop3dMailboxService,
        .imapdBanner, .imapdTimeout, .imapdLoginTimeout, .imapdIdleKeepalive, .imapdAuthFailureLimit,
        .imapdAuthFailureDelay, .imapdTLSAuthOnly, .imapdTLSCertFile, .imapdTLSKeyFile, .imapdTLSWrappermode,
        .imapdSASLMechanisms, .imapdConnectionLimit, .imapdAppendLimit, .imapdSpecialUseFolders, .imapdMailboxService,
        .loginTrustedNetworks,
        .aliasMaps, .aliasDatabase, .virtualMailboxDomains, .virtualMailboxMaps, .virtualMailboxBase, .homeMailbox,
        .mailSpoolDirectory, .mailboxSizeLimit, .mailboxQuotaLimit, .quotaWarningPercent, .quotaFullTempfail,
        .strictMailboxOwnership, .recipientDelimiter, .forwardPath, .allowMailToCommands,
        .allowMailToFiles,
        .defaultPrivs, .commandTimeout,
        .queueRunDelay, .minimalBackoffTime, .maximalBackoffTime, .maximalQueueLifetime, .bounceQueueLifetime,
        .defaultProcessLimit, .doubleBounceSender, .maxUse, .maxIdle, .serviceThrottleTime,
        .transportMaps, .defaultDestinationConcurrencyLimit, .delayWarningTime, .qmgrMessageActiveLimit,
        .metricsEnable,
    ] + smtpPolicyTable + smtpClientTable + contentFilterTable + milterTable

    /// The table by name.
    public static let byName: [String: Parameter] = Dictionary(uniqueKeysWithValues: table.map { ($0.name, $0) })
}
