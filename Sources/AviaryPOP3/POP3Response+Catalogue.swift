/// Every response pop3d sends, in one place, so that `grep IN-USE` finds every refusal of that kind.
/// Texts follow Dovecot's where a client or a log tool may know them.
extension POP3Response {
    public static func ok(_ text: String = "") -> POP3Response { POP3Response(.ok, text) }
    public static func error(_ text: String, code: POP3ResponseCode? = nil) -> POP3Response {
        POP3Response(.error, code: code, text)
    }

    // Connection.
    public static func greeting(_ banner: String) -> POP3Response { .ok(banner) }
    public static let loggingOut = POP3Response.ok("Logging out.")
    public static let disconnectedForInactivity = POP3Response.error("Disconnected for inactivity.")
    public static let tooManyConnections = POP3Response.error(
        "Too many connections, try again later.",
        code: .temporarySystemError
    )
    public static let lineTooLong = POP3Response.error("Line too long (more than 255 octets).")
    public static let unknownCommand = POP3Response.error("Unknown command.")
    public static func badArguments(_ error: POP3CommandError) -> POP3Response { .error(error.message + ".") }
    public static let notAfterLogin = POP3Response.error("Already logged in.")
    public static let notLoggedIn = POP3Response.error("Unknown command, or not logged in.")
    public static let serverBug = POP3Response.error(
        "Internal error occurred. Refer to server log for more information.",
        code: .temporarySystemError
    )

    // Capabilities.
    public static func capabilities(_ lines: [String]) -> POP3Response {
        POP3Response(.ok, "Capability list follows", lines: lines)
    }

    // Authorization.
    public static let userAccepted = POP3Response.ok()
    public static let passWithoutUser = POP3Response.error("No username given.")
    public static let apopNotSupported = POP3Response.error("APOP is not supported.")
    public static let plaintextDisallowed = POP3Response.error(
        "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
        code: .authentication
    )
    public static let authenticationFailed = POP3Response.error("Authentication failed.", code: .authentication)
    public static let authenticationTemporaryFailure = POP3Response.error(
        "Temporary authentication failure.",
        code: .temporarySystemError
    )
    public static let tooManyFailures = POP3Response.error(
        "Too many invalid authentication attempts, disconnecting.",
        code: .authentication
    )
    public static let mailboxInUse = POP3Response.error(
        "Mailbox is locked by another POP3 session, try again later.",
        code: .inUse
    )
    public static let mailboxUnavailable = POP3Response.error(
        "Cannot open the mailbox, try again later.",
        code: .temporarySystemError
    )
    public static let mailboxTooLarge = POP3Response.error(
        "Mailbox is too large to open, please ask the postmaster.",
        code: .permanentSystemError
    )
    public static let loggedIn = POP3Response.ok("Logged in.")

    // STLS and AUTH (RFC 2595, RFC 5034).
    public static let beginTLS = POP3Response.ok("Begin TLS negotiation now.")
    public static let tlsNotAvailable = POP3Response.error("STLS not available.")
    public static let tlsAlreadyActive = POP3Response.error("TLS is already active.")
    public static let authNotAvailable = POP3Response.error("Unsupported authentication mechanism.")
    public static let authCancelled = POP3Response.error("Authentication cancelled.", code: .authentication)
    public static func authChallenge(_ base64: String) -> POP3Response { POP3Response(.continuation, base64) }
    public static func mechanisms(_ names: [String]) -> POP3Response {
        POP3Response(.ok, "", lines: names)
    }

    // Transaction.
    public static func status(count: Int, octets: Int) -> POP3Response { .ok("\(count) \(octets)") }
    public static func scanListing(count: Int, octets: Int, lines: [String]) -> POP3Response {
        POP3Response(.ok, "\(count) messages:", lines: lines)
    }
    public static func scan(_ number: Int, octets: Int) -> POP3Response { .ok("\(number) \(octets)") }
    public static func uniqueIDListing(_ lines: [String]) -> POP3Response { POP3Response(.ok, "", lines: lines) }
    public static func uniqueID(_ number: Int, _ uid: String) -> POP3Response { .ok("\(number) \(uid)") }
    public static func messageFollows(octets: Int) -> POP3Response { .ok("\(octets) octets") }
    public static let topFollows = POP3Response.ok()
    public static func noSuchMessage(_ number: Int) -> POP3Response { .error("There's no message \(number).") }
    public static let markedDeleted = POP3Response.ok("Marked to be deleted.")
    public static let reset = POP3Response.ok()
    public static let noop = POP3Response.ok()
    public static let messageVanished = POP3Response.error(
        "The message has been removed by another program.",
        code: .temporarySystemError
    )
    public static let updateFailed = POP3Response.error(
        "Some deleted messages were not removed; try again later.",
        code: .temporarySystemError
    )
}
