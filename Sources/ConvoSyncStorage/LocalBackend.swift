public import ConvoSyncFormat
public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A repository in a local directory, laid out as Format/SPEC.md §Layout describes.
///
/// Writes are atomic and durable (``AtomicFile``): a temporary file (`.tmp-*`, never listed)
/// is written and fsynced, linked into place, and the directory is fsynced. A process killed mid-write
/// leaves at most a temporary file, which ``create()``'s layout ignores and
/// ``removeStaleTemporaryFiles(olderThan:)`` deletes.
public struct LocalBackend: Backend {
    public let root: URL
    public var location: String { root.path }
    public let maxConcurrentOperations = 2

    public init(path: String) {
        root = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
    }

    private func url(_ h: Handle) -> URL { root.appendingPathComponent(h.relativePath) }

    public func create() throws {
        if access(url(.config).path, F_OK) == 0 {
            throw StorageError(.alreadyExists, "a repository exists already at \(root.path)")
        }
        for t in FileType.allCases where t != .config {
            try Self.makeDirectories(root.appendingPathComponent(t.rawValue), for: root.path)
        }
        for i in 0..<256 {
            try Self.makeDirectories(root.appendingPathComponent("data/\(Hex.encode([UInt8(i)]))"), for: root.path)
        }
    }

    public func save(_ handle: Handle, data: [UInt8]) throws {
        let writer = try self.writer(for: handle)
        try data.withUnsafeBytes { try writer.write($0) }
        try writer.commit()
    }

    /// A file written piece by piece (a download in progress), made visible whole by
    /// ``Writer/commit()`` exactly as ``save(_:data:)`` makes its file: fsynced, then
    /// `link(2)`ed into place. Dropped without a commit, it leaves nothing behind.
    public func writer(for handle: Handle) throws -> Writer {
        let target = url(handle)
        let dir = target.deletingLastPathComponent()
        if access(target.path, F_OK) == 0 { throw StorageError(.alreadyExists, "\(handle) exists already") }
        if access(dir.path, F_OK) != 0 { try Self.makeDirectories(dir, for: dir.path) }
        return try Writer(handle: handle, target: target)
    }

    /// A file being written (``AtomicFile``), linked into place by ``commit()``.
    public final class Writer {
        let handle: Handle
        let file: AtomicFile

        init(handle: Handle, target: URL) throws(StorageError) {
            self.handle = handle
            file = try AtomicFile(path: target.path, mode: 0o600)
        }

        public func write(_ bytes: UnsafeRawBufferPointer) throws { try file.write(bytes) }

        /// fsync, then link into place; `.alreadyExists` if another writer got there first.
        public func commit() throws {
            // link(2) fails if the target exists, so two writers of one name never replace each other's file.
            guard try file.commit(.createNew) else { throw StorageError(.alreadyExists, "\(handle) exists already") }
        }
    }

    public func load(_ handle: Handle, range: Range<Int>?) throws -> [UInt8] {
        let fd = open(url(handle).path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.posix("open \(handle)") }
        defer { close(fd) }
        guard let size = fileSize(fd: fd) else { throw StorageError.posix("stat \(handle)") }
        let r = try checkRange(range, size: size, handle: handle)
        var out = [UInt8](repeating: 0, count: r.count)
        var done = 0
        try out.withUnsafeMutableBytes { raw in
            while done < r.count {
                let n = pread(fd, raw.baseAddress! + done, r.count - done, off_t(r.lowerBound + done))  // invariant: count > 0
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StorageError.posix("read \(handle)")
                }
                if n == 0 { throw StorageError(.io, "\(handle) shrank while being read") }
                done += n
            }
        }
        return out
    }

    public func stat(_ handle: Handle) throws -> Int {
        guard let size = fileSize(path: url(handle).path) else { throw StorageError.posix("stat \(handle)") }
        return size
    }

    public func list(_ type: FileType) throws -> [FileInfo] {
        if type == .config {
            return (try? stat(.config)).map { [FileInfo(handle: .config, size: $0)] } ?? []
        }
        let base = root.appendingPathComponent(type.rawValue)
        var dirs = [base]
        if type.isSharded {
            // Only the 256 shard directories (two hex digits); anything else in data/ is foreign and ignored.
            let shards = ((try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? []).filter { name in
                name.utf8.count == 2 && Hex.decode(name) != nil && name == name.lowercased()
            }
            dirs = shards.sorted().map { base.appendingPathComponent($0) }
        }
        var out: [FileInfo] = []
        for dir in dirs {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: dir.path) } catch {
                if !FileManager.default.fileExists(atPath: dir.path) { continue }
                throw StorageError(.io, "cannot list \(dir.path): \(error.localizedDescription)")
            }
            for name in names.sorted() where Handle.isValidName(name, type: type) && (!type.isSharded || name.hasPrefix(dir.lastPathComponent)) {
                let h = try Handle(type, name: name)
                guard let size = fileSize(path: dir.appendingPathComponent(name).path) else { continue }
                out.append(FileInfo(handle: h, size: size))
            }
        }
        return out
    }

    public func remove(_ handle: Handle) throws {
        guard unlink(url(handle).path) == 0 else { throw StorageError.posix("remove \(handle)") }
        AtomicFile.syncDirectory(of: url(handle).path)
    }

    /// Deletes temporary files left by interrupted writes.
    public func removeStaleTemporaryFiles(olderThan age: TimeInterval = 3600) {
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: root.path) else { return }
        let cutoff = Date().addingTimeInterval(-age)
        while let rel = e.nextObject() as? String {
            guard (rel as NSString).lastPathComponent.hasPrefix(".tmp-") else { continue }
            let p = root.appendingPathComponent(rel).path
            if let m = (try? fm.attributesOfItem(atPath: p))?[.modificationDate] as? Date, m < cutoff { unlink(p) }
        }
    }


    /// `mkdir -p`: creates `dir` and any missing parents; errors name `place` (the directory
    /// the user chose) and say what to do.
    static func makeDirectories(_ dir: URL, for place: String) throws {
        var missing: [String] = []
        var path = dir.standardizedFileURL.path
        while access(path, F_OK) != 0, path != "/" {
            missing.append(path)
            path = (path as NSString).deletingLastPathComponent
        }
        for p in missing.reversed() where mkdir(p, 0o777) != 0 && errno != EEXIST {
            throw StorageError.posix("create repository directories in \(place)")
        }
    }

}

extension ID {
    /// For names already validated as 64 hex digits.
    init(unchecked hex: String) {
        // invariant: callers pass only names for which Handle.isValidName is true.
        try! self.init(hex: hex)  // invariant: callers pass only names that are 64 hex digits
    }
}

private func fileSize(path: String) -> Int? {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : nil
}

private func fileSize(fd: Int32) -> Int? {
    var st = stat()
    return fstat(fd, &st) == 0 ? Int(st.st_size) : nil
}

