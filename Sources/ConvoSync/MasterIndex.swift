public import ConvoSyncFormat

/// Every blob's location, merged from all index files.
///
/// Implements the lookup side of Format/SPEC.md §Index files: a blob is found as
/// (pack, frame, offset in frame, length).
public struct MasterIndex: Sendable {
    public struct Location: Hashable, Sendable {
        public var pack: PackID
        public var frame: IndexFile.Frame
        public var frameNumber: Int
        public var offset: Int
        public var length: Int
        public var type: BlobType
    }

    struct Entry: Sendable {
        var pack: Int32
        var frame: Int32
        var offset: Int32
        var length: Int32
        var type: BlobType
    }

    private(set) var entries: [BlobID: Entry] = [:]
    private(set) var packs: [PackID] = []
    private(set) var frames: [[IndexFile.Frame]] = []
    private(set) var packSizes: [PackID: Int] = [:]
    /// Index files merged so far.
    public private(set) var indexFiles: Set<IndexID> = []
    /// The index file that listed each pack first.
    private var packIndex: [PackID: IndexID] = [:]

    public init() {}

    public var blobCount: Int { entries.count }
    public var packCount: Int { packs.count }
    public var packIDs: [PackID] { packs }
    public func packSize(_ id: PackID) -> Int? { packSizes[id] }

    public func contains(_ id: BlobID) -> Bool { entries[id] != nil }

    public var blobIDs: Set<BlobID> { Set(entries.keys) }

    public func location(of id: BlobID) -> Location? {
        guard let e = entries[id] else { return nil }
        let p = Int(e.pack), f = Int(e.frame)
        return Location(pack: packs[p], frame: frames[p][f], frameNumber: f, offset: Int(e.offset), length: Int(e.length), type: e.type)
    }

    /// Every blob with its location (for stats and check).
    public func allBlobs() -> [(BlobID, Location)] {
        var out: [(BlobID, Location)] = []
        out.reserveCapacity(entries.count)
        for id in entries.keys {
            if let loc = location(of: id) { out.append((id, loc)) }
        }
        return out
    }

    public mutating func add(_ file: IndexFile, id: IndexID?) {
        if let id { indexFiles.insert(id) }
        for pack in file.packs {
            if let id, packIndex[pack.id] == nil { packIndex[pack.id] = id }
            add(pack)
        }
    }

    /// The index file that describes `pack`, if it came from one.
    public func indexFile(of pack: PackID) -> IndexID? { packIndex[pack] }

    public mutating func add(_ pack: IndexFile.Pack) {
        guard packSizes[pack.id] == nil else { return }
        let p = Int32(packs.count)
        packs.append(pack.id)
        frames.append(pack.frames)
        packSizes[pack.id] = pack.size
        for b in pack.blobs where entries[b.id] == nil {
            entries[b.id] = Entry(pack: p, frame: Int32(b.frame), offset: Int32(b.offset), length: Int32(b.length), type: b.type)
        }
    }
}
