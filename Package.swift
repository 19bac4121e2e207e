// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "verdict",
    products: [
        .executable(name: "verdict", targets: ["verdict"]),
        // For the fuzz targets in Tests/Fuzz, a package of its own so a plain build never needs libFuzzer.
        .library(name: "VerdictCore", targets: ["VerdictCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
    ],
    targets: [
        // MARK: C library
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // Header only: Linux calls Swift's Glibc module leaves out or cannot call (statx, futex, prctl).
        .systemLibrary(name: "CLinux"),

        // MARK: Libraries
        // Pure: bytes and parameters in, decision and response out. No files, no clock, no libfcgi.
        .target(
            name: "VerdictCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // The only module that touches the log directory.
        .target(
            name: "DecisionLog",
            dependencies: ["CLinux", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // The only module that touches libfcgi.
        .target(
            name: "FastCGI",
            dependencies: ["CFastCGI"]
        ),

        // MARK: Executable
        .executableTarget(
            name: "verdict",
            dependencies: [
                "VerdictCore",
                "DecisionLog",
                "FastCGI",
                "CLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),

        // MARK: Tests
        .testTarget(
            name: "VerdictCoreTests",
            dependencies: ["VerdictCore"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DecisionLogTests",
            dependencies: ["DecisionLog", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .testTarget(
            name: "FastCGITests",
            dependencies: ["FastCGI"]
        ),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            // SE-0335: existential types are spelled `any P`.
            .enableUpcomingFeature("ExistentialAny"),
            // SE-0409: imports are internal unless marked `public import`; keeps CFastCGI out of FastCGI's API.
            .enableUpcomingFeature("InternalImportsByDefault"),
            // SE-0444: a file sees members only from modules it imports itself.
            .enableUpcomingFeature("MemberImportVisibility"),
            // SE-0480: warnings fail the build, for our targets only (not for dependencies).
            .treatAllWarnings(as: .error),
        ]
}
