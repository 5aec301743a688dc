public import Crypto

/// The table of contents at the end of a pack: its frames and the blobs in each.
///
/// Implements Format/SPEC.md §Frames and Pack format:
///
///     pack         = frame_0 ‖ … ‖ frame_{n-1} ‖ envelope(header, "pack-header") ‖ u32 header_length
///     header       = "CSPK" ‖ u8 version ‖ u32 frame_count ‖ frame_entry*
///     frame_entry  = u8 codec ‖ u32 stored_length ‖ u32 raw_length ‖ u32 blob_count ‖ blob_entry*
///     blob_entry   = u8 type ‖ u32 length ‖ id[32]
///
/// All integers little-endian. Frame offsets and blob offsets inside a frame are the running
/// sums of the lengths before them.
public struct PackHeader: Hashable, Sendable {
    public static let magic: [UInt8] = Array("CSPK".utf8)
    public static let version = UInt8(FormatVersion.current)
    /// Size of the trailing header-length field.
    public static let lengthFieldSize = 4
    /// Upper bound on a sealed header (a sanity check against garbage lengths).
    public static let maxHeaderLength = 16 << 20
    /// Encoded bytes of the header's fixed part, of each frame entry, and of each blob entry.
    public static let fixedLength = 9, frameEntryLength = 13, blobEntryLength = 37
    /// Largest encoded header a writer may produce: sealed, it stays within ``maxHeaderLength``.
    public static let maxEncodedLength = maxHeaderLength - Envelope.overhead
    /// Blobs a writer puts in one frame at most, so that one frame's entries (3.7 MB) always
    /// fit in a header beside others; frames of tiny blobs are sealed before `frameSize`.
    public static let maxBlobsPerFrame = 100_000

    /// Encoded bytes of `frame`'s entry in a header.
    public static func entryLength(of frame: Frame) -> Int { frameEntryLength + blobEntryLength * frame.blobs.count }

    /// Upper bound on a frame's raw length that readers accept (SPEC §11): writers seal a
    /// frame at `frameSize` ≤ 64 MiB plus one blob, far below; a larger claim is damage.
    public static let maxFrameRawLength = 1 << 30

    public struct Blob: Hashable, Sendable {
        public var type: BlobType
        public var id: BlobID
        /// Uncompressed length.
        public var length: Int
        public init(type: BlobType, id: BlobID, length: Int) { (self.type, self.id, self.length) = (type, id, length) }
    }

    public struct Frame: Hashable, Sendable {
        public var codec: Compression.Codec
        /// Bytes of the sealed frame in the pack.
        public var storedLength: Int
        /// Bytes after decryption and decompression.
        public var rawLength: Int
        public var blobs: [Blob]
        public init(codec: Compression.Codec, storedLength: Int, rawLength: Int, blobs: [Blob]) {
            (self.codec, self.storedLength, self.rawLength, self.blobs) = (codec, storedLength, rawLength, blobs)
        }
    }

    public var frames: [Frame]
    public init(frames: [Frame]) { self.frames = frames }

    /// Byte offset of each frame in the pack.
    public var frameOffsets: [Int] {
        var out: [Int] = []
        var o = 0
        for f in frames { out.append(o); o += f.storedLength }
        return out
    }

