public import Foundation
import ConvoSyncStorage
public import Hummingbird
public import Logging
import NIOCore

public struct ServerConfiguration: Sendable {
    /// Packs under `repos/`, accounts in `convosync.sqlite`.
    public var dataDirectory: URL
    public var host: String = "127.0.0.1"
    public var port: Int = 8000
    /// Largest request body accepted (restic's packs are 16 MiB by default, 128 MiB at most).
    public var maxBodySize: Int = 256 << 20
    /// Refuse every delete except of locks.
    public var appendOnly = false
    /// Bytes each user may store across their repositories (nil: no limit); over it, 507.
    public var userQuota: Int?

    public init(dataDirectory: URL) { self.dataDirectory = dataDirectory }

    public var databasePath: String { dataDirectory.appendingPathComponent("convosync.sqlite").path }
}

/// The convosync server: restic's REST protocol over per-user repositories.
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
        _ configuration: ServerConfiguration, users: UserStore, metrics: ServerMetrics = ServerMetrics(), logger: Logger? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        try prepare(configuration)
        sweepTemporaryFiles(configuration)
        var log = logger ?? Logger(label: "convosync-server")
        if logger == nil { log.logLevel = .info }
        return Application(
            responder: RESTResponder(configuration: configuration, users: users, metrics: metrics),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "convosync-server"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: log)
    }
}
