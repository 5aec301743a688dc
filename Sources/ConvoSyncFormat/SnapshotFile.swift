public import Foundation

/// A snapshot: one backup of a set of paths, rooted at a tree blob.
///
/// Implements Format/SPEC.md §Snapshots.
public struct SnapshotFile: NamedByHash, Hashable {
    public static let fileType = FileType.snapshot
    public static let context = EnvelopeContext.snapshot
    public typealias Tag = SnapshotTag
    public static let currentVersion = FormatVersion.current

    public struct Summary: Codable, Hashable, Sendable {
        public var files: Int
        public var conversations: Int
        public var messages: Int
        /// Bytes of file content in the snapshot.
        public var bytes: Int
        /// Blobs written by this backup (not found in the repository before).
        public var blobsAdded: Int
        /// Bytes this backup added to the repository, as stored.
        public var bytesAdded: Int
        public init(files: Int = 0, conversations: Int = 0, messages: Int = 0, bytes: Int = 0, blobsAdded: Int = 0, bytesAdded: Int = 0) {
            (self.files, self.conversations, self.messages, self.bytes, self.blobsAdded, self.bytesAdded) = (files, conversations, messages, bytes, blobsAdded, bytesAdded)
        }
    }

    public var version: Int
    public var time: Date
    public var host: String
    public var username: String
    public var paths: [String]
    public var tags: [String]
    public var tree: BlobID
    public var parent: SnapshotID?
    public var summary: Summary

    public init(version: Int = currentVersion, time: Date, host: String, username: String, paths: [String], tags: [String], tree: BlobID, parent: SnapshotID?, summary: Summary) {
        (self.version, self.time, self.host, self.username, self.paths, self.tags) = (version, time, host, username, paths, tags)
        (self.tree, self.parent, self.summary) = (tree, parent, summary)
    }
}

/// One directory of a snapshot, stored as a `tree` blob (JSON, plaintext inside its frame).
///
/// Implements Format/SPEC.md §Trees.
public struct Tree: Codable, Hashable, Sendable {
    public var nodes: [Node]
    public init(nodes: [Node]) { self.nodes = nodes.sorted { $0.name < $1.name } }

    public enum NodeType: String, Codable, Sendable {
        case dir, file, conversation, symlink
    }

    public struct Node: Codable, Hashable, Sendable {
        public var name: String
        public var type: NodeType
        public var mode: UInt32
        public var mtime: Date
        /// Bytes of content (files and conversations).
        public var size: Int?
        /// Child tree (directories).
        public var subtree: BlobID?
        /// Chunk blob IDs in order (files).
        public var content: [BlobID]?
        /// Message ranges (conversations).
        public var conversation: Conversation?
        /// Link target (symlinks).
        public var linkTarget: String?

        public init(name: String, type: NodeType, mode: UInt32, mtime: Date, size: Int? = nil, subtree: BlobID? = nil, content: [BlobID]? = nil, conversation: Conversation? = nil, linkTarget: String? = nil) {
            (self.name, self.type, self.mode, self.mtime, self.size) = (name, type, mode, mtime, size)
            (self.subtree, self.content, self.conversation, self.linkTarget) = (subtree, content, conversation, linkTarget)
        }
    }

    /// A `.jsonl` file stored as a message stream.
    public struct Conversation: Codable, Hashable, Sendable {
        /// The file name without `.jsonl` (Claude Code and Codex name files by session id).
        public var id: String
        public var messageCount: Int
        /// Whether the file ends with a line feed (so restore is byte-identical).
        public var finalNewline: Bool
        public var ranges: [RangeRef]
        public init(id: String, messageCount: Int, finalNewline: Bool, ranges: [RangeRef]) {
            (self.id, self.messageCount, self.finalNewline, self.ranges) = (id, messageCount, finalNewline, ranges)
        }
    }

    /// A reference to a `range` blob covering messages [start, end).
    public struct RangeRef: Codable, Hashable, Sendable {
        public var start: Int
        public var end: Int
        public var id: BlobID
        public init(start: Int, end: Int, id: BlobID) { (self.start, self.end, self.id) = (start, end, id) }
    }
}

/// Messages [start, end) of a conversation, stored as a `range` blob.
///
/// Implements Format/SPEC.md §Conversation ranges. `messages[i]` lists the chunk blob IDs of
/// message `start + i` (one ID unless the message was over the chunking threshold).
public struct MessageRange: Codable, Hashable, Sendable {
    public var start: Int
    public var end: Int
    public var messages: [[BlobID]]

    public init(start: Int, messages: [[BlobID]]) {
        self.start = start
        self.end = start + messages.count
        self.messages = messages
    }

    public func validate() throws(FormatError) {
        guard start >= 0, end >= start, end - start == messages.count, messages.allSatisfy({ !$0.isEmpty }) else {
            throw FormatError(.invalidHeader, "range [\(start), \(end)) lists \(messages.count) messages")
        }
    }

    /// Consolidated ranges cover messages [k·1000, (k+1)·1000).
    public static let consolidationSize = 1000
}

extension SnapshotFile {
    /// Readers refuse a version other than this build's (Format/SPEC.md §15, §19).
    public func checkVersion() throws(FormatError) {
        guard version == Self.currentVersion else { throw Self.unsupported(version, current: Self.currentVersion) }
    }
}
