import ConvoSyncFormat
import Crypto
public import Foundation
import JWTKit

/// What a device token allows. A password allows everything; a device gets the scopes it
/// asked for at login (by default read and append, which makes it append-only).
public enum Scope: String, Sendable, Codable, CaseIterable, Comparable {
    /// GET and HEAD: files, listings, sessions, events.
    case read
    /// New files, session saves, and locks (create and delete).
    case append
    /// Deleting anything other than a lock: restic's `forget --prune`, convosync's prune.
    case maintenance

    public static func < (a: Scope, b: Scope) -> Bool { a.rawValue < b.rawValue }

    /// "read append" → [.read, .append]; nil when a word is not a scope.
    public static func parse(_ text: String) -> Set<Scope>? {
        var out: Set<Scope> = []
        for word in text.split(whereSeparator: { $0 == " " || $0 == "," }) {
            guard let scope = Scope(rawValue: String(word)) else { return nil }
            out.insert(scope)
        }
        return out
    }

    public static func text(_ scopes: Set<Scope>) -> String { scopes.sorted().map(\.rawValue).joined(separator: " ") }
}

/// The claims of a device token (a JWT signed with HS256 under the server's secret).
struct DeviceClaims: JWTPayload {
    /// The user.
    var sub: SubjectClaim
    /// The device id; revoking the device makes every token carrying it invalid.
    var jti: IDClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    /// Space-separated scopes.
    var scope: String

    func verify(using algorithm: some JWTAlgorithm) async throws {
        // Expiry is checked by TokenAuthority.verify, which tells "expired" apart from "forged".
    }
}

/// Signs and checks device tokens. The secret comes from `JWT_SECRET` or is generated once
/// into `<data dir>/jwt-secret` (0600); changing it invalidates every token.
public final class TokenAuthority: Sendable {
    let keys: JWTKeyCollection
    let clock: any ServerClock
    /// How every JWT starts: base64url of `{"`.
    static let tokenPrefix = "eyJ"

    public init(secret: [UInt8], clock: any ServerClock = SystemClock()) async {
        self.clock = clock
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(key: SymmetricKey(data: secret)), digestAlgorithm: .sha256)
    }

    /// The secret from `JWT_SECRET` (at least 32 characters), else the one stored in the data
    /// directory, created on first use.
    public static func secret(environment: String?, dataDirectory: URL) throws -> [UInt8] {
        if let environment, !environment.isEmpty {
            guard environment.utf8.count >= 32 else {
                throw StoreError(.badRequest, "JWT_SECRET must have at least 32 characters (e.g. `openssl rand -hex 32`)")
            }
            return Array(environment.utf8)
        }
        let path = dataDirectory.appendingPathComponent("jwt-secret").path
        if let data = FileManager.default.contents(atPath: path) {
            guard let text = String(data: data, encoding: .utf8), let bytes = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  bytes.count >= 32
            else {
                throw StoreError(.io, "\(path) does not hold a token secret (64+ hex digits); delete it to make a new one (every device must log in again) or set JWT_SECRET")
            }
            return bytes
        }
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        // Two servers starting at once: the first write wins and both use its secret.
        guard try DiskStore.writeSmallFile(Array((Hex.encode(bytes) + "\n").utf8), to: path, replace: false) else {
            return try secret(environment: nil, dataDirectory: dataDirectory)  // the other server's; it parses or throws
        }
        return bytes
    }

    public struct Token: Sendable {
        public var user: String
        public var device: String
        public var scopes: Set<Scope>
        public var expires: Date
    }

    public func sign(user: String, device: String, scopes: Set<Scope>, expires: Date) async throws -> String {
        let claims = DeviceClaims(sub: .init(value: user), jti: .init(value: device), iat: .init(value: clock.now), exp: .init(value: expires), scope: Scope.text(scopes))
        return try await keys.sign(claims)
    }

    public enum Failure: Error, Sendable { case malformed, expired }

    /// The token's claims if its signature holds and it has not expired.
    public func verify(_ token: String, now: Date? = nil) async throws(Failure) -> Token {
        let now = now ?? clock.now
        let claims: DeviceClaims
        do { claims = try await keys.verify(token, as: DeviceClaims.self) } catch { throw .malformed }
        guard let scopes = Scope.parse(claims.scope) else { throw .malformed }
        guard claims.exp.value > now else { throw .expired }
        return Token(user: claims.sub.value, device: claims.jti.value, scopes: scopes, expires: claims.exp.value)
    }

    /// Whether a basic-auth password is a device token rather than an account password.
    public static func looksLikeToken(_ text: String) -> Bool {
        text.hasPrefix(tokenPrefix) && text.split(separator: ".", omittingEmptySubsequences: false).count == 3
    }
}
