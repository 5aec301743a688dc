import ConvoSyncFormat
public import ConvoSyncStorage
public import NIOCore

/// A run of repository files in one byte stream: what `POST /api/v1/<user>/<repo>/sessions/save`
/// carries (Format/API.md §Bundle).
///
/// ```
/// bundle = "CSBN" ‖ u8 version (1) ‖ entry* ‖ u8 0
/// entry  = u8 len(type) ‖ type ‖ u8 len(name) ‖ name ‖ u64 size (big-endian) ‖ size bytes
/// ```
/// `type` is a directory name of Format/SPEC.md §Layout (`data`, `index`, `snapshots`,
/// `sessions`, `refs`, …) and `name` a file name valid for it. A `refs` entry, if any, comes
/// last and is the compare-and-swap that makes the rest visible.
public enum BundleFormat {
    public static let magic: [UInt8] = Array("CSBN".utf8)
    public static let version: UInt8 = 1
    public static let contentType = "application/vnd.convosync.bundle.v1"

    /// The entry type of a save's manifest: named by its session, holding JSON
    /// `{"parent": SESSION|null, "needs": ["type/name", …]}` (Format/API.md §Manifest).
    public static let manifestType = "manifest"

    public static func header() -> [UInt8] { magic + [version] }

    public static func entryHeader(_ handle: Handle, size: Int) -> [UInt8] {
        entryHeader(type: handle.type.rawValue, name: handle.name, size: size)
    }

    public static func entryHeader(type typeName: String, name nameText: String, size: Int) -> [UInt8] {
        let type = Array(typeName.utf8)
        let name = Array(nameText.utf8)
        var out: [UInt8] = [UInt8(type.count)] + type + [UInt8(name.count)] + name
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(size) >> UInt64(shift))) }
        return out
    }

    public static let end: [UInt8] = [0]

    /// Encodes whole files (for small bundles built in memory).
    public static func encode(_ files: [(Handle, [UInt8])]) -> [UInt8] {
        var out = header()
        for (handle, data) in files {
            out += entryHeader(handle, size: data.count)
            out += data
        }
        return out + end
    }
}

/// One entry's header, as read by ``BundleStreamReader``.
public struct BundleEntry: Sendable {
    /// The directory name (`data`, `refs`, …) or ``BundleFormat/manifestType``.
    public var type: String
    public var name: String
    public var size: UInt64
    /// Bytes of the entry's header on the wire (for limits that count them).
    public var headerSize: Int
}

/// Reads a bundle as it arrives from a stream of ByteBuffers (a request body on the server, a
/// response body on the client): the header, then entry by entry, each entry's bytes read
/// whole, streamed to a sink or skipped. Memory holds what the stream delivered and was not
/// read yet, never a whole bundle.
public struct BundleStreamReader<Body: AsyncIteratorProtocol> where Body.Element == ByteBuffer {
    var body: Body
    var buffer = ByteBuffer()
    /// The error for a stream that ends before the bundle does.
    let truncated: @Sendable () -> any Error

    public init(_ body: Body, truncated: @escaping @Sendable () -> any Error) {
        (self.body, self.truncated) = (body, truncated)
    }

    /// Reads the magic and version; false when they are not ``BundleFormat/header()``'s.
    public mutating func readHeader() async throws -> Bool {
        try await bytes(BundleFormat.header().count) == BundleFormat.header()
    }

    /// The next entry's header; nil at the end mark.
    public mutating func nextEntry() async throws -> BundleEntry? {
        let typeLength = Int(try await bytes(1)[0])
        if typeLength == 0 { return nil }
        let type = String(decoding: try await bytes(typeLength), as: UTF8.self)
        let nameLength = Int(try await bytes(1)[0])
        let name = String(decoding: try await bytes(nameLength), as: UTF8.self)
        let size = try await bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return BundleEntry(type: type, name: name, size: size, headerSize: 10 + typeLength + nameLength)
    }

    /// The next `n` bytes, whole.
    public mutating func bytes(_ n: Int) async throws -> [UInt8] {
        while buffer.readableBytes < n {
            guard var next = try await body.next() else { throw truncated() }
            buffer.writeBuffer(&next)
        }
        defer { compact() }
        return buffer.readBytes(length: n) ?? []
    }

    /// Passes the next `n` bytes to `sink` as they arrive, without holding them all.
    public mutating func stream(_ n: Int, _ sink: (UnsafeRawBufferPointer) throws -> Void) async throws {
        var left = n
        while left > 0 {
            if buffer.readableBytes == 0 {
                guard var next = try await body.next() else { throw truncated() }
                buffer.writeBuffer(&next)
            }
            let take = min(left, buffer.readableBytes)
            try buffer.readWithUnsafeReadableBytes { raw in
                try sink(UnsafeRawBufferPointer(rebasing: raw[0..<take]))
                return take
            }
            left -= take
        }
        compact()
    }

    /// Drops bytes already read once they add up to 64 KiB: moving the unread rest to the front
    /// after every small read (five per entry header) would copy a network chunk each time.
    mutating func compact() {
        if buffer.readerIndex >= 64 << 10 { buffer.discardReadBytes() }
    }

    /// Reads past the next `n` bytes.
    public mutating func skip(_ n: Int) async throws { try await stream(n) { _ in } }
}
