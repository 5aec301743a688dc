public import Crypto
public import Foundation

/// AES-256-GCM sealing of one file or frame: `nonce(12) ‖ ciphertext ‖ tag(16)`.
///
/// Implements Format/SPEC.md §Encryption envelope. The nonce is random for every seal; the
/// associated data names what the plaintext is (see ``EnvelopeContext``).
///
/// ```swift
/// let sealed = try Envelope.seal(Array("hello".utf8), using: key, context: .snapshot)
/// let plain = try Envelope.open(sealed, using: key, context: .snapshot)
/// ```
public enum Envelope {
    public static let nonceSize = 12
    public static let tagSize = 16
    /// Bytes an envelope adds to its plaintext.
    public static let overhead = nonceSize + tagSize

    /// Seals `plaintext` under `key` with a fresh random nonce.
    public static func seal<D: DataProtocol>(_ plaintext: D, using key: SymmetricKey, context: EnvelopeContext) throws(FormatError) -> [UInt8] {
        try seal(plaintext, using: key, context: context, nonce: AES.GCM.Nonce())
    }

    /// Seals with a caller-chosen nonce. Only test vectors may use this: a nonce must never repeat under one key.
    public static func seal<D: DataProtocol>(_ plaintext: D, using key: SymmetricKey, context: EnvelopeContext, nonce: AES.GCM.Nonce) throws(FormatError) -> [UInt8] {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: context.associatedData)
            var out = [UInt8]()
            out.reserveCapacity(plaintext.count + overhead)
            out.append(contentsOf: box.nonce)
            out.append(contentsOf: box.ciphertext)
            out.append(contentsOf: box.tag)
            return out
        } catch {
            throw FormatError(.invalidParameter, "sealing failed: \(error)")
        }
    }

    /// Opens an envelope; fails with `.truncated` or `.authenticationFailed`.
    public static func open<D: DataProtocol>(_ sealed: D, using key: SymmetricKey, context: EnvelopeContext) throws(FormatError) -> [UInt8] {
        guard sealed.count >= overhead else {
            throw FormatError(.truncated, "encrypted \(context.rawValue) is \(sealed.count) bytes, shorter than the \(overhead)-byte envelope")
        }
        let bytes = Array(sealed)
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: bytes[0..<nonceSize]),
                ciphertext: bytes[nonceSize..<(bytes.count - tagSize)],
                tag: bytes[(bytes.count - tagSize)...])
            let plain = try AES.GCM.open(box, using: key, authenticating: context.associatedData)
            return Array(plain)
        } catch {
            throw FormatError(.authenticationFailed, "\(context.rawValue) failed authentication: the data was altered or the key is wrong")
        }
    }
}
