public import ConvoSyncFormat
import Crypto
public import Foundation

/// Accounts: kept in SQLite (`<data dir>/convosync.sqlite`, through GRDB) or PostgreSQL
/// (``AccountDatabase``).
///
/// Passwords are stored as scrypt hashes (`scrypt$N$r$p$salt$hash`, hex), never in clear.
/// A successful check is remembered for a minute in memory (keyed by a SHA-256 of the
/// credentials), because restic's client sends basic authentication on every request and a
/// slow hash per request would cap throughput. Failed attempts are counted per user: after
/// ``maxFailures`` within ``failureWindow`` the user is locked out until the window passes.
public final class UserStore: @unchecked Sendable {
    public let database: any AccountDatabase
    let kdf: KDFParameters
    /// What time it is for lockouts, the password and device caches and device timestamps.
    public let clock: any ServerClock
    let lock = NSLock()
    private var verified: [String: Date] = [:]
    private var failures: [String: [Date]] = [:]
    var activeDevices: [String: Date] = [:]
    /// How long a device found active is remembered (revocations from this process apply at once).
    static let deviceCacheFor: TimeInterval = 10
    public static let maxFailures = 10
    public static let failureWindow: TimeInterval = 60
    /// How long a verified password is remembered; a `user passwd`/`user remove` run in another
    /// process takes effect on a running server within this time.
    public static let verifiedFor: TimeInterval = 60

    public init(database: any AccountDatabase, kdf: KDFParameters = .default, clock: any ServerClock = SystemClock()) {
        self.database = database
        self.kdf = kdf
        self.clock = clock
    }

    /// SQLite at `path`.
    public convenience init(path: String, kdf: KDFParameters = .default, clock: any ServerClock = SystemClock()) throws {
        self.init(database: try SQLiteAccounts(path: path), kdf: kdf, clock: clock)
    }

