import Prometheus
import Logging
public import ConvoSyncFormat
import ConvoSyncProtocol
import ConvoSyncStorage
public import Foundation
public import Hummingbird
import HTTPTypes
import NIOCore

/// Who a request is from and what it may do.
public struct Principal: Sendable {
    public var user: String
    /// The device id when a device token authenticated the request; nil for the password.
    public var device: String?
    public var scopes: Set<Scope>
    /// When the token expires (nil for the password).
    public var expires: Date? = nil

    func require(_ scope: Scope) throws {
        guard scopes.contains(scope) else {
            throw StoreError(.forbidden, "this device token lacks the '\(scope.rawValue)' scope; log in again with `convosync login --scope \(Scope.text(scopes.union([scope])).replacingOccurrences(of: " ", with: ","))`")
        }
    }
}

extension Services {
    /// The scope a pack-API request needs: reads need `read`; writes and lock deletes need
    /// `append`; every other delete needs `maintenance` (so a default token is append-only).
    static func scope(for method: HTTPRequest.Method, type: FileType?) -> Scope {
        switch method {
        case .get, .head: .read
        case .delete: type == .lock ? .append : .maintenance
        default: .append
        }
    }

    /// Checks `Authorization`: `Bearer <device token>`, or basic with the account password or a
    /// device token as the password (what restic sends for `rest:http://USER:TOKEN@…`).
    func authenticate(authorization header: String?, passwordOnly: Bool = false) async -> Result<Principal, StoreError> {
        if let header, header.lowercased().hasPrefix("bearer ") {
            guard !passwordOnly else { return .failure(.unauthorized("logging in needs the account password (basic authentication), not a token")) }
            return await verifyToken(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), user: nil)
        }
        guard let (user, password) = Self.basicCredentials(header) else { return .failure(.unauthorized("authentication required")) }
        if TokenAuthority.looksLikeToken(password) {
            guard !passwordOnly else { return .failure(.unauthorized("logging in needs the account password, not a token")) }
            return await verifyToken(password, user: user)
        }
        switch await users.check(user, password: password) {
        case .ok:
            return .success(Principal(user: user, device: nil, scopes: Set(Scope.allCases)))
        case .wrong:
            metrics.failedLogins.increment()
            if passwordOnly { await users.audit("login-failed", user: user) }
            return .failure(.unauthorized("wrong user name or password"))
        case .lockedOut:
            return .failure(StoreError(.tooManyRequests, "too many failed logins for \(user); wait a minute"))
        }
    }

    func verifyToken(_ token: String, user: String?) async -> Result<Principal, StoreError> {
        let claims: TokenAuthority.Token
        do { claims = try await tokens.verify(token) } catch {
            metrics.failedLogins.increment()
            switch error {
            case .expired: return .failure(.unauthorized("the device token has expired; run `convosync login URL` again"))
            case .malformed: return .failure(.unauthorized("the device token is not valid on this server; run `convosync login URL` again"))
            }
        }
        if let user, user != claims.user { return .failure(.unauthorized("the device token belongs to another user")) }
        guard await users.deviceIsActive(claims.device, user: claims.user) else {
            metrics.failedLogins.increment()
            return .failure(.unauthorized("device \(claims.device) was revoked (or its user removed); run `convosync login URL` again"))
        }
        return .success(Principal(user: claims.user, device: claims.device, scopes: claims.scopes, expires: claims.expires))
    }

    // MARK: account endpoints

    /// `GET /api/v1/account/devices`: the user's active devices.
    func listDevices(principal: Principal) async throws -> Response {
        let list = try await users.devices(of: principal.user).map { d in
            DeviceEntry(id: d.id, name: d.name, scopes: d.scopes.split(separator: " ").map(String.init), created: d.created, expires: d.expires,
                        lastSeen: d.lastSeen, current: d.id == principal.device ? true : nil)
        }
        return Self.json(.ok, list)
    }

    /// `DELETE /api/v1/account/devices/<id>`. A device may always end its own token; ending
    /// another's needs the password or `maintenance`, so a stolen append-only token cannot lock
    /// the owner out.
    func revokeDevice(_ id: String, principal: Principal) async throws -> Response {
        if id != principal.device { try principal.require(.maintenance) }
        try await users.revokeDevice(id, user: principal.user)
        await events.disconnect(user: principal.user, device: id)
        await users.audit("device-revoked", user: principal.user, device: principal.device, detail: id)
        return Self.json(.ok, RevokeAnswer(revoked: id))
    }

    /// `POST /api/v1/account/login` with the password: registers a device, answers its token.
    func login(_ request: Request, principal: Principal, context: ServerContext) async throws -> Response {
        let input = try await Self.decodeBody(LoginRequest.self, request, limit: 4096, ifEmpty: LoginRequest())
        var scopes: Set<Scope> = [.read, .append]
        if let names = input.scopes {
            guard let parsed = Scope.parse(names.joined(separator: " ")), !parsed.isEmpty else {
                throw StoreError(.badRequest, "scopes are read, append and maintenance")
            }
            scopes = parsed
        }
        let days = input.expiresInDays ?? configuration.tokenLifetimeDays
        guard (1...3650).contains(days) else { throw StoreError(.badRequest, "expiresInDays must be 1…3650") }
        let expires = clock.now.addingTimeInterval(TimeInterval(days) * 86400)
        let device = try await users.addDevice(user: principal.user, name: input.device ?? "device", scopes: scopes, expires: expires, limit: configuration.maxDevicesPerUser)
        let token = try await tokens.sign(user: principal.user, device: device.id, scopes: scopes, expires: expires)
        await users.audit("login", user: principal.user, device: device.id, detail: "device \"\(device.name)\" scopes \(device.scopes)")
        context.logger.info("login", metadata: ["user": "\(principal.user)", "device": "\(device.id)"])
        return Self.json(.ok, LoginAnswer(token: token, device: device.id, name: device.name, user: principal.user, scopes: scopes.sorted().map(\.rawValue), expires: device.expires))
    }
}
