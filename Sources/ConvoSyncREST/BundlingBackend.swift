public import ConvoSyncFormat
public import ConvoSyncStorage
import Foundation
import NIOHTTP1

/// Turns a save into one HTTP request: files written through this backend are held back and
/// sent, together with the ref version that names them, in one `sessions/save` bundle
/// (Format/API.md). The server applies the ref as a compare-and-swap after storing every
/// file, so either the whole save becomes visible or (on a conflict, 409) only the
/// unreferenced files stay, which the fork that follows reuses.
///
/// Reads go to the held-back files first, then to the server.
public actor BundlingBackend: Backend {
    public nonisolated let base: RESTBackend
    public nonisolated var location: String { base.location }
    public nonisolated var maxConcurrentOperations: Int { base.maxConcurrentOperations }
    private var pending: [Handle: [UInt8]] = [:]
    private var order: [Handle] = []

    public init(base: RESTBackend) { self.base = base }

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
        if let ref { files.append(ref) }
        guard !files.isEmpty else { return }
        let outcome = try await base.sendBundle(BundleFormat.encode(files))
        // Stored either way: a conflict keeps the files.
        pending.removeAll()
        order.removeAll()
        if case .conflict(let message, let target) = outcome {
            // A retried request whose first attempt landed finds its own session at the head.
            if let ref, target == String(decoding: ref.1, as: UTF8.self) { return }
            throw StorageError(.alreadyExists, message)
        }
    }

    public func load(_ handle: Handle, range: Range<Int>?) async throws -> [UInt8] {
        if let data = pending[handle] {
            guard let range else { return data }
            guard range.upperBound <= data.count else { throw StorageError(.io, "\(handle) is shorter than the range asked for") }
            return Array(data[range])
        }
        return try await base.load(handle, range: range)
    }

    public func stat(_ handle: Handle) async throws -> Int {
        if let data = pending[handle] { return data.count }
        return try await base.stat(handle)
    }

    public func list(_ type: FileType) async throws -> [FileInfo] {
        var out = try await base.list(type)
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

    /// The API root of this repository: `…/api/v1/<user>/<repo>/` for `…/<user>/<repo>/`.
    var apiBase: String? {
        guard let url = URL(string: base), url.pathComponents.count >= 3 else { return nil }
        let parts = url.pathComponents.filter { $0 != "/" }
        let prefix = base.dropLast(url.path.count + (base.hasSuffix("/") && !url.path.hasSuffix("/") ? 1 : 0))
        return String(prefix) + "/api/v1/" + parts.suffix(2).joined(separator: "/") + "/"
    }

    /// Posts a bundle to `sessions/save`: 200 stored, 409 stored but the ref moved on.
    public func sendBundle(_ bundle: [UInt8]) async throws -> BundleOutcome {
        guard let api = apiBase else { throw StorageError(.invalidName, "\(location) is not a /USER/REPO/ URL, so it has no session API") }
        let reply = try await send(.POST, api + "sessions/save", body: bundle, headers: [("Content-Type", BundleFormat.contentType)], what: "save session")
        if reply.status.code == 409 {
            let head = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any]
            return .conflict("the ref moved on: " + String(decoding: reply.body.prefix(300), as: UTF8.self), target: head?["target"] as? String)
        }
        try check(reply, "save session")
        return .stored
    }
}
