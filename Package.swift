// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "convosync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "convosync", targets: ["ConvoSyncCLI"]),
        .executable(name: "convosync-server", targets: ["ConvoSyncServerCLI"]),
        .library(name: "ConvoSync", targets: ["ConvoSync"]),
        // For Benchmarks/Micro, which measures the format layer on its own.
        .library(name: "ConvoSyncFormat", targets: ["ConvoSyncFormat"]),
        .library(name: "ConvoSyncStorage", targets: ["ConvoSyncStorage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // C libraries from Debian (zlib1g-dev, libdeflate-dev, libzstd-dev); see .ci/setup.
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(
            name: "CDeflate", pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"]), .brew(["libdeflate"])]),
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        // scrypt with a memory limit the caller sets (swift-crypto's KDF.Scrypt drops its
        // maxMemory argument, so BoringSSL's limit refuses keys with r >= 17 and p = 1).
        .systemLibrary(
            name: "COpenSSLCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]),

        // Pure, deterministic format code: IDs, envelope, key files, chunker, codecs, packs.
        .target(
            name: "ConvoSyncFormat",
            dependencies: [
                "CZlib", "CDeflate", "CZstd", "COpenSSLCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        // Where opaque bytes live: the Backend protocol and its implementations.
        .target(
            name: "ConvoSyncStorage",
            dependencies: ["ConvoSyncFormat"],
            swiftSettings: swiftSettings),
        // What client and server say to each other (Format/API.md): the bundle codec and its
        // streaming reader (NIOCore), and a Codable type for every JSON body.
        .target(
            name: "ConvoSyncProtocol",
            dependencies: ["ConvoSyncFormat", "ConvoSyncStorage", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings),
        // The repository engine (client side: it holds the keys).
        .target(
            name: "ConvoSync",
            dependencies: ["ConvoSyncFormat", "ConvoSyncStorage"],
            swiftSettings: swiftSettings),
        // Sessions: git, agent transcripts, save/resume, refs and device state.
        .target(
            name: "ConvoSyncSessions",
            dependencies: [
                "ConvoSync", "ConvoSyncFormat", "ConvoSyncStorage",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "ConvoSyncCLI",
            dependencies: [
                "ConvoSync", "ConvoSyncSessions", "ConvoSyncREST", "ConvoSyncProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        // The client side of HTTP repositories: restic's REST protocol over AsyncHTTPClient, the
        // session API (each save one request, resumes through a mirror), and opening a
        // repository location for save and resume (server, mirror, offline outbox).
        .target(
            name: "ConvoSyncREST",
            dependencies: [
                "ConvoSync", "ConvoSyncSessions", "ConvoSyncFormat", "ConvoSyncStorage", "ConvoSyncProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ],
            swiftSettings: swiftSettings),
        // The server: restic's REST protocol per user, accounts in SQLite. Never holds a key.
        .target(
            name: "ConvoSyncServer",
            dependencies: [
                "ConvoSyncFormat", "ConvoSyncStorage", "ConvoSyncProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "ConvoSyncServerCLI",
            dependencies: [
                "ConvoSyncServer", "ConvoSyncFormat",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings),
        // Writes Format/vectors (the tests only read them): `swift run -c release convosync-vectors`.
        .executableTarget(
            name: "convosync-vectors",
            dependencies: ["ConvoSyncFormat", "ConvoSyncTestSupport", .product(name: "Crypto", package: "swift-crypto")],
            path: "Format/tools/vectors",
            swiftSettings: swiftSettings),
        .target(
            name: "ConvoSyncTestSupport",
            dependencies: ["ConvoSync", "ConvoSyncStorage", "ConvoSyncFormat", "ConvoSyncSessions"],
            swiftSettings: swiftSettings),

        .testTarget(
            name: "ConvoSyncFormatTests",
            dependencies: ["ConvoSyncFormat", "ConvoSyncTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ConvoSyncStorageTests",
            dependencies: ["ConvoSyncStorage", "ConvoSyncTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ConvoSyncTests",
            dependencies: ["ConvoSync", "ConvoSyncTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ConvoSyncSessionsTests",
            dependencies: ["ConvoSyncSessions", "ConvoSyncTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ConvoSyncServerTests",
            dependencies: [
                "ConvoSyncServer", "ConvoSyncREST", "ConvoSyncProtocol", "ConvoSyncTestSupport", "ConvoSyncServerCLI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ConvoSyncCLITests",
            dependencies: ["ConvoSyncCLI", "ConvoSyncFormat", "ConvoSyncSessions", "ConvoSyncTestSupport"],
            swiftSettings: swiftSettings),
    ]
)
