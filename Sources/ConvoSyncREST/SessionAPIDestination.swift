public import ConvoSync
public import ConvoSyncStorage
public import ConvoSyncFormat
public import ConvoSyncProtocol
import NIOHTTP1
public import Foundation

/// A commit as one request to the session API (`POST …/sessions/save`, Format/API.md): the
/// files written since the last commit are held back and sent in one bundle with the target
/// session's manifest and the ref version, which the server applies as a compare-and-swap
/// after storing every file. So either the whole save becomes visible or (409) only the
/// unreferenced files stay, which the fork that follows reuses.
///
/// Sent files are also kept in the device's mirror, so its next resume does not download
/// them; after a 409 the mirror's heads are fetched again, so the caller's next read of the
/// ref finds the head that won.
public actor SessionAPIDestination: CommitDestination {
    public nonisolated let remote: RESTBackend
    public nonisolated var location: String { remote.location }
    /// The server keeps a manifest per session, so a resume is one response.
    public nonisolated var keepsLineage: Bool { true }
    /// The device's mirror of the repository, if it keeps one.
    public nonisolated let mirror: SessionMirror?
    private var pending: [(Handle, [UInt8])] = []
    private var names: Set<Handle> = []
    /// Sessions whose manifest went out already (one per session is enough: the server keeps
    /// the first, and a fork after a 409 names the same session).
    private var declared: Set<String> = []

    public init(remote: RESTBackend, mirror: SessionMirror?) {
        (self.remote, self.mirror) = (remote, mirror)
    }

    public func write(_ handle: Handle, _ bytes: [UInt8]) async throws {
        guard names.insert(handle).inserted else { return }
        pending.append((handle, bytes))
    }

    public func commit(_ update: RefUpdate) async throws -> CommitOutcome {
        let refHandle = try Handle.ref(update.ref, version: update.expected + 1)
        // Data before what names it (SPEC §25), then the ref.
        let files = pending.sorted { $0.0.type.commitRank < $1.0.type.commitRank }
        var bundle = BundleFormat.header()
        for (handle, bytes) in files { bundle += BundleFormat.entryHeader(handle, size: bytes.count) + bytes }
        if let lineage = update.lineage, !declared.contains(update.target) {
            let body = Wire.encode(ManifestDeclaration(parent: lineage.parent, needs: lineage.reused.map(\.manifestName)))
            bundle += BundleFormat.entryHeader(type: BundleFormat.manifestType, name: update.target, size: body.count) + body
            declared.insert(update.target)
        }
        let target = Array(update.target.utf8)
        bundle += BundleFormat.entryHeader(refHandle, size: target.count) + target + BundleFormat.end
        let outcome = try await remote.sendBundle(bundle)
        // Stored either way: a conflict keeps the files.
        pending.removeAll()
        names.removeAll()
        let local = mirror?.local
        for (handle, bytes) in files where (try? local?.stat(handle)) == nil { try? local?.save(handle, data: bytes) }
        let applied = RefHead(ref: update.ref, version: update.expected + 1, target: update.target)
        switch outcome {
        case .stored:
            try? local?.save(refHandle, data: target)
            return .applied(applied)
        case .conflict(let current):
            // A retried request whose first attempt landed finds its own session at the head.
            if let current, current.target == update.target, let version = current.version {
                let landed = RefHead(ref: update.ref, version: version, target: update.target)
                try? local?.save(Handle.ref(update.ref, version: version), data: target)
                return .applied(landed)
            }
            // The caller reads the new head next: bring the mirror's heads up to date.
            try? await mirror?.fetchHeads()
            let head = current.flatMap { c in c.version.flatMap { v in c.target.map { RefHead(ref: update.ref, version: v, target: $0) } } }
            return .conflict(current: head)
        }
    }
}

/// Reads through a device's mirror: files it holds are read there, others are fetched from
/// the server once (checked against their names) and kept.
public struct MirroredBackend: Backend {
    public let mirror: SessionMirror
    public var remote: RESTBackend { mirror.remote }
    public var location: String { remote.location }
    public var maxConcurrentOperations: Int { remote.maxConcurrentOperations }

    public init(_ mirror: SessionMirror) { self.mirror = mirror }

    public func create() async throws { try await remote.create() }

    public func save(_ handle: Handle, data: [UInt8]) async throws {
        try await remote.save(handle, data: data)
        try? mirror.local.save(handle, data: data)
    }

    public func load(_ handle: Handle, range: Range<Int>?) async throws -> [UInt8] {
        let local = mirror.local
        if (try? local.stat(handle)) != nil { return try local.load(handle, range: range) }
        // Fetched whole, so later ranges of it are local too; checked against its name before
        // the mirror keeps it.
        let data = try await remote.load(handle, range: nil)
        try await mirror.keepFetched(handle, data)
        guard let range else { return data }
        guard range.upperBound <= data.count else { throw StorageError(.io, "\(handle) is shorter than the range asked for") }
        return Array(data[range])
    }

    public func stat(_ handle: Handle) async throws -> Int {
        if let size = try? mirror.local.stat(handle) { return size }
        return try await remote.stat(handle)
    }

    public func list(_ type: FileType) async throws -> [FileInfo] { try mirror.local.list(type) }

    public func remove(_ handle: Handle) async throws { try await remote.remove(handle) }
}

extension RESTBackend {
    public enum BundleOutcome: Sendable { case stored, conflict(RefState?) }

    /// Posts a bundle to `sessions/save`: 200 stored, 409 stored but the ref moved on (with
    /// the ref's current head, as the server answers it).
    public func sendBundle(_ bundle: [UInt8]) async throws -> BundleOutcome {
        guard let api = RepositoryPath.apiRoot(of: base) else { throw StorageError(.invalidName, "\(location) is not a /USER/REPO/ URL, so it has no session API") }
        let reply = try await send(.POST, api + "sessions/save", body: bundle, headers: [("Content-Type", BundleFormat.contentType)], what: "save session")
        if reply.status.code == 409 { return .conflict(try? Wire.decode(RefState.self, reply.body)) }
        try check(reply, "save session")
        return .stored
    }
}

extension Repository {
    /// Opens a repository on a convosync-server for saving through the session API: reads come
    /// from `mirror` (fetching what it lacks) or straight from the server, and each commit is
    /// one request.
    public static func open(
        sessionAPI remote: RESTBackend, mirror: SessionMirror? = nil, password: String, cacheDirectory: URL? = nil,
        onSkip: (@Sendable (String) -> Void)? = nil
    ) async throws -> Repository {
        let reads: any Backend = mirror.map { MirroredBackend($0) } ?? remote
        return try await open(
            backend: reads, destination: SessionAPIDestination(remote: remote, mirror: mirror), password: password,
            cacheDirectory: cacheDirectory, onSkip: onSkip)
    }
}
