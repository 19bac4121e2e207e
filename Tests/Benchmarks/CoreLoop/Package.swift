// swift-tools-version:6.2
// The pure handler alone, in a loop over a corpus of signed events: no nginx, no libfcgi, no log. A package of its
// own so that a plain build of Verdict never builds it. Run it with `Tests/Benchmarks/core`.
import PackageDescription

let package = Package(
    name: "VerdictCoreBenchmark",
    dependencies: [
        .package(name: "verdict", path: "../../..")
    ],
    targets: [
        .executableTarget(
            name: "HandlerBench",
            dependencies: [.product(name: "VerdictCore", package: "verdict")]
        )
    ]
)
