public import Crypto
public import Foundation

/// A JSON file stored encrypted in the repository (config, index, snapshot, lock).
///
/// Implements Format/SPEC.md §Encrypted JSON files: `envelope(u8 codec ‖ u32 raw_length ‖ payload)`
/// where the payload is the JSON (`raw_length` bytes), compressed with `codec` (0 none, 1 gzip, 2 zstd).
public protocol RepoFile: Codable, Sendable {
    static var fileType: FileType { get }
    static var context: EnvelopeContext { get }
    /// Refuses a version this build does not read (files without a version field: nothing).
    func checkVersion() throws(FormatError)
}

extension RepoFile {
    public func checkVersion() throws(FormatError) {}

    /// The error for a file of a version this build does not read.
    static func unsupported(_ version: Int, current: Int) -> FormatError {
        FormatError(.unsupportedVersion, "\(context.rawValue) file version \(version) is not supported (this build reads version \(current)); upgrade convosync")
    }

    /// Largest JSON a repository file may expand to.
    public static var maxRawLength: Int { 1 << 30 }

    /// Encodes, compresses and seals the file.
    public func sealed(using key: SymmetricKey, compression: Compression = .init(codec: .none)) throws(FormatError) -> [UInt8] {
        let json = try JSONCoding.encode(self)
        let compressed = try compression.compress(json)
        let useCodec = compression.codec != .none && compressed.count < json.count
        var w = ByteWriter()
        w.u8(useCodec ? compression.codec.rawValue : Compression.Codec.none.rawValue)
        w.u32(UInt32(json.count))
        w.raw(useCodec ? compressed : json)
        return try Envelope.seal(w.bytes, using: key, context: Self.context)
    }

    /// Opens and decodes a stored file.
    public init(sealed: [UInt8], using key: SymmetricKey) throws(FormatError) {
        let plain = try Envelope.open(sealed, using: key, context: Self.context)
        var r = ByteReader(plain, what: "\(Self.context.rawValue) file")
        let codecByte = try r.u8()
        guard let codec = Compression.Codec(rawValue: codecByte) else {
            throw FormatError(.unknownType, "\(Self.context.rawValue) file names unknown codec \(codecByte)")
        }
        let rawLength = Int(try r.u32())
        guard rawLength <= Self.maxRawLength else {
            throw FormatError(.invalidHeader, "\(Self.context.rawValue) file claims \(rawLength) bytes, over the 1 GiB limit")
        }
        let json = try Compression.decompress(Array(try r.raw(r.remaining)), codec: codec, rawLength: rawLength)
        self = try JSONCoding.decode(Self.self, from: json, what: "\(Self.context.rawValue) file")
        try checkVersion()
    }
}

/// The repository config: `config` at the repository root.
///
/// Implements Format/SPEC.md §Config.
/// A repository file named by the SHA-256 of its stored bytes (every kind but the config):
/// its name is an ``ID`` of its own ``Tag``.
public protocol NamedByHash: RepoFile {
    associatedtype Tag
}

extension NamedByHash {
    /// The file's ID.
    public typealias FileID = ID<Tag>
}

public struct ConfigFile: RepoFile, Hashable {
    public static let fileType = FileType.config
    public static let context = EnvelopeContext.config
    public static let currentVersion = FormatVersion.current

    public var version: Int
    /// A random 32-byte ID, hex; names the local cache.
    public var id: String
    public var chunker: ChunkerParameters
    /// Target uncompressed bytes per frame.
    public var frameSize: Int
    /// Target stored bytes per pack.
    public var packSize: Int
    public var created: Date

    public init(version: Int = currentVersion, id: String, chunker: ChunkerParameters = .default, frameSize: Int = 1 << 20, packSize: Int = 16 << 20, created: Date = Date()) {
        (self.version, self.id, self.chunker, self.frameSize, self.packSize, self.created) = (version, id, chunker, frameSize, packSize, created)
    }

    public func validate() throws(FormatError) {
        guard version == Self.currentVersion else {
            throw FormatError(.unsupportedVersion, "repository format version \(version) is not supported (this build reads version \(Self.currentVersion)); upgrade convosync")
        }
        try chunker.validate()
        guard id.utf8.count == 64, Hex.decode(id) != nil, id == id.lowercased() else {
            throw FormatError(.invalidEncoding, "repository id '\(id.prefix(80))' is not 64 lowercase hex digits")
        }
        guard (4096...(64 << 20)).contains(frameSize), (frameSize...(1 << 30)).contains(packSize) else {
            throw FormatError(.invalidParameter, "frame size \(frameSize) or pack size \(packSize) is out of range")
        }
    }
}

