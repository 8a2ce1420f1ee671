import ArgumentParser
import AviaryConfig
import AviaryCore
import AviaryTLS
import AviaryUsers

extension AviaryCommand {
    /// `aviary check [-c DIR]`: reports every configuration problem, with file, line and parameter.
    public struct Check: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Check main.cf, master.cf and the lookup tables; report every problem."
        )

        @OptionGroup public var config: ConfigOption

        public init() {}

        public func run() throws {
            let problems = ConfigurationCheck.run(directory: config.directory)
            for problem in problems { printError("aviary: \(problem.severity == .error ? "error" : "warning"): \(problem)") }
            if problems.contains(where: { $0.severity == .error }) { throw ExitCode.failure }
            print("aviary: configuration in \(config.directory) is fine")
        }
    }
}

/// The checks behind `aviary check`, as a function tests can call.
public enum ConfigurationCheck {
    public static func run(directory: String) -> [ConfigurationDiagnostic] {
        var problems: [ConfigurationDiagnostic] = []
        let main: MainConfig
        do {
            main = try MainConfig.load(directory: directory)
        } catch {
            return error.diagnostics
        }
        problems += main.warnings
        do {
            _ = try MasterConfig.load(directory: directory)
        } catch {
            problems += error.diagnostics
        }
        // The same reading of map names as the lookups themselves (UserDirectory.tablePath).
        let tables = main.list(.aliasMaps).map { ($0, false) } + main.list(.virtualMailboxMaps).map { ($0, true) }
        for (map, isUsers) in tables {
            guard let path = UserDirectory.tablePath(map) else {
                problems.append(.init(.warning, file: main.path, line: nil, parameter: nil,
                    "table \(map): unsupported table type (Aviary reads file-based tables as text)"))
                continue
            }
            guard SafeFile.exists(path) else {
                problems.append(.init(.warning, file: main.path, line: nil, parameter: nil, "table \(map): \(path) does not exist"))
                continue
            }
            do {
                problems += isUsers ? try PasswdFile.load(path: path).warnings : try AliasTable.load(path: path).warnings
            } catch {
                problems += error.diagnostics
            }
        }
        problems += lookupTables(main)
        problems += certificates(main)
        problems += sizeLimits(main)
        return problems
    }

    /// A mailbox limit below the message limit bounces mail that was accepted (Postfix refuses to start).
    static func sizeLimits(_ main: MainConfig) -> [ConfigurationDiagnostic] {
        let mailbox = main.integer(.mailboxSizeLimit)
        let message = main.integer(.messageSizeLimit)
        guard mailbox > 0, message == 0 || mailbox < message else { return [] }
        return [
            .init(.error, file: main.path, line: nil, parameter: "mailbox_size_limit",
                "mailbox_size_limit (\(mailbox)) is smaller than message_size_limit (\(message == 0 ? "no limit" : "\(message)")): local would bounce messages smtpd accepted")
        ]
    }

    /// transport_maps, sender login maps, SASL password maps and access tables in restriction lists.
    static func lookupTables(_ main: MainConfig) -> [ConfigurationDiagnostic] {
        var maps = main.list(.transportMaps) + main.list(.smtpdSenderLoginMaps) + main.list(.smtpSASLPasswordMaps)
        for list in [Parameter.smtpdClientRestrictions, .smtpdHeloRestrictions, .smtpdSenderRestrictions,
            .smtpdRelayRestrictions, .smtpdRecipientRestrictions]
        {
            let words = main.list(list)
            for (index, word) in words.enumerated() where word.lowercased().hasPrefix("check_") && index + 1 < words.count {
                maps.append(words[index + 1])
            }
        }
        var problems: [ConfigurationDiagnostic] = []
        for map in Set(maps).sorted() {
            guard let path = UserDirectory.tablePath(map) else {
                problems.append(.init(.warning, file: main.path, line: nil, parameter: nil, "table \(map): unsupported table type"))
                continue
            }
            do {
                problems += try LookupTable.load(path: path).warnings
            } catch {
                problems += error.diagnostics
            }
        }
        return problems
    }

    /// The TLS certificates and keys smtpd and pop3d would load: expired, not matching, unreadable.
    static func certificates(_ main: MainConfig) -> [ConfigurationDiagnostic] {
        let pairs: [(String, String, String, String)] = [
            (main.string(.smtpdTLSCertFile), main.string(.smtpdTLSKeyFile), "smtpd_tls_cert_file", "smtpd_tls_key_file"),
            (main.string(.pop3dTLSCertFile), main.string(.pop3dTLSKeyFile), "pop3d_tls_cert_file", "pop3d_tls_key_file"),
        ]
        var seen: Set<String> = []
        var problems: [ConfigurationDiagnostic] = []
        for (certificate, key, certificateName, keyName) in pairs where !certificate.isEmpty {
            guard seen.insert(certificate + "\u{0}" + key).inserted else { continue }
            do {
                _ = try TLSContext.server(
                    certificateFile: TLSFile(certificate, parameter: certificateName), keyFile: TLSFile(key, parameter: keyName))
            } catch {
                // A key only root may read is normal (the daemons read it before dropping privileges).
                let severity: ConfigurationDiagnostic.Severity =
                    error.code == .unreadableFile && !Privileges.isRoot ? .warning : .error
                problems.append(.init(severity, file: main.path, line: nil, parameter: nil, error.message))
            }
        }
        return problems
    }
}
