internal import CAviaryOpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small bridges between OpenSSL's C API and Swift values.
enum OpenSSLSupport {
    /// Empties this thread's OpenSSL error queue and returns its entries, oldest first, joined with "; "
    /// (`error:0A00010B:SSL routines::wrong version number`); empty when the queue was empty.
    static func drainErrors() -> String {
        var entries: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            entries.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return entries.joined(separator: "; ")
    }

    /// `text` followed by `": "` and the drained error queue, or just `text` when the queue is empty.
    static func withErrors(_ text: String) -> String {
        let errors = drainErrors()
        return errors.isEmpty ? text : "\(text): \(errors)"
    }

    /// The text of an `errno` value.
    static func systemError(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// A string OpenSSL allocated, freed after copying; nil for NULL.
    static func takeString(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        defer { aviary_OPENSSL_free(pointer) }
        return String(cString: pointer)
    }

    /// A certificate time as `2024-01-01 00:00:00 UTC` (OpenSSL keeps them in UTC).
    static func format(_ time: UnsafePointer<ASN1_TIME>?) -> String {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return "an unreadable date" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let date = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
        return "\(date) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// The RFC 2253 text of a certificate name (`CN=mail.example.test,O=Example`).
    static func name(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        return takeString(aviary_X509_NAME_rfc2253(name)) ?? ""
    }

    /// The first common name (CN) in a certificate name, if any.
    static func commonName(_ name: OpaquePointer?) -> String? {
        guard let name else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        let length = X509_NAME_get_text_by_NID(name, NID_commonName, &buffer, Int32(buffer.count))
        guard length >= 0 else { return nil }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
