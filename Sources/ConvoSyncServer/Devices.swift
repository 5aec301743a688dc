import ConvoSyncFormat
public import Foundation

/// Devices (one per `convosync login`) and the audit log, in the account database.
///
/// A device row is what a token points at: revoking it (or removing the user) invalidates
/// every token issued for it, whatever their expiry.
extension UserStore {
    public struct Device: Sendable, Codable, Equatable {
        public var id: String
        public var user: String
        public var name: String
        public var scopes: String
        public var created: String
        public var expires: String
        public var lastSeen: String?
        public var revoked: String?
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    static func tooManyDevices(_ user: String, active: Int, limit: Int) -> StoreError {
        StoreError(.forbidden, "\(user) has \(active) devices, the most this server allows (MAX_DEVICES_PER_USER=\(limit)); revoke one with `convosync devices revoke ID`")
    }

    /// Adds a device for `user`, refusing when the user already has `limit` active devices.
    public func addDevice(user: String, name: String, scopes: Set<Scope>, expires: Date, limit: Int?) async throws -> Device {
        var rng = SystemRandomNumberGenerator()
        let id = Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let now = Self.timestamp(clock.now)
        let cleanName = String(name.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.prefix(64).map(Character.init))
        let device = Device(
            id: id, user: user, name: cleanName.isEmpty ? "device" : cleanName, scopes: Scope.text(scopes), created: now,
            expires: Self.timestamp(expires), lastSeen: nil, revoked: nil)
        try await database.insertDevice(device, limit: limit, now: now)
        return device
    }

    /// The user's devices that are neither revoked nor expired, newest first.
    public func devices(of user: String) async throws -> [Device] {
        try await database.activeDevices(user: user, now: Self.timestamp(clock.now))
    }

    /// Whether the device exists, belongs to `user` and is not revoked; remembered for a few
    /// seconds per device, and forgotten at once when this process revokes it.
    public func deviceIsActive(_ id: String, user: String) async -> Bool {
        let now = clock.now
        if let until = lock.withLock({ activeDevices[id] }), until > now { return true }
        guard (try? await database.isDeviceActive(id: id, user: user)) == true else { return false }
        lock.withLock { activeDevices[id] = now.addingTimeInterval(Self.deviceCacheFor) }
        try? await database.touchDevice(id: id, time: Self.timestamp(now))
        return true
    }

    /// Revokes one of `user`'s devices; its tokens stop working at once on this server.
    public func revokeDevice(_ id: String, user: String) async throws {
        let revoked = try await database.revokeDevice(id: id, user: user, time: Self.timestamp(clock.now))
        lock.withLock { _ = activeDevices.removeValue(forKey: id) }
        guard revoked else { throw StoreError(.notFound, "\(user) has no active device \(id); `convosync devices list` shows them") }
    }

    public struct AuditEntry: Sendable, Codable {
        public var time: String
        public var user: String
        public var device: String?
        public var action: String
        public var detail: String
    }

    /// Appends to the audit log: logins (and failed ones), device changes, deletions, account
    /// changes. Never a password, token or body.
    public func audit(_ action: String, user: String, device: String? = nil, detail: String = "") async {
        try? await database.appendAudit(AuditEntry(time: Self.timestamp(clock.now), user: user, device: device, action: action, detail: detail))
    }

    public func auditLog(user: String? = nil, limit: Int = 100) async throws -> [AuditEntry] {
        try await database.auditLog(user: user, limit: limit)
    }
}
