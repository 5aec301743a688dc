public import Crypto

/// A run of blobs compressed as one stream and sealed as one envelope.
///
/// Implements Format/SPEC.md §Frames and Pack format. Sealing and opening are pure, so a writer may seal
/// several frames at once on different cores.
public struct FrameBuilder: Sendable {
    public private(set) var blobs: [PackHeader.Blob] = []
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity n: Int = 0) { bytes.reserveCapacity(n) }

    public var isEmpty: Bool { blobs.isEmpty }
    public var rawLength: Int { bytes.count }

    public mutating func append<C: Collection>(_ data: C, id: BlobID, type: BlobType) where C.Element == UInt8 {
        bytes.append(contentsOf: data)
        blobs.append(PackHeader.Blob(type: type, id: id, length: data.count))
    }

    /// Compresses and seals the frame.
    public func seal(compression: Compression, using key: SymmetricKey) throws(FormatError) -> SealedFrame {
        let compressed = try compression.compress(bytes)
        // A codec that does not help is not used: the frame is stored as `none`.
        let (codec, payload) = compressed.count < bytes.count ? (compression.codec, compressed) : (.none, bytes)
        let sealed = try Envelope.seal(payload, using: key, context: .frame)
        return SealedFrame(bytes: sealed, entry: PackHeader.Frame(codec: codec, storedLength: sealed.count, rawLength: bytes.count, blobs: blobs))
    }
}

/// A frame ready to be appended to a pack.
public struct SealedFrame: Sendable {
    public var bytes: [UInt8]
    public var entry: PackHeader.Frame
}

extension PackHeader.Frame {
    /// Decrypts and decompresses the sealed frame, returning its raw bytes.
    public func open(_ sealed: [UInt8], using key: SymmetricKey) throws(FormatError) -> [UInt8] {
        guard sealed.count == storedLength else {
            throw FormatError(.truncated, "frame is \(sealed.count) bytes, header says \(storedLength)")
        }
        let payload = try Envelope.open(sealed, using: key, context: .frame)
        return try Compression.decompress(payload, codec: codec, rawLength: rawLength)
    }

    /// Byte offset of each blob inside the raw frame.
    public var blobOffsets: [Int] {
        var out: [Int] = []
        out.reserveCapacity(blobs.count)
        var o = 0
        for b in blobs { out.append(o); o += b.length }
        return out
    }
}
