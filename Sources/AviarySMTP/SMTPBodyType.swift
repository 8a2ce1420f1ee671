/// The `BODY=` values of MAIL FROM.
public enum SMTPBodyType: String, Sendable, Hashable, CaseIterable {
    /// `BODY=7BIT`: US-ASCII lines only.
    case sevenBit = "7BIT"
    /// `BODY=8BITMIME` (RFC 6152): octets above 127 may appear; lines still end in CRLF.
    case eightBitMIME = "8BITMIME"
    /// `BODY=BINARYMIME` (RFC 3030): any octets; only with BDAT.
    case binaryMIME = "BINARYMIME"
}
