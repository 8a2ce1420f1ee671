import AviaryConfig
import AviarySASL
import AviaryTLS
import AviaryUsers
import Logging
import NIOCore
import NIOPosix
import Synchronization

// The real providers behind pop3d's seams (POP3SecurityHooks.swift, POP3Authenticator.swift): OpenSSL for
// STLS and pop3s, libxcrypt for USER/PASS, Cyrus libsasl2 for AUTH.

extension POP3Server {
    /// The certificate and key for STLS and pop3s (`pop3d_tls_cert_file`, by default smtpd's); read as
    /// root before privileges are dropped. nil, with the reason logged, when there is none or it is unusable.
    public static func loadTLS(config: MainConfig, logger: Logger) -> TLSContext? {
        let certificate = config.string(.pop3dTLSCertFile)
        guard !certificate.isEmpty else { return nil }
        do {
            return try TLSContext.server(
                certificateFile: TLSFile(certificate, parameter: "pop3d_tls_cert_file"),
                keyFile: TLSFile(config.string(.pop3dTLSKeyFile), parameter: "pop3d_tls_key_file"))
        } catch {
            logger.error("\(error.message); STLS and pop3s are unavailable until this is fixed")
            return nil
        }
    }

    /// pop3d with every provider main.cf describes.
    public convenience init(config: MainConfig, logger: Logger, pool: NIOThreadPool, tlsContext: TLSContext?) {
        let directory = UserDirectory(config: config)
        let configuration = SASLServerConfiguration(
            serviceName: "pop", serverName: config.string(.myhostname),
            users: .lookup { directory.virtualUser($0) },
            mechanisms: config.list(.pop3dSASLMechanisms).map { $0.uppercased() })
        self.init(
            config: config, logger: logger, pool: pool,
            authenticator: CryptPasswordAuthenticator(directory: directory, pool: pool),
            tls: tlsContext.map { TLSServerProvider(context: $0) },
            sasl: SASLMechanismProvider(
                authenticator: SASLAuthenticator(configuration: configuration, logger: logger), directory: directory))
    }
}

/// STLS and pop3s handlers from one server context.
public struct TLSServerProvider: POP3TLSProvider {
    let context: TLSContext

    public init(context: TLSContext) { self.context = context }

    public func makeServerHandler(eventLoop: any EventLoop) throws -> any ChannelHandler {
        TLSHandler(server: context, eventLoop: eventLoop)
    }
}

/// USER/PASS against the users file with every crypt(3) scheme libxcrypt knows (and {PLAIN}), hashed on
/// the thread pool: yescrypt takes about 25 ms.
public struct CryptPasswordAuthenticator: POP3Authenticator {
    let directory: UserDirectory
    let pool: NIOThreadPool

    public init(directory: UserDirectory, pool: NIOThreadPool) {
        self.directory = directory
        self.pool = pool
    }

    public func verify(user: String, password: String, clientAddress: String) async -> POP3Login {
        let directory = directory
        do {
            return try await pool.runIfActive { () -> POP3Login in
                guard let entry = directory.virtualUser(user) else { return .failure(reason: "unknown user") }
                guard let stored = entry.password else { return .failure(reason: "user has no password") }
                switch PasswordVerifier.verify(password, against: stored) {
                case .match: return POP3Identity.login(for: entry)
                case .mismatch: return .failure(reason: "password mismatch")
                case .unusable(let reason): return .temporaryFailure(reason: "stored password unusable: \(reason)")
                }
            }
        } catch {
            return .temporaryFailure(reason: "\(error)")
        }
    }
}

/// AUTH (RFC 5034) through Cyrus libsasl2.
public struct SASLMechanismProvider: POP3SASLMechanisms {
    let authenticator: SASLAuthenticator
    let directory: UserDirectory

    public func mechanisms(isSecure: Bool) async -> [String] {
        await authenticator.mechanisms(isEncrypted: isSecure)
    }

    public func start(mechanism: String, clientAddress: String, isSecure: Bool) -> (any POP3SASLExchange)? {
        SASLMechanismExchange(
            authenticator: authenticator, directory: directory, mechanism: mechanism, isSecure: isSecure)
    }
}

/// One AUTH exchange: the first step starts libsasl2's, the next ones continue it.
final class SASLMechanismExchange: POP3SASLExchange {
    let authenticator: SASLAuthenticator
    let directory: UserDirectory
    let mechanism: String
    let isSecure: Bool
    private let exchange = Mutex<SASLExchange?>(nil)
    private let started = Mutex(false)

    init(authenticator: SASLAuthenticator, directory: UserDirectory, mechanism: String, isSecure: Bool) {
        self.authenticator = authenticator
        self.directory = directory
        self.mechanism = mechanism
        self.isSecure = isSecure
    }

    func step(_ response: [UInt8]?) async -> POP3SASLStep {
        let step: SASLStep
        if let current = exchange.withLock({ $0 }) {
            step = await current.step(response: response ?? [])
        } else {
            step = await authenticator.begin(
                mechanism: mechanism, initialResponse: response, isEncrypted: isSecure,
                logger: Logger(label: "aviary.pop3d.sasl"))
        }
        switch step {
        case .challenge(let challenge, let next):
            exchange.withLock { $0 = next }
            return .challenge(challenge)
        case .success(let username):
            guard let entry = directory.virtualUser(username) else {
                return .done(.temporaryFailure(reason: "\(username) authenticated but has no mailbox entry"))
            }
            return .done(POP3Identity.login(for: entry))
        case .failure(let failure):
            if failure.code == .temporary { return .done(.temporaryFailure(reason: failure.reason)) }
            return .done(.failure(reason: failure.reason))
        }
    }
}
