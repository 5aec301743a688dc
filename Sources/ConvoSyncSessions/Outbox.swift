public import ConvoSync
public import ConvoSyncFormat
public import ConvoSyncStorage
import Crypto
public import Foundation

/// Saving while the repository is unreachable, and uploading later.
///
/// After any successful open, this device keeps the repository's config and the key file it
/// unlocked (both as stored: encrypted), and the repository's id, under `<state dir>/identities/<sha256(location)>/`.
/// When the repository cannot be reached, `save` opens an *outbox*: a local directory laid
/// out as a repository (`<state dir>/outbox/<repository id>/`) holding those two files. The
/// save writes its packs, index, snapshot, session and ref version there, exactly as it
/// would remotely, so everything stays encrypted at rest. ``push(to:stateDirectory:)``
/// uploads the files (write-once, skipping what exists) and then replays each ref version as
/// a compare-and-swap; a version that conflicts becomes a fork, as an online save would.
public enum Outbox {
    static func identityDirectory(location: String, stateDirectory: String) -> String {
        let digest = Hex.encode(Array(SHA256.hash(data: Array(location.utf8))))
        return (stateDirectory as NSString).appendingPathComponent("identities/\(digest)")
    }

    public static func directory(repositoryID: String, stateDirectory: String) -> String {
        (stateDirectory as NSString).appendingPathComponent("outbox/\(repositoryID)")
    }

