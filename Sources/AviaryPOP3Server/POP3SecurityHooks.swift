// The STLS and AUTH seams, filled by the TLS and SASL libraries when they land. Until then the server has
// neither (`tls` and `sasl` are nil): CAPA lists no STLS and no SASL, STLS answers `-ERR STLS not available`
// and AUTH `-ERR Unsupported authentication mechanism`.
//
// STLS, one event-loop step (POP3Session.startTLS): `+OK Begin TLS negotiation now.` is written and flushed,
// the line decoder (paused since it saw the STLS line) is removed, which drops every plaintext byte the client
// sent after STLS, the handler from `POP3TLSProvider.makeServerHandler()` goes first in the pipeline, and a
// fresh decoder takes the old one's place. The session has read nothing ahead (the decoder was paused), so
// there is nothing to discard on its side.
//
// AUTH (RFC 5034), POP3Session.authenticate: the session owns the framing (`+ base64` challenges, `*` to
// cancel, `=` for an empty initial response, the line limit); the mechanism owns the bytes.

import NIOCore

/// Makes TLS server handlers; given to `POP3Server` when a certificate is configured.
public protocol POP3TLSProvider: Sendable {
    /// A new server-side TLS handler for one connection, called on that connection's event loop.
    func makeServerHandler(eventLoop: any EventLoop) throws -> any ChannelHandler
}

/// The SASL mechanisms on offer and their exchanges.
public protocol POP3SASLMechanisms: Sendable {
    /// The mechanism names for CAPA's `SASL` line, given whether the connection is protected by TLS.
    func mechanisms(isSecure: Bool) async -> [String]
    /// Starts an exchange for `mechanism` (upper case); nil when it is not on offer.
    func start(mechanism: String, clientAddress: String, isSecure: Bool) -> (any POP3SASLExchange)?
}

/// One SASL exchange, from the first client response to success or failure.
public protocol POP3SASLExchange: Sendable {
    /// Takes the client's next response, decoded (nil: AUTH came without an initial response), and says
    /// what happens next.
    func step(_ response: [UInt8]?) async -> POP3SASLStep
}

/// The next step of a SASL exchange.
public enum POP3SASLStep: Sendable {
    /// Send this challenge (as `+ base64`) and wait for the client's response.
    case challenge([UInt8])
    /// The exchange is over.
    case done(POP3Login)
}
