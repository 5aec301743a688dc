import ConvoSyncFormat
public import Foundation
import GRDB

/// Devices (one per `convosync login`) and the audit log, in the account database.
///
/// A device row is what a token points at: revoking it (or removing the user) invalidates
/// every token issued for it, whatever their expiry.
extension UserStore {
    static let deviceSchema = """
        CREATE TABLE IF NOT EXISTS devices (
            id TEXT PRIMARY KEY NOT NULL,
            user TEXT NOT NULL,
            name TEXT NOT NULL,
            scopes TEXT NOT NULL,
            created TEXT NOT NULL,
            expires TEXT NOT NULL,
            last_seen TEXT,
            revoked TEXT
        );
        CREATE INDEX IF NOT EXISTS devices_user ON devices(user);
        """

    static let auditSchema = """
        CREATE TABLE IF NOT EXISTS audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            user TEXT NOT NULL,
            device TEXT,
            action TEXT NOT NULL,
            detail TEXT NOT NULL,
            address TEXT
        );
        """

    public struct Device: Sendable, Codable, Equatable {
        public var id: String
        public var user: String
        public var name: String
        public var scopes: String
        public var created: String
        public var expires: String
        public var lastSeen: String?
        public var revoked: String?

        init(row: Row) {
            id = row["id"]
            user = row["user"]
            name = row["name"]
            scopes = row["scopes"]
            created = row["created"]
            expires = row["expires"]
            lastSeen = row["last_seen"]
            revoked = row["revoked"]
        }
    }

    static func timestamp(_ date: Date = Date()) -> String {
        date.formatted(.iso8601)
    }

    /// Adds a device for `user`, refusing when the user already has `limit` active devices.
    public func addDevice(user: String, name: String, scopes: Set<Scope>, expires: Date, limit: Int?) throws -> Device {
        var rng = SystemRandomNumberGenerator()
        let id = Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let now = Self.timestamp()
        let cleanName = String(name.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.prefix(64).map(Character.init))
        return try db.write { db in
            if let limit {
                let active = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices WHERE user = ? AND revoked IS NULL AND expires > ?", arguments: [user, now]) ?? 0
                guard active < limit else {
                    throw StoreError(.forbidden, "\(user) has \(active) devices, the most this server allows (MAX_DEVICES_PER_USER=\(limit)); revoke one with `convosync devices revoke ID`")
                }
            }
            try db.execute(
                sql: "INSERT INTO devices (id, user, name, scopes, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [id, user, cleanName.isEmpty ? "device" : cleanName, Scope.text(scopes), now, Self.timestamp(expires)])
            return Device(row: try Row.fetchOne(db, sql: "SELECT * FROM devices WHERE id = ?", arguments: [id])!)  // just inserted
        }
    }

    /// The user's devices that are neither revoked nor expired, newest first.
    public func devices(of user: String) throws -> [Device] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM devices WHERE user = ? AND revoked IS NULL AND expires > ? ORDER BY created DESC, id", arguments: [user, Self.timestamp()]).map(Device.init)
        }
    }

    /// Whether the device exists, belongs to `user` and is not revoked; remembered for a few
    /// seconds per device, and forgotten at once when this process revokes it.
    public func deviceIsActive(_ id: String, user: String) -> Bool {
        let now = Date()
        if let until = lock.withLock({ activeDevices[id] }), until > now { return true }
        let found = (try? db.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices WHERE id = ? AND user = ? AND revoked IS NULL", arguments: [id, user])
        }) ?? 0
        guard found == 1 else { return false }
        lock.withLock { activeDevices[id] = now.addingTimeInterval(Self.deviceCacheFor) }
        try? db.write { db in
            try db.execute(sql: "UPDATE devices SET last_seen = ? WHERE id = ?", arguments: [Self.timestamp(now), id])
        }
        return true
    }

    /// Revokes one of `user`'s devices; its tokens stop working at once on this server.
    public func revokeDevice(_ id: String, user: String) throws {
        let changed = try db.write { db -> Int in
            try db.execute(sql: "UPDATE devices SET revoked = ? WHERE id = ? AND user = ? AND revoked IS NULL", arguments: [Self.timestamp(), id, user])
            return db.changesCount
        }
        lock.withLock { _ = activeDevices.removeValue(forKey: id) }
        guard changed == 1 else { throw StoreError(.notFound, "\(user) has no active device \(id); `convosync devices list` shows them") }
    }

    public struct AuditEntry: Sendable, Codable {
        public var time: String
        public var user: String
        public var device: String?
        public var action: String
        public var detail: String
        public var address: String?
    }

    /// Appends to the audit log: logins (and failed ones), device changes, deletions, account
    /// changes. Never a password, token or body.
    public func audit(_ action: String, user: String, device: String? = nil, detail: String = "", address: String? = nil) {
        try? db.write { db in
            try db.execute(
                sql: "INSERT INTO audit (time, user, device, action, detail, address) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [Self.timestamp(), user, device, action, detail, address])
        }
    }

    public func auditLog(user: String? = nil, limit: Int = 100) throws -> [AuditEntry] {
        try db.read { db in
            let rows = if let user {
                try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE user = ? ORDER BY seq DESC LIMIT ?", arguments: [user, limit])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY seq DESC LIMIT ?", arguments: [limit])
            }
            return rows.map { AuditEntry(time: $0["time"], user: $0["user"], device: $0["device"], action: $0["action"], detail: $0["detail"], address: $0["address"]) }
        }
    }
}
