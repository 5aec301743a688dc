public import Foundation
import ConvoSyncStorage
import HTTPTypes
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
public import Logging
public import NIOCore
import NIOSSL

public struct ServerConfiguration: Sendable {
    /// Packs under `repos/`, accounts in `convosync.sqlite`, the token secret in `jwt-secret`.
    public var dataDirectory: URL
    public var host: String = "127.0.0.1"
    public var port: Int = 8000
    /// Largest request body accepted (restic's packs are 16 MiB by default, 128 MiB at most).
    public var maxBodySize: Int = 256 << 20
    /// Refuse every delete except of locks.
    public var appendOnly = false
    /// Bytes each user may store across their repositories (nil: no limit); over it, 507.
    public var userQuota: Int?
    /// Active devices (logins) per user (`MAX_DEVICES_PER_USER`; nil: no limit).
    public var maxDevicesPerUser: Int? = 5
    /// Bytes one conversation's saves may add up to (`MAX_CONVERSATION_SIZE`; nil: no limit); over it, 413.
    public var maxConversationSize: Int?
    /// How long a device token lasts unless the login asks otherwise.
    public var tokenLifetimeDays = 90
    /// `JWT_SECRET`; nil: generated once into `<data dir>/jwt-secret`.
    public var jwtSecret: String?
    /// PEM certificate chain and private key: serve HTTPS instead of HTTP.
    public var tlsCertificate: String?
    public var tlsKey: String?

    /// Where repository files live (`STORAGE_BACKEND`): `repos/` in the data directory, or S3.
    public var storage: StorageBackend = .local
    /// Bytes of recently read objects kept in memory (``CachingStore``); 0: none.
    public var cacheSize = 64 << 20
    /// How long a new connection may take to send a complete request head (`--header-timeout`);
    /// then it is closed (``ConnectionGuard``).
    public var headerTimeout: TimeAmount = .seconds(10)
    /// How long a connection may stay silent between requests, or in the middle of one
    /// (`--idle-timeout`); then it is closed.
    public var idleTimeout: TimeAmount = .seconds(60)

    public init(dataDirectory: URL) { self.dataDirectory = dataDirectory }

    /// The store for `storage`: S3 stages uploads in `<data dir>/staging`.
    public func objectStore() -> any ObjectStore {
        let store: any ObjectStore = switch storage {
        case .local: DiskStore(root: dataDirectory.appendingPathComponent("repos"))
        case .s3(let s3): S3Store(s3, staging: dataDirectory.appendingPathComponent("staging"))
        }
        return cacheSize > 0 ? CachingStore(store, capacity: cacheSize) : store
    }

    public var databasePath: String { dataDirectory.appendingPathComponent("convosync.sqlite").path }
}

/// `STORAGE_BACKEND`: `local` (the data directory) or `s3`.
public enum StorageBackend: Sendable {
    case local
    case s3(S3Configuration)

    /// `STORAGE_BACKEND` (or `--storage`): `local` (the default) or `s3`, whose settings come
    /// from the environment (``S3Configuration/fromEnvironment(_:)``).
    public static func parse(_ name: String?, environment: [String: String]) throws -> StorageBackend {
        switch name?.lowercased() ?? "local" {
        case "", "local": return .local
        case "s3": return .s3(try S3Configuration.fromEnvironment(environment))
        case "gcs":
            throw StoreError(.badRequest, "STORAGE_BACKEND=gcs is not built in; Google Cloud Storage speaks S3 through its XML API: set STORAGE_BACKEND=s3, S3_ENDPOINT=https://storage.googleapis.com and HMAC keys as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        case let other:
            throw StoreError(.badRequest, "STORAGE_BACKEND must be local or s3, not '\(other.prefix(40))'")
        }
    }
}

/// The convosync server: restic's REST protocol over per-user repositories, the session API,
/// device tokens and WebSocket events.
public enum ConvoSyncServer {
    public static func prepare(_ configuration: ServerConfiguration) throws {
        do {
            try FileManager.default.createDirectory(at: configuration.dataDirectory.appendingPathComponent("repos"), withIntermediateDirectories: true)
        } catch {
            throw StoreError(.io, "cannot create \(configuration.dataDirectory.path): \(error.localizedDescription)")
        }
    }

    /// Deletes temporary upload files (`.tmp-*`) that a crash left behind, if older than `age`.
    /// Listings already skip them; this reclaims their space. Run when the server starts.
    public static func sweepTemporaryFiles(_ configuration: ServerConfiguration, olderThan age: TimeInterval = 3600) {
        configuration.objectStore().sweep(olderThan: age)
    }

    /// The Hummingbird application; `onRunning` receives the bound port (useful with port 0).
    public static func application(
        _ configuration: ServerConfiguration, users: UserStore, metrics: ServerMetrics = ServerMetrics(), events: any EventBus = EventHub(),
        logger: Logger? = nil, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        try prepare(configuration)
        let objects = configuration.objectStore()
        try await objects.check()
        objects.sweep(olderThan: 3600)
        var log = logger ?? Logger(label: "convosync-server")
        if logger == nil { log.logLevel = .info }
        let secret = try TokenAuthority.secret(environment: configuration.jwtSecret, dataDirectory: configuration.dataDirectory)
        let tokens = await TokenAuthority(secret: secret, clock: users.clock)
        let responder = Services(
            configuration: configuration, objects: objects, users: users, tokens: tokens, state: .local(objects: objects, events: events), metrics: metrics,
            clock: users.clock)
        var tls: TLSConfiguration?
        if let cert = configuration.tlsCertificate, let key = configuration.tlsKey {
            do {
                tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            } catch {
                throw StoreError(.badRequest, "cannot load the TLS certificate \(cert) or key \(key): \(error)")
            }
        }
        // HTTP/1.1 with the WebSocket upgrade (events), a ConnectionGuard after the request
        // decoder, and TLS outside it when configured.
        let (headerTimeout, idleTimeout) = (configuration.headerTimeout, configuration.idleTimeout)
        let server = HTTPServerBuilder { [tls] httpResponder in
            var http1 = HTTP1Channel.Configuration(idleTimeout: nil)  // ConnectionGuard's instead
            http1.httpDecoder = .init(maxHeaderFieldSize: 64 << 10, maxHeaderListSize: 64 << 10, maxHeaderFieldCount: 100)
            let channel = GuardedChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: httpResponder, configuration: .init(http1: http1)) { request, channel, _ in
                    await responder.shouldUpgrade(request, channel: channel)
                },
                headerTimeout: headerTimeout, idleTimeout: idleTimeout)
            guard let tls else { return channel }
            return try TLSChannel(channel, tlsConfiguration: tls)
        }
        return Application(
            router: responder.router(),
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "convosync-server"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: log)
    }
}
