public import ConvoSyncFormat
import Foundation
import ConvoSyncStorage

/// What to back up and how.
public struct BackupOptions: Sendable {
    public var paths: [String]
    public var tags: [String] = []
    public var host: String = Identity.host
    public var compression: Compression = .default
    /// The snapshot to compare with; by default the latest one with the same host and paths.
    public var parent: SnapshotID?
    /// What the snapshot records as its paths (default: `paths`), e.g. names without a temporary folder.
    public var recordedPaths: [String]?
    /// Frames sealed at once (defaults to the number of cores).
    public var concurrency: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Called on the backup's task, at most every few megabytes.
    public var progress: (@Sendable (BackupProgress) -> Void)?

    public init(paths: [String]) { self.paths = paths }
}

/// How far a backup has come.
public struct BackupProgress: Sendable {
    public var files = 0
    public var bytes = 0
    public var totalFiles = 0
    public var totalBytes = 0
    public var bytesAdded = 0
}

/// What a backup produced.
public struct BackupResult: Sendable {
    public var snapshotID: SnapshotID
    public var snapshot: SnapshotFile
    public var parent: SnapshotID?
    /// Everything this backup stored: packs, index files and the snapshot file itself.
    public var bytesAdded: Int
    /// Blobs the snapshot refers to that were stored before this backup (deduplicated, or
    /// kept from the parent): where they live is what a session's manifest declares.
    public var reusedBlobs: Set<BlobID> = []
}

/// Backs up files and directories into a new snapshot. `.jsonl` files are stored as
/// conversations: one blob per message, message ranges per Format/SPEC.md §Conversation ranges.
///
/// Write order (Format/SPEC.md §Read/Write ordering invariants): packs, then the index files naming them,
/// then the snapshot. A backup stopped at any point leaves no snapshot and no index entry
/// that points at something missing.
///
/// ```swift
/// var options = BackupOptions(paths: ["/home/me/.claude/projects"])
/// options.compression = try Compression(parsing: "zstd:3")
/// let result = try await Backup(repository: repo, options: options).run()
/// ```
public final class Backup {
    let repository: Repository
    let options: BackupOptions
    private let packer: PackerManager
    private var known: Set<BlobID> = []
    private var summary = SnapshotFile.Summary()
    private var progress = BackupProgress()
    private var lastReport = 0
    private var indexBytes = 0
    private var reused: Set<BlobID> = []
    private let chunker: Chunker
    private static let readSize = 4 << 20

    public init(repository: Repository, options: BackupOptions) {
        self.repository = repository
        self.options = options
        chunker = Chunker(parameters: repository.config.chunker)
        packer = PackerManager(
            destination: repository.destination, key: repository.key.encryption, compression: options.compression,
            frameSize: repository.config.frameSize, packSize: repository.config.packSize, concurrency: options.concurrency)
    }

    public func run() async throws -> BackupResult {
        defer { packer.cancel() }
        guard !options.paths.isEmpty else { throw ConvoSyncError(.invalidArgument, "give at least one path to back up") }
        let paths = options.paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        let names = paths.map { ($0 as NSString).lastPathComponent }
        if let (path, _) = zip(paths, names).first(where: { !Restore.isSafeName($0.1) }) {
            throw ConvoSyncError(.invalidArgument, "cannot back up \(path): it has no name to restore it under; back up its entries instead")
        }
        guard Set(names).count == names.count else {
            throw ConvoSyncError(.invalidArgument, "two paths end in the same name (\(names.joined(separator: ", "))); back them up separately")
        }
        for p in paths { _ = try FileStatus(path: p) }

        known = try await repository.masterIndex().blobIDs
        let parent = try await findParent(paths: paths)
        let parentRoot: Tree? = if let parent { try await repository.loadJSONBlob(Tree.self, id: parent.1.tree) } else { nil }

        for p in paths {
            let (files, bytes) = Self.count(p)
            progress.totalFiles += files
            progress.totalBytes += bytes
        }
        var nodes: [Tree.Node] = []
        for (path, name) in zip(paths, names) {
            let previous = parentRoot?.nodes.first { $0.name == name }
            if let node = try await backupNode(path: path, name: name, previous: previous) { nodes.append(node) }
        }
        let root = try await saveTree(Tree(nodes: nodes))
        try await packer.flush()
        try await writeIndex()

        summary.blobsAdded = packer.blobsWritten
        // The snapshot cannot record its own size; the result adds it.
        summary.bytesAdded = packer.bytesWritten + indexBytes
        let snapshot = SnapshotFile(
            time: Date(), host: options.host, username: Identity.username, paths: options.recordedPaths ?? paths, tags: options.tags,
            tree: root, parent: parent?.0, summary: summary)
        let (id, stored) = try await repository.store(snapshot, compression: options.compression)
        report(force: true)
        var result = BackupResult(snapshotID: id, snapshot: snapshot, parent: parent?.0, bytesAdded: summary.bytesAdded + stored.count)
        result.reusedBlobs = reused
        return result
    }

