public import ConvoSyncFormat
public import ConvoSyncStorage
import Crypto
public import NIOCore
public import Foundation
#if canImport(Glibc)
import Glibc
import CoreFoundation  // owns `struct stat` once NIOSSL is in the build (MemberImportVisibility)
#endif

/// Why a request against the pack store failed, mapped to an HTTP status by the responder.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, exists, badRequest, tooLarge, insufficientStorage, forbidden, io }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { (self.kind, self.message) = (kind, message) }
    public var description: String { message }
}

/// One repository's files on the server's disk, in the layout of Format/SPEC.md §Layout (which
/// is restic's): `config`, `data/XX/<id>`, `keys/`, `locks/`, `snapshots/`, `index/`, and
/// ConvoSync's `sessions/` and `refs/`.
///
/// Uploads stream to a temporary file while their SHA-256 is computed; the file is fsynced
/// and `link(2)`ed into place only when the hash matches the name (write-once: an existing
/// name is never replaced), then the directory is fsynced. Nothing partial is ever visible.
public struct RepositoryStore: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    public static let types: [FileType] = [.key, .pack, .index, .snapshot, .lock, .session, .ref]

    public var exists: Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent("config").path) || FileManager.default.fileExists(atPath: root.appendingPathComponent("keys").path) }

    /// Creates the directories (idempotent, like restic's rest-server).
    public func create() throws {
        do {
            for t in Self.types { try FileManager.default.createDirectory(at: root.appendingPathComponent(t.rawValue), withIntermediateDirectories: true) }
            for i in 0..<256 {
                try FileManager.default.createDirectory(at: root.appendingPathComponent("data/\(Hex.encode([UInt8(i)]))"), withIntermediateDirectories: true)
            }
        } catch {
            throw StoreError(.io, "cannot create the repository: \(error.localizedDescription)")
        }
    }

    public func path(_ handle: Handle) -> String { root.appendingPathComponent(handle.relativePath).path }

    public func size(_ handle: Handle) -> Int? {
        var st = Glibc.stat()
        guard lstat(path(handle), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(st.st_size)
    }

    public func list(_ type: FileType) throws -> [FileInfo] {
        guard FileManager.default.fileExists(atPath: root.path) else { throw StoreError(.notFound, "no such repository") }
        do { return try LocalBackend(path: root.path).list(type) } catch {
            throw StoreError(.io, "cannot list \(type.rawValue): \(error)")
        }
    }

    public func remove(_ handle: Handle) throws {
        guard unlink(path(handle)) == 0 else {
            if errno == ENOENT { throw StoreError(.notFound, "\(handle) does not exist") }
            throw StoreError(.io, "cannot delete \(handle): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes a small server-side file (a manifest, a count, the token secret) through a
    /// fsynced temporary file beside it, mode 0600. With `replace`, it renames over what is
    /// there; otherwise the first writer wins (`link`) and the answer is false when a file
    /// existed already.
    @discardableResult
    static func writeSmallFile(_ bytes: [UInt8], to path: String, replace: Bool) throws -> Bool {
        let tmp = path + ".tmp-\(UUID().uuidString)"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(.io, "cannot write \(path): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        defer { unlink(tmp) }
        guard written == bytes.count else { throw StoreError(.io, "cannot write \(path): short write") }
        let done = replace ? rename(tmp, path) == 0 : link(tmp, path) == 0
        let failure = errno
        if done || (!replace && failure == EEXIST) { return done }
        throw StoreError(.io, "cannot write \(path): \(String(cString: strerror(failure)))")
    }

    /// Reads `range` of a file in chunks, calling `body` for each: each chunk is read straight
    /// into a fresh ByteBuffer, which goes to the socket without another copy.
    public func read(_ handle: Handle, range: Range<Int>, chunk: Int = 1 << 20, _ body: (ByteBuffer) async throws -> Void) async throws {
        let fd = open(path(handle), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(errno == ENOENT ? .notFound : .io, "cannot open \(handle)") }
        defer { close(fd) }
        let allocator = ByteBufferAllocator()
        var offset = range.lowerBound
        while offset < range.upperBound {
            let want = min(chunk, range.upperBound - offset)
            var buffer = allocator.buffer(capacity: want)
            var failure: Int32 = 0
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                let got = pread(fd, raw.baseAddress!, want, off_t(offset))  // invariant: capacity >= want > 0
                if got < 0 { failure = errno }
                return max(got, 0)
            }
            if failure == EINTR { continue }
            guard n > 0 else { throw StoreError(.io, "\(handle) shrank while being read") }
            try await body(buffer)
            offset += n
        }
    }

    /// An upload in progress: bytes go to a temporary file, hashed on the way.
    public final class Upload: @unchecked Sendable {
        let store: RepositoryStore
        let handle: Handle
        let tempPath: String
        let fd: Int32
        let limit: Int
        var hasher = SHA256()
        public private(set) var size = 0
        var done = false

        init(store: RepositoryStore, handle: Handle, limit: Int) throws {
            self.store = store
            self.handle = handle
            self.limit = limit
            let dir = (store.path(handle) as NSString).deletingLastPathComponent
            if !FileManager.default.fileExists(atPath: dir) {
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            tempPath = (dir as NSString).appendingPathComponent(".tmp-\(UUID().uuidString)")
            fd = open(tempPath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StoreError(errno == ENOSPC ? .insufficientStorage : .io, "cannot create a temporary file: \(String(cString: strerror(errno)))") }
        }

        deinit {
            if !done {
                close(fd)
                unlink(tempPath)
            }
        }

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            size += bytes.count
            guard size <= limit else { throw StoreError(.tooLarge, "the body is larger than the \(limit)-byte limit") }
            hasher.update(bufferPointer: bytes)
            var written = 0
            while written < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)  // invariant: count > written >= 0
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StoreError(errno == ENOSPC || errno == EDQUOT ? .insufficientStorage : .io, "cannot write: \(String(cString: strerror(errno)))")
                }
                written += n
            }
        }

        /// A ref version must hold a session file's name: 64 lowercase hex digits.
        public func checkRefContents() throws {
            var bytes = [UInt8](repeating: 0, count: 64)
            guard size == 64, pread(fd, &bytes, 64, 0) == 64, Handle.isValidName(String(decoding: bytes, as: UTF8.self)) else {
                throw StoreError(.badRequest, "a ref holds a session file's name: 64 hex digits")
            }
        }

        /// Verifies the name, makes the file durable and links it into place.
        public func commit(verifyHash: Bool) throws {
            let digest = Hex.encode(Array(hasher.finalize()))
            if verifyHash && digest != handle.name {
                throw StoreError(.badRequest, "the body's SHA-256 is \(digest), not the name \(handle.name)")
            }
            guard fsync(fd) == 0 else { throw StoreError(errno == ENOSPC ? .insufficientStorage : .io, "cannot fsync: \(String(cString: strerror(errno)))") }
            close(fd)
            done = true
            defer { unlink(tempPath) }
            let target = store.path(handle)
            guard link(tempPath, target) == 0 else {
                if errno == EEXIST { throw StoreError(.exists, "\(handle) exists already") }
                throw StoreError(.io, "cannot link \(handle): \(String(cString: strerror(errno)))")
            }
            let dir = open((target as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dir >= 0 {
                fsync(dir)
                close(dir)
            }
        }
    }

    public func upload(_ handle: Handle, limit: Int) throws -> Upload {
        if size(handle) != nil { throw StoreError(.exists, "\(handle) exists already") }
        return try Upload(store: self, handle: handle, limit: limit)
    }

    /// Bytes used by this repository's files.
    public func usage() -> Int {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey]) else { return 0 }
        var total = 0
        for case let url as URL in walker {
            guard let values = try? url.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey]), values.isRegularFile == true else { continue }
            total += values.fileSize ?? 0
        }
        return total
    }
}

/// Bytes stored per user, counted once from disk and then kept up to date by the writes and
/// deletes that go through the server.
public final class UsageTracker: @unchecked Sendable {
    let root: URL
    private let lock = NSLock()
    private var bytes: [String: Int] = [:]

    public init(reposDirectory: URL) { root = reposDirectory }

    public func usage(_ user: String) -> Int {
        if let known = lock.withLock({ bytes[user] }) { return known }
        let counted = RepositoryStore(root: root.appendingPathComponent(user)).usage()
        return lock.withLock {
            if bytes[user] == nil { bytes[user] = counted }
            return bytes[user] ?? counted
        }
    }

    public func add(_ user: String, _ delta: Int) {
        _ = usage(user)
        lock.withLock { bytes[user, default: 0] += delta }
    }
}
