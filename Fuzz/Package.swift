// swift-tools-version:6.1
//
// libFuzzer targets for Aviary's parsers: a package of its own, so that its sanitizer build (`scripts/fuzz.sh`)
// never touches the main package's. One executable holds every target; AVIARY_FUZZ_TARGET picks one.
//
//   swift build -c release --product AviaryFuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//
// The Swift code defines LLVMFuzzerInitialize and LLVMFuzzerTestOneInput; CAviaryFuzzMain starts libFuzzer's driver.
import PackageDescription

let package = Package(
    name: "AviaryFuzz",
    dependencies: [
        .package(name: "Aviary", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // The entry point: SwiftPM's executable link wants AviaryFuzz_main; it runs libFuzzer's driver.
        .target(name: "CAviaryFuzzMain"),
        .executableTarget(
            name: "AviaryFuzz",
            dependencies: [
                "CAviaryFuzzMain",
                .product(name: "AviaryConfig", package: "Aviary"),
                .product(name: "AviaryMessage", package: "Aviary"),
                .product(name: "AviaryQueue", package: "Aviary"),
                .product(name: "AviaryUsers", package: "Aviary"),
                .product(name: "AviarySMTP", package: "Aviary"),
                .product(name: "AviaryDNS", package: "Aviary"),
                .product(name: "AviaryAuthentication", package: "Aviary"),
                .product(name: "AviarySASL", package: "Aviary"),
                .product(name: "AviaryPOP3", package: "Aviary"),
                .product(name: "AviaryIMAP", package: "Aviary"),
                .product(name: "AviarySMTPClient", package: "Aviary"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        )
    ]
)
