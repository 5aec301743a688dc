import Crypto
public import Foundation

/// A 32-byte SHA-256 identifier, written as 64 lowercase hex digits.
///
/// Implements Format/SPEC.md §IDs. Blob IDs are the SHA-256 of a blob's plaintext; file names
/// (packs, index, snapshot and key files) are the SHA-256 of the bytes as stored.
public struct ObjectID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The number of bytes in an ID.
    public static let byteCount = 32

    // Four words make hashing and comparison cheap; `bytes` rebuilds the big-endian order.
    private let w0, w1, w2, w3: UInt64

    /// Creates an ID from exactly 32 bytes.
    public init<C: Collection>(bytes: C) throws(FormatError) where C.Element == UInt8 {
        guard bytes.count == Self.byteCount else {
            throw FormatError(.invalidHeader, "an ID has 32 bytes, got \(bytes.count)")
        }
        var words: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.enumerated() { words[i / 8] = words[i / 8] << 8 | UInt64(b) }
        (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
    }

    /// Parses 64 hex digits (either case).
    public init(hex: some StringProtocol) throws(FormatError) {
        guard let bytes = Hex.decode(hex), bytes.count == Self.byteCount else {
            throw FormatError(.invalidEncoding, "'\(hex.prefix(80))' is not a 64-digit hex ID")
        }
        try self.init(bytes: bytes)
    }

    /// The SHA-256 of `data`.
    public static func hash<D: DataProtocol>(_ data: D) -> ObjectID {
        ObjectID(digest: SHA256.hash(data: data))
    }

    init(digest: SHA256.Digest) {
        (w0, w1, w2, w3) = digest.withUnsafeBytes { raw in
            (
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            )
        }
    }

    /// The 32 bytes of the ID, most significant first.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for w in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w >> UInt64(shift))) }
        }
        return out
    }

    public var hex: String { Hex.encode(bytes) }
    /// The first 8 hex digits, as listings show an ID.
    public var short: String { String(hex.prefix(8)) }
    public var description: String { hex }

    public static func < (a: ObjectID, b: ObjectID) -> Bool {
        (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
    }
}

extension ObjectID: Codable {
    /// In repository JSON an ID is 64 lowercase hex digits (Format/SPEC.md §4), so that
    /// re-encoding a file gives its bytes back; typed input (``init(hex:)``) may use either case.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard !text.utf8.contains(where: { (65...70).contains($0) }) else {
            throw FormatError(.invalidEncoding, "ID '\(text.prefix(80))' is not lowercase hex")
        }
        try self.init(hex: text)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

/// Marker types that give ``ID`` its meaning.
public enum BlobTag: Sendable {}
public enum PackTag: Sendable {}
public enum IndexTag: Sendable {}
public enum SnapshotTag: Sendable {}
public enum KeyTag: Sendable {}
public enum LockTag: Sendable {}

/// An ``ObjectID`` that can only name one kind of thing.
public struct ID<Tag>: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let objectID: ObjectID
    public init(_ objectID: ObjectID) { self.objectID = objectID }
    public init(hex: some StringProtocol) throws(FormatError) { objectID = try ObjectID(hex: hex) }
    public var hex: String { objectID.hex }
    public var short: String { objectID.short }
    public var description: String { objectID.hex }
    public static func < (a: Self, b: Self) -> Bool { a.objectID < b.objectID }
    public init(from decoder: any Decoder) throws { objectID = try ObjectID(from: decoder) }
    public func encode(to encoder: any Encoder) throws { try objectID.encode(to: encoder) }
}

public typealias BlobID = ID<BlobTag>
public typealias PackID = ID<PackTag>
public typealias IndexID = ID<IndexTag>
public typealias SnapshotID = ID<SnapshotTag>
public typealias KeyID = ID<KeyTag>
public typealias LockID = ID<LockTag>

/// Lowercase hex encoding.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = value(utf8[i]), let lo = value(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
