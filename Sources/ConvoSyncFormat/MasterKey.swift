public import Crypto

/// The repository's secret: 32 random bytes from which every working key is derived.
///
/// Implements Format/SPEC.md §Encryption envelope and §Key files. The master key never leaves a device unwrapped; it is
/// stored only inside key files, sealed under a password-derived key.
public struct MasterKey: Sendable {
    public static let byteCount = 32

    /// The raw secret (for wrapping into a key file only).
    public let secret: SymmetricKey
    /// AES-256-GCM key for every envelope in the repository: HKDF-SHA256(secret, info "convosync/1/encryption").
    public let encryption: SymmetricKey
    /// HMAC-SHA256 key for identifiers a server may compare: HKDF-SHA256(secret, info "convosync/1/id-mac").
    public let idMAC: SymmetricKey

    public init(secret: SymmetricKey) throws(FormatError) {
        guard secret.bitCount == Self.byteCount * 8 else {
            throw FormatError(.invalidParameter, "a master key has 32 bytes, got \(secret.bitCount / 8)")
        }
        self.secret = secret
        encryption = Self.derive(secret, info: FormatVersion.label("encryption"))
        idMAC = Self.derive(secret, info: FormatVersion.label("id-mac"))
    }

    /// A fresh random master key.
    public static func generate() -> MasterKey {
        // invariant: a 256-bit SymmetricKey always has 32 bytes.
        try! MasterKey(secret: SymmetricKey(size: .bits256))  // invariant: 256 bits is 32 bytes
    }

    private static func derive(_ secret: SymmetricKey, info: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: secret, info: Array(info.utf8), outputByteCount: 32)
    }

    /// HMAC-SHA256 of `text` under ``idMAC``, hex; what a server sees instead of a conversation id or commit.
    public func mac(_ text: String) -> String {
        Hex.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: idMAC)))
    }
}
