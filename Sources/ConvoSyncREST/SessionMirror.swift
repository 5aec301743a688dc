import ConvoSyncFormat
import ConvoSyncProtocol
public import ConvoSyncStorage
import AsyncHTTPClient
import Crypto
public import Foundation
import NIOCore
import NIOHTTP1

/// A device's local copy of the server files its sessions need, filled through the session
/// API in at most two requests (Format/API.md §Resume):
///
/// 1. `GET sessions`: the config, key files, and every conversation's head with its
///    (encrypted) session file, written into the mirror;
/// 2. `POST sessions/resume` with the session chosen and the names the mirror holds: one
///    bundle with every file that session needs and the mirror lacks.
///
/// The mirror is a LocalBackend in the cache directory, so a resume then runs entirely on
/// local files. Every received file is checked against its name (SHA-256) before it is kept.
public struct SessionMirror: Sendable {
    public let remote: RESTBackend
    public let local: LocalBackend

    /// The server has no session API (restic's rest-server, rclone) or the session has no
    /// manifest: read the repository file by file instead.
    public struct Unsupported: Error, Sendable { public var reason: String }

    public init(remote: RESTBackend, cacheDirectory: URL) {
        self.remote = remote
        // One mirror per repository URL (credentials are not part of `location`).
        let key = Hex.encode(Array(SHA256.hash(data: Array(remote.location.utf8)))).prefix(16)
        local = LocalBackend(path: cacheDirectory.appendingPathComponent("mirrors/\(key)").path)
    }

    /// Request 1: heads, sessions, config and keys into the mirror.
    public func fetchHeads() async throws {
        guard let api = RepositoryPath.apiRoot(of: remote.base) else { throw Unsupported(reason: "\(remote.location) is not a /USER/REPO/ URL") }
        let reply = try await remote.send(.GET, api + "sessions", what: "list sessions")
        // convosync-server marks every answer; a 404 without the mark is a plain REST server.
        if reply.status.code == 404 && reply.headers.first(name: "X-ConvoSync-API") == nil {
            throw Unsupported(reason: "the server has no session API")
        }
        try remote.check(reply, "list sessions")
        guard let list = try? Wire.decode(SessionList.self, reply.body) else {
            throw StorageError(.io, "list sessions: the server's answer is not the JSON of Format/API.md")
        }
        if let config = list.config {
            try await keep(.config, Array(config), verify: false)
        }
        for key in list.keys {
            guard let handle = try? Handle(.key, name: key.name) else { continue }
            try await keep(handle, Array(key.data), verify: true)
        }
        for head in list.heads {
            guard let refHandle = try? Handle.ref(head.ref, version: head.version) else { continue }
            if let data = head.data {
                try await keep(try Handle(.session, name: head.session), Array(data), verify: true)
            }
            try await keep(refHandle, Array(head.session.utf8), verify: false)
        }
    }

    /// Whether a previous ``fetchHeads()`` left the config and a key here, so the repository
    /// can be opened from the mirror without asking the server.
    public var hasIdentity: Bool {
        (try? local.stat(.config)) != nil && ((try? local.list(.key))?.isEmpty == false)
    }

    /// Where the mirror records sessions whose every file it holds (a file per session name).
    var completeDirectory: String { local.root.path + ".complete" }

    /// Whether the mirror holds every file `session` needs (it was fetched, or saved from
    /// here on top of such a session).
    public func isComplete(_ session: String) -> Bool {
        Handle.isValidName(session) && FileManager.default.fileExists(atPath: completeDirectory + "/" + session)
    }

    public func markComplete(_ session: String) {
        guard Handle.isValidName(session) else { return }
        try? FileManager.default.createDirectory(atPath: completeDirectory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: completeDirectory + "/" + session, contents: nil)
    }

    /// Fetches `session`'s files unless the mirror is known to hold them already.
    public func ensure(session: String) async throws {
        if isComplete(session) { return }
        try await fetch(session: session)
    }

