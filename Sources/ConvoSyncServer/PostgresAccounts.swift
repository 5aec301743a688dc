public import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Accounts in PostgreSQL (postgres-nio's pooled client), for `DATABASE_URL=postgres://…`.
///
/// The client's connection pool runs in a task started by ``open(url:)`` and ended by
/// ``shutdown()``. Tables are created when missing, as in SQLite.
public final class PostgresAccounts: AccountDatabase {
    let client: PostgresClient
    let runner: Task<Void, Never>
    let logger: Logger

    /// Connects to `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (also `postgresql://`;
    /// `?sslmode=require` asks for TLS) and creates the tables.
    public static func open(url: String) async throws -> PostgresAccounts {
        guard let c = URLComponents(string: url), let scheme = c.scheme, scheme == "postgres" || scheme == "postgresql",
              let host = c.host, let user = c.user
        else {
            throw StoreError(.badRequest, "DATABASE_URL must look like postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        let database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        let requireTLS = c.queryItems?.contains { $0.name == "sslmode" && $0.value == "require" } == true
        let tls: PostgresClient.Configuration.TLS = requireTLS ? .require(.makeClientConfiguration()) : .disable
        let (username, password) = (user.removingPercentEncoding ?? user, c.password?.removingPercentEncoding)
        let config = PostgresClient.Configuration(
            host: host, port: c.port ?? 5432, username: username, password: password, database: database.isEmpty ? nil : database, tls: tls)
        // One plain connection first: the pool retries a refused login until a timeout, while
        // this fails at once with the server's reason (wrong password, no such database).
        do {
            var probe = PostgresConnection.Configuration(
                host: host, port: c.port ?? 5432, username: username, password: password, database: database.isEmpty ? nil : database,
                tls: requireTLS ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable)
            probe.options.connectTimeout = .seconds(10)
            var quiet = Logger(label: "convosync.postgres.probe")
            quiet.logLevel = .critical
            let connection = try await PostgresConnection.connect(configuration: probe, id: 0, logger: quiet)
            try await connection.close()
        } catch {
            // The URL holds a password: name the host only.
            throw StoreError(.io, "cannot use the PostgreSQL database at \(host):\(c.port ?? 5432): \(Self.describe(error))")
        }
        var background = Logger(label: "convosync.postgres")
        background.logLevel = ProcessInfo.processInfo.environment["CONVOSYNC_POSTGRES_DEBUG"] == nil ? .error : .debug
        let accounts = PostgresAccounts(client: PostgresClient(configuration: config, backgroundLogger: background))
        do {
            for sql in AccountSchema.statements(autoincrement: "BIGSERIAL PRIMARY KEY") {
                try await accounts.client.query(PostgresQuery(unsafeSQL: sql), logger: accounts.logger)
            }
        } catch {
            await accounts.shutdown()
            // The URL holds a password: name the host only.
            throw StoreError(.io, "cannot use the PostgreSQL database at \(host):\(c.port ?? 5432): \(Self.describe(error))")
        }
        return accounts
    }

    init(client: PostgresClient) {
        self.client = client
        runner = Task { await client.run() }
        var logger = Logger(label: "convosync.postgres")
        logger.logLevel = .error
        self.logger = logger
    }

    public func shutdown() async {
        runner.cancel()
        _ = await runner.value
    }

    /// The server's message (e.g. "password authentication failed for user …"), else the error.
    static func describe(_ error: any Error) -> String {
        if let psql = error as? PSQLError, let message = psql.serverInfo?[.message] { return message }
        return String(String(reflecting: error).prefix(300))
    }

    static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }

    public func insertUser(name: String, password: String, created: String) async throws {
        do {
            try await client.query("INSERT INTO users (name, password, created) VALUES (\(name), \(password), \(created))", logger: logger)
        } catch where Self.isUniqueViolation(error) {
            throw StoreError(.exists, "user \(name) exists already")
        }
    }

    func count(_ query: PostgresQuery) async throws -> Int {
        for try await (n) in try await client.query(query, logger: logger).decode(Int.self) { return n }
        return 0
    }

    public func updatePassword(name: String, password: String) async throws -> Bool {
        try await count("WITH u AS (UPDATE users SET password = \(password) WHERE name = \(name) RETURNING 1) SELECT COUNT(*)::BIGINT FROM u") == 1
    }

    public func deleteUser(name: String) async throws -> Bool {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            var existed = false
            for try await n in try await connection.query("WITH u AS (DELETE FROM users WHERE name = \(name) RETURNING 1) SELECT COUNT(*)::BIGINT FROM u", logger: logger).decode(Int.self) {
                existed = n == 1
            }
            try await connection.query("DELETE FROM devices WHERE \"user\" = \(name)", logger: logger)
            return existed
        }
    }

    public func listUsers() async throws -> [UserStore.User] {
        var out: [UserStore.User] = []
        for try await (name, created) in try await client.query("SELECT name, created FROM users ORDER BY name", logger: logger).decode((String, String).self) {
            out.append(UserStore.User(name: name, created: created))
        }
        return out
    }

    public func passwordHash(name: String) async throws -> String? {
        for try await (hash) in try await client.query("SELECT password FROM users WHERE name = \(name)", logger: logger).decode(String.self) { return hash }
        return nil
    }

    public func insertDevice(_ d: UserStore.Device, limit: Int?, now: String) async throws {
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            if let limit {
                // One login at a time per user, so two cannot both pass the count.
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(d.user)))", logger: logger)
                var active = 0
                for try await n in try await connection.query(
                    "SELECT COUNT(*)::BIGINT FROM devices WHERE \"user\" = \(d.user) AND revoked IS NULL AND expires > \(now)", logger: logger
                ).decode(Int.self) { active = n }
                guard active < limit else { throw UserStore.tooManyDevices(d.user, active: active, limit: limit) }
            }
            try await connection.query(
                "INSERT INTO devices (id, \"user\", name, scopes, created, expires) VALUES (\(d.id), \(d.user), \(d.name), \(d.scopes), \(d.created), \(d.expires))",
                logger: logger)
        }
    }

    public func activeDevices(user: String, now: String) async throws -> [UserStore.Device] {
        var out: [UserStore.Device] = []
        let rows = try await client.query(
            "SELECT id, \"user\", name, scopes, created, expires, last_seen, revoked FROM devices WHERE \"user\" = \(user) AND revoked IS NULL AND expires > \(now) ORDER BY created DESC, id",
            logger: logger)
        for try await (id, user, name, scopes, created, expires, seen, revoked) in rows.decode((String, String, String, String, String, String, String?, String?).self) {
            out.append(UserStore.Device(id: id, user: user, name: name, scopes: scopes, created: created, expires: expires, lastSeen: seen, revoked: revoked))
        }
        return out
    }

    public func isDeviceActive(id: String, user: String) async throws -> Bool {
        try await count("SELECT COUNT(*)::BIGINT FROM devices WHERE id = \(id) AND \"user\" = \(user) AND revoked IS NULL") == 1
    }

    public func touchDevice(id: String, time: String) async throws {
        try await client.query("UPDATE devices SET last_seen = \(time) WHERE id = \(id)", logger: logger)
    }

    public func revokeDevice(id: String, user: String, time: String) async throws -> Bool {
        try await count(
            "WITH u AS (UPDATE devices SET revoked = \(time) WHERE id = \(id) AND \"user\" = \(user) AND revoked IS NULL RETURNING 1) SELECT COUNT(*)::BIGINT FROM u") == 1
    }

    public func appendAudit(_ e: UserStore.AuditEntry) async throws {
        try await client.query(
            "INSERT INTO audit (time, \"user\", device, action, detail) VALUES (\(e.time), \(e.user), \(e.device), \(e.action), \(e.detail))",
            logger: logger)
    }

    public func auditLog(user: String?, limit: Int) async throws -> [UserStore.AuditEntry] {
        let rows = if let user {
            try await client.query("SELECT time, \"user\", device, action, detail FROM audit WHERE \"user\" = \(user) ORDER BY seq DESC LIMIT \(limit)", logger: logger)
        } else {
            try await client.query("SELECT time, \"user\", device, action, detail FROM audit ORDER BY seq DESC LIMIT \(limit)", logger: logger)
        }
        var out: [UserStore.AuditEntry] = []
        for try await (time, user, device, action, detail) in rows.decode((String, String, String?, String, String).self) {
            out.append(UserStore.AuditEntry(time: time, user: user, device: device, action: action, detail: detail))
        }
        return out
    }
}