    /// Remembers what an offline save needs to open the repository: its config and key file.
    public static func remember(_ repository: Repository, stateDirectory: String) async throws {
        let dir = identityDirectory(location: repository.backend.location, stateDirectory: stateDirectory)
        let keyPath = (dir as NSString).appendingPathComponent("key-\(repository.keyID.hex)")
        let idPath = (dir as NSString).appendingPathComponent("id")
        if FileManager.default.fileExists(atPath: keyPath), FileManager.default.fileExists(atPath: idPath) { return }
        let config = try await load(.config, from: repository.backend)
        let key = try await load(Handle(.key, id: repository.keyID), from: repository.backend)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConvoSyncError(.backend, "cannot create \(dir): \(error.localizedDescription)")
        }
        try AtomicFileWriter.write(config, to: (dir as NSString).appendingPathComponent("config"), mode: 0o600, mtime: nil)
        try AtomicFileWriter.write(key, to: keyPath, mode: 0o600, mtime: nil)
        // The repository's id names the outbox (and the device state); it is not secret.
        try AtomicFileWriter.write(Array(repository.config.id.utf8), to: idPath, mode: 0o600, mtime: nil)
    }

    /// Whether this device has opened the repository at `location` before.
    public static func canWorkOffline(location: String, stateDirectory: String) -> Bool {
        FileManager.default.fileExists(atPath: (identityDirectory(location: location, stateDirectory: stateDirectory) as NSString).appendingPathComponent("config"))
    }

    /// Opens the outbox for the repository at `location` (which cannot be reached now).
    public static func open(location: String, password: String, stateDirectory: String, cacheDirectory: URL?) async throws -> Repository {
        let identity = identityDirectory(location: location, stateDirectory: stateDirectory)
        let fm = FileManager.default
        guard let config = fm.contents(atPath: (identity as NSString).appendingPathComponent("config")) else {
            throw ConvoSyncError(.noRepository, "\(location) cannot be reached and this device has never opened it, so it cannot save offline")
        }
        guard let idData = fm.contents(atPath: (identity as NSString).appendingPathComponent("id")),
              Handle.isValidName(String(decoding: idData, as: UTF8.self)) else {
            throw ConvoSyncError(.noRepository, "\(location) cannot be reached; open it online once more before saving offline")
        }
        let keys = ((try? fm.contentsOfDirectory(atPath: identity)) ?? []).filter { $0.hasPrefix("key-") }
        let outbox = LocalBackend(path: directory(repositoryID: String(decoding: idData, as: UTF8.self), stateDirectory: stateDirectory))
        if !fm.fileExists(atPath: outbox.root.appendingPathComponent("config").path) {
            try outbox.create()
            try outbox.save(.config, data: Array(config))
        }
        for name in keys {
            let handle = try Handle(.key, name: String(name.dropFirst(4)))
            if (try? outbox.stat(handle)) == nil, let bytes = fm.contents(atPath: (identity as NSString).appendingPathComponent(name)) {
                try outbox.save(handle, data: Array(bytes))
            }
        }
        // No index cache: the outbox shares the repository's id, and its index must not prune the real one's cache.
        return try await Repository.open(backend: outbox, password: password, cacheDirectory: nil)
    }

    public struct PushResult: Sendable, Codable {
        public var files = 0
        public var bytes = 0
        /// Sessions now at the head of their ref.
        public var sessions: [String] = []
        /// Sessions kept as forks because another device moved the conversation on.
        public var forks: [String] = []
    }

    /// Files waiting in the outbox for `repositoryID` (0 when there is none).
    public static func pendingCount(repositoryID: String, stateDirectory: String) async -> Int {
        let path = directory(repositoryID: repositoryID, stateDirectory: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        return ((try? await LocalBackend(path: path).list(.ref)) ?? []).count
    }

    /// Uploads everything waiting in the outbox to `repository`, then empties it.
    public static func push(to repository: Repository, stateDirectory: String) async throws -> PushResult {
        var result = PushResult()
        let path = directory(repositoryID: repository.config.id, stateDirectory: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return result }
        let outbox = LocalBackend(path: path)
        let remote = repository.backend
        // Data before what names it (Format/SPEC.md §Read/Write ordering invariants): packs, index, snapshots, sessions.
        var queued: [Handle] = []
        for type in FileType.commitOrder {
            for info in try outbox.list(type) {
                queued.append(info.handle)
                if (try? await remote.stat(info.handle)) != nil { continue }
                let bytes = try outbox.load(info.handle, range: nil)
                do { try await repository.destination.write(info.handle, bytes) } catch { throw ConvoSyncError.wrap(error, file: info.handle.relativePath) }
                result.files += 1
                result.bytes += bytes.count
            }
        }
        if result.files > 0 { await repository.reloadIndex() }
        // Then each ref version, oldest first, as the compare-and-swap the offline save could not do.
        var state = try DeviceState.load(repositoryID: repository.config.id, directory: stateDirectory)
        var byRef: [String: [(Int, String)]] = [:]
        for info in try outbox.list(.ref) {
            guard let name = info.handle.refVersionName else { continue }
            let target = String(decoding: try outbox.load(info.handle, range: nil), as: UTF8.self)
            byRef[name.ref, default: []].append((name.version, target))
        }
        for (ref, versions) in byRef {
            var line = ref
            var expected = (versions.map(\.0).min() ?? 1) - 1
            for (_, target) in versions.sorted(by: { $0.0 < $1.0 }) {
                let sessionID = try SessionID(hex: target)
                // From the outbox: it may not have reached the repository yet (the session API
                // sends it with the ref version that names it).
                let session = try await repository.load(SessionFile.self, id: sessionID, from: outbox)
                let fork = Refs.fork(of: session.ref, session: sessionID, key: repository.key)
                // Landed in an earlier, interrupted push: on the line itself, or as its fork.
                if let landed = try await version(of: target, in: line, after: expected, remote: remote) {
                    expected = landed
                    continue
                }
                if let landed = try await version(of: target, in: fork, after: 0, remote: remote) {
                    (line, expected) = (fork, landed)
                    state.lines[session.ref] = fork
                    continue
                }
                // Every queued file may be this session's, so all are named; its parent's
                // manifest covers what was stored before.
                let lineage = Lineage(parent: session.parent?.hex, reused: queued)
                if case .applied(let head) = try await repository.commit(RefUpdate(ref: line, expected: expected, target: target, lineage: lineage)) {
                    state.refs[line] = head
                    expected = head.version
                    result.sessions.append(target)
                } else {
                    // Another device moved on: keep this save under its fork ref, overwrite nothing.
                    guard case .applied(let head) = try await repository.commit(RefUpdate(ref: fork, expected: 0, target: target, lineage: lineage)) else {
                        throw ConvoSyncError(.conflict, "fork ref \(fork.prefix(12)) of session \(sessionID.short) exists with other contents")
                    }
                    state.refs[fork] = head
                    state.lines[session.ref] = fork
                    line = fork
                    expected = head.version
                    result.forks.append(target)
                }
            }
        }
        try state.save(repositoryID: repository.config.id, directory: stateDirectory)
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw ConvoSyncError(.backend, "pushed, but cannot empty the outbox \(path): \(error.localizedDescription); delete it by hand")
        }
        return result
    }

    /// The version of `ref` after `after` that points at `target`, if any.
    private static func version(of target: String, in ref: String, after: Int, remote: any Backend) async throws -> Int? {
        let handles: [Handle]
        do { handles = try await remote.list(.ref).map(\.handle).filter { $0.ref == ref } } catch {
            throw ConvoSyncError.wrap(error, file: "refs")
        }
        for handle in handles {
            guard let v = handle.refVersion, v > after else { continue }
            let bytes: [UInt8]
            do { bytes = try await remote.load(handle) } catch { throw ConvoSyncError.wrap(error, file: handle.relativePath) }
            if String(decoding: bytes, as: UTF8.self) == target { return v }
        }
        return nil
    }

    private static func load(_ handle: Handle, from backend: any Backend) async throws -> [UInt8] {
        do { return try await backend.load(handle) } catch { throw ConvoSyncError.wrap(error, file: handle.relativePath) }
    }
}
