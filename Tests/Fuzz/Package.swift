// swift-tools-version:6.2
// libFuzzer targets for VerdictCore. A package of its own so a plain `swift build` of Verdict never needs libFuzzer.
// Build and run with `Tests/Fuzz/run [seconds-per-target]`; see that script for the exact flags.
import PackageDescription

let package = Package(
    name: "VerdictFuzz",
    dependencies: [
        .package(name: "verdict", path: "../..")
    ],
    targets: [
        // Declares LLVMFuzzerRunDriver: SwiftPM gives executables their own `main`, which hands over to libFuzzer.
        .systemLibrary(name: "CLibFuzzer"),
        // Invariants shared by every target: record lines, responses, a crash that names the broken rule.
        .target(
            name: "FuzzSupport",
            dependencies: ["CLibFuzzer", .product(name: "VerdictCore", package: "verdict")]
        ),
        // `Stripe-Signature` text: StripeSignatureHeader.parse against a model of stripe-python, and
        // StripeProvider.authenticate with and without a valid v1 appended.
        .executableTarget(
            name: "FuzzStripeHeader",
            dependencies: ["FuzzSupport", .product(name: "VerdictCore", package: "verdict")]
        ),
        // Body bytes: JSONParser (and a write/re-parse round trip), then VeriffProvider and StripeProvider interpret.
        .executableTarget(
            name: "FuzzPayloads",
            dependencies: ["FuzzSupport", .product(name: "VerdictCore", package: "verdict")]
        ),
        // A whole request: method, path, Content-Length, two header values and the body into WebhookHandler.handle.
        .executableTarget(
            name: "FuzzHandler",
            dependencies: ["FuzzSupport", .product(name: "VerdictCore", package: "verdict")]
        ),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .enableUpcomingFeature("ExistentialAny"),
            .enableUpcomingFeature("InternalImportsByDefault"),
            .enableUpcomingFeature("MemberImportVisibility"),
            .treatAllWarnings(as: .error),
        ]
}
