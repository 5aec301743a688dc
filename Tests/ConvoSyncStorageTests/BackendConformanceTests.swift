import ConvoSyncFormat
import ConvoSyncStorage
import ConvoSyncTestSupport
import Foundation
import Testing

@Suite("Backend conformance")
struct BackendConformanceTests {
    @Test("memory backend passes the conformance suite")
    func memory() async throws {
        try await BackendConformance.run(MemoryBackend())
    }

    @Test("local backend passes the conformance suite")
    func local() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        try await BackendConformance.run(LocalBackend(path: dir.path + "/repo"))
    }

    @Test("local backend never lists temporary files and creates the layout")
    func localTemporaryFiles() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let backend = LocalBackend(path: dir.path)
        try await backend.create()
        try Data([1, 2, 3]).write(to: dir.url.appendingPathComponent("snapshots/.tmp-leftover"))
        #expect(try await backend.list(.snapshot).isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/data/ff"))
        try await backend.save(.config, data: [1])
        await #expect(throws: StorageError.self) { try await backend.create() }
        // Foreign entries in data/ and packs in the wrong shard are not listed.
        try Data([1]).write(to: dir.url.appendingPathComponent("data/README"))
        try Data([1]).write(to: dir.url.appendingPathComponent("data/00/" + String(repeating: "f", count: 64)))
        #expect(try await backend.list(.pack).isEmpty)
    }

}
