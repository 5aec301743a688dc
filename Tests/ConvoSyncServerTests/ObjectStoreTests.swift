import ConvoSyncFormat
import ConvoSyncStorage
import ConvoSyncServer
import ConvoSyncTestSupport
import Foundation
import NIOCore
import Testing

/// The contract of ``ObjectStore`` that the server relies on, run against every implementation.
enum ObjectStoreContract {
    static func stage(_ store: any ObjectStore, _ bytes: [UInt8], for key: String) throws -> AtomicFile {
        let file = try store.stage(for: key)
        try file.write(bytes)
        return file
    }

    static func readAll(_ store: any ObjectStore, _ key: String, _ range: Range<Int>) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await store.read(key, range: range) { out += Array(buffer: $0) }
        return out
    }

    static func run(_ store: any ObjectStore, prefix: String = "u/r/") async throws {
        try await store.check()
        #expect(try await store.repositoryExists(prefix) == false)
        try await store.createRepository(prefix)
        try await store.createRepository(prefix)
        #expect(try await store.repositoryExists(prefix))

        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let hash = ObjectID.hash(body).hex
        let key = prefix + "data/\(hash.prefix(2))/\(hash)"
        #expect(try await store.size(key) == nil)
        #expect(try await store.commit(try stage(store, body, for: key), size: body.count, sha256: hash, to: key))
        // Write-once: a second commit of the same key is refused and leaves the first.
        let other = [UInt8](repeating: 1, count: 10)
        let staged = try stage(store, other, for: key)
        #expect(try await store.commit(staged, size: other.count, sha256: ObjectID.hash(other).hex, to: key) == false)
        #expect(!FileManager.default.fileExists(atPath: staged.temporaryPath), "a refused commit drops its staged file")
        #expect(try await store.size(key) == body.count)
        #expect(try await readAll(store, key, 0..<body.count) == body)
        #expect(try await readAll(store, key, 1000..<1010) == Array(body[1000..<1010]))
        #expect(try await readAll(store, key, 0..<body.count) == body, "a second whole read (from the cache, if any)")
        #expect(try await readAll(store, key, 299_990..<300_000) == Array(body[299_990...]))

        // Small objects: first writer wins with ifAbsent; replace otherwise.
        let refA = prefix + "refs/\(String(repeating: "a", count: 64))-0000000001"
        #expect(try await store.put(Array("one".utf8), at: refA, ifAbsent: true))
        #expect(try await store.put(Array("two".utf8), at: refA, ifAbsent: true) == false)
        #expect(try await store.get(refA) == Array("one".utf8))
        let count = prefix + "conversations/abc"
        try await store.put(Array("1".utf8), at: count, ifAbsent: false)
        #expect(try await readAll(store, count, 0..<1) == Array("1".utf8))
        try await store.put(Array("22".utf8), at: count, ifAbsent: false)
        #expect(try await store.get(count) == Array("22".utf8), "a replacing put is seen at once, cache or not")
        #expect(try await store.get(prefix + "nothing") == nil)

        // Listings: by directory, and by a prefix that ends inside a name.
        let refB = prefix + "refs/\(String(repeating: "b", count: 64))-0000000001"
        try await store.put(Array("x".utf8), at: refB, ifAbsent: true)
        #expect(Set(try await store.list(prefix: prefix + "refs/").map(\.key)) == [refA, refB])
        #expect(try await store.list(prefix: prefix + "refs/" + String(repeating: "a", count: 64) + "-").map(\.key) == [refA])
        #expect(try await store.list(prefix: prefix + "data/").map(\.size) == [body.count])
        #expect(try await store.list(prefix: prefix + "keys/").isEmpty)

        // Deletes: gone from reads and listings; a second delete is notFound.
        try await store.delete(key)
        #expect(try await store.size(key) == nil)
        #expect(try await store.list(prefix: prefix + "data/").isEmpty)
        await #expect(throws: StoreError.self) { try await store.delete(key) }
        await #expect(throws: StoreError.self) { _ = try await readAll(store, key, 0..<10) }
    }
}

