import ConvoSyncStorage
public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `lstat` says about one path.
struct FileStatus {
    enum Kind { case directory, regular, symlink, other }
    var kind: Kind
    var mode: UInt32
    var size: Int
    var mtime: Date

    init(path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw ConvoSyncError(.notFound, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: kind = .directory
        case S_IFREG: kind = .regular
        case S_IFLNK: kind = .symlink
        default: kind = .other
        }
        mode = UInt32(st.st_mode & 0o7777)
        size = Int(st.st_size)
        mtime = Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec) + TimeInterval(st.st_mtim.tv_nsec) / 1e9)
    }
}

/// Reads a file in large buffers with `read(2)`, so memory does not grow with the file.
final class FileReader {
    private let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConvoSyncError(.notFound, "cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// Appends up to `count` bytes to `buffer`; returns how many were read (0 at the end).
    func read(into buffer: inout [UInt8], count: Int) throws -> Int {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: count))
        var n = 0
        while true {
            n = buffer.withUnsafeMutableBytes { raw in
                Glibc.read(fd, raw.baseAddress! + start, count)  // invariant: the buffer has just grown by count > 0
            }
            if n < 0, errno == EINTR { continue }
            break
        }
        guard n >= 0 else {
            buffer.removeSubrange(start...)
            throw ConvoSyncError(.backend, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        buffer.removeSubrange((start + n)...)
        return n
    }
}

/// A restored or staged file, written through ``AtomicFile`` (a temporary name beside it,
/// renamed into place) so a reader never sees half a file; errors are ``ConvoSyncError``s.
public final class AtomicFileWriter {
    public let path: String
    private let file: AtomicFile

    /// Writes `bytes` to `path` in one go: temporary file, fsync, rename.
    public static func write(_ bytes: [UInt8], to path: String, mode: UInt32 = 0o644, mtime: Date? = nil) throws {
        let writer = try AtomicFileWriter(path: path, mode: mode)
        try writer.write(bytes)
        try writer.finish(mtime: mtime, mode: mode, sync: true)
    }

    public init(path: String, mode: UInt32) throws {
        self.path = path
        do { file = try AtomicFile(path: path, mode: mode == 0 ? 0o644 : mode) } catch { throw Self.failure(error) }
    }

    public func write<C: Collection>(_ bytes: C) throws where C.Element == UInt8 {
        do { try file.write(bytes) } catch { throw Self.failure(error) }
    }

    /// A file outside the repository: its errors name the file, not a repository file.
    private static func failure(_ error: StorageError) -> ConvoSyncError {
        ConvoSyncError(error.code == .outOfSpace ? .outOfSpace : .backend, error.message, cause: error)
    }

    /// Flushes, sets mode and modification time, and renames into place (fsynced with `sync`).
    public func finish(mtime: Date?, mode: UInt32, sync: Bool = false) throws {
        do { try file.commit(.replace, mode: mode, mtime: mtime, durable: sync) } catch { throw Self.failure(error) }
    }
}
