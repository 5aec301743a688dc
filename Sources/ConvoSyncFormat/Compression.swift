import CDeflate
import CZlib
import CZstd

/// A compression codec and level; the codec byte is recorded per frame.
///
/// Implements Format/SPEC.md §Codecs. `gzip` frames are standard gzip members (RFC 1952) so
/// any gzip tool can read a decrypted frame; `zstd` frames are standard zstd frames.
///
/// ```swift
/// let c = try Compression(parsing: "zstd:19")
/// let packed = try c.compress(bytes)
/// let back = try Compression.decompress(packed, codec: c.codec, rawLength: bytes.count)
/// ```
public struct Compression: Hashable, Sendable, CustomStringConvertible {
    public enum Codec: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case none = 0
        case gzip = 1
        case zstd = 2

        public var description: String {
            switch self {
            case .none: "none"
            case .gzip: "gzip"
            case .zstd: "zstd"
            }
        }

        public init(parsing name: String) throws(FormatError) {
            guard let c = Codec.allCases.first(where: { $0.description == name }) else {
                throw FormatError(.unknownType, "unknown codec '\(name)' (expected gzip, zstd or none)")
            }
            self = c
        }

        var levels: ClosedRange<Int> {
            switch self {
            case .none: 0...0
            case .gzip: 1...9
            case .zstd: 1...22
            }
        }
        var defaultLevel: Int {
            switch self {
            case .none: 0
            case .gzip: 9
            case .zstd: 3
            }
        }
    }

    public var codec: Codec
    public var level: Int

    /// gzip level 9, the default.
    public static let `default` = Compression(codec: .gzip, level: 9)

    public init(codec: Codec, level: Int? = nil) {
        self.codec = codec
        self.level = level ?? codec.defaultLevel
    }

    /// Parses `gzip`, `zstd`, `none`, or `CODEC:LEVEL`.
    public init(parsing text: String) throws(FormatError) {
        let parts = text.lowercased().split(separator: ":", maxSplits: 1).map(String.init)
        let codec = try Codec(parsing: parts.first ?? "")
        var level = codec.defaultLevel
        if parts.count == 2 {
            guard let l = Int(parts[1]), codec.levels.contains(l) else {
                throw FormatError(.invalidParameter, "level '\(parts[1])' is out of range for \(codec) (\(codec.levels.lowerBound)...\(codec.levels.upperBound))")
            }
            level = l
        }
        self.init(codec: codec, level: level)
    }

    public var description: String { codec == .none ? "none" : "\(codec):\(level)" }

    /// Compresses `input` as one frame.
    public func compress(_ input: [UInt8]) throws(FormatError) -> [UInt8] {
        switch codec {
        case .none: return input
        case .gzip: return try Self.gzip(input, level: level)
        case .zstd: return try Self.zstdCompress(input, level: level)
        }
    }

    /// Decompresses one frame that must expand to exactly `rawLength` bytes.
    public static func decompress(_ input: [UInt8], codec: Codec, rawLength: Int) throws(FormatError) -> [UInt8] {
        // Checked before anything is allocated for it: the length comes from stored files.
        guard (0...PackHeader.maxFrameRawLength).contains(rawLength) else {
            throw FormatError(.compression, "a frame may expand to at most \(PackHeader.maxFrameRawLength) bytes, not \(rawLength)")
        }
        let out: [UInt8]
        switch codec {
        case .none: out = input
        case .gzip: out = try gunzip(input, rawLength: rawLength)
        case .zstd: out = try zstdDecompress(input, rawLength: rawLength)
        }
        guard out.count == rawLength else {
            throw FormatError(.compression, "\(codec) frame expands to \(out.count) bytes, header says \(rawLength)")
        }
        return out
    }

    // MARK: gzip (zlib)

    /// Compresses with libdeflate: a standard gzip member, about 1.4× faster than zlib at level 9
    /// for the same size (Benchmarks/README.md). Decompression stays with zlib.
    private static func gzip(_ input: [UInt8], level: Int) throws(FormatError) -> [UInt8] {
        guard let compressor = libdeflate_alloc_compressor(Int32(level)) else {
            throw FormatError(.compression, "libdeflate cannot allocate a level-\(level) compressor")
        }
        defer { libdeflate_free_compressor(compressor) }
        var out = [UInt8](repeating: 0, count: libdeflate_gzip_compress_bound(compressor, input.count))
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                libdeflate_gzip_compress(compressor, src.baseAddress, src.count, dst.baseAddress, dst.count)
            }
        }
        guard n > 0 else { throw FormatError(.compression, "libdeflate could not compress a \(input.count)-byte frame") }
        out.removeSubrange(n...)
        return out
    }

    private static func gunzip(_ input: [UInt8], rawLength: Int) throws(FormatError) -> [UInt8] {
        var stream = z_stream()
        var rc = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw FormatError(.compression, "inflateInit2 failed (\(rc))") }
        defer { inflateEnd(&stream) }
        // One spare byte detects a frame that expands past its declared length.
        var out = [UInt8](repeating: 0, count: rawLength + 1)
        var produced = 0
        rc = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(dst.count)
                let r = inflate(&stream, Z_FINISH)
                produced = dst.count - Int(stream.avail_out)
                return r
            }
        }
        guard rc == Z_STREAM_END, stream.avail_in == 0 else {
            throw FormatError(.compression, "gzip frame is corrupt or truncated (zlib \(rc))")
        }
        out.removeSubrange(produced...)
        return out
    }

    // MARK: zstd

    private static func zstdCompress(_ input: [UInt8], level: Int) throws(FormatError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                ZSTD_compress(dst.baseAddress, dst.count, src.baseAddress, src.count, Int32(level))
            }
        }
        guard ZSTD_isError(n) == 0 else {
            throw FormatError(.compression, "zstd compression failed: \(String(cString: ZSTD_getErrorName(n)))")
        }
        out.removeSubrange(n...)
        return out
    }

    private static func zstdDecompress(_ input: [UInt8], rawLength: Int) throws(FormatError) -> [UInt8] {
        // Exactly one standard frame, as ZSTD_compress writes and as strict as the gzip reader
        // (one member): no skippable frame, nothing after the frame (Format/SPEC.md §8).
        let frame = input.withUnsafeBytes { ZSTD_findFrameCompressedSize($0.baseAddress, $0.count) }
        guard input.starts(with: [0x28, 0xB5, 0x2F, 0xFD]), ZSTD_isError(frame) == 0, frame == input.count else {
            throw FormatError(.compression, "zstd payload is not exactly one zstd frame")
        }
        var out = [UInt8](repeating: 0, count: max(rawLength, 1))
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                ZSTD_decompress(dst.baseAddress, rawLength, src.baseAddress, src.count)
            }
        }
        guard ZSTD_isError(n) == 0 else {
            throw FormatError(.compression, "zstd frame is corrupt or truncated: \(String(cString: ZSTD_getErrorName(n)))")
        }
        out.removeSubrange(n...)
        return out
    }
}
