import ConvoSyncFormat
import Foundation

/// A local copy of index files, kept encrypted exactly as stored, so that opening a remote
/// repository does not download its whole index each time.
///
/// Files are named by their ID and verified by SHA-256 on every read.
struct IndexCache: Sendable {
    let directory: URL

    init(directory: URL) { self.directory = directory.appendingPathComponent("index") }

    func load(_ id: IndexID) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(id.hex).path) else { return nil }
        let bytes = Array(data)
        return ObjectID.hash(bytes) == id.objectID ? bytes : nil
    }

    func store(_ bytes: [UInt8], id: IndexID) {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let target = directory.appendingPathComponent(id.hex)
        try? Data(bytes).write(to: target, options: .atomic)
    }

    /// Deletes cached files that are no longer in the repository.
    func prune(keeping ids: Set<IndexID>) {
        let keep = Set(ids.map(\.hex))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where !keep.contains(name) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }
}
