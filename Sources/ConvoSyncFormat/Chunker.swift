import Crypto

/// Sizes that drive content-defined chunking; stored in the repository config.
///
/// Implements Format/SPEC.md §Chunking.
public struct ChunkerParameters: Codable, Hashable, Sendable {
    /// No chunk (except a file's last) is smaller.
    public var minSize: Int
    /// The size chunks are normalised towards (a power of two).
    public var averageSize: Int
    /// No chunk is larger.
    public var maxSize: Int
    /// A message (one line) up to this many bytes is one blob; a longer one is chunked.
    public var messageThreshold: Int

    public init(minSize: Int, averageSize: Int, maxSize: Int, messageThreshold: Int) {
        (self.minSize, self.averageSize, self.maxSize, self.messageThreshold) = (minSize, averageSize, maxSize, messageThreshold)
    }

    /// min 2 KiB, average 8 KiB, max 64 KiB; messages over 16 KiB are chunked.
    public static let `default` = ChunkerParameters(minSize: 2048, averageSize: 8192, maxSize: 65536, messageThreshold: 16384)

    public func validate() throws(FormatError) {
        guard minSize >= 64, averageSize > minSize, averageSize & (averageSize - 1) == 0,
              maxSize > averageSize, maxSize <= 1 << 24, messageThreshold >= minSize, messageThreshold <= 1 << 24
        else {
            throw FormatError(.invalidParameter, "chunker parameters \(self) are invalid (need 64 <= min < avg (power of two) < max <= 16 MiB, min <= threshold <= 16 MiB)")
        }
    }
}

/// FastCDC-style content-defined chunker with a fixed gear table.
///
/// Implements Format/SPEC.md §Chunking. The gear table is not keyed per repository (unlike
/// restic's polynomial), so identical content chunks identically in every repository.
///
/// ```swift
/// let chunker = Chunker(parameters: .default)
/// for range in chunker.boundaries(of: bytes) { save(bytes[range]) }
/// ```
public struct Chunker: Sendable {
    public let parameters: ChunkerParameters
    private let maskSmall: UInt64
    private let maskLarge: UInt64

    /// `gear[i]` = the first 8 bytes, big-endian, of SHA-256("convosync/1/gear/" ‖ decimal i).
    public static let gear: [UInt64] = (0..<256).map { i in
        let digest = SHA256.hash(data: Array(FormatVersion.label("gear/\(i)").utf8))
        return digest.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    public init(parameters: ChunkerParameters) {
        self.parameters = parameters
        let bits = parameters.averageSize.trailingZeroBitCount
        maskSmall = Self.topBits(bits + 2)
        maskLarge = Self.topBits(max(bits - 2, 1))
    }

    /// A mask of the `count` most significant bits (they depend on the last 64 bytes seen).
    static func topBits(_ count: Int) -> UInt64 {
        count >= 64 ? ~0 : ~(~UInt64(0) >> UInt64(count))
    }

    /// The length of the first chunk of `data`.
    public func cutPoint(_ data: UnsafeBufferPointer<UInt8>) -> Int {
        let p = parameters
        var n = data.count
        if n <= p.minSize { return n }
        if n > p.maxSize { n = p.maxSize }
        let normal = min(p.averageSize, n)
        var hash: UInt64 = 0
        var i = p.minSize
        Self.gear.withUnsafeBufferPointer { gear in
            while i < normal {
                hash = (hash &<< 1) &+ gear[Int(data[i])]
                if hash & maskSmall == 0 { n = i + 1; return }
                i += 1
            }
            while i < n {
                hash = (hash &<< 1) &+ gear[Int(data[i])]
                if hash & maskLarge == 0 { n = i + 1; return }
                i += 1
            }
        }
        return n
    }

    /// Chunk boundaries of `data` as half-open ranges covering it in order.
    public func boundaries(of data: [UInt8]) -> [Range<Int>] {
        data.withUnsafeBufferPointer { boundaries(of: $0) }
    }

    public func boundaries(of data: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        while start < data.count {
            let rest = UnsafeBufferPointer(rebasing: data[start...])
            let len = cutPoint(rest)
            out.append(start..<(start + len))
            start += len
        }
        return out
    }
}
