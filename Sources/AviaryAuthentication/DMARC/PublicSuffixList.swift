import AviaryCore

// The Public Suffix List (publicsuffix.org; Debian's `publicsuffix` package installs it as
// /usr/share/publicsuffix/public_suffix_list.dat), which decides where an organisation's domain starts:
//
//     // comment                      com          a rule: this name is a public suffix
//     // ===BEGIN ICANN DOMAINS===    *.kobe.jp    a wildcard: every child of kobe.jp is one
//     // ===BEGIN PRIVATE DOMAINS===  !city.kobe.jp an exception: city.kobe.jp is not, despite the wildcard
//
// One rule per line, the first white-space-separated word of it; rules may be written in Unicode and are kept
// as lower-case A-labels. The prevailing rule for a name is an exception if one matches, else the matching
// rule with the most labels, else "*" (any TLD); the public suffix is the labels it matches (an exception's
// less its first label), and the organisational domain one label more (RFC 7489 3.2).

/// What went wrong reading the list.
public struct PublicSuffixListError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The Public Suffix List, read once (when the process starts) and then only looked up.
public struct PublicSuffixList: Sendable {
    /// Which part of the list a rule comes from.
    public enum Section: Sendable, Equatable {
        /// Suffixes the registries themselves run (`com`, `co.uk`).
        case icann
        /// Suffixes companies offer to their customers (`github.io`, `blogspot.com`).
        case `private`
    }

    enum Kind: Sendable, Equatable {
        case normal, wildcard, exception
    }

    struct Rule: Sendable, Equatable {
        var kind: Kind
        var section: Section
    }

    /// Rules by their name in A-labels (a wildcard's without `*.`, an exception's without `!`), and kind.
    private var rules: [String: [Rule]] = [:]
    /// How many rules were read.
    public private(set) var count = 0

    /// Where Debian's `publicsuffix` package installs it.
    public static let debianPath = "/usr/share/publicsuffix/public_suffix_list.dat"

    /// Reads the list from a file.
    /// - Throws: `PublicSuffixListError` naming the file when it cannot be read or holds no rule.
    public init(path: String) throws(PublicSuffixListError) {
        let text: String
        do {
            text = try SafeFile.readText(path)
        } catch {
            throw PublicSuffixListError(message: "\(path): cannot read the public suffix list: \(error)")
        }
        self.init(text: text)
        guard count > 0 else { throw PublicSuffixListError(message: "\(path): no public suffix rules") }
    }

    /// Parses the list's text. Lines that are no valid rule are skipped, as the list's own readers do.
    public init(text: String) {
        var section = Section.icann
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("//") {
                if line.contains("===BEGIN PRIVATE DOMAINS===") { section = .private }
                if line.contains("===BEGIN ICANN DOMAINS===") { section = .icann }
                continue
            }
            guard let word = line.split(whereSeparator: \.isWhitespace).first else { continue }
            var kind = Kind.normal
            var name = Substring(word)
            if name.hasPrefix("!") {
                (kind, name) = (.exception, name.dropFirst())
            } else if name.hasPrefix("*.") {
                (kind, name) = (.wildcard, name.dropFirst(2))
            }
            guard let key = DomainName.aLabels(String(name)), !key.isEmpty else { continue }
            rules[key, default: []].append(Rule(kind: kind, section: section))
            count += 1
        }
    }

    /// The public suffix of `domain` (lower-case A-labels): `co.uk` for `www.example.co.uk`, `kobe.jp` for
    /// `city.kobe.jp`; nil when `domain` is no domain name.
    /// - Parameter includingPrivate: whether rules of the private section count (they do for DMARC).
    public func publicSuffix(of domain: String, includingPrivate: Bool = true) -> String? {
        guard let name = DomainName.aLabels(domain) else { return nil }
        let labels = name.split(separator: ".")
        return labels.suffix(suffixLabelCount(labels, includingPrivate: includingPrivate)).joined(separator: ".")
    }

    /// The registrable domain: the public suffix and one label more (`example.co.uk` for `www.example.co.uk`),
    /// in lower-case A-labels; nil when `domain` is itself a public suffix or no domain name (the answers of
    /// the list's test vectors, `checkPublicSuffix`).
    public func registrableDomain(of domain: String, includingPrivate: Bool = true) -> String? {
        guard !domain.hasPrefix("."), let name = DomainName.aLabels(domain) else { return nil }
        let labels = name.split(separator: ".")
        let suffix = suffixLabelCount(labels, includingPrivate: includingPrivate)
        guard labels.count > suffix else { return nil }
        return labels.suffix(suffix + 1).joined(separator: ".")
    }

    /// DMARC's organisational domain (RFC 7489 3.2): the registrable domain, or the name itself when it is a
    /// public suffix (mail from `com` or `co.uk` has no organisation above it). nil for no domain name.
    public func organizationalDomain(of domain: String) -> String? {
        registrableDomain(of: domain) ?? DomainName.aLabels(domain)
    }

    /// How many of the last labels of `labels` the prevailing rule matches.
    private func suffixLabelCount(_ labels: [Substring], includingPrivate: Bool) -> Int {
        var longest = 1
        for length in stride(from: labels.count, through: 1, by: -1) {
            let candidate = labels.suffix(length).joined(separator: ".")
            for rule in rules[candidate] ?? [] where includingPrivate || rule.section == .icann {
                switch rule.kind {
                case .exception: return length - 1
                case .normal: longest = max(longest, length)
                case .wildcard: if length < labels.count { longest = max(longest, length + 1) }
                }
            }
        }
        return longest
    }
}