    private func findParent(paths: [String]) async throws -> (SnapshotID, SnapshotFile)? {
        if let id = options.parent { return (id, try await repository.load(SnapshotFile.self, id: id)) }
        return try await repository.snapshots().last { $0.1.host == options.host && $0.1.paths.sorted() == paths.sorted() }
    }

    private func writeIndex() async throws {
        let packs = packer.takeWrittenPacks()
        guard !packs.isEmpty else { return }
        let (_, size) = try await repository.writeIndex(packs, compression: options.compression)
        indexBytes += size
    }

    // MARK: walking

    private static func count(_ path: String) -> (Int, Int) {
        guard let st = try? FileStatus(path: path) else { return (0, 0) }
        switch st.kind {
        case .regular: return (1, st.size)
        case .directory:
            var files = 0
            var bytes = 0
            for child in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                let (f, b) = count((path as NSString).appendingPathComponent(child))
                files += f
                bytes += b
            }
            return (files, bytes)
        default: return (0, 0)
        }
    }

    private func backupNode(path: String, name: String, previous: Tree.Node?) async throws -> Tree.Node? {
        let st = try FileStatus(path: path)
        switch st.kind {
        case .directory:
            let subtree: Tree? = if let sub = previous?.subtree, previous?.type == .dir {
                try await repository.loadJSONBlob(Tree.self, id: sub)
            } else { nil }
            var children: [Tree.Node] = []
            let entries: [String]
            do { entries = try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
                throw ConvoSyncError(.backend, "cannot list \(path): \(error.localizedDescription)")
            }
            for child in entries {
                let prev = subtree?.nodes.first { $0.name == child }
                if let node = try await backupNode(path: (path as NSString).appendingPathComponent(child), name: child, previous: prev) {
                    children.append(node)
                }
            }
            let id = try await saveTree(Tree(nodes: children))
            return Tree.Node(name: name, type: .dir, mode: st.mode, mtime: st.mtime, subtree: id)
        case .symlink:
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
            return Tree.Node(name: name, type: .symlink, mode: st.mode, mtime: st.mtime, linkTarget: target)
        case .regular:
            summary.files += 1
            summary.bytes += st.size
            defer {
                progress.files += 1
                report(force: false)
            }
            if let previous, previous.size == st.size, abs(previous.mtime.timeIntervalSince(st.mtime)) < 0.001, try await isComplete(previous) {
                // Stored times keep milliseconds (Format/SPEC.md §Trees), so compare at that precision.
                // Unchanged since the parent snapshot: reuse its node without reading the file.
                progress.bytes += st.size
                if let c = previous.conversation {
                    summary.conversations += 1
                    summary.messages += c.messageCount
                }
                reused.formUnion(previous.content ?? [])
                reused.formUnion(previous.conversation?.ranges.map(\.id) ?? [])
                var node = previous
                node.mode = st.mode
                return node
            }
            if name.hasSuffix(".jsonl") {
                let conversation = try await backupConversation(path: path, id: String(name.dropLast(6)), previous: previous?.conversation)
                summary.conversations += 1
                summary.messages += conversation.messageCount
                return Tree.Node(name: name, type: .conversation, mode: st.mode, mtime: st.mtime, size: st.size, conversation: conversation)
            }
            let content = try await backupFile(path: path)
            return Tree.Node(name: name, type: .file, mode: st.mode, mtime: st.mtime, size: st.size, content: content)
        case .other:
            FileHandle.standardError.write(Data("convosync: skipping \(path): not a regular file, directory or symlink\n".utf8))
            return nil
        }
    }

    /// Whether every blob a parent node refers to is still in the index.
    private func isComplete(_ node: Tree.Node) async throws -> Bool {
        if let content = node.content { return content.allSatisfy { known.contains($0) } }
        if let c = node.conversation { return c.ranges.allSatisfy { known.contains($0.id) } }
        return node.type != .file && node.type != .conversation
    }

    // MARK: content

    /// Hashes a blob and hands it to the packer if the repository lacks it.
    private func saveBlob(_ bytes: UnsafeRawBufferPointer, type: BlobType) -> BlobID {
        let id = BlobID(ObjectID.hash(bytes))
        if known.insert(id).inserted { packer.add(bytes, id: id, type: type) } else { reused.insert(id) }
        return id
    }

    private func saveBlob(_ bytes: [UInt8], type: BlobType) async throws -> BlobID {
        let id = bytes.withUnsafeBytes { saveBlob($0, type: type) }
        try await packer.sealFullFrames()
        return id
    }

    private func saveTree(_ tree: Tree) async throws -> BlobID {
        try await saveBlob(try JSONCoding.encode(tree), type: .tree)
    }

    private func backupFile(path: String) async throws -> [BlobID] {
        let reader = try FileReader(path: path)
        var buffer: [UInt8] = []
        var ids: [BlobID] = []
        var atEnd = false
        while !atEnd || !buffer.isEmpty {
            if !atEnd && buffer.count < chunker.parameters.maxSize {
                atEnd = try reader.read(into: &buffer, count: Self.readSize) == 0
                continue
            }
            // Cut every chunk the buffer holds in full; keep the tail unless the file has ended.
            var consumed = 0
            let cuts = buffer.withUnsafeBufferPointer { chunker.boundaries(of: $0) }
            for cut in cuts {
                if !atEnd && cut.upperBound == buffer.count && cut.count < chunker.parameters.maxSize { break }
                ids.append(buffer.withUnsafeBytes { saveBlob(UnsafeRawBufferPointer(rebasing: $0[cut]), type: .data) })
                try await packer.sealFullFrames()
                consumed = cut.upperBound
                progress.bytes += cut.count
            }
            buffer.removeSubrange(0..<consumed)
            report(force: false)
        }
        return ids
    }

    private func backupConversation(path: String, id: String, previous: Tree.Conversation?) async throws -> Tree.Conversation {
        let reader = try FileReader(path: path)
        var buffer: [UInt8] = []
        var messages: [[BlobID]] = []
        var splitter = MessageSplitter()
        var finalNewline = false
        while true {
            let atEnd = try reader.read(into: &buffer, count: Self.readSize) == 0
            let (lines, consumed) = buffer.withUnsafeBufferPointer { splitter.messages(in: $0) }
            for line in lines {
                messages.append(saveMessage(line, in: buffer))
                try await packer.sealFullFrames()
                progress.bytes += line.count + 1
            }
            if atEnd {
                let (last, endsWithLF) = splitter.finish(restCount: buffer.count - consumed)
                finalNewline = endsWithLF
                if last {
                    messages.append(saveMessage(consumed..<buffer.count, in: buffer))
                    try await packer.sealFullFrames()
                    progress.bytes += buffer.count - consumed
                }
                break
            }
            buffer.removeSubrange(0..<consumed)
            report(force: false)
        }
        // A file of one empty line is "\n": one empty message with a final newline.
        var parentRanges: [(Tree.RangeRef, MessageRange)] = []
        for ref in previous?.ranges ?? [] {
            guard let range = try? await repository.loadJSONBlob(MessageRange.self, id: ref.id) else { break }
            parentRanges.append((ref, range))
        }
        let plan = ConversationRanges.plan(messages: messages, parent: parentRanges)
        var refs = plan.reused
        reused.formUnion(refs.map(\.id))
        for range in plan.new {
            let rid = try await saveBlob(try JSONCoding.encode(range), type: .range)
            refs.append(Tree.RangeRef(start: range.start, end: range.end, id: rid))
        }
        return Tree.Conversation(id: id, messageCount: messages.count, finalNewline: finalNewline, ranges: refs)
    }

    /// Stores one message: one blob, or content-defined chunks when over the threshold.
    private func saveMessage(_ range: Range<Int>, in buffer: [UInt8]) -> [BlobID] {
        buffer.withUnsafeBytes { raw in
            let line = UnsafeRawBufferPointer(rebasing: raw[range])
            if line.count <= chunker.parameters.messageThreshold {
                return [saveBlob(line, type: .data)]
            }
            return chunker.boundaries(of: line.assumingMemoryBound(to: UInt8.self)).map { cut in
                saveBlob(UnsafeRawBufferPointer(rebasing: line[cut]), type: .data)
            }
        }
    }

    private func report(force: Bool) {
        guard let handler = options.progress else { return }
        progress.bytesAdded = packer.bytesWritten
        if force || progress.bytes - lastReport >= 1 << 20 || progress.files == progress.totalFiles {
            lastReport = progress.bytes
            handler(progress)
        }
    }
}
