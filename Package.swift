// swift-tools-version:6.1
//
// Aviary: a Postfix-style mail system. Libraries hold the logic; each executable is a thin `main`.
// Arrows point down: executables -> service libraries -> codecs and storage -> AviaryCore; service libraries never
// import each other. Each target declares exactly the modules it imports. scripts/check-layers.py (run by
// scripts/test.sh) holds the layer table and checks both.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let coreMetrics = Target.Dependency.product(name: "CoreMetrics", package: "swift-metrics")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")

func library(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .target(name: name, dependencies: dependencies, swiftSettings: swiftSettings)
}

func executable(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: dependencies, swiftSettings: swiftSettings)
}

func tests(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .testTarget(name: name, dependencies: dependencies, swiftSettings: swiftSettings)
}

let package = Package(
    name: "Aviary",
    products: [
        .executable(name: "master", targets: ["master"]),
        .executable(name: "smtpd", targets: ["smtpd"]),
        .executable(name: "qmgr", targets: ["qmgr"]),
        .executable(name: "local", targets: ["local"]),
        .executable(name: "aviary", targets: ["aviary"]),
        .executable(name: "sendmail", targets: ["sendmail"]),
        .executable(name: "pickup", targets: ["pickup"]),
        .executable(name: "showq", targets: ["showq"]),
        .executable(name: "anvil", targets: ["anvil"]),
        .executable(name: "pop3d", targets: ["pop3d"]),
        .executable(name: "smtp", targets: ["smtp"]),
        .executable(name: "pop3mail", targets: ["pop3mail"]),
        .executable(name: "imapd", targets: ["imapd"]),
        .executable(name: "imapmail", targets: ["imapmail"]),
        .executable(name: "metrics", targets: ["metrics"]),
        // The parsers, as libraries for the fuzz targets in Fuzz/ (a package of its own, so that the sanitizer
        // build never touches this one's).
        .library(name: "AviaryConfig", targets: ["AviaryConfig"]),
        .library(name: "AviaryMessage", targets: ["AviaryMessage"]),
        .library(name: "AviaryQueue", targets: ["AviaryQueue"]),
        .library(name: "AviaryUsers", targets: ["AviaryUsers"]),
        .library(name: "AviarySMTP", targets: ["AviarySMTP"]),
        .library(name: "AviaryDNS", targets: ["AviaryDNS"]),
        .library(name: "AviaryAuthentication", targets: ["AviaryAuthentication"]),
        .library(name: "AviarySASL", targets: ["AviarySASL"]),
        .library(name: "AviaryPOP3", targets: ["AviaryPOP3"]),
        .library(name: "AviaryIMAP", targets: ["AviaryIMAP"]),
        .library(name: "AviarySMTPClient", targets: ["AviarySMTPClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // The metrics service alone links these two (and swift-atomics, which swift-prometheus uses).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Storage, codecs and the toolbox: plain synchronous Swift, no event loop.
        .systemLibrary(name: "CAviarySystem"),
        library("AviaryCore", ["CAviarySystem", logging]),
        library("AviaryConfig", ["AviaryCore"]),
        library("AviaryMessage", ["AviaryCore"]),
        library("AviaryQueue", ["AviaryCore", "AviaryMessage"]),
        library("AviaryMailbox", ["AviaryCore"]),
        library("AviaryUsers", ["AviaryCore", "AviaryConfig", "AviaryMailbox"]),
        library("AviaryIPC", ["AviaryCore", "AviaryConfig", "AviaryQueue", logging]),
        // What every program knows of an instance: master's configuration and paths, its pid file, the queue
        // tree master prepares, the address syntax of master.cf inet services; the main.cf values and public/
        // sockets sendmail, pickup and showq share.
        library("AviaryInstance", ["AviaryCore", "AviaryConfig", "AviaryMessage", "AviaryQueue"]),
        library("AviarySMTP", ["AviaryMessage", nioCore]),
        .systemLibrary(name: "CAviaryResolv"),
        library("AviaryDNS", ["CAviaryResolv"]),
        // Who really sent it: SPF (RFC 7208) and DKIM (RFC 6376) over an injected DNS, the headers that record
        // verdicts. OpenSSL's hashes and signature checks come through AviaryTLS, which keeps the C.
        library("AviaryAuthentication", ["AviaryCore", "AviaryDNS", "AviaryMessage", "AviaryTLS"]),
        .systemLibrary(name: "CAviaryOpenSSL", pkgConfig: "openssl"),
        library("AviaryTLS", ["CAviaryOpenSSL", nioCore]),
        // Authentication for smtpd, pop3d and imapd: libsasl2 and libxcrypt stay inside AviarySASL.
        .systemLibrary(name: "CAviarySASL", pkgConfig: "libsasl2"),
        .systemLibrary(name: "CAviaryCrypt", pkgConfig: "libxcrypt"),
        library(
            "AviarySASL",
            ["CAviarySASL", "CAviaryCrypt", "AviaryCore", "AviaryConfig", "AviaryUsers", nioPosix, logging]
        ),
        library("AviaryPOP3", ["AviaryCore", nioCore]),
        // The system zlib for IMAP COMPRESS=DEFLATE, through a module map rather than compress-nio 1.5.0: both call
        // the same system zlib, so the bytes per second are zlib's either way (not measured side by side); this is
        // one small header of our own instead of another package to pin, and the inflate loop that bounds a
        // decompression bomb (imapd's DeflateHandler) needs zlib's avail_out per call, which is plainest direct.
        .systemLibrary(name: "CAviaryZlib"),
        // IMAP codec: commands, literals, responses, BODYSTRUCTURE and ENVELOPE (no sockets).
        library("AviaryIMAP", ["AviaryMessage", nioCore]),

        // Skeletons and services.
        library("AviaryDaemon", ["AviaryCore", "AviaryConfig", "AviaryTLS", nioCore, nioPosix, logging]),
        library(
            "AviarySMTPServer",
            [
                "AviaryCore", "AviaryConfig", "AviaryMessage", "AviaryQueue", "AviaryUsers", "AviarySMTP",
                "AviaryDNS", "AviaryAuthentication", "AviaryTLS", "AviarySASL", "AviaryIPC", "AviaryDaemon", nioCore,
                nioPosix, logging,
            ]
        ),
        library(
            "AviaryQueueManager",
            [
                "AviaryCore", "AviaryConfig", "AviaryMessage", "AviaryQueue", "AviaryUsers", "AviaryIPC", "AviarySMTP",
                "AviaryDaemon", nioCore, nioPosix, logging,
            ]
        ),
        library(
            "AviaryLocal",
            [
                "AviaryCore", "AviaryConfig", "AviaryMessage", "AviaryQueue", "AviaryUsers", "AviaryMailbox",
                "AviaryIPC", "AviaryDaemon", logging,
            ]
        ),
        library(
            "AviaryPOP3Server",
            [
                "AviaryCore", "AviaryConfig", "AviaryUsers", "AviaryMailbox", "AviaryPOP3", "AviaryTLS", "AviarySASL",
                "AviaryIPC", "AviaryDaemon", nioCore,
                nioPosix, logging,
            ]
        ),
        library(
            "AviarySMTPClient",
            [
                "AviaryCore", "AviaryConfig", "AviaryMessage", "AviaryQueue", "AviaryUsers", "AviarySMTP", "AviaryDNS",
                "AviaryTLS", "AviarySASL", "AviaryIPC", "AviaryDaemon", nioCore, nioPosix, logging,
            ]
        ),
        library(
            "AviaryIMAPServer",
            [
                "AviaryCore", "AviaryConfig", "AviaryUsers", "AviaryMailbox", "AviaryMessage", "AviaryIMAP",
                "AviaryTLS", "CAviaryZlib",
                "AviarySASL", "AviaryIPC", "AviaryDaemon", nioCore, nioPosix, logging,
            ]
        ),
        library("AviaryMaster", ["AviaryCore", "AviaryConfig", "AviaryQueue", "AviaryInstance", "AviaryIPC", logging]),
        library(
            "AviaryAdmin",
            [
                "AviaryCore", "AviaryConfig", "AviaryQueue", "AviaryUsers", "AviaryInstance", "AviaryTLS",
                "AviaryAuthentication",
                argumentParser,
                logging,
            ]
        ),
        // Local submission: sendmail's logic (no event loop: it must start fast and work while master is
        // down), and the pickup and showq services that serve it.
        library(
            "AviarySubmission",
            [
                "AviaryCore", "AviaryConfig", "AviaryMessage", "AviaryQueue", "AviaryInstance", "AviarySMTP",
                "AviaryUsers", nioCore,
            ]
        ),
        library(
            "AviaryPickup",
            [
                "AviaryCore", "AviaryConfig", "AviaryMessage", "AviaryQueue", "AviaryInstance", "AviaryIPC",
                "AviaryDaemon", logging,
            ]
        ),

        // Connection counts and rates for every smtpd process (Postfix's anvil).
        library("AviaryAnvil", ["AviaryCore", "AviaryConfig", "AviaryIPC", "AviaryDaemon", logging]),

        // The metrics service: counts from every daemon, served to Prometheus. The only target that links
        // swift-metrics and swift-prometheus.
        library(
            "AviaryMetrics",
            [
                "AviaryConfig", "AviaryCore", "AviaryDaemon", "AviaryIPC", "AviaryQueue", coreMetrics, prometheus, nioCore, nioPosix,
                nioHTTP1, logging,
            ]
        ),

        // Executables: one main.swift each, wiring only.
        executable("master", ["AviaryMaster", "AviaryInstance", "AviaryCore", "AviaryConfig", logging]),
        executable("smtpd", ["AviarySMTPServer", "AviaryDaemon", nioPosix]),
        executable("qmgr", ["AviaryQueueManager", "AviaryDaemon"]),
        executable("local", ["AviaryLocal", "AviaryDaemon"]),
        executable("aviary", ["AviaryAdmin", argumentParser]),
        executable("sendmail", ["AviarySubmission"]),
        executable("pickup", ["AviaryPickup", "AviaryDaemon"]),
        executable("showq", ["AviaryPickup", "AviaryDaemon"]),
        executable("anvil", ["AviaryAnvil", "AviaryDaemon"]),
        executable("pop3d", ["AviaryPOP3Server", "AviaryDaemon", nioPosix]),
        executable("smtp", ["AviarySMTPClient", "AviaryDaemon"]),
        executable("pop3mail", ["AviaryPOP3Server", "AviaryDaemon"]),
        executable("imapd", ["AviaryIMAPServer", "AviaryDaemon", nioPosix]),
        executable("imapmail", ["AviaryIMAPServer", "AviaryDaemon"]),
        executable("metrics", ["AviaryMetrics", "AviaryDaemon"]),

        .target(
            name: "AviaryTestSupport",
            dependencies: ["AviaryCore", "AviaryDNS", "AviaryMailbox", logging, nioPosix],
            path: "Tests/AviaryTestSupport",
            swiftSettings: swiftSettings
        ),
        tests("AviaryCoreTests", ["AviaryCore", "AviaryTestSupport", logging]),
        tests("AviaryConfigTests", ["AviaryConfig"]),
        .testTarget(
            name: "AviaryAuthenticationTests",
            dependencies: ["AviaryAuthentication", "AviaryDNS", "AviaryCore", "AviaryTLS", "AviaryTestSupport"],
            exclude: ["rfc7208-suite.py", "dkim-canonicalize.py", "dkim-sign.py"],
            swiftSettings: swiftSettings
        ),
        tests("AviaryMessageTests", ["AviaryMessage"]),
        tests("AviaryQueueTests", ["AviaryQueue", "AviaryCore", "AviaryTestSupport"]),
        tests("AviaryMailboxTests", ["AviaryMailbox", "AviaryCore", "AviaryTestSupport"]),
        tests("AviaryUsersTests", ["AviaryUsers", "AviaryConfig", "AviaryCore", "AviaryMailbox", "AviaryTestSupport"]),
        tests("AviaryIPCTests", ["AviaryIPC"]),
        tests(
            "AviaryTLSTests",
            ["AviaryTLS", "AviaryTestSupport", nioCore, nioPosix, .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        tests(
            "AviarySMTPTests",
            ["AviarySMTP", "AviaryMessage", nioCore, .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        tests("AviarySASLTests", ["AviarySASL", "AviaryUsers", "AviaryTestSupport", logging]),
        tests(
            "AviarySMTPServerTests",
            [
                "AviarySMTPServer", "AviaryAuthentication", "AviaryConfig", "AviaryCore", "AviaryDNS", "AviaryQueue",
                "AviarySMTP", "AviaryTestSupport", "AviaryUsers",
                nioCore,
                nioPosix, logging,
            ]
        ),
        tests(
            "AviaryQueueManagerTests",
            [
                "AviaryQueueManager", "AviaryConfig", "AviaryCore", "AviaryIPC", "AviaryQueue", "AviaryTestSupport",
                "AviaryUsers", nioCore,
                nioPosix,
            ]
        ),
        tests(
            "AviaryLocalTests",
            [
                "AviaryLocal", "AviaryConfig", "AviaryCore", "AviaryIPC", "AviaryMailbox", "AviaryQueue",
                "AviaryTestSupport",
                logging,
            ]
        ),
        tests(
            "AviarySMTPClientTests",
            [
                "AviarySMTPClient", "AviarySMTPServer", "AviarySMTP", "AviaryDNS", "AviaryIPC", "AviaryQueue",
                "AviaryConfig", "AviaryCore", "AviaryTestSupport", nioCore, nioPosix, logging,
            ]
        ),
        tests("AviaryMasterTests", ["AviaryMaster", "AviaryInstance", "AviaryConfig", "AviaryCore", "AviaryTestSupport"]),
        tests("AviaryInstanceTests", ["AviaryInstance", "AviaryTestSupport"]),
        tests(
            "AviaryAdminTests",
            [
                "AviaryAdmin", "AviaryQueue", "AviaryConfig", "AviaryCore", "AviaryInstance", "AviaryTestSupport",
                "AviaryAuthentication", "AviaryDNS", "AviaryTLS",
                argumentParser,
                logging,
            ]
        ),
        tests("AviarySubmissionTests", ["AviarySubmission", "AviaryMessage"]),
        tests("AviaryPOP3Tests", ["AviaryPOP3", nioCore, .product(name: "NIOEmbedded", package: "swift-nio")]),
        tests(
            "AviaryPOP3ServerTests",
            [
                "AviaryPOP3Server", "AviaryMailbox", "AviaryUsers", "AviaryTestSupport", "AviaryConfig", "AviaryCore",
                "AviaryDaemon", "AviarySASL", "AviaryTLS", nioCore, nioPosix, logging,
            ]
        ),
        tests(
            "AviaryIMAPTests",
            ["AviaryIMAP", "AviaryMessage", nioCore, .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        tests(
            "AviaryIMAPServerTests",
            [
                "AviaryIMAPServer", "AviaryMailbox", "AviaryTestSupport", "AviaryConfig", "AviaryCore", "AviarySASL",
                nioCore, nioPosix, .product(name: "NIOEmbedded", package: "swift-nio"), logging,
            ]
        ),
        tests(
            "AviaryMetricsTests",
            [
                "AviaryMetrics", "AviaryIPC", "AviaryQueue", "AviaryCore", "AviaryDaemon", "AviaryTestSupport", nioCore,
                nioPosix, .product(name: "NIOEmbedded", package: "swift-nio"), logging,
            ]
        ),
        tests("AviaryPickupTests", ["AviaryPickup", "AviaryConfig", "AviaryQueue", "AviaryCore", "AviaryTestSupport", logging]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "AviaryTestSupport", "AviaryCore", "AviaryQueue", "AviaryPickup", "master", "smtpd", "qmgr", "local",
                "aviary", "sendmail", "pickup", "showq", "anvil", "pop3d", "smtp", "pop3mail", "imapd", "imapmail", "metrics",
            ],
            exclude: ["clients"],
            swiftSettings: swiftSettings
        ),
    ]
)
