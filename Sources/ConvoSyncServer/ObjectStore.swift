public import Foundation
public import NIOCore
public import ConvoSyncStorage
import ConvoSyncFormat
#if canImport(Glibc)
import Glibc
import CoreFoundation  // owns `struct stat` once NIOSSL is in the build (MemberImportVisibility)
import CDispatch
#endif

/// One stored object, as listed: its full key and its size.
public struct StoredObject: Sendable, Hashable {
    public var key: String
    public var size: Int
    public init(key: String, size: Int) { (self.key, self.size) = (key, size) }
}

/// Where the server keeps repository files: opaque objects under `/`-separated keys such as
/// `alice/notes/data/ab/ab12…`. Two implementations: ``DiskStore`` (the data directory, the
/// default) and ``S3Store`` (`STORAGE_BACKEND=s3`).
///
/// The contract every implementation keeps, and ``RepositoryStore`` relies on:
/// - an object is visible whole or not at all (uploads are staged, then committed);
/// - ``commit(staged:size:sha256:to:)`` and `put(…, ifAbsent: true)` never replace an object, and
///   exactly one of two racing writers of a key wins: this is the compare-and-swap of refs;
/// - listings never show staged (temporary) files.
public protocol ObjectStore: Sendable {
    /// Where the objects live, for logs and errors (never a secret).
    var location: String { get }
    /// Checks at start that the store can be used; throws a message saying what to fix.
    func check() async throws
    /// The object's size, nil when there is none.
    func size(_ key: String) async throws -> Int?
    /// Every object whose key starts with `prefix` (which may end inside a name).
    func list(prefix: String) async throws -> [StoredObject]
    /// Streams `range` of an object to `body`, in chunks.
    func read(_ key: String, range: Range<Int>, _ body: (ByteBuffer) async throws -> Void) async throws
    /// A whole small object (a manifest, a ref, a key file); nil when there is none.
    func get(_ key: String) async throws -> [UInt8]?
    /// Writes a small object. With `ifAbsent`, an existing object is kept and the answer is false.
    @discardableResult
    func put(_ bytes: [UInt8], at key: String, ifAbsent: Bool) async throws -> Bool
    /// A new temporary file for an upload that will become `key`.
    func stage(for key: String) throws -> AtomicFile
    /// Makes a fully written staged file the object `key`, write-once: false when `key` existed
    /// (the staged file is dropped). The staged file is gone afterwards in every case.
    func commit(_ staged: AtomicFile, size: Int, sha256: String, to key: String) async throws -> Bool
    /// Deletes an object; `StoreError(.notFound)` when there is none.
    func delete(_ key: String) async throws
    /// Whether a repository was created under `prefix` (`alice/notes/`).
    func repositoryExists(_ prefix: String) async throws -> Bool
    /// Creates a repository under `prefix`; idempotent, like restic's rest-server.
    func createRepository(_ prefix: String) async throws
    /// Deletes temporary files older than `age` that a crash left behind.
    func sweep(olderThan age: TimeInterval)
}

extension StoreError {
    /// A storage error as the server answers it.
    init(_ error: StorageError) {
        let kind: Kind = switch error.code {
        case .notFound: .notFound
        case .outOfSpace: .insufficientStorage
        default: .io
        }
        self.init(kind, error.message)
    }

    static func errno(_ what: String, _ code: Int32 = Glibc.errno) -> StoreError {
        let kind: Kind = switch code {
        case ENOENT: .notFound
        case ENOSPC, EDQUOT: .insufficientStorage
        default: .io
        }
        return StoreError(kind, "\(what): \(String(cString: strerror(code)))")
    }
}

/// Objects as files under the data directory's `repos/`, in restic's layout. Uploads are
/// staged beside their target, fsynced and `link(2)`ed into place (write-once: link fails on
/// an existing name), then the directory is fsynced.
public struct DiskStore: ObjectStore {
    public let root: URL

    public init(root: URL) { self.root = root }

    public var location: String { root.path }

    func path(_ key: String) -> String { root.path + "/" + key }

