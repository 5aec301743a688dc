public import ConvoSyncFormat
public import Foundation
import ConvoSyncStorage

/// One entry of a snapshot listing.
public struct SnapshotEntry: Codable, Sendable, Hashable {
    public var path: String
    public var type: Tree.NodeType
    public var size: Int?
    public var mtime: Date
    public var messages: Int?
    /// Blob IDs that make up the content (chunks, or range blobs for conversations).
    public var blobs: [BlobID]
}

extension Repository {
    /// Every entry of a snapshot's tree, depth first, with paths relative to the snapshot root.
    public func walk(_ tree: BlobID, prefix: String = "") async throws -> [SnapshotEntry] {
        var out: [SnapshotEntry] = []
        let t = try await loadJSONBlob(Tree.self, id: tree)
        for node in t.nodes {
            let path = prefix.isEmpty ? node.name : prefix + "/" + node.name
            let blobs = node.content ?? node.conversation?.ranges.map(\.id) ?? []
            out.append(SnapshotEntry(path: path, type: node.type, size: node.size, mtime: node.mtime, messages: node.conversation?.messageCount, blobs: blobs))
            if node.type == .dir, let sub = node.subtree {
                out += try await walk(sub, prefix: path)
            }
        }
        return out
    }

    /// Repository-wide figures: what is stored and how much it shrank.
    public func stats() async throws -> RepositoryStats {
        let index = try await masterIndex()
        var s = RepositoryStats()
        s.snapshots = try await list(.snapshot, as: SnapshotID.self).count
        s.packs = index.packCount
        s.blobs = index.blobCount
        for pack in index.packIDs { s.packBytes += index.packSize(pack) ?? 0 }
        var rawByType: [String: Int] = [:]
        for (_, loc) in index.allBlobs() {
            s.rawBlobBytes += loc.length
            rawByType[loc.type.description, default: 0] += loc.length
        }
        s.rawBytesByType = rawByType
        for t in [FileType.index, .snapshot, .key, .config] {
            for info in try await backend.list(t) { s.metadataBytes += info.size }
        }
        s.totalBytes = s.packBytes + s.metadataBytes
        return s
    }
}

public struct RepositoryStats: Codable, Sendable {
    public var snapshots = 0
    public var packs = 0
    public var blobs = 0
    /// Uncompressed bytes of all distinct blobs.
    public var rawBlobBytes = 0
    public var rawBytesByType: [String: Int] = [:]
    /// Bytes of pack files as stored.
    public var packBytes = 0
    /// Bytes of index, snapshot, key and config files.
    public var metadataBytes = 0
    /// Everything the repository occupies.
    public var totalBytes = 0
}

/// How two snapshots differ, path by path.
public struct SnapshotDiff: Codable, Sendable {
    public enum Change: String, Codable, Sendable { case added, removed, modified }
    public struct Entry: Codable, Sendable {
        public var path: String
        public var change: Change
        /// For conversations: messages in the first and second snapshot.
        public var messagesBefore: Int?
        public var messagesAfter: Int?
    }
    public var entries: [Entry]

    public static func compute(_ a: [SnapshotEntry], _ b: [SnapshotEntry]) -> SnapshotDiff {
        let before = Dictionary(a.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        let after = Dictionary(b.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        var out: [Entry] = []
        for path in Set(before.keys).union(after.keys).sorted() {
            switch (before[path], after[path]) {
            case (nil, let n?): out.append(Entry(path: path, change: .added, messagesAfter: n.messages))
            case (let o?, nil): out.append(Entry(path: path, change: .removed, messagesBefore: o.messages))
            case (let o?, let n?):
                if isModified(o, n) {
                    out.append(Entry(path: path, change: .modified, messagesBefore: o.messages, messagesAfter: n.messages))
                }
            default: break
            }
        }
        return SnapshotDiff(entries: out)
    }

    private static func isModified(_ o: SnapshotEntry, _ n: SnapshotEntry) -> Bool {
        if o.type != n.type { return true }
        if o.type == .dir { return false }
        return o.blobs != n.blobs || o.size != n.size
    }
}
