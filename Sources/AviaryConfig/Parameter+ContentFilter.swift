/// The after-queue content filter (Postfix's FILTER_README, "advanced" content filter): smtpd and pickup record
/// `content_filter` in each queue file, qmgr sends such a message to the filter instead of its destinations, and
/// the filter gives it back through an smtpd with `-o content_filter=` (and usually `-o receive_override_options`).
extension Parameter {
    public static let contentFilter = Parameter(
        "content_filter",
        .string,
        "",
        "After-queue content filter, transport:nexthop (smtp:[127.0.0.1]:10024): every recipient of a message smtpd or pickup receives goes there instead of its own route; empty: none. An empty nexthop means the recipient's domain."
    )
    public static let receiveOverrideOptions = Parameter(
        "receive_override_options",
        .list,
        "",
        "What smtpd or pickup skips for the mail it receives, on the service re-injecting filtered mail: no_unknown_recipient_checks (reject_unlisted_recipient), no_header_body_checks (keeps Authentication-Results: with our authserv-id), no_milters (smtpd_milters); no_address_mappings is accepted and changes nothing (Aviary maps no addresses on receipt)."
    )

    /// Every parameter of this file, in `aviary conf -d` order.
    static let contentFilterTable: [Parameter] = [.contentFilter, .receiveOverrideOptions]
}

/// `receive_override_options`: Postfix's words for what a receiving service skips (Postfix's `input_transp.c`).
/// Aviary acts on those it has something for and accepts the others, so that a FILTER_README master.cf works
/// unchanged; other words are kept for a warning.
public struct ReceiveOverrideOptions: Sendable, Equatable {
    /// `no_unknown_recipient_checks`: smtpd does not refuse recipients missing from the local or virtual tables
    /// (the implicit check and `reject_unlisted_recipient`); they were checked when the mail first arrived.
    public var skipsUnknownRecipientChecks = false
    /// `no_header_body_checks`: the message's header is taken as it comes; smtpd keeps Authentication-Results:
    /// fields that name our authserv-id, which our own smtpd wrote before the message went to the filter.
    public var skipsHeaderBodyChecks = false
    /// `no_milters`: smtpd_milters and non_smtpd_milters are not asked.
    public var skipsMilters = false
    /// `no_address_mappings`: no canonical or virtual alias mapping on receipt. Aviary maps no addresses on
    /// receipt (aliases are the local agent's, after the filter), so it changes nothing.
    public var skipsAddressMappings = false
    /// Words that are not options at all, for a warning.
    public var unknown: [String] = []

    public init(_ words: [String]) {
        for word in words {
            switch word.lowercased() {
            case "no_unknown_recipient_checks": skipsUnknownRecipientChecks = true
            case "no_header_body_checks": skipsHeaderBodyChecks = true
            case "no_milters": skipsMilters = true
            case "no_address_mappings": skipsAddressMappings = true
            default: unknown.append(word)
            }
        }
    }

    /// The options the configuration names.
    public init(config: MainConfig) { self.init(config.list(.receiveOverrideOptions)) }
}