/// An index file: where each blob lives (pack, frame, offset).
///
/// Implements Format/SPEC.md §Index files.
public struct IndexFile: NamedByHash, Hashable {
    public static let fileType = FileType.index
    public static let context = EnvelopeContext.index
    public typealias Tag = IndexTag

    public struct Frame: Codable, Hashable, Sendable {
        public var codec: String
        public var offset: Int
        public var length: Int
        public var rawLength: Int
        public init(codec: String, offset: Int, length: Int, rawLength: Int) {
            (self.codec, self.offset, self.length, self.rawLength) = (codec, offset, length, rawLength)
        }
    }

    public struct Blob: Codable, Hashable, Sendable {
        public var id: BlobID
        public var type: BlobType
        public var frame: Int
        public var offset: Int
        public var length: Int
        public init(id: BlobID, type: BlobType, frame: Int, offset: Int, length: Int) {
            (self.id, self.type, self.frame, self.offset, self.length) = (id, type, frame, offset, length)
        }
    }

    public struct Pack: Codable, Hashable, Sendable {
        public var id: PackID
        public var size: Int
        public var frames: [Frame]
        public var blobs: [Blob]
        public init(id: PackID, size: Int, frames: [Frame], blobs: [Blob]) {
            (self.id, self.size, self.frames, self.blobs) = (id, size, frames, blobs)
        }

        /// The index entry of a pack, derived from its header.
        public init(id: PackID, size: Int, header: PackHeader) {
            self.id = id
            self.size = size
            frames = zip(header.frames, header.frameOffsets).map { f, o in
                Frame(codec: f.codec.description, offset: o, length: f.storedLength, rawLength: f.rawLength)
            }
            blobs = []
            for (i, f) in header.frames.enumerated() {
                for (b, o) in zip(f.blobs, f.blobOffsets) {
                    blobs.append(Blob(id: b.id, type: b.type, frame: i, offset: o, length: b.length))
                }
            }
        }
    }

    public var packs: [Pack]
    /// Index files this one replaces (written by compaction); empty for ordinary writes.
    public var supersedes: [IndexID]

    public init(packs: [Pack], supersedes: [IndexID] = []) { (self.packs, self.supersedes) = (packs, supersedes) }

    /// Checks every number against the limits of SPEC §12, without arithmetic that can
    /// overflow: an index file is read from storage that others can write, and an entry near
    /// 2^63 must be an error, not a trap. Every frame lies inside its pack, and every blob
    /// inside its frame.
    public func validate() throws(FormatError) {
        for pack in packs {
            let where_ = "pack \(pack.id.short)"
            guard pack.size >= 0 else { throw FormatError(.invalidHeader, "\(where_) has a negative size \(pack.size)") }
            for (i, frame) in pack.frames.enumerated() {
                guard frame.offset >= 0, frame.length >= Envelope.overhead, frame.length <= Int(UInt32.max),
                      frame.length <= pack.size, frame.offset <= pack.size - frame.length
                else {
                    throw FormatError(.invalidHeader, "\(where_) frame \(i) at \(frame.offset)+\(frame.length) does not lie inside the \(pack.size)-byte pack")
                }
                guard (0...PackHeader.maxFrameRawLength).contains(frame.rawLength) else {
                    throw FormatError(.invalidHeader, "\(where_) frame \(i) claims \(frame.rawLength) raw bytes (at most \(PackHeader.maxFrameRawLength))")
                }
            }
            for blob in pack.blobs {
                guard blob.frame >= 0, blob.frame < pack.frames.count, blob.offset >= 0, blob.length >= 0,
                      blob.length <= pack.frames[blob.frame].rawLength,
                      blob.offset <= pack.frames[blob.frame].rawLength - blob.length
                else {
                    throw FormatError(.invalidHeader, "blob \(blob.id.short) at \(blob.offset)+\(blob.length) lies outside frame \(blob.frame) of \(where_)")
                }
            }
        }
    }
}

/// A lock file, so that maintenance does not delete what a running backup still needs.
///
/// Implements Format/SPEC.md §Locks.
public struct LockFile: NamedByHash, Hashable {
    public static let fileType = FileType.lock
    public static let context = EnvelopeContext.lock
    public typealias Tag = LockTag

    public var time: Date
    public var exclusive: Bool
    public var host: String
    public var username: String
    public var pid: Int32

    public init(time: Date, exclusive: Bool, host: String, username: String, pid: Int32) {
        (self.time, self.exclusive, self.host, self.username, self.pid) = (time, exclusive, host, username, pid)
    }
}
