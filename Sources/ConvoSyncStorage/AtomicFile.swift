public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that appears whole or not at all: the project's one "temporary file, fsync, then
/// link or rename into place" writer. Bytes go to a temporary file beside the target (named
/// `.tmp-…`, which no listing shows); ``commit(_:mtime:durable:)`` fsyncs it and puts it in
/// place, then fsyncs the directory. Dropped without a commit, it leaves nothing behind.
public final class AtomicFile {
    /// How the finished file takes its place.
    public enum Placement: Sendable {
        /// `link(2)`: only if no file has the name (write-once; the first writer wins).
        case createNew
        /// `rename(2)`: over whatever is there.
        case replace
    }

    public let path: String
    public let temporaryPath: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var open = true

    /// Starts a file for `path`, created with `mode`.
    public init(path: String, mode: UInt32 = 0o600) throws(StorageError) {
        self.path = path
        temporaryPath = (path as NSString).deletingLastPathComponent + "/.tmp-\(UUID().uuidString)"
        fd = Glibc.open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw StorageError.posix("create \(path)") }
    }

    deinit {
        if open {
            close(fd)
            unlink(temporaryPath)
        }
    }

    /// Writes `bytes` now (large pieces) or buffers them (small ones, up to 1 MiB).
    public func write(_ bytes: some Collection<UInt8>) throws(StorageError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try drain() }
    }

    /// Writes the bytes at `raw` now.
    public func write(_ raw: UnsafeRawBufferPointer) throws(StorageError) {
        try drain()
        try Self.writeAll(fd, raw, path: path)
    }

    /// Writes what is buffered to the temporary file, which stays open and unplaced: for a
    /// caller that reads it back from ``temporaryPath`` (an upload streamed on to S3).
    public func flush() throws(StorageError) { try drain() }

    /// Drops the file now instead of when it is released: nothing is left behind.
    public func discard() {
        guard open else { return }
        open = false
        close(fd)
        unlink(temporaryPath)
    }

    private func drain() throws(StorageError) {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        do {
            try buffer.withUnsafeBytes { raw in try Self.writeAll(fd, raw, path: path) }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.io, "cannot write \(path): \(error)")
        }
    }

    private static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, path: String) throws(StorageError) {
        var done = 0
        while done < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)  // invariant: done < count, so the buffer has a base
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.posix("write \(path)")
            }
            done += n
        }
    }

    /// Finishes the file and puts it in place. With `durable` (the default) the file and its
    /// directory are fsynced, so after a crash it is either whole or absent. Returns false for
    /// `.createNew` when a file of that name existed (nothing was changed).
    @discardableResult
    public func commit(_ placement: Placement, mode: UInt32? = nil, mtime: Date? = nil, durable: Bool = true) throws(StorageError) -> Bool {
        open = false
        defer { unlink(temporaryPath) }
        do {
            try drain()
        } catch {
            close(fd)
            throw error
        }
        if let mode { fchmod(fd, mode_t(mode)) }
        if let mtime {
            let seconds = mtime.timeIntervalSince1970
            let t = timespec(tv_sec: Int(seconds.rounded(.down)), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
            var times = [t, t]
            futimens(fd, &times)
        }
        let synced = !durable || fsync(fd) == 0
        let syncError = errno
        close(fd)
        guard synced else {
            errno = syncError
            throw StorageError.posix("write \(path)")
        }
        switch placement {
        case .createNew:
            guard link(temporaryPath, path) == 0 else {
                if errno == EEXIST { return false }
                throw StorageError.posix("create \(path)")
            }
        case .replace:
            guard rename(temporaryPath, path) == 0 else { throw StorageError.posix("replace \(path)") }
        }
        if durable { Self.syncDirectory(of: path) }
        return true
    }

    /// Writes `bytes` as the file at `path` in one go.
    @discardableResult
    public static func write(
        _ bytes: some Collection<UInt8>, to path: String, mode: UInt32 = 0o600, placement: Placement = .replace, mtime: Date? = nil, durable: Bool = true
    ) throws(StorageError) -> Bool {
        let file = try AtomicFile(path: path, mode: mode)
        try file.write(bytes)
        return try file.commit(placement, mode: mode, mtime: mtime, durable: durable)
    }

    /// fsyncs the directory that holds `path`, so a new name in it survives a crash.
    public static func syncDirectory(of path: String) {
        let dir = Glibc.open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return }
        _ = fsync(dir)
        close(dir)
    }
}

extension StorageError {
    /// The error for a failed system call (`errno`), with what to do where there is something.
    public static func posix(_ what: String, _ code: Int32 = errno) -> StorageError {
        switch code {
        case ENOENT: StorageError(.notFound, "cannot \(what): no such file")
        case ENOSPC, EDQUOT: StorageError(.outOfSpace, "cannot \(what): \(String(cString: strerror(code))); free some space and run the command again")
        case EACCES, EPERM: StorageError(.permissionDenied, "cannot \(what): permission denied; choose a directory you may write, or change its permissions")
        case EROFS: StorageError(.permissionDenied, "cannot \(what): the file system is read-only; choose a directory you may write")
        case EEXIST: StorageError(.alreadyExists, "cannot \(what): it exists already")
        default: StorageError(.io, "cannot \(what): \(String(cString: strerror(code)))")
        }
    }
}
