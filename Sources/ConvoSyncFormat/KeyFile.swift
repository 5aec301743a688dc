public import Crypto
public import Foundation
import COpenSSLCrypto

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

    /// Most memory a key may make a reader spend: 128·N·r bytes ≤ 256 MiB (SPEC §6).
    public static let maxMemory = 256 << 20
    /// Most work a key may make a reader spend: N·r·p ≤ 2^22, 16 times the default's 2^18
    /// (about 1.6 s on a laptop core; SPEC §6).
    public static let maxWork = 1 << 22

    /// Work relative to other keys (N·r·p); `Repository.open` tries the cheapest first.
    public var cost: Int { n * r * p }

    /// Rejects parameters outside the spec's range (N a power of two in 2^10...2^20, r 1...32,
    /// p 1...16) or over its bounds on memory and work, before any scrypt runs: a key file is
    /// read from storage that an append-only device can write to.
    public func validate() throws(FormatError) {
        guard n >= 1 << 10, n <= 1 << 20, n & (n - 1) == 0, (1...32).contains(r), (1...16).contains(p) else {
            throw FormatError(.invalidParameter, "scrypt parameters N=\(n) r=\(r) p=\(p) are outside the allowed range")
        }
        // In range, so these products cannot overflow.
        guard 128 * n * r <= Self.maxMemory, n * r * p <= Self.maxWork else {
            throw FormatError(.invalidParameter, "scrypt parameters N=\(n) r=\(r) p=\(p) need more than this format allows (128·N·r ≤ 256 MiB and N·r·p ≤ 2^22); such a key is refused without running scrypt")
        }
    }

    /// Derives the 32-byte key-encryption key from a password, with OpenSSL's scrypt and a
    /// memory limit that fits exactly these parameters: 128·r·(N + p + 2) bytes (V, B and a
    /// spare block), which `validate` bounds.
    public func deriveKey(password: String, salt: [UInt8]) throws(FormatError) -> SymmetricKey {
        try validate()
        var out = [UInt8](repeating: 0, count: 32)
        let limit = UInt64(128 * r * (n + p + 2))
        let password = Array(password.utf8)
        let ok = password.withUnsafeBufferPointer { pw in
            salt.withUnsafeBufferPointer { salt in
                out.withUnsafeMutableBufferPointer { out in
                    pw.withMemoryRebound(to: CChar.self) { pw in
                        EVP_PBE_scrypt(pw.baseAddress, pw.count, salt.baseAddress, salt.count,
                                       UInt64(n), UInt64(r), UInt64(p), limit, out.baseAddress, out.count)
                    }
                }
            }
        }
        guard ok == 1 else { throw FormatError(.invalidParameter, "scrypt failed for N=\(n) r=\(r) p=\(p) (out of memory?)") }
        defer { for i in out.indices { out[i] = 0 } }
        return SymmetricKey(data: out)
    }
}

/// A key file: the master key sealed under a key derived from one password.
///
/// Implements Format/SPEC.md §Key files. Key files are plain JSON (not encrypted); `data` is
/// an envelope (context `key`) around the 32-byte master key.
public struct KeyFile: Codable, Sendable, Hashable {
    public static let currentVersion = FormatVersion.current

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
        // Checked before any scrypt runs (Format/SPEC.md §6): a 32-byte salt, and the master key
        // sealed in 60 bytes (nonce, 32 bytes, tag).
        let saltBytes = Data(base64Encoded: salt)?.count
        guard saltBytes == 32 else { throw FormatError(.invalidEncoding, "key file salt is \(saltBytes.map { "\($0) bytes" } ?? "not base64"), not 32 bytes") }
        let dataBytes = Data(base64Encoded: data)?.count
        guard dataBytes == 60 else { throw FormatError(.invalidEncoding, "key file data is \(dataBytes.map { "\($0) bytes" } ?? "not base64"), not 60 bytes") }
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
