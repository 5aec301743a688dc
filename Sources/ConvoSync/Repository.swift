public import ConvoSyncFormat
public import ConvoSyncStorage
public import Foundation
import Crypto

/// An open, unlocked repository: the master key, the config, the backend and the index.
///
/// ```swift
/// let repo = try await Repository.open(backend: LocalBackend(path: "/srv/repo"), password: pw)
/// let snapshots = try await repo.snapshots()
/// ```
public actor Repository {
    public nonisolated let backend: any Backend
    /// Where new files and ref updates go (by default straight to `backend`).
    public nonisolated let destination: any CommitDestination
    public nonisolated let key: MasterKey
    public nonisolated let config: ConfigFile
    /// The key file this repository was unlocked with.
    public nonisolated let keyID: KeyID
    nonisolated let cache: IndexCache?

    private var index: MasterIndex?
    /// Index and snapshot files that were skipped because they are damaged, each with what is
    /// wrong: one damaged file must not block listings and backups.
    public private(set) var skipped: [String] = []
    /// Told of each of them as it is skipped (the CLI warns on stderr).
    nonisolated let onSkip: (@Sendable (String) -> Void)?
    private var frameCache = FrameCache(capacity: 8)

    init(
        backend: any Backend, destination: (any CommitDestination)? = nil, key: MasterKey, config: ConfigFile, keyID: KeyID, cacheDirectory: URL?,
        onSkip: (@Sendable (String) -> Void)? = nil
    ) {
        self.onSkip = onSkip
        self.backend = backend
        self.destination = destination ?? BackendDestination(backend)
        self.key = key
        self.config = config
        self.keyID = keyID
        cache = cacheDirectory.map { IndexCache(directory: $0.appendingPathComponent(config.id)) }
    }

    // MARK: init and open

    /// Creates a new repository with one key for `password`.
    ///
    /// - Throws: ``ConvoSyncError`` `.alreadyExists` if the backend holds a repository.
    public static func initialize(
        backend: any Backend, password: String, kdf: KDFParameters = .default,
        chunker: ChunkerParameters = .default, host: String = Identity.host, username: String = Identity.username,
        cacheDirectory: URL? = nil
    ) async throws -> Repository {
        guard !password.isEmpty else { throw ConvoSyncError(.invalidArgument, "an empty password is not allowed") }
        if try await backend.exists(.config) {
            throw ConvoSyncError(.alreadyExists, "a repository exists already at \(backend.location)")
        }
        // A location that holds any repository file is a damaged repository, not an empty
        // place: a new config and master key there would make every file in it unreadable.
        let remains = try await repositoryFiles(in: backend)
        guard remains.isEmpty else {
            throw ConvoSyncError(.alreadyExists, "\(backend.location) holds the remains of a repository (\(remains)) but no config file; 'init' refuses to create a new repository over them, which would lock them away for good. Put the original 'config' file back (from a copy of the repository), or init in an empty location")
        }
        let masterKey = MasterKey.generate()
        var idBytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in idBytes.indices { idBytes[i] = rng.next() }
        let config = ConfigFile(id: Hex.encode(idBytes), chunker: chunker)
        do { try config.validate() } catch { throw ConvoSyncError(.invalidArgument, "\(error)") }
        try await backend.create()
        let keyFile = try KeyFile.create(masterKey: masterKey, password: password, parameters: kdf, host: host, username: username)
        let keyBytes = try keyFile.encoded()
        let keyID = KeyID(ObjectID.hash(keyBytes))
        // Key first, config last: a repository is visible (config exists) only when it can be opened.
        try await backend.save(Handle(.key, id: keyID), data: keyBytes)
        try await backend.save(.config, data: try config.sealed(using: masterKey.encryption))
        return Repository(backend: backend, key: masterKey, config: config, keyID: keyID, cacheDirectory: cacheDirectory)
    }

    /// Opens a repository, trying every key file with `password`.
    ///
    /// `onSkip` hears of every damaged index or snapshot file the repository goes on without.
    ///
    /// - Throws: ``ConvoSyncError`` `.noRepository`, `.wrongPassword`, `.corrupted`.
    ///
    /// `destination` is where new files and ref updates go; by default `backend` itself.
    public static func open(
        backend: any Backend, destination: (any CommitDestination)? = nil, password: String, cacheDirectory: URL? = nil,
        onSkip: (@Sendable (String) -> Void)? = nil
    ) async throws -> Repository {
        let configBytes: [UInt8]
        do {
            configBytes = try await backend.load(.config)
        } catch let e as StorageError where e.code == .notFound {
            let remains = (try? await repositoryFiles(in: backend)) ?? ""
            guard remains.isEmpty else {
                throw ConvoSyncError(.corrupted, "the repository at \(backend.location) is damaged: its config file is missing, but it holds \(remains). Put the original 'config' file back (from a copy of the repository); do not run 'convosync init' there, which refuses (it would make those files unreadable)")
            }
            throw ConvoSyncError(.noRepository, "there is no repository at \(backend.location) (run 'convosync init' to create one)")
        } catch {
            throw ConvoSyncError.wrap(error, file: "config")
        }
        let keys = try await backend.list(.key)
        guard !keys.isEmpty else { throw ConvoSyncError(.corrupted, "the repository at \(backend.location) has no key files") }
        // Key files that cannot be read are skipped, but named if no other key opens. Cheapest
        // first: a key someone planted with the most expensive parameters the spec allows
        // costs nothing while a cheaper one opens (KDFParameters.validate bounds the rest).
        var unreadable: [String] = []
        var configFailures: [String] = []
        var candidates: [(info: FileInfo, file: KeyFile)] = []
        for info in keys {
            let bytes = try await backend.load(info.handle)
            guard ObjectID.hash(bytes).hex == info.handle.name else {
                unreadable.append("\(info.handle.relativePath) is damaged (SHA-256 mismatch)")
                continue
            }
            let parsed = Result { try KeyFile(parsing: bytes) }
            guard case .success(let file) = parsed else {
                if case .failure(let e) = parsed { unreadable.append("\(info.handle.relativePath): \(e)") }
                continue
            }
            do { try file.parameters.validate() } catch {
                unreadable.append("\(info.handle.relativePath): \(error.message)")
                continue
            }
            candidates.append((info, file))
        }
        candidates.sort { ($0.file.parameters.cost, $0.info.handle.name) < ($1.file.parameters.cost, $1.info.handle.name) }
        for (info, file) in candidates {
            guard let masterKey = try? file.unlock(password: password) else { continue }
            // A key that unlocks but does not open the config (a key of another repository, or
            // a damaged config): go on with the other keys, and say so if none opens it.
            let config: ConfigFile
            do {
                config = try ConfigFile(sealed: configBytes, using: masterKey.encryption)
                try config.validate()
            } catch {
                configFailures.append("\(info.handle.relativePath) unlocks, but the config does not open with its master key (\(ConvoSyncError.wrap(error, file: "config").message))")
                continue
            }
            let keyID = try KeyID(hex: info.handle.name)
            return Repository(backend: backend, destination: destination, key: masterKey, config: config, keyID: keyID, cacheDirectory: cacheDirectory, onSkip: onSkip)
        }
        if !configFailures.isEmpty {
            throw ConvoSyncError(.corrupted, "the repository at \(backend.location) cannot be opened: \(configFailures.joined(separator: "; ")). The config file is damaged or belongs to another repository; put the original back (from a copy of the repository)")
        }
        if !unreadable.isEmpty {
            throw ConvoSyncError(.wrongPassword, "wrong password or no key found for it in \(backend.location); \(unreadable.count) key file(s) could not be read: \(unreadable.joined(separator: "; "))")
        }
        throw ConvoSyncError(.wrongPassword, "wrong password or no key found for it in \(backend.location)")
    }

    /// What a location without a config holds of a repository ("2 keys, 14 packs"), empty
    /// when it holds nothing; locks do not count.
    static func repositoryFiles(in backend: any Backend) async throws -> String {
        var found: [String] = []
        for type in FileType.allCases where type != .config && type != .lock {
            let count: Int
            do { count = try await backend.list(type).count } catch let e as StorageError where e.code == .notFound { count = 0 }
            if count > 0 { found.append("\(count) \(type.rawValue) file\(count == 1 ? "" : "s")") }
        }
        return found.joined(separator: ", ")
    }

    // MARK: files

    /// Seals and stores a repository file, returning its ID (SHA-256 of the stored bytes).
    @discardableResult
    public nonisolated func save<F: NamedByHash>(_ file: F, compression: Compression = .default) async throws -> ID<F.Tag> {
        try await store(file, compression: compression).id
    }

    /// Seals and stores a repository file, returning its ID and the bytes as stored.
    public nonisolated func store<F: NamedByHash>(_ file: F, compression: Compression) async throws -> (id: ID<F.Tag>, bytes: [UInt8]) {
        let bytes = try file.sealed(using: key.encryption, compression: compression)
        let id = ID<F.Tag>(ObjectID.hash(bytes))
        do {
            // Same name means same bytes: a file that exists already is not an error.
            try await destination.write(Handle(F.fileType, id: id), bytes)
        } catch {
            throw ConvoSyncError.wrap(error, file: "\(F.fileType.rawValue)/\(id.hex)")
        }
        return (id, bytes)
    }

    /// Ends a commit: every file stored since the last one becomes durable at the destination,
    /// then `update` moves the ref (or finds that another writer moved it first).
    public nonisolated func commit(_ update: RefUpdate) async throws -> CommitOutcome {
        do { return try await destination.commit(update) } catch {
            throw ConvoSyncError.wrap(error, file: "refs/\(update.ref)")
        }
    }

    /// Loads, verifies and opens a repository file (from `backend` when given: a copy of this
    /// repository's files, such as the offline outbox).
    public nonisolated func load<F: NamedByHash>(_ type: F.Type, id: ID<F.Tag>, from other: (any Backend)? = nil) async throws -> F {
        let handle = Handle(F.fileType, id: id)
        let bytes = try await loadVerified(handle, from: other ?? backend)
        do {
            return try F(sealed: bytes, using: key.encryption)
        } catch {
            throw ConvoSyncError.wrap(error, file: handle.relativePath)
        }
    }

    /// Loads a file whose name is the SHA-256 of its bytes, and checks that it is.
    nonisolated func loadVerified(_ handle: Handle, from source: (any Backend)? = nil) async throws -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try await (source ?? backend).load(handle) } catch { throw ConvoSyncError.wrap(error, file: handle.relativePath) }
        guard ObjectID.hash(bytes).hex == handle.name else {
            throw ConvoSyncError(.corrupted, "\(handle.relativePath): contents do not match the name (SHA-256 mismatch; the file is damaged or truncated)")
        }
        return bytes
    }

    /// IDs of every file of one type.
    public nonisolated func list<Tag>(_ type: FileType, as: ID<Tag>.Type = ID<Tag>.self) async throws -> [ID<Tag>] {
        do {
            return try await backend.list(type).map { try ID<Tag>(hex: $0.handle.name) }
        } catch {
            throw ConvoSyncError.wrap(error, file: type.rawValue)
        }
    }

    // MARK: index

    /// The master index, loading (and caching) index files on first use.
    public func masterIndex() async throws -> MasterIndex {
        if let index { return index }
        var merged = MasterIndex()
        for id in try await list(.index, as: IndexID.self) {
            // A damaged index file is set aside: its packs' blobs count as not stored, so a
            // backup stores them again, and a restore that needs them says which file was skipped.
            do { merged.add(try await loadIndexFile(id), id: id) } catch let error as ConvoSyncError where error.code == .corrupted {
                skip(error.message)
            }
        }
        cache?.prune(keeping: merged.indexFiles)
        index = merged
        return merged
    }

    private func loadIndexFile(_ id: IndexID) async throws -> IndexFile {
        let handle = Handle(.index, id: id)
        let bytes: [UInt8]
        if let cached = cache?.load(id) {
            bytes = cached
        } else {
            bytes = try await loadVerified(handle)
            cache?.store(bytes, id: id)
        }
        let file: IndexFile
        do {
            file = try IndexFile(sealed: bytes, using: key.encryption)
            try file.validate()
        } catch {
            throw ConvoSyncError.wrap(error, file: handle.relativePath)
        }
        return file
    }

    /// Sets a damaged file aside: remembered in ``skipped`` and told to `onSkip` once.
    public func skip(_ message: String) {
        guard !skipped.contains(message) else { return }
        skipped.append(message)
        onSkip?(message)
    }

    /// Forgets the loaded master index, so the next lookup reads index files written by
    /// someone else (e.g. uploaded from an outbox) since.
    public func reloadIndex() {
        index = nil
    }

    /// Records packs written by this process, so later lookups find their blobs.
    func addToIndex(_ file: IndexFile, id: IndexID) {
        index?.add(file, id: id)
    }

    /// Writes an index file for `packs`, returning its ID and stored size.
    func writeIndex(_ packs: [IndexFile.Pack], compression: Compression) async throws -> (IndexID, Int) {
        let file = IndexFile(packs: packs)
        let (id, bytes) = try await store(file, compression: compression)
        cache?.store(bytes, id: id)
        addToIndex(file, id: id)
        return (id, bytes.count)
    }

    // MARK: blobs

    /// Loads a blob and checks its SHA-256.
    public func loadBlob(_ id: BlobID) async throws -> [UInt8] {
        let index = try await masterIndex()
        guard let loc = index.location(of: id) else {
            let damaged = skipped.isEmpty ? "" : " (\(skipped.count) damaged file(s) were skipped: \(skipped.joined(separator: "; ")))"
            throw ConvoSyncError(.notFound, "blob \(id.hex) is in no index file of \(backend.location)\(damaged): an index file or pack is missing or damaged. Put the missing files back from a copy of the repository")
        }
        let frame = try await loadFrame(pack: loc.pack, frameNumber: loc.frameNumber, frame: loc.frame)
        guard loc.offset >= 0, loc.length >= 0, loc.length <= frame.count, loc.offset <= frame.count - loc.length else {
            throw ConvoSyncError(.corrupted, "index places blob \(id.short) at \(loc.offset)+\(loc.length), beyond its \(frame.count)-byte frame in pack \(loc.pack.short)")
        }
        let blob = Array(frame[loc.offset..<(loc.offset + loc.length)])
        guard ObjectID.hash(blob) == id.objectID else {
            throw ConvoSyncError(.corrupted, "blob \(id.short) in pack \(loc.pack.short) does not match its ID (SHA-256 mismatch)")
        }
        return blob
    }

    /// Loads a metadata blob (tree or range) and decodes its JSON.
    public func loadJSONBlob<T: Decodable>(_ type: T.Type, id: BlobID) async throws -> T {
        let bytes = try await loadBlob(id)
        do { return try JSONCoding.decode(T.self, from: bytes, what: "blob \(id.short)") } catch {
            throw ConvoSyncError.wrap(error, file: "blob \(id.short)")
        }
    }

    private func loadFrame(pack: PackID, frameNumber: Int, frame: IndexFile.Frame) async throws -> [UInt8] {
        let key = FrameCache.Key(pack: pack, frame: frameNumber)
        if let hit = frameCache.get(key) { return hit }
        let handle = Handle(.pack, id: pack)
        let sealed: [UInt8]
        do {
            sealed = try await backend.load(handle, range: frame.offset..<(frame.offset + frame.length))
        } catch {
            throw ConvoSyncError.wrap(error, file: handle.relativePath)
        }
        let raw: [UInt8]
        do {
            let codec = try Compression.Codec(parsing: frame.codec)
            let entry = PackHeader.Frame(codec: codec, storedLength: frame.length, rawLength: frame.rawLength, blobs: [])
            raw = try entry.open(sealed, using: self.key.encryption)
        } catch {
            throw ConvoSyncError.wrap(error, file: "\(handle.relativePath) frame \(frameNumber)")
        }
        frameCache.put(key, raw)
        return raw
    }

    // MARK: snapshots

    /// Every readable snapshot, oldest first; damaged snapshot files are set aside (``skipped``).
    public func snapshots() async throws -> [(SnapshotID, SnapshotFile)] {
        var out: [(SnapshotID, SnapshotFile)] = []
        for id in try await list(.snapshot, as: SnapshotID.self) {
            do { out.append((id, try await load(SnapshotFile.self, id: id))) } catch let error as ConvoSyncError where error.code == .corrupted {
                skip(error.message)
            }
        }
        return out.sorted { a, b in
            a.1.time != b.1.time ? a.1.time < b.1.time : a.0 < b.0
        }
    }

    /// Finds a snapshot by `latest`, a full ID or a unique prefix of at least 4 hex digits.
    public func findSnapshot(_ text: String, host: String? = nil) async throws -> (SnapshotID, SnapshotFile) {
        if text == "latest" {
            let all = try await snapshots().filter { host == nil || $0.1.host == host }
            guard let last = all.last else { throw ConvoSyncError(.notFound, "the repository has no snapshots yet") }
            return last
        }
        let id = try await resolve(text, type: .snapshot, as: SnapshotID.self)
        return (id, try await load(SnapshotFile.self, id: id))
    }

    /// Resolves a full ID or unique prefix among the files of `type`.
    public nonisolated func resolve<Tag>(_ text: String, type: FileType, as: ID<Tag>.Type) async throws -> ID<Tag> {
        let prefix = text.lowercased()
        guard prefix.count >= 4, prefix.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw ConvoSyncError(.invalidArgument, "'\(text)' is not an ID (give at least 4 hex digits, or 'latest')")
        }
        let matches = try await list(type, as: ID<Tag>.self).filter { $0.hex.hasPrefix(prefix) }
        guard let first = matches.first else { throw ConvoSyncError(.notFound, "no \(type.rawValue) file matches '\(text)'") }
        guard matches.count == 1 else { throw ConvoSyncError(.invalidArgument, "'\(text)' matches \(matches.count) \(type.rawValue) files; give more digits") }
        return first
    }

    // MARK: keys

    /// Every key file with its metadata.
    public nonisolated func keys() async throws -> [(KeyID, KeyFile)] {
        var out: [(KeyID, KeyFile)] = []
        for id in try await list(.key, as: KeyID.self) {
            let bytes = try await loadVerified(Handle(.key, id: id))
            do { out.append((id, try KeyFile(parsing: bytes))) } catch { throw ConvoSyncError.wrap(error, file: "keys/\(id.hex)") }
        }
        return out
    }

    /// Adds a key file for another password.
    public nonisolated func addKey(password: String, kdf: KDFParameters = .default, host: String = Identity.host, username: String = Identity.username) async throws -> KeyID {
        guard !password.isEmpty else { throw ConvoSyncError(.invalidArgument, "an empty password is not allowed") }
        let file = try KeyFile.create(masterKey: key, password: password, parameters: kdf, host: host, username: username)
        let bytes = try file.encoded()
        let id = KeyID(ObjectID.hash(bytes))
        do { try await backend.save(Handle(.key, id: id), data: bytes) } catch { throw ConvoSyncError.wrap(error, file: "keys/\(id.hex)") }
        return id
    }

    /// Removes a key file; the key in use and the last key cannot be removed.
    public nonisolated func removeKey(_ id: KeyID) async throws {
        guard id != keyID else {
            throw ConvoSyncError(.invalidArgument, "key \(id.short) is the one in use; open the repository with another password to remove it (or use 'key passwd')")
        }
        try await removeKeyUnchecked(id)
    }

    nonisolated func removeKeyUnchecked(_ id: KeyID) async throws {
        let all = try await list(.key, as: KeyID.self)
        guard all.contains(id) else { throw ConvoSyncError(.notFound, "no key \(id.short)") }
        guard all.count > 1 else { throw ConvoSyncError(.invalidArgument, "cannot remove the only key") }
        do { try await backend.remove(Handle(.key, id: id)) } catch { throw ConvoSyncError.wrap(error, file: "keys/\(id.hex)") }
    }

    /// Replaces the key in use with one for `newPassword`.
    public nonisolated func changePassword(to newPassword: String, kdf: KDFParameters = .default) async throws -> KeyID {
        let new = try await addKey(password: newPassword, kdf: kdf)
        try await removeKeyUnchecked(keyID)
        return new
    }
}

/// This machine's host and user names, as recorded in snapshots and key files.
public enum Identity {
    public static var host: String { ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost" }
    public static var username: String { ProcessInfo.processInfo.environment["USER"] ?? NSUserName() }
}

/// A small least-recently-used cache of decoded frames.
struct FrameCache {
    struct Key: Hashable { var pack: PackID; var frame: Int }
    let capacity: Int
    private var entries: [Key: [UInt8]] = [:]
    private var order: [Key] = []

    init(capacity: Int) { self.capacity = capacity }

    mutating func get(_ k: Key) -> [UInt8]? {
        guard let v = entries[k] else { return nil }
        if let i = order.firstIndex(of: k) { order.remove(at: i) }
        order.append(k)
        return v
    }

    mutating func put(_ k: Key, _ v: [UInt8]) {
        entries[k] = v
        order.append(k)
        while order.count > capacity { entries[order.removeFirst()] = nil }
    }
}