    /// Request 2: every file `session` needs that the mirror lacks. Returns files and bytes received.
    @discardableResult
    public func fetch(session: String) async throws -> (files: Int, bytes: Int) {
        guard let api = RepositoryPath.apiRoot(of: remote.base) else { throw Unsupported(reason: "\(remote.location) is not a /USER/REPO/ URL") }
        var have: [String] = []
        for type in FileType.commitOrder {
            have += try local.list(type).map(\.handle.manifestName)
        }
        let body = Wire.encode(ResumeRequest(session: session, have: have))
        let response = try await remote.open(.POST, api + "sessions/resume", body: body, contentType: "application/json", what: "resume session")
        guard response.status.code == 200 else {
            let text = String(buffer: try await response.body.collect(upTo: 64 << 10))
            let reply = RESTBackend.Reply(status: response.status, headers: response.headers, body: Array(text.utf8))
            if response.status.code == 404 {
                // No manifest for it or an ancestor, or a file of it is gone: read file by file.
                throw Unsupported(reason: "session \(session.prefix(8)): \(text.prefix(200))")
            }
            try remote.check(reply, "resume session")
            throw StorageError(.io, "resume session: HTTP \(response.status.code)")
        }
        // Written to the mirror as it arrives: memory holds a network chunk, not a file or the bundle.
        var reader = BundleStreamReader(response.body.makeAsyncIterator()) { StorageError(.io, "resume: the bundle ends early") }
        let received: (files: Int, bytes: Int)
        do {
            received = try await unpack(&reader)
        } catch let error as StorageError {
            throw error
        } catch {
            // The connection broke or went silent mid-bundle (the server died, the network
            // dropped): files received whole are kept (checked, content-addressed), nothing else.
            throw StorageError(.unavailable, "resume: the download from \(remote.location) broke off (\(NetworkTimeouts.explain(error))); nothing was changed here. Run the command again when the server is reachable")
        }
        markComplete(session)
        return received
    }

    /// Writes a bundle's entries into the mirror, checking each name against its content.
    func unpack<Body>(_ reader: inout BundleStreamReader<Body>) async throws -> (files: Int, bytes: Int) {
        guard try await reader.readHeader() else { throw StorageError(.io, "resume: the answer is not a bundle") }
        var files = 0
        var bytes = 0
        while let entry = try await reader.nextEntry() {
            let (name, size) = (entry.name, entry.size)
            guard let fileType = FileType(rawValue: entry.type), size <= 1 << 31 else { throw StorageError(.io, "resume: the bundle is malformed") }
            let handle = try Handle(fileType, name: name)
            // Straight to a staged file, hashed on the way: memory holds a network chunk, not the file.
            let writer = (try? local.stat(handle)) == nil ? try local.writer(for: handle) : nil
            var hasher = SHA256()
            try await reader.stream(Int(size)) { chunk in
                hasher.update(bufferPointer: chunk)
                try writer?.write(chunk)
            }
            if fileType != .ref && Hex.encode(Array(hasher.finalize())) != name {
                throw StorageError(.io, "\(handle) from the server does not match its name; the server or the network damaged it")
            }
            do { try writer?.commit() } catch let error as StorageError where error.code == .alreadyExists {}  // another process wrote the same file
            files += 1
            bytes += Int(size)
        }
        return (files, bytes)
    }

    /// Keeps a file fetched by another path (a read-through load), checked like the rest.
    func keepFetched(_ handle: Handle, _ data: [UInt8]) async throws {
        try await keep(handle, data, verify: handle.type != .config && handle.type != .ref)
    }

    func keep(_ handle: Handle, _ data: [UInt8], verify: Bool) async throws {
        if verify && Hex.encode(Array(SHA256.hash(data: data))) != handle.name {
            throw StorageError(.io, "\(handle) from the server does not match its name; the server or the network damaged it")
        }
        if (try? local.stat(handle)) != nil { return }
        try await store(handle, data)
    }

    private func store(_ handle: Handle, _ data: [UInt8]) async throws {
        do { try local.save(handle, data: data) } catch let error as StorageError where error.code == .alreadyExists {
            return  // another process wrote the same content-addressed file first
        }
    }
}
