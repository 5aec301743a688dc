import ConvoSync
import ConvoSyncFormat
import ConvoSyncStorage
import ConvoSyncTestSupport
import Foundation
import Testing

/// Repositories damaged by accident or by someone who can write to the storage: each must end
/// in an error that says what is wrong, never in a trap or a repository made unusable.
@Suite("damaged repositories")
struct DamagedRepositoryTests {
    /// A repository with one conversation backed up, on a local directory.
    static func populated() async throws -> (TemporaryDirectory, LocalBackend, Repository) {
        let dir = try TemporaryDirectory()
        let backend = LocalBackend(path: dir.url.appendingPathComponent("repo").path)
        let repo = try await makeRepository(backend)
        _ = try await roundTrip(repo, files: ["a.jsonl": Array("{\"a\":1}\n{\"b\":2}\n".utf8)])
        return (dir, backend, repo)
    }

    @Test("init refuses a location that holds the remains of a repository without its config")
    func initOverRemains() async throws {
        let (dir, backend, _) = try await Self.populated()
        defer { dir.cleanup() }
        let keysBefore = try await backend.list(.key)
        try await backend.remove(.config)
        await #expect {
            _ = try await Repository.initialize(backend: backend, password: "other", kdf: .insecureTesting)
        } throws: { error in
            let e = error as? ConvoSyncError
            return e?.code == .alreadyExists && e?.message.contains("remains of a repository") == true
        }
        #expect(try await backend.list(.key) == keysBefore, "no key was added")
        #expect(try await backend.exists(.config) == false, "no config was written")
    }

    @Test("a missing config in a repository that holds files is reported as damage, not as no repository")
    func missingConfig() async throws {
        let (dir, backend, _) = try await Self.populated()
        defer { dir.cleanup() }
        try await backend.remove(.config)
        await #expect {
            _ = try await Repository.open(backend: backend, password: "secret")
        } throws: { error in
            let e = error as? ConvoSyncError
            return e?.code == .corrupted && e?.message.contains("config file is missing") == true
                && e?.message.contains("do not run 'convosync init'") == true
        }
    }

    @Test("an empty location is still no repository")
    func emptyLocation() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        await #expect {
            _ = try await Repository.open(backend: LocalBackend(path: dir.path), password: "secret")
        } throws: { ($0 as? ConvoSyncError)?.code == .noRepository }
    }

    /// Adds the key file of another repository with the same password. Its parameters are
    /// cheaper than this repository's key (r = 1), so open tries it first.
    static func plantForeignKey(in backend: any Backend) async throws {
        let otherDir = try TemporaryDirectory()
        defer { otherDir.cleanup() }
        let other = try await Repository.initialize(backend: LocalBackend(path: otherDir.path), password: "secret", kdf: KDFParameters(n: 1 << 10, r: 1, p: 1))
        let bytes = try await other.keys()[0].1.encoded()
        try await backend.save(Handle(.key, id: KeyID(ObjectID.hash(bytes))), data: bytes)
    }

    /// A key of another repository with the same password unlocks, but its master key does not
    /// open this config: open must go on to the key that does.
    @Test("open goes on past a key that unlocks but does not open the config")
    func foreignKeyFirst() async throws {
        let (dir, backend, _) = try await Self.populated()
        defer { dir.cleanup() }
        try await Self.plantForeignKey(in: backend)
        #expect(try await backend.list(.key).count == 2)
        let repo = try await Repository.open(backend: backend, password: "secret")
        #expect(try await repo.snapshots().count == 1)
    }

    @Test("a config that opens with no key is reported as damaged config")
    func onlyForeignKey() async throws {
        let (dir, backend, repo) = try await Self.populated()
        defer { dir.cleanup() }
        try await Self.plantForeignKey(in: backend)
        try await backend.remove(Handle(.key, id: repo.keyID))
        await #expect {
            _ = try await Repository.open(backend: backend, password: "secret")
        } throws: { error in
            let e = error as? ConvoSyncError
            return e?.code == .corrupted && e?.message.contains("does not open with its master key") == true
        }
    }

    /// Index entries whose sums overflow Int (found by fuzzing: `offset + length` near 2^63
    /// trapped every command that loads the index), and other numbers outside SPEC §12.
    static let hostileIndexes: [String: @Sendable (inout IndexFile.Pack) -> Void] = [
        "blob offset near 2^63": { $0.blobs[0].offset = Int.max - 3 },
        "blob length near 2^63": { $0.blobs[0].length = Int.max },
        "blob offset negative": { $0.blobs[0].offset = Int.min },
        "blob frame out of range": { $0.blobs[0].frame = Int.max },
        "frame offset near 2^63": { $0.frames[0].offset = Int.max - 10 },
        "frame length near 2^63": { $0.frames[0].length = Int.max },
        "frame raw length 2^62": { $0.frames[0].rawLength = 1 << 62 },
        "frame raw length negative": { $0.frames[0].rawLength = -1 },
        "pack size negative": { $0.size = Int.min },
    ]

    @Test("an index file with numbers near 2^63 is set aside and named, not a trap", arguments: Array(hostileIndexes.keys).sorted())
    func hostileIndex(_ name: String) async throws {
        let (dir, backend, repo) = try await Self.populated()
        defer { dir.cleanup() }
        let indexID = try #require(try await repo.list(.index, as: IndexID.self).first)
        var file = try await repo.load(IndexFile.self, id: indexID)
        Self.hostileIndexes[name]!(&file.packs[0])
        try await backend.remove(Handle(.index, id: indexID))
        let planted = try await repo.save(file)
        let reopened = try await Repository.open(backend: backend, password: "secret")
        // Loading the index neither traps nor fails: the file is set aside, named with what is wrong.
        _ = try await reopened.masterIndex()
        let skipped = await reopened.skipped
        #expect(skipped.count == 1 && skipped.first?.contains("index/\(planted.hex)") == true, "\(skipped)")
        #expect(skipped.first?.contains("lie") == true || skipped.first?.contains("negative") == true || skipped.first?.contains("raw bytes") == true, "\(skipped)")
    }

    @Test("a frame that claims more than 2^30 raw bytes is refused before anything is allocated")
    func hugeRawLength() throws {
        #expect(throws: FormatError.self) {
            _ = try Compression.decompress([1, 2, 3], codec: .gzip, rawLength: Int.max)
        }
    }

    /// Overwrites a stored file with other bytes: damage its SHA-256 check catches.
    static func damage(_ dir: TemporaryDirectory, _ handle: Handle) throws {
        try Data("damaged".utf8).write(to: dir.url.appendingPathComponent("repo/" + handle.relativePath))
    }

    @Test("a damaged snapshot file is set aside: snapshots lists the others, a backup goes on, both name it")
    func damagedSnapshot() async throws {
        let (dir, backend, repo) = try await Self.populated()
        defer { dir.cleanup() }
        let first = try #require(try await repo.snapshots().first).0
        _ = try await roundTrip(repo, files: ["b.jsonl": Array("{\"c\":3}\n".utf8)])
        try Self.damage(dir, Handle(.snapshot, id: first))
        let reopened = try await Repository.open(backend: backend, password: "secret")
        #expect(try await reopened.snapshots().count == 1)
        let skipped = await reopened.skipped
        #expect(skipped.count == 1 && skipped.first?.contains("snapshots/\(first.hex)") == true, "\(skipped)")
        let (restored, _) = try await roundTrip(reopened, files: ["c.jsonl": Array("{\"d\":4}\n".utf8)])
        #expect(restored["c.jsonl"] == Array("{\"d\":4}\n".utf8))
    }

    @Test("a damaged index file is set aside: a backup stores its blobs again and restores them")
    func damagedIndex() async throws {
        let (dir, backend, repo) = try await Self.populated()
        defer { dir.cleanup() }
        let index = try #require(try await repo.list(.index, as: IndexID.self).first)
        try Self.damage(dir, Handle(.index, id: index))
        let reopened = try await Repository.open(backend: backend, password: "secret", cacheDirectory: nil)
        let bytes = Array("{\"a\":1}\n{\"b\":2}\n".utf8)
        let (restored, result) = try await roundTrip(reopened, files: ["a.jsonl": bytes])
        #expect(restored["a.jsonl"] == bytes)
        #expect(result.snapshot.summary.blobsAdded > 0, "the blobs only the damaged index knew are stored again")
        let skipped = await reopened.skipped
        #expect(skipped.contains { $0.contains("index/\(index.hex)") }, "\(skipped)")
    }
}
