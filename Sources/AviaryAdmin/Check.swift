import ArgumentParser
import AviaryConfig
import AviaryCore
import AviaryInstance
import AviaryQueue
import AviaryTLS
import AviaryUsers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension AviaryCommand {
    /// `aviary check [-c DIR]`: reports every configuration problem, with file, line and parameter.
    public struct Check: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Check main.cf, master.cf and the lookup tables; report every problem."
        )

        @OptionGroup public var config: ConfigOption

        public init() {}

        public func run() throws {
            var problems = ConfigurationCheck.run(directory: config.directory)
            problems += ConfigurationCheck.createQueueDirectories(directory: config.directory) { print("aviary: \($0)") }
            for problem in problems { printError("aviary: \(problem.severity == .error ? "error" : "warning"): \(problem)") }
            if problems.contains(where: { $0.severity == .error }) { throw ExitCode.failure }
            let warnings = problems.count
            print("aviary: configuration in \(config.directory) is fine" + (warnings == 0 ? "" : " but for \(warnings) warning(s)"))
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
        do throws(MasterError) {
            _ = try QueueDirectories.owner(named: main.string(.mailOwner))
        } catch {
            problems.append(.init(.error, file: main.path, line: nil, parameter: "mail_owner", error.message))
        }
        var master: MasterConfig?
        do {
            let loaded = try MasterConfig.load(directory: directory)
            master = loaded
            problems += tlsServices(loaded, directory: directory)
        } catch {
            problems += error.diagnostics
        }
        problems += paths(main, master: master)
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
        problems += certificates(main, master: master, directory: directory)
        problems += sizeLimits(main)
        return problems
    }

    /// The problems `aviary start` mentions before starting, because the services would start and then fail:
    /// TLS-only services without a certificate, certificates and keys that cannot be used or expire soon, and
    /// paths the services write that their account cannot. Not the queue directories' owners and modes, which
    /// master puts right as it starts (as root).
    public static func startProblems(directory: String) -> [ConfigurationDiagnostic] {
        guard let main = try? MainConfig.load(directory: directory),
            let master = try? MasterConfig.load(directory: directory)
        else { return [] }
        var problems = tlsServices(master, directory: directory)
        problems += certificates(main, master: master, directory: directory)
        problems += mailboxBase(main) + mailSpool(main, master: master) + logFile(main) + queueFiles(main)
        if !Privileges.isRoot { problems += queueDirectories(main) }
        return problems
    }

    /// Like `postfix check`: the queue tree is created where it is missing, with the owners and modes master
    /// gives it, so that `sendmail` works before the first `aviary start`. `note` hears what was created.
    public static func createQueueDirectories(directory: String, note: (String) -> Void) -> [ConfigurationDiagnostic] {
        guard let main = try? MainConfig.load(directory: directory) else { return [] }
        let queue = QueueDirectory(root: main.string(.queueDirectory))
        let missing = QueueName.allCases.map { queue.path(of: $0) }.filter { !SafeFile.isDirectory($0) }
        guard !missing.isEmpty else { return [] }
        // As master prepares them at start; a missing mail_owner is reported by `run`.
        guard let owner = mailOwner(main) else { return [] }
        do {
            try QueueDirectories.prepare(
                MasterPaths(queueDirectory: queue.root), owner: owner,
                setgidGroup: QueueDirectories.setgidGroup(named: main.string(.setgidGroup)))
            note("created the missing queue directories under \(queue.root) (\(missing.count) of \(QueueName.allCases.count))")
            return []
        } catch {
            return [.init(.error, file: main.path, line: nil, parameter: "queue_directory",
                "queue_directory \(queue.root): cannot create \(missing.joined(separator: ", ")): \(error)")]
        }
    }

    /// `mail_owner` as master resolves it: `.some(nil)` when not root (the invoking user owns everything), nil
    /// when root and the account is missing or is root (`run` reports that).
    static func mailOwner(_ main: MainConfig) -> SystemAccount?? {
        do throws(MasterError) {
            return .some(try QueueDirectories.owner(named: main.string(.mailOwner)))
        } catch {
            return nil
        }
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

    /// master.cf services that need TLS (smtpd with wrapper mode or `smtpd_tls_security_level = encrypt`,
    /// pop3s, imaps) while their certificate parameter is empty: they would start and drop every client.
    static func tlsServices(_ master: MasterConfig, directory: String) -> [ConfigurationDiagnostic] {
        var problems: [ConfigurationDiagnostic] = []
        for service in master.services where service.kind == .inet {
            guard let prefix = ["smtpd", "pop3d", "imapd"].first(where: { $0 == service.command }),
                let main = try? MainConfig.load(directory: directory, overrides: service.overridePairs),
                let wrapperMode = Parameter.byName[prefix + "_tls_wrappermode"],
                let certificate = Parameter.byName[prefix + "_tls_cert_file"]
            else { continue }
            var why: String?
            if main.bool(wrapperMode) {
                why = "\(prefix)_tls_wrappermode = yes"
            } else if prefix == "smtpd", main.string(.smtpdTLSSecurityLevel).lowercased() == "encrypt" {
                why = "smtpd_tls_security_level = encrypt"
            }
            guard let why, main.string(certificate).isEmpty else { continue }
            problems.append(.init(.warning, file: master.path, line: service.line, parameter: prefix + "_tls_cert_file",
                "service \(service.name) needs TLS (\(why)) but \(prefix)_tls_cert_file is empty: it would drop every client; set smtpd_tls_cert_file and smtpd_tls_key_file (Debian's ssl-cert package has /etc/ssl/certs/ssl-cert-snakeoil.pem to start with)"))
        }
        return problems
    }
}
