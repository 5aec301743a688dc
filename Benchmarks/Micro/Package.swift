// swift-tools-version:6.1
// Micro benchmarks of the format layer (ordo-one/benchmark). A separate package so that the
// main package, `swift test` and CI never build it. Run from this directory:
//
//     swift package --allow-writing-to-package-directory benchmark
//
// Results and the exact command: ../README.md, section "Micro benchmarks".
import PackageDescription

let package = Package(
    name: "convosync-micro-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // `name:` because a path dependency's identity is its folder's name (e.g. "main"), not
        // the package's; with it, `package: "convosync"` works wherever the repository is cloned.
        .package(name: "convosync", path: "../.."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "CoreMicro",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ConvoSyncFormat", package: "convosync"),
            ],
            path: "Benchmarks/CoreMicro",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
