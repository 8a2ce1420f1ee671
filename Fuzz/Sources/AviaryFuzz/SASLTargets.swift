import AviarySASL

/// What Aviary itself parses of a SASL exchange: the base64 of every response and challenge (libsasl2 parses
/// the PLAIN and LOGIN messages on the server side, and is not fuzzed here), and the smtp agent's PLAIN/LOGIN
/// client answering a server's challenges. Each line of the input is one step.
enum SASLTargets {
    static func exchange(_ bytes: [UInt8]) {
        var plain = SASLClient(mechanism: .plain, username: "user", password: "secret")
        var login = SASLClient(mechanism: .login, username: "user", password: "secret")
        _ = plain.initialResponse()
        for line in lines(of: bytes) {
            let text = String(decoding: line, as: UTF8.self)
            guard let decoded = SASLBase64.decode(text) else { continue }
            // Strict base64 has one spelling per byte string.
            require(SASLBase64.encode(decoded) == text, "base64 \"\(text)\" decodes but does not re-encode to itself")
            _ = try? plain.respond(to: decoded)
            _ = try? login.respond(to: decoded)
        }
        let raw = Array(bytes.prefix(512))
        require(SASLBase64.decode(SASLBase64.encode(raw)) == raw, "base64 round trip lost bytes")
    }
}