    /// Total bytes of all frames (the offset where the sealed header starts).
    public var framesLength: Int { frames.reduce(0) { $0 + $1.storedLength } }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.raw(Self.magic)
        w.u8(Self.version)
        w.u32(UInt32(frames.count))
        for f in frames {
            w.u8(f.codec.rawValue)
            w.u32(UInt32(f.storedLength))
            w.u32(UInt32(f.rawLength))
            w.u32(UInt32(f.blobs.count))
            for b in f.blobs {
                w.u8(b.type.rawValue)
                w.u32(UInt32(b.length))
                w.raw(b.id.objectID.bytes)
            }
        }
        return w.bytes
    }

    public init(parsing bytes: [UInt8]) throws(FormatError) {
        var r = ByteReader(bytes, what: "pack header")
        guard Array(try r.raw(4)) == Self.magic else { throw FormatError(.invalidHeader, "pack header has no CSPK magic") }
        let v = try r.u8()
        guard v == Self.version else { throw FormatError(.unsupportedVersion, "pack header version \(v) is not supported (this build reads \(Self.version))") }
        let count = Int(try r.u32())
        // Each frame entry is at least 13 bytes: reject counts the bytes cannot hold.
        guard count <= r.remaining / 13 else { throw FormatError(.invalidHeader, "pack header claims \(count) frames in \(r.remaining) bytes") }
        var frames: [Frame] = []
        for _ in 0..<count {
            let codecByte = try r.u8()
            guard let codec = Compression.Codec(rawValue: codecByte) else {
                throw FormatError(.unknownType, "pack header names unknown codec \(codecByte)")
            }
            let stored = Int(try r.u32())
            let raw = Int(try r.u32())
            let n = Int(try r.u32())
            guard n <= r.remaining / 37 else { throw FormatError(.invalidHeader, "pack header claims \(n) blobs in \(r.remaining) bytes") }
            var blobs: [Blob] = []
            blobs.reserveCapacity(n)
            var sum = 0
            for _ in 0..<n {
                let t = try r.u8()
                guard let type = BlobType(rawValue: t) else { throw FormatError(.unknownType, "pack header names unknown blob type \(t)") }
                let len = Int(try r.u32())
                let id = BlobID(try ObjectID(bytes: try r.raw(32)))
                blobs.append(Blob(type: type, id: id, length: len))
                sum += len
            }
            guard sum == raw else { throw FormatError(.invalidHeader, "frame blob lengths sum to \(sum), frame raw length is \(raw)") }
            guard stored >= Envelope.overhead else { throw FormatError(.invalidHeader, "frame stored length \(stored) is shorter than an envelope") }
            frames.append(Frame(codec: codec, storedLength: stored, rawLength: raw, blobs: blobs))
        }
        guard r.remaining == 0 else { throw FormatError(.invalidHeader, "pack header has \(r.remaining) trailing bytes") }
        self.frames = frames
    }

    /// Seals the header and appends the length field: the bytes that end a pack.
    public func sealedTrailer(using key: SymmetricKey) throws(FormatError) -> [UInt8] {
        var sealed = try Envelope.seal(encoded(), using: key, context: .packHeader)
        sealed.append(contentsOf: UInt32(sealed.count).littleEndianBytes)
        return sealed
    }

    /// Reads the header of a whole pack held in memory, checking that frames and header tile it exactly.
    public init(pack: [UInt8], using key: SymmetricKey) throws(FormatError) {
        guard pack.count >= Self.lengthFieldSize else {
            throw FormatError(.truncated, "pack is \(pack.count) bytes, too short for a header length")
        }
        let headerLength = Self.headerLength(fromLastBytes: Array(pack.suffix(Self.lengthFieldSize)))
        guard headerLength >= Envelope.overhead, headerLength <= pack.count - Self.lengthFieldSize, headerLength <= Self.maxHeaderLength else {
            throw FormatError(.invalidHeader, "pack header length \(headerLength) is out of range for a \(pack.count)-byte pack")
        }
        let start = pack.count - Self.lengthFieldSize - headerLength
        try self.init(sealed: Array(pack[start..<(pack.count - Self.lengthFieldSize)]), using: key)
        guard framesLength == start else {
            throw FormatError(.invalidHeader, "pack frames cover \(framesLength) bytes but the header starts at \(start)")
        }
    }

    /// Opens and parses a sealed header.
    public init(sealed: [UInt8], using key: SymmetricKey) throws(FormatError) {
        try self.init(parsing: try Envelope.open(sealed, using: key, context: .packHeader))
    }

    public static func headerLength(fromLastBytes b: [UInt8]) -> Int {
        b.count < 4 ? 0 : Int(UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24)
    }
}
