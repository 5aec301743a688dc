import Foundation
import GRDB

/// Where accounts, devices and the audit log live: SQLite in the data directory by default
/// (GRDB), or PostgreSQL when `DATABASE_URL` names one (postgres-nio). Both keep the same
/// three tables (Format/API.md §12). Timestamps are ISO 8601 text in UTC, so they compare
/// as strings.
public protocol AccountDatabase: Sendable {
    /// Throws StoreError(.exists) for a name in use.
    func insertUser(name: String, password: String, created: String) async throws
    /// Whether the user existed.
    func updatePassword(name: String, password: String) async throws -> Bool
    /// Removes the user and their devices; whether the user existed.
    func deleteUser(name: String) async throws -> Bool
    func listUsers() async throws -> [UserStore.User]
    func passwordHash(name: String) async throws -> String?

    /// Inserts a device unless the user has `limit` active ones (StoreError(.forbidden)),
    /// atomically with the count.
    func insertDevice(_ device: UserStore.Device, limit: Int?, now: String) async throws
    func activeDevices(user: String, now: String) async throws -> [UserStore.Device]
    func isDeviceActive(id: String, user: String) async throws -> Bool
    func touchDevice(id: String, time: String) async throws
    /// Whether an active device was revoked.
    func revokeDevice(id: String, user: String, time: String) async throws -> Bool

    func appendAudit(_ entry: UserStore.AuditEntry) async throws
    func auditLog(user: String?, limit: Int) async throws -> [UserStore.AuditEntry]
}

enum AccountSchema {
    /// The same statements serve SQLite and PostgreSQL, except the audit key.
    static func statements(autoincrement: String) -> [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS users (
                name TEXT PRIMARY KEY NOT NULL,
                password TEXT NOT NULL,
                created TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS devices (
                id TEXT PRIMARY KEY NOT NULL,
                "user" TEXT NOT NULL,
                name TEXT NOT NULL,
                scopes TEXT NOT NULL,
                created TEXT NOT NULL,
                expires TEXT NOT NULL,
                last_seen TEXT,
                revoked TEXT
            )
            """,
            "CREATE INDEX IF NOT EXISTS devices_user ON devices(\"user\")",
            """
            CREATE TABLE IF NOT EXISTS audit (
                seq \(autoincrement),
                time TEXT NOT NULL,
                "user" TEXT NOT NULL,
                device TEXT,
                action TEXT NOT NULL,
                detail TEXT NOT NULL
            )
            """,
        ]
    }
}

/// SQLite through GRDB: `<data dir>/convosync.sqlite`, mode 0600.
public final class SQLiteAccounts: AccountDatabase {
    let db: DatabaseQueue

    public init(path: String) throws {
        do {
            // Password hashes are secrets: the database is readable by the server's user only.
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            if fd >= 0 { close(fd) }
            chmod(path, 0o600)
            db = try DatabaseQueue(path: path)
            try db.write { db in
                for sql in AccountSchema.statements(autoincrement: "INTEGER PRIMARY KEY AUTOINCREMENT") { try db.execute(sql: sql) }
            }
        } catch {
            throw StoreError(.io, "cannot open the account database \(path): \(error)")
        }
    }

    public func insertUser(name: String, password: String, created: String) async throws {
        do {
            try await db.write { db in
                try db.execute(sql: "INSERT INTO users (name, password, created) VALUES (?, ?, ?)", arguments: [name, password, created])
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError(.exists, "user \(name) exists already")
        }
    }

    public func updatePassword(name: String, password: String) async throws -> Bool {
        try await db.write { db in
            try db.execute(sql: "UPDATE users SET password = ? WHERE name = ?", arguments: [password, name])
            return db.changesCount == 1
        }
    }

    public func deleteUser(name: String) async throws -> Bool {
        try await db.write { db in
            try db.execute(sql: "DELETE FROM users WHERE name = ?", arguments: [name])
            let existed = db.changesCount == 1
            try db.execute(sql: "DELETE FROM devices WHERE user = ?", arguments: [name])
            return existed
        }
    }

    public func listUsers() async throws -> [UserStore.User] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT name, created FROM users ORDER BY name").map { UserStore.User(name: $0["name"], created: $0["created"]) }
        }
    }

    public func passwordHash(name: String) async throws -> String? {
        try await db.read { db in try String.fetchOne(db, sql: "SELECT password FROM users WHERE name = ?", arguments: [name]) }
    }

    public func insertDevice(_ d: UserStore.Device, limit: Int?, now: String) async throws {
        try await db.write { db in
            if let limit {
                let active = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices WHERE user = ? AND revoked IS NULL AND expires > ?", arguments: [d.user, now]) ?? 0
                guard active < limit else { throw UserStore.tooManyDevices(d.user, active: active, limit: limit) }
            }
            try db.execute(
                sql: "INSERT INTO devices (id, user, name, scopes, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [d.id, d.user, d.name, d.scopes, d.created, d.expires])
        }
    }

    public func activeDevices(user: String, now: String) async throws -> [UserStore.Device] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM devices WHERE user = ? AND revoked IS NULL AND expires > ? ORDER BY created DESC, id", arguments: [user, now])
                .map { UserStore.Device(id: $0["id"], user: $0["user"], name: $0["name"], scopes: $0["scopes"], created: $0["created"], expires: $0["expires"], lastSeen: $0["last_seen"], revoked: $0["revoked"]) }
        }
    }

    public func isDeviceActive(id: String, user: String) async throws -> Bool {
        try await db.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices WHERE id = ? AND user = ? AND revoked IS NULL", arguments: [id, user]) == 1
        }
    }

    public func touchDevice(id: String, time: String) async throws {
        try await db.write { db in try db.execute(sql: "UPDATE devices SET last_seen = ? WHERE id = ?", arguments: [time, id]) }
    }

    public func revokeDevice(id: String, user: String, time: String) async throws -> Bool {
        try await db.write { db in
            try db.execute(sql: "UPDATE devices SET revoked = ? WHERE id = ? AND user = ? AND revoked IS NULL", arguments: [time, id, user])
            return db.changesCount == 1
        }
    }

    public func appendAudit(_ e: UserStore.AuditEntry) async throws {
        try await db.write { db in
            try db.execute(
                sql: "INSERT INTO audit (time, user, device, action, detail) VALUES (?, ?, ?, ?, ?)",
                arguments: [e.time, e.user, e.device, e.action, e.detail])
        }
    }

    public func auditLog(user: String?, limit: Int) async throws -> [UserStore.AuditEntry] {
        try await db.read { db in
            let rows = if let user {
                try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE user = ? ORDER BY seq DESC LIMIT ?", arguments: [user, limit])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY seq DESC LIMIT ?", arguments: [limit])
            }
            return rows.map { UserStore.AuditEntry(time: $0["time"], user: $0["user"], device: $0["device"], action: $0["action"], detail: $0["detail"]) }
        }
    }
}
