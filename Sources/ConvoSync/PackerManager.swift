import ConvoSyncFormat
import ConvoSyncStorage
import Crypto

/// Collects new blobs into frames and frames into packs, sealing frames on every core.
///
/// Data blobs and metadata blobs (ranges, trees) go to separate packs, so that reading a
/// snapshot's structure never downloads message bytes. Frames are compressed and sealed in
/// detached tasks (at most `concurrency` at once); their results are appended to packs in
/// submission order, so memory stays bounded by `concurrency × frameSize + packSize`.
///
/// Implements the write side of Format/SPEC.md §Frames and Pack format and §Read/Write ordering invariants: a pack is
/// stored completely before any index file names it.
final class PackerManager {
    private let destination: any CommitDestination
    private let key: SymmetricKey
    private let compression: Compression
    private let frameSize: Int
    private let packSize: Int
    private let concurrency: Int

    private struct OpenPack {
        var bytes: [UInt8] = []
        var frames: [PackHeader.Frame] = []
        /// Encoded length of the header these frames need.
        var headerLength = PackHeader.fixedLength
    }

    private var frames: [Bool: FrameBuilder] = [:]
    private var packs: [Bool: OpenPack] = [:]
    private var inFlight: [(isMetadata: Bool, task: Task<SealedFrame, any Error>)] = []

    /// Packs stored so far, in the order they were written.
    private(set) var writtenPacks: [IndexFile.Pack] = []
    /// Bytes of packs stored so far.
    private(set) var bytesWritten = 0
    private(set) var blobsWritten = 0

    init(destination: any CommitDestination, key: SymmetricKey, compression: Compression, frameSize: Int, packSize: Int, concurrency: Int) {
        self.destination = destination
        self.key = key
        self.compression = compression
        self.frameSize = frameSize
        self.packSize = packSize
        self.concurrency = max(1, concurrency)
    }

    /// Adds one blob (the caller has checked it is new). Call ``sealFullFrames()`` soon after.
    func add<C: Collection>(_ data: C, id: BlobID, type: BlobType) where C.Element == UInt8 {
        frames[type.isMetadata, default: FrameBuilder(reservingCapacity: frameSize + frameSize / 4)].append(data, id: id, type: type)
        blobsWritten += 1
    }

    /// Hands every frame that has reached the frame size (or the blob count a header entry
    /// may hold, SPEC §11) to a sealing task.
    func sealFullFrames() async throws {
        for meta in [false, true] {
            if let f = frames[meta], f.rawLength >= frameSize || f.blobs.count >= PackHeader.maxBlobsPerFrame { try await submit(meta) }
        }
    }

    private func submit(_ meta: Bool) async throws {
        guard let frame = frames.removeValue(forKey: meta), !frame.isEmpty else { return }
        while inFlight.count >= concurrency { try await collectOldest() }
        let compression = self.compression
        let key = self.key
        let task = Task.detached(priority: .userInitiated) { () throws -> SealedFrame in
            try frame.seal(compression: compression, using: key)
        }
        inFlight.append((meta, task))
    }

    private func collectOldest() async throws {
        let (meta, task) = inFlight.removeFirst()
        let sealed = try await task.value
        // A pack is closed by its stored bytes, or before its header would outgrow what readers
        // accept (many tiny blobs compress to few bytes).
        let entryLength = PackHeader.entryLength(of: sealed.entry)
        if let p = packs[meta], p.headerLength + entryLength > PackHeader.maxEncodedLength { try await finishPack(meta) }
        packs[meta, default: OpenPack()].bytes.append(contentsOf: sealed.bytes)
        packs[meta, default: OpenPack()].frames.append(sealed.entry)
        packs[meta, default: OpenPack()].headerLength += entryLength
        if let p = packs[meta], p.bytes.count >= packSize {
            try await finishPack(meta)
        }
    }

    private func finishPack(_ meta: Bool) async throws {
        guard var pack = packs.removeValue(forKey: meta), !pack.frames.isEmpty else { return }
        let header = PackHeader(frames: pack.frames)
        pack.bytes.append(contentsOf: try header.sealedTrailer(using: key))
        let id = PackID(ObjectID.hash(pack.bytes))
        do {
            try await destination.write(Handle(.pack, id: id), pack.bytes)
        } catch {
            throw ConvoSyncError.wrap(error, file: "data/\(id.hex)")
        }
        bytesWritten += pack.bytes.count
        writtenPacks.append(IndexFile.Pack(id: id, size: pack.bytes.count, header: header))
    }

    /// Seals every open frame and stores every open pack.
    func flush() async throws {
        for meta in [false, true] { try await submit(meta) }
        while !inFlight.isEmpty { try await collectOldest() }
        for meta in [false, true] { try await finishPack(meta) }
    }

    /// Hands over the packs written since the last call.
    func takeWrittenPacks() -> [IndexFile.Pack] {
        defer { writtenPacks = [] }
        return writtenPacks
    }

    /// Cancels frames still being sealed (after an error).
    func cancel() {
        for t in inFlight { t.task.cancel() }
        inFlight = []
    }
}