    /// The database `DATABASE_URL` names (`sqlite:PATH`, `sqlite://PATH` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`), else SQLite at `defaultPath`.
    public static func open(url: String?, defaultPath: String, kdf: KDFParameters = .default) async throws -> UserStore {
        guard let url, !url.isEmpty else { return try UserStore(path: defaultPath, kdf: kdf) }
        if url.hasPrefix("sqlite://") { return try UserStore(path: String(url.dropFirst(9)), kdf: kdf) }
        if url.hasPrefix("sqlite:") { return try UserStore(path: String(url.dropFirst(7)), kdf: kdf) }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return UserStore(database: try await PostgresAccounts.open(url: url), kdf: kdf)
        }
        throw StoreError(.badRequest, "DATABASE_URL must start with sqlite:, postgres:// or postgresql://")
    }

    /// Ends the database's connections (PostgreSQL).
    public func close() async {
        if let postgres = database as? PostgresAccounts { await postgres.shutdown() }
    }

    public static func isValidName(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), name != ".", name != "..", !name.hasPrefix(".") else { return false }
        return name.utf8.allSatisfy { c in
            (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
        }
    }

    func hash(_ password: String, salt: [UInt8]? = nil, kdf: KDFParameters? = nil) throws -> String {
        let kdf = kdf ?? self.kdf
        var rng = SystemRandomNumberGenerator()
        let salt = salt ?? (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let key = try kdf.deriveKey(password: password, salt: salt)
        return "scrypt$\(kdf.n)$\(kdf.r)$\(kdf.p)$\(Hex.encode(salt))$\(key.withUnsafeBytes { Hex.encode(Array($0)) })"
    }

    /// Names that would collide with the API's own paths (`/api/v1/…`, `/api/v1/account/…`).
    public static let reservedNames: Set<String> = ["api", "account", "healthz", "metrics"]

    public func add(_ name: String, password: String) async throws {
        guard Self.isValidName(name) else { throw StoreError(.badRequest, "'\(name)' is not a valid user name (1-64 letters, digits, '-', '_', '.')") }
        guard !Self.reservedNames.contains(name) else { throw StoreError(.badRequest, "'\(name)' is reserved for the server's own paths; choose another name") }
        guard password.count >= 8 else { throw StoreError(.badRequest, "the password must have at least 8 characters") }
        try await database.insertUser(name: name, password: try hash(password), created: Self.timestamp(clock.now))
        await audit("user-added", user: name)
    }

    public func setPassword(_ name: String, password: String) async throws {
        guard password.count >= 8 else { throw StoreError(.badRequest, "the password must have at least 8 characters") }
        guard try await database.updatePassword(name: name, password: try hash(password)) else { throw StoreError(.notFound, "no user \(name)") }
        lock.withLock { verified = verified.filter { !$0.key.hasPrefix(name + "\0") } }
        await audit("password-changed", user: name)
    }

    public func remove(_ name: String) async throws {
        guard try await database.deleteUser(name: name) else { throw StoreError(.notFound, "no user \(name)") }
        lock.withLock {
            verified = verified.filter { !$0.key.hasPrefix(name + "\0") }
            activeDevices = [:]
        }
        await audit("user-removed", user: name)
    }

    public struct User: Sendable, Codable {
        public var name: String
        public var created: String
    }

    public func list() async throws -> [User] {
        try await database.listUsers()
    }

    public enum Check: Sendable { case ok, wrong, lockedOut }

    /// Checks a user's password (constant-time comparison of the scrypt output).
    public func check(_ name: String, password: String) async -> Check {
        let cacheKey = name + "\0" + Hex.encode(Array(SHA256.hash(data: Array((name + "\0" + password).utf8))))
        let now = clock.now
        let state: Check? = lock.withLock {
            if let until = verified[cacheKey], until > now { return .ok }
            let recent = (failures[name] ?? []).filter { now.timeIntervalSince($0) < Self.failureWindow }
            failures[name] = recent.isEmpty ? nil : recent
            if failures.count > 10_000 {
                // Bounded memory under a spray of user names: forget windows that have passed.
                failures = failures.filter { $0.value.contains { now.timeIntervalSince($0) < Self.failureWindow } }
            }
            if verified.count > 10_000 { verified = verified.filter { $0.value > now } }
            if recent.count >= Self.maxFailures { return .lockedOut }
            // Count the attempt before the slow hash, so concurrent guesses cannot all pass
            // the check above; a success takes it back.
            failures[name, default: []].append(now)
            return nil
        }
        if let state { return state }
        let stored = try? await database.passwordHash(name: name)
        let ok: Bool
        if let encoded = stored.flatMap({ $0 }) {
            ok = verify(password, against: encoded)
        } else {
            // An unknown user costs the same scrypt run, so timing does not tell which names exist.
            _ = try? hash(password)
            ok = false
        }
        if ok {
            lock.withLock {
                verified[cacheKey] = now.addingTimeInterval(Self.verifiedFor)
                failures[name] = nil
            }
        }
        return ok ? .ok : .wrong
    }

    func verify(_ password: String, against encoded: String) -> Bool {
        let parts = encoded.split(separator: "$").map(String.init)
        guard parts.count == 6, parts[0] == "scrypt", let n = Int(parts[1]), let r = Int(parts[2]), let p = Int(parts[3]),
              let salt = Hex.decode(parts[4]), let expected = Hex.decode(parts[5]),
              let computed = try? hash(password, salt: salt, kdf: KDFParameters(n: n, r: r, p: p)),
              let got = Hex.decode(String(computed.split(separator: "$")[5]))
        else { return false }
        guard got.count == expected.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(got, expected) { diff |= a ^ b }
        return diff == 0
    }
}

/// Password-hash parameters for accounts.
public enum KDFDefaults {
    /// scrypt N = 2^15, r = 8, p = 1, as for repository keys.
    public static let server = KDFParameters.default
}
