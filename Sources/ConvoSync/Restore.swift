public import ConvoSyncFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Options for restoring a snapshot.
public struct RestoreOptions: Sendable {
    /// Directory the snapshot's top-level entries are restored into.
    public var target: String
    /// Shell patterns (fnmatch) matched against each file's path in the snapshot
    /// (`name/sub/file`) and its base name; empty restores everything.
    public var include: [String] = []
    public var progress: (@Sendable (RestoreProgress) -> Void)?

    public init(target: String) { self.target = target }
}

public struct RestoreProgress: Sendable {
    public var files = 0
    public var bytes = 0
}

/// Restores a snapshot's files byte for byte, each written atomically (temporary name, then rename).
///
/// ```swift
/// let (id, snapshot) = try await repo.findSnapshot("latest")
/// let count = try await Restore(repository: repo, options: RestoreOptions(target: "/tmp/out")).run(snapshot)
/// ```
public struct Restore {
    let repository: Repository
    let options: RestoreOptions

    public init(repository: Repository, options: RestoreOptions) {
        self.repository = repository
        self.options = options
    }

    /// Restores `snapshot`; returns the number of files written.
    @discardableResult
    public func run(_ snapshot: SnapshotFile) async throws -> RestoreProgress {
        var progress = RestoreProgress()
        do {
            try FileManager.default.createDirectory(atPath: options.target, withIntermediateDirectories: true)
        } catch {
            throw ConvoSyncError(.backend, "cannot create target directory \(options.target): \(error.localizedDescription)")
        }
        try await restoreTree(snapshot.tree, into: options.target, relative: "", progress: &progress)
        return progress
    }

    private func matches(_ relative: String) -> Bool {
        guard !options.include.isEmpty else { return true }
        let base = (relative as NSString).lastPathComponent
        for pattern in options.include {
            if fnmatch(pattern, relative, 0) == 0 { return true }
            if fnmatch(pattern, base, 0) == 0 { return true }
            if relative.hasPrefix(pattern + "/") { return true }
        }
        return false
    }

    private func restoreTree(_ id: BlobID, into dir: String, relative: String, progress: inout RestoreProgress) async throws {
        let tree = try await repository.loadJSONBlob(Tree.self, id: id)
        for node in tree.nodes {
            guard Self.isSafeName(node.name) else {
                throw ConvoSyncError(.corrupted, "snapshot tree \(id.short) holds an unsafe name '\(node.name)'; refusing to restore it")
            }
            let path = (dir as NSString).appendingPathComponent(node.name)
            let rel = relative.isEmpty ? node.name : relative + "/" + node.name
            switch node.type {
            case .dir:
                guard let sub = node.subtree else { throw ConvoSyncError(.corrupted, "directory \(rel) has no subtree") }
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                try await restoreTree(sub, into: path, relative: rel, progress: &progress)
                chmod(path, mode_t(node.mode))
            case .file:
                guard matches(rel) else { continue }
                let writer = try AtomicFileWriter(path: path, mode: node.mode)
                for chunk in node.content ?? [] {
                    let bytes = try await repository.loadBlob(chunk)
                    try writer.write(bytes)
                    progress.bytes += bytes.count
                }
                try writer.finish(mtime: node.mtime, mode: node.mode)
                progress.files += 1
                options.progress?(progress)
            case .conversation:
                guard matches(rel) else { continue }
                guard let c = node.conversation else { throw ConvoSyncError(.corrupted, "conversation \(rel) has no ranges") }
                let writer = try AtomicFileWriter(path: path, mode: node.mode)
                try await writeConversation(c, to: writer, progress: &progress)
                try writer.finish(mtime: node.mtime, mode: node.mode)
                progress.files += 1
                options.progress?(progress)
            case .symlink:
                guard matches(rel) else { continue }
                unlink(path)
                guard symlink(node.linkTarget ?? "", path) == 0 else {
                    throw ConvoSyncError(.backend, "cannot create symlink \(path): \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    /// Writes a conversation's messages, joined by line feeds, byte for byte as backed up.
    func writeConversation(_ c: Tree.Conversation, to writer: AtomicFileWriter, progress: inout RestoreProgress) async throws {
        do { try MessageSplitter.validate(messageCount: c.messageCount, finalNewline: c.finalNewline) } catch {
            throw ConvoSyncError(.corrupted, "conversation \(c.id): \(error.message)")
        }
        var next = 0
        for ref in c.ranges {
            let range = try await repository.loadJSONBlob(MessageRange.self, id: ref.id)
            do { try range.validate() } catch { throw ConvoSyncError.wrap(error, file: "range \(ref.id.short)") }
            guard range.start == next, range.start == ref.start, range.end == ref.end else {
                throw ConvoSyncError(.corrupted, "conversation \(c.id): range \(ref.id.short) covers [\(range.start), \(range.end)), expected to start at \(next)")
            }
            for (i, chunks) in range.messages.enumerated() {
                if range.start + i > 0 { try writer.write(CollectionOfOne(UInt8(ascii: "\n"))) }
                for chunk in chunks {
                    let bytes = try await repository.loadBlob(chunk)
                    try writer.write(bytes)
                    progress.bytes += bytes.count
                }
            }
            next = range.end
        }
        guard next == c.messageCount else {
            throw ConvoSyncError(.corrupted, "conversation \(c.id): ranges cover \(next) messages, snapshot says \(c.messageCount)")
        }
        if c.finalNewline { try writer.write(CollectionOfOne(UInt8(ascii: "\n"))) }
    }

    /// A name that is one path component: not empty, not `.` or `..`, no slash or NUL.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }
}