@Suite("object stores")
struct ObjectStoreTests {
    @Test("DiskStore keeps the object store contract")
    func disk() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        try await ObjectStoreContract.run(DiskStore(root: dir.url.appendingPathComponent("repos")))
        let leftovers = FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? []
        #expect(!leftovers.contains { ($0 as NSString).lastPathComponent.hasPrefix(".tmp-") })
    }

    @Test("CachingStore keeps the contract, serves whole reads from memory and stays within its capacity")
    func caching() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let disk = DiskStore(root: dir.url.appendingPathComponent("repos"))
        try await ObjectStoreContract.run(CachingStore(disk, capacity: 1 << 20))

        let cache = CachingStore(disk, capacity: 250_000, maxObject: 200_000)
        try await cache.createRepository("c/r/")
        var keys: [String] = []
        for i in 0..<3 {
            let bytes = [UInt8](repeating: UInt8(i), count: 100_000)
            let key = "c/r/data/0\(i)/\(i)"
            _ = try await cache.commit(try ObjectStoreContract.stage(cache, bytes, for: key), size: bytes.count, sha256: "", to: key)
            keys.append(key)
            #expect(try await cache.size(key) == bytes.count)
            #expect(try await ObjectStoreContract.readAll(cache, key, 0..<bytes.count) == bytes)
        }
        #expect(cache.cachedBytes == 200_000, "three 100 kB objects in 250 kB: the oldest went")
        // A hit needs no file: remove one behind the cache's back and read it still.
        try FileManager.default.removeItem(atPath: dir.path + "/repos/" + keys[2])
        #expect(try await ObjectStoreContract.readAll(cache, keys[2], 10..<20) == [UInt8](repeating: 2, count: 10))
        // The evicted one is read from disk again.
        #expect(try await ObjectStoreContract.readAll(cache, keys[0], 0..<5) == [0, 0, 0, 0, 0])
        // A read that is not whole, or without a size just before, is not cached.
        let big = [UInt8](repeating: 9, count: 300_000)
        _ = try await cache.commit(try ObjectStoreContract.stage(cache, big, for: "c/r/big"), size: big.count, sha256: "", to: "c/r/big")
        _ = try await cache.size("c/r/big")
        _ = try await ObjectStoreContract.readAll(cache, "c/r/big", 0..<big.count)
        #expect(cache.cachedBytes <= 250_000)

        // An object named by a SHA-256 that its bytes do not have (damaged on disk) is served, not cached.
        let held = cache.cachedBytes
        let wrong = "c/r/data/ab/" + String(repeating: "ab", count: 32)
        let bytes = [UInt8](repeating: 7, count: 1000)
        _ = try await cache.commit(try ObjectStoreContract.stage(cache, bytes, for: wrong), size: bytes.count, sha256: "", to: wrong)
        _ = try await cache.size(wrong)
        #expect(try await ObjectStoreContract.readAll(cache, wrong, 0..<bytes.count) == bytes)
        #expect(cache.cachedBytes == held, "the damaged object was not cached")
    }

    /// A DELETE (a prune) that arrives while a GET of the same file is still streaming: the
    /// finished GET must not put the deleted bytes into the cache, or HEAD/GET would answer 200
    /// for a file that is gone and a save carrying it again would skip storing it.
    @Test("a read under way when its object is deleted does not bring it back", arguments: ["data", "config"])
    func deleteDuringRead(kind: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let cache = CachingStore(DiskStore(root: dir.url.appendingPathComponent("repos")), capacity: 4 << 20)
        try await cache.createRepository("u/r/")
        let body = (0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let hash = ObjectID.hash(body).hex
        let key = kind == "config" ? "u/r/config" : "u/r/data/\(hash.prefix(2))/\(hash)"
        #expect(try await cache.commit(try ObjectStoreContract.stage(cache, body, for: key), size: body.count, sha256: hash, to: key))

        let size = try #require(try await cache.size(key))
        var deleted = false
        var read: [UInt8] = []
        try await cache.read(key, range: 0..<size) { chunk in
            read += Array(buffer: chunk)
            if !deleted {
                deleted = true
                try await cache.delete(key)
            }
        }
        #expect(read == body, "the GET under way still gets the whole file")
        #expect(try await cache.size(key) == nil, "HEAD after the delete: gone")
        #expect(try await cache.get(key) == nil, "GET after the delete: gone")
        #expect(cache.cachedBytes == 0)
        // The name can be written again, and then it is really on disk.
        #expect(try await cache.commit(try ObjectStoreContract.stage(cache, body, for: key), size: body.count, sha256: hash, to: key))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/repos/" + key))
    }
}
