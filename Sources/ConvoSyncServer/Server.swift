public import Foundation
import ConvoSyncStorage
import HTTPTypes
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
public import Logging
import NIOCore
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

    public init(dataDirectory: URL) { self.dataDirectory = dataDirectory }

    public var databasePath: String { dataDirectory.appendingPathComponent("convosync.sqlite").path }
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
        LocalBackend(path: configuration.dataDirectory.appendingPathComponent("repos").path).removeStaleTemporaryFiles(olderThan: age)
    }

    /// The Hummingbird application; `onRunning` receives the bound port (useful with port 0).
    public static func application(
        _ configuration: ServerConfiguration, users: UserStore, metrics: ServerMetrics = ServerMetrics(), events: EventHub = EventHub(),
        logger: Logger? = nil, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        try prepare(configuration)
        sweepTemporaryFiles(configuration)
        var log = logger ?? Logger(label: "convosync-server")
        if logger == nil { log.logLevel = .info }
        let secret = try TokenAuthority.secret(environment: configuration.jwtSecret, dataDirectory: configuration.dataDirectory)
        let tokens = await TokenAuthority(secret: secret)
        let responder = RESTResponder(configuration: configuration, users: users, tokens: tokens, events: events, metrics: metrics)
        let upgrade = HTTPServerBuilder.http1WebSocketUpgrade { request, _, _ in
            await responder.shouldUpgrade(request)
        }
        let server: HTTPServerBuilder
        if let cert = configuration.tlsCertificate, let key = configuration.tlsKey {
            let tls: TLSConfiguration
            do {
                tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            } catch {
                throw StoreError(.badRequest, "cannot load the TLS certificate \(cert) or key \(key): \(error)")
            }
            server = try .tls(upgrade, tlsConfiguration: tls)
        } else {
            server = upgrade
        }
        return Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "convosync-server"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: log)
    }
}