    public func check() async throws {
        do { try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true) } catch {
            throw StoreError(.io, "cannot create \(root.path): \(error.localizedDescription)")
        }
    }

    public func size(_ key: String) async throws -> Int? {
        var st = Glibc.stat()
        guard lstat(path(key), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(st.st_size)
    }

    public func list(prefix: String) async throws -> [StoredObject] {
        let slash = prefix.lastIndex(of: "/").map { prefix.index(after: $0) } ?? prefix.startIndex
        let directory = String(prefix[..<slash])
        var out: [StoredObject] = []
        Self.walk(path(directory), key: directory) { key, size in
            if key.hasPrefix(prefix) { out.append(StoredObject(key: key, size: size)) }
        }
        return out
    }

    /// Regular files under `dir`, recursively, skipping hidden (temporary) names.
    static func walk(_ dir: String, key: String, _ found: (String, Int) -> Void) {
        guard let d = opendir(dir) else { return }
        defer { closedir(d) }
        while let entry = readdir(d) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            if name.hasPrefix(".") { continue }
            let full = dir + "/" + name
            var st = Glibc.stat()
            guard lstat(full, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFREG: found(key + name, Int(st.st_size))
            case S_IFDIR: walk(full, key: key + name + "/", found)
            default: continue
            }
        }
    }

    public func read(_ key: String, range: Range<Int>, _ body: (ByteBuffer) async throws -> Void) async throws {
        try await Self.read(path: path(key), name: key, range: range, body)
    }

    /// Reads `range` of a file in chunks, each straight into a fresh ByteBuffer that goes to
    /// the socket without another copy.
    static func read(path: String, name: String, range: Range<Int>, chunk: Int = 1 << 20, _ body: (ByteBuffer) async throws -> Void) async throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.errno("cannot open \(name)") }
        defer { close(fd) }
        let allocator = ByteBufferAllocator()
        var offset = range.lowerBound
        while offset < range.upperBound {
            let want = min(chunk, range.upperBound - offset)
            var buffer = allocator.buffer(capacity: want)
            var failure: Int32 = 0
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                let got = pread(fd, raw.baseAddress!, want, off_t(offset))  // invariant: capacity >= want > 0
                if got < 0 { failure = Glibc.errno }
                return max(got, 0)
            }
            if failure == EINTR { continue }
            guard n > 0 else { throw StoreError(.io, "\(name) shrank while being read") }
            try await body(buffer)
            offset += n
        }
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        FileManager.default.contents(atPath: path(key)).map(Array.init)
    }

    public func put(_ bytes: [UInt8], at key: String, ifAbsent: Bool) async throws -> Bool {
        let target = path(key)
        try? FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return try Self.writeSmallFile(bytes, to: target, replace: !ifAbsent)
    }

    /// Writes a small file through a fsynced temporary file beside it, mode 0600. With
    /// `replace`, it renames over what is there; otherwise the first writer wins (`link`) and
    /// the answer is false when a file existed already.
    @discardableResult
    static func writeSmallFile(_ bytes: [UInt8], to path: String, replace: Bool) throws -> Bool {
        do { return try AtomicFile.write(bytes, to: path, mode: 0o600, placement: replace ? .replace : .createNew) } catch {
            throw StoreError(error)
        }
    }

    public func stage(for key: String) throws -> AtomicFile {
        let target = path(key)
        let dir = (target as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: dir) {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        do { return try AtomicFile(path: target) } catch { throw StoreError(error) }
    }

    public func commit(_ staged: AtomicFile, size: Int, sha256: String, to key: String) async throws -> Bool {
        precondition(staged.path == path(key), "a staged file is committed to the key it was staged for")
        defer { staged.discard() }
        do { return try staged.commit(.createNew) } catch { throw StoreError(error) }
    }

    public func delete(_ key: String) async throws {
        guard unlink(path(key)) == 0 else { throw StoreError.errno("cannot delete \(key)") }
    }

    public func repositoryExists(_ prefix: String) async throws -> Bool {
        FileManager.default.fileExists(atPath: path(prefix + "config")) || FileManager.default.fileExists(atPath: path(prefix + "keys"))
    }

    public func createRepository(_ prefix: String) async throws {
        do {
            for t in RepositoryStore.types {
                try FileManager.default.createDirectory(atPath: path(prefix + t.rawValue), withIntermediateDirectories: true)
            }
            for i in 0..<256 {
                try FileManager.default.createDirectory(atPath: path(prefix + "data/" + String(format: "%02x", i)), withIntermediateDirectories: true)
            }
        } catch {
            throw StoreError(.io, "cannot create the repository: \(error.localizedDescription)")
        }
    }

    public func sweep(olderThan age: TimeInterval) {
        LocalBackend(path: root.path).removeStaleTemporaryFiles(olderThan: age)
    }
}
