public import ConvoSyncFormat
public import ConvoSyncStorage
import ConvoSyncProtocol
import Foundation
import NIOHTTP1

/// Turns a save into one HTTP request: files written through this backend are held back and
/// sent, together with the ref version that names them, in one `sessions/save` bundle
/// (Format/API.md). The server applies the ref as a compare-and-swap after storing every
/// file, so either the whole save becomes visible or (on a conflict, 409) only the
/// unreferenced files stay, which the fork that follows reuses.
///
/// Reads go to the held-back files first, then (with `readThrough`) to the device's mirror,
/// then to the server. With a mirror whose heads were just fetched, a save is two requests:
/// those heads, and the bundle.
public actor BundlingBackend: Backend, SessionManifestSink {
    public nonisolated let base: RESTBackend
    public nonisolated var location: String { base.location }
    public nonisolated var maxConcurrentOperations: Int { base.maxConcurrentOperations }
    private var pending: [Handle: [UInt8]] = [:]
    private var order: [Handle] = []
    private var manifest: (session: String, body: [UInt8])?
    /// Where sent files are also written (the device's mirror), so a later resume on this
    /// device does not download them again.
    public var mirror: LocalBackend?
    /// Serve reads and listings from this mirror (missing files are fetched from the server
    /// and kept); refetch its heads after a conflict.
    public nonisolated let readThrough: SessionMirror?

    public init(base: RESTBackend, mirror: LocalBackend? = nil, readThrough: SessionMirror? = nil) {
        self.base = base
        self.readThrough = readThrough
        self.mirror = readThrough?.local ?? mirror
    }

    public func declareManifest(session: String, parent: String?, needs: [Handle]) async {
        manifest = (session, Wire.encode(ManifestDeclaration(parent: parent, needs: needs.map(\.manifestName))))
    }

    public func create() async throws { try await base.create() }

    public func save(_ handle: Handle, data: [UInt8]) async throws {
        guard handle.type == .ref else {
            if pending[handle] != nil { throw StorageError(.alreadyExists, "\(handle) exists already") }
            pending[handle] = data
            order.append(handle)
            return
        }
        try await flush(ref: (handle, data))
    }

    /// Sends what is held back (and the ref version, if any) in one request.
    public func flush(ref: (Handle, [UInt8])? = nil) async throws {
        var files = order.compactMap { h in pending[h].map { (h, $0) } }
        // Data before what names it: packs, index, snapshots, sessions, then the ref.
        let rank: [FileType: Int] = [.pack: 0, .index: 1, .snapshot: 2, .session: 3]
        files.sort { (rank[$0.0.type] ?? 4) < (rank[$1.0.type] ?? 4) }
        var bundle = BundleFormat.encode(files).dropLast(BundleFormat.end.count)
        if let (session, body) = manifest, let ref, String(decoding: ref.1, as: UTF8.self) == session {
            bundle += BundleFormat.entryHeader(type: BundleFormat.manifestType, name: session, size: body.count) + body
            manifest = nil
        }
        if let ref { bundle += BundleFormat.entryHeader(ref.0, size: ref.1.count) + ref.1 }
        guard !files.isEmpty || ref != nil else { return }
        let outcome = try await base.sendBundle(Array(bundle) + BundleFormat.end)
        // Stored either way: a conflict keeps the files.
        pending.removeAll()
        order.removeAll()
        if let mirror {
            for (handle, data) in files where (try? mirror.stat(handle)) == nil { try? mirror.save(handle, data: data) }
            if case .stored = outcome, let ref { try? mirror.save(ref.0, data: ref.1) }
        }
        if case .conflict(let message, let target) = outcome {
            // A retried request whose first attempt landed finds its own session at the head.
            if let ref, target == String(decoding: ref.1, as: UTF8.self) {
                try? mirror?.save(ref.0, data: ref.1)
                return
            }
            // The caller reads the new head next: bring the mirror's heads up to date.
            try? await readThrough?.fetchHeads()
            throw StorageError(.alreadyExists, message)
        }
    }

    public func load(_ handle: Handle, range: Range<Int>?) async throws -> [UInt8] {
        if let data = pending[handle] {
            guard let range else { return data }
            guard range.upperBound <= data.count else { throw StorageError(.io, "\(handle) is shorter than the range asked for") }
            return Array(data[range])
        }
        if let mirror = readThrough {
            let local = mirror.local
            if (try? local.stat(handle)) == nil {
                // Fetched whole, so later ranges of it are local too; checked against its name
                // before the mirror keeps it.
                let data = try await base.load(handle, range: nil)
                try await mirror.keepFetched(handle, data)
                guard let range else { return data }
                guard range.upperBound <= data.count else { throw StorageError(.io, "\(handle) is shorter than the range asked for") }
                return Array(data[range])
            }
            return try local.load(handle, range: range)
        }
        return try await base.load(handle, range: range)
    }

    public func stat(_ handle: Handle) async throws -> Int {
        if let data = pending[handle] { return data.count }
        if let local = readThrough?.local, let size = try? local.stat(handle) { return size }
        return try await base.stat(handle)
    }

    public func list(_ type: FileType) async throws -> [FileInfo] {
        var out = if let local = readThrough?.local { try local.list(type) } else { try await base.list(type) }
        let known = Set(out.map(\.handle))
        for h in order where h.type == type && !known.contains(h) { out.append(FileInfo(handle: h, size: pending[h]?.count ?? 0)) }
        return out.sorted { $0.handle.name < $1.handle.name }
    }

    public func remove(_ handle: Handle) async throws {
        if pending.removeValue(forKey: handle) != nil {
            order.removeAll { $0 == handle }
            return
        }
        try await base.remove(handle)
    }
}

extension RESTBackend {
    public enum BundleOutcome: Sendable { case stored, conflict(String, target: String?) }

    /// Posts a bundle to `sessions/save`: 200 stored, 409 stored but the ref moved on.
    public func sendBundle(_ bundle: [UInt8]) async throws -> BundleOutcome {
        guard let api = RepositoryPath.apiRoot(of: base) else { throw StorageError(.invalidName, "\(location) is not a /USER/REPO/ URL, so it has no session API") }
        let reply = try await send(.POST, api + "sessions/save", body: bundle, headers: [("Content-Type", BundleFormat.contentType)], what: "save session")
        if reply.status.code == 409 {
            let head = try? Wire.decode(RefState.self, reply.body)
            return .conflict("the ref moved on: " + String(decoding: reply.body.prefix(300), as: UTF8.self), target: head?.target)
        }
        try check(reply, "save session")
        return .stored
    }
}
