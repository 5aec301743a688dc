public import Foundation
public import NIOCore
import ConvoSyncFormat
public import ConvoSyncStorage

/// Recently read objects kept in memory in front of another ``ObjectStore``: a device that
/// resumes usually reads the packs another device has just written, and with S3 a hit also
/// saves a request. A hit is sent as a slice of the cached buffer, with no copy in the server.
///
/// Objects are write-once, so a cached object never goes stale through this server: deletes
/// and replacing puts evict it. A read that was under way when its object was deleted or
/// replaced does not put what it read into the cache afterwards: every eviction starts a new
/// *generation*, and a read inserts only if no eviction of its key happened since it began
/// (otherwise a prune during a resume would bring a deleted pack back to life: served, and
/// counted as stored by the save that needs it again). (Another server deleting from a shared
/// bucket is not seen; the bytes it deleted could still be served from here until evicted.)
///
/// An object is cached when it is read whole, its size known from a ``size(_:)`` just before
/// (as every GET does), no larger than `maxObject` and, if named by its SHA-256, intact; the
/// least recently used go first once more than `capacity` bytes are held, down to 7/8 of it.
public final class CachingStore: ObjectStore, @unchecked Sendable {
    let inner: any ObjectStore
    let capacity: Int
    let maxObject: Int
    private let lock = NSLock()
    private var objects: [String: (buffer: ByteBuffer, used: UInt64)] = [:]
    private var sizes: [String: Int] = [:]
    private var held = 0
    private var clock: UInt64 = 0
    /// Evictions so far (deletes and replacing puts); see ``insert(_:_:ifUnchangedSince:)``.
    private var generation: UInt64 = 0
    /// The generation of each recent eviction, by key: a read that began before it must not
    /// cache what it read. Cleared when it grows large; then every read under way is refused.
    private var evictedAt: [String: UInt64] = [:]
    private var evictedFloor: UInt64 = 0

    public init(_ inner: any ObjectStore, capacity: Int, maxObject: Int = 16 << 20) {
        self.inner = inner
        self.capacity = capacity
        self.maxObject = min(maxObject, capacity)
    }

    public var location: String { inner.location }

    /// Bytes held now (for tests and metrics).
    public var cachedBytes: Int { lock.withLock { held } }

    func cached(_ key: String) -> ByteBuffer? {
        lock.withLock {
            guard var entry = objects[key] else { return nil }
            clock += 1
            entry.used = clock
            objects[key] = entry
            return entry.buffer
        }
    }

    /// The generation a read of `key` starts in.
    func currentGeneration() -> UInt64 { lock.withLock { generation } }

    /// Caches `buffer` as `key`, unless `key` was evicted (deleted or replaced) after `started`.
    func insert(_ key: String, _ buffer: ByteBuffer, ifUnchangedSince started: UInt64) {
        lock.withLock {
            guard (evictedAt[key] ?? evictedFloor) <= started else { return }
            if let old = objects[key] { held -= old.buffer.readableBytes }
            clock += 1
            objects[key] = (buffer, clock)
            held += buffer.readableBytes
            guard held > capacity else { return }
            // Least recently used first, down to 7/8 of the capacity at once: the sort is paid once
            // per eighth of the cache turned over, not on every insert of a full cache.
            for (key, entry) in objects.sorted(by: { $0.value.used < $1.value.used }) {
                if held <= capacity - capacity / 8 { break }
                held -= entry.buffer.readableBytes
                objects[key] = nil
            }
        }
    }

    func evict(_ key: String) {
        lock.withLock {
            if let old = objects.removeValue(forKey: key) { held -= old.buffer.readableBytes }
            sizes[key] = nil
            generation += 1
            if evictedAt.count >= 4096 {
                evictedAt.removeAll(keepingCapacity: true)
                evictedFloor = generation
            }
            evictedAt[key] = generation
        }
    }

    public func check() async throws { try await inner.check() }

    public func size(_ key: String) async throws -> Int? {
        if let hit = cached(key) { return hit.readableBytes }
        let size = try await inner.size(key)
        if let size, size <= maxObject {
            lock.withLock {
                if sizes.count > 4096 { sizes.removeAll(keepingCapacity: true) }
                sizes[key] = size
            }
        }
        return size
    }

    public func list(prefix: String) async throws -> [StoredObject] { try await inner.list(prefix: prefix) }

    public func read(_ key: String, range: Range<Int>, _ body: (ByteBuffer) async throws -> Void) async throws {
        if let hit = cached(key), range.upperBound <= hit.readableBytes {
            if !range.isEmpty, let slice = hit.getSlice(at: hit.readerIndex + range.lowerBound, length: range.count) { try await body(slice) }
            return
        }
        let whole = lock.withLock { sizes.removeValue(forKey: key) }
        guard range.lowerBound == 0, let whole, whole == range.count else {
            return try await inner.read(key, range: range, body)
        }
        let started = currentGeneration()
        var collected = ByteBuffer()
        collected.reserveCapacity(whole)
        try await inner.read(key, range: range) { chunk in
            var copy = chunk
            collected.writeBuffer(&copy)
            try await body(chunk)
        }
        if collected.readableBytes == whole && Self.intact(key, collected) { insert(key, collected, ifUnchangedSince: started) }
    }

    /// Whether a content-addressed object (its last key component 64 hex digits: packs, index,
    /// snapshot and key files) still hashes to its name. A file damaged on disk or in the bucket
    /// is still served as it is, as restic's rest-server does (the client checks and names it),
    /// but never cached, so repairing the file is enough.
    static func intact(_ key: String, _ buffer: ByteBuffer) -> Bool {
        let name = key.split(separator: "/").last.map(String.init) ?? ""
        guard Handle.isValidName(name) else { return true }
        return buffer.withUnsafeReadableBytes { ObjectID.hash($0).hex } == name
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        if let hit = cached(key) { return Array(buffer: hit) }
        return try await inner.get(key)
    }

    public func put(_ bytes: [UInt8], at key: String, ifAbsent: Bool) async throws -> Bool {
        guard !ifAbsent else { return try await inner.put(bytes, at: key, ifAbsent: true) }
        evict(key)
        defer { evict(key) }
        return try await inner.put(bytes, at: key, ifAbsent: false)
    }

    public func stage(for key: String) throws -> AtomicFile { try inner.stage(for: key) }

    public func commit(_ staged: AtomicFile, size: Int, sha256: String, to key: String) async throws -> Bool {
        try await inner.commit(staged, size: size, sha256: sha256, to: key)
    }

    /// Evicts before the delete (no hit is served once it began) and after it (a read that
    /// began in between and read the old bytes does not cache them).
    public func delete(_ key: String) async throws {
        evict(key)
        defer { evict(key) }
        try await inner.delete(key)
    }

    public func repositoryExists(_ prefix: String) async throws -> Bool { try await inner.repositoryExists(prefix) }
    public func createRepository(_ prefix: String) async throws { try await inner.createRepository(prefix) }
    public func sweep(olderThan age: TimeInterval) { inner.sweep(olderThan: age) }
}
