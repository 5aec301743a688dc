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

/// Writes a file through a temporary name and renames it into place, so a reader never sees half a file.
public final class AtomicFileWriter {
    public let path: String
    private let tempPath: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var finished = false

    /// Writes `bytes` to `path` in one go: temporary file, fsync, rename.
    public static func write(_ bytes: [UInt8], to path: String, mode: UInt32 = 0o644, mtime: Date? = nil) throws {
        let writer = try AtomicFileWriter(path: path, mode: mode)
        try writer.write(bytes)
        try writer.finish(mtime: mtime, mode: mode, sync: true)
    }

    public init(path: String, mode: UInt32) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        tempPath = (dir as NSString).appendingPathComponent(".convosync-tmp-\(UUID().uuidString)")
        fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode == 0 ? 0o644 : mode))
        guard fd >= 0 else { throw ConvoSyncError(.backend, "cannot create \(path): \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        if !finished {
            close(fd)
            unlink(tempPath)
        }
    }

    public func write<C: Collection>(_ bytes: C) throws where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try drain() }
    }

    private func drain() throws {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress! + done, raw.count - done) }  // invariant: done < count
            if n < 0 {
                if errno == EINTR { continue }
                let code: ConvoSyncError.Code = errno == ENOSPC ? .outOfSpace : .backend
                throw ConvoSyncError(code, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, sets the modification time, and renames into place.
    public func finish(mtime: Date?, mode: UInt32, sync: Bool = false) throws {
        try drain()
        if sync && fsync(fd) != 0 {
            throw ConvoSyncError(errno == ENOSPC ? .outOfSpace : .backend, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        fchmod(fd, mode_t(mode))
        if let mtime {
            let secs = mtime.timeIntervalSince1970
            var times = [timespec(tv_sec: Int(secs), tv_nsec: Int((secs - secs.rounded(.down)) * 1e9)),
                         timespec(tv_sec: Int(secs), tv_nsec: Int((secs - secs.rounded(.down)) * 1e9))]
            futimens(fd, &times)
        }
        close(fd)
        finished = true
        guard rename(tempPath, path) == 0 else {
            let msg = String(cString: strerror(errno))
            unlink(tempPath)
            throw ConvoSyncError(.backend, "cannot rename into \(path): \(msg)")
        }
    }
}
