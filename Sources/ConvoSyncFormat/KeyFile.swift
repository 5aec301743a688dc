public import Crypto
public import Foundation
import _CryptoExtras

/// Parameters of scrypt, stored in each key file.
public struct KDFParameters: Codable, Hashable, Sendable {
    /// CPU/memory cost N (a power of two).
    public var n: Int
    public var r: Int
    public var p: Int

    public init(n: Int, r: Int, p: Int) { (self.n, self.r, self.p) = (n, r, p) }

    /// The default for new keys: N = 2^15, r = 8, p = 1 (32 MiB, about 0.1 s).
    public static let `default` = KDFParameters(n: 1 << 15, r: 8, p: 1)
    /// Cheap parameters for tests only; never for real repositories.
    public static let insecureTesting = KDFParameters(n: 1 << 10, r: 8, p: 1)

    /// Rejects parameters outside the spec's range (N a power of two in 2^10...2^20, r 1...32, p 1...16).
    public func validate() throws(FormatError) {
        guard n >= 1 << 10, n <= 1 << 20, n & (n - 1) == 0, (1...32).contains(r), (1...16).contains(p) else {
            throw FormatError(.invalidParameter, "scrypt parameters N=\(n) r=\(r) p=\(p) are outside the allowed range")
        }
    }

    /// Derives the 32-byte key-encryption key from a password.
    public func deriveKey(password: String, salt: [UInt8]) throws(FormatError) -> SymmetricKey {
        try validate()
        do {
            return try KDF.Scrypt.deriveKey(
                from: Array(password.utf8), salt: salt, outputByteCount: 32,
                rounds: n, blockSize: r, parallelism: p, maxMemory: 128 * r * n * p + (1 << 20))
        } catch {
            throw FormatError(.invalidParameter, "scrypt failed: \(error)")
        }
    }
}

/// A key file: the master key sealed under a key derived from one password.
///
/// Implements Format/SPEC.md §Key files. Key files are plain JSON (not encrypted); `data` is
/// an envelope (context `key`) around the 32-byte master key.
public struct KeyFile: Codable, Sendable, Hashable {
    public static let currentVersion = 1

    public var version: Int
    public var created: Date
    public var host: String
    public var username: String
    public var kdf: String
    public var n: Int
    public var r: Int
    public var p: Int
    /// Base64 of the 32-byte random salt.
    public var salt: String
    /// Base64 of `envelope(master key)`.
    public var data: String

    public var parameters: KDFParameters { KDFParameters(n: n, r: r, p: p) }

    /// Wraps `masterKey` under `password`, with a fresh random salt.
    public static func create(masterKey: MasterKey, password: String, parameters: KDFParameters, host: String, username: String, created: Date = Date()) throws(FormatError) -> KeyFile {
        var salt = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = rng.next() }
        let kek = try parameters.deriveKey(password: password, salt: salt)
        let secret = masterKey.secret.withUnsafeBytes { Array($0) }
        let sealed = try Envelope.seal(secret, using: kek, context: .key)
        return KeyFile(
            version: currentVersion, created: created, host: host, username: username, kdf: "scrypt",
            n: parameters.n, r: parameters.r, p: parameters.p,
            salt: Data(salt).base64EncodedString(), data: Data(sealed).base64EncodedString())
    }

    /// Parses a stored key file.
    public init(parsing bytes: [UInt8]) throws(FormatError) {
        do {
            self = try JSONCoding.decoder.decode(KeyFile.self, from: Data(bytes))
        } catch {
            throw FormatError(.invalidEncoding, "key file is not valid JSON: \(error)")
        }
        guard version == Self.currentVersion else {
            throw FormatError(.unsupportedVersion, "key file version \(version) is not supported (this build reads version \(Self.currentVersion))")
        }
        guard kdf == "scrypt" else { throw FormatError(.unknownType, "key file uses unknown KDF '\(kdf)'") }
    }

    init(version: Int, created: Date, host: String, username: String, kdf: String, n: Int, r: Int, p: Int, salt: String, data: String) {
        (self.version, self.created, self.host, self.username, self.kdf) = (version, created, host, username, kdf)
        (self.n, self.r, self.p, self.salt, self.data) = (n, r, p, salt, data)
    }

    /// The bytes as stored.
    public func encoded() throws(FormatError) -> [UInt8] { try JSONCoding.encode(self) }

    /// Unwraps the master key; `.authenticationFailed` means the password is wrong (or the file was altered).
    public func unlock(password: String) throws(FormatError) -> MasterKey {
        guard let saltBytes = Data(base64Encoded: salt), let sealed = Data(base64Encoded: data) else {
            throw FormatError(.invalidEncoding, "key file salt or data is not base64")
        }
        let kek = try parameters.deriveKey(password: password, salt: Array(saltBytes))
        let secret = try Envelope.open(sealed, using: kek, context: .key)
        return try MasterKey(secret: SymmetricKey(data: secret))
    }
}
