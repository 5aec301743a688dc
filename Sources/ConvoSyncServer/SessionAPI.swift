import Prometheus
import ConvoSyncFormat
import ConvoSyncProtocol
import ConvoSyncStorage
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore

/// The session API under `/api/v1/<user>/<repo>/` (Format/API.md):
///
/// | request | answer |
/// |---|---|
/// | `POST sessions/save` | a bundle of new files, a manifest and a ref version, applied as a compare-and-swap |
/// | `GET sessions` | config, keys and every conversation's head (ref version and encrypted session file) |
/// | `POST sessions/resume` | a bundle with every file a session needs that the device lacks |
/// | `POST conversations/<ref>/sync` | the ref's head, then the same bundle for its session |
///
/// The server never decrypts anything. A save's manifest (file names only) is what lets it
/// answer a resume in one response: it records, per session, the files of its bundle, the
/// files the client declared it reuses, and the parent session, whose manifest covers the rest.
extension Services {
    /// `POST sessions/resume`: the bundle of what a session needs beyond what the device has.
    func resume(_ request: Request, store: RepositoryStore) async throws -> Response {
        let input = try await Self.decodeBody(ResumeRequest.self, request, limit: configuration.maxBodySize)
        guard Handle.isValidName(input.session) else { throw StoreError(.badRequest, "session must be a session file's name (64 hex digits)") }
        return try await resumeBundle(session: input.session, head: nil, have: Set(input.have ?? []), store: store)
    }

    /// `POST conversations/<ref>/sync`: the ref's head, then the bundle for its session, or
    /// "up to date" when the device knows that version.
    func sync(_ request: Request, ref: String, store: RepositoryStore) async throws -> Response {
        guard RefName.isValid(ref) else { throw StoreError(.badRequest, "a conversation is named by its ref: 64 hex digits") }
        let input = try await Self.decodeBody(SyncRequest.self, request, limit: configuration.maxBodySize)
        guard let head = try await Self.head(of: ref, in: store) else { throw StoreError(.notFound, "no conversation \(ref.prefix(12))… in this repository") }
        if let after = input.after, after >= head.version {
            return Self.json(.ok, RefState(ref: ref, version: head.version, target: head.target, upToDate: true))
        }
        return try await resumeBundle(session: head.target, head: try Handle.ref(head.ref, version: head.version), have: Set(input.have ?? []), store: store)
    }

    /// A JSON request body of at most `limit` bytes (16 MiB at most); `ifEmpty` stands for an
    /// empty body where the endpoint allows one.
    static func decodeBody<T: Decodable>(_ type: T.Type, _ request: Request, limit: Int, ifEmpty: T? = nil) async throws -> T {
        let cap = min(limit, 16 << 20)
        if let length = request.headers[.contentLength].flatMap(Int.init), length > cap {
            throw StoreError(.tooLarge, "the request body (\(length) bytes) is over the \(cap)-byte limit")
        }
        var body = ByteBuffer()
        for try await var part in request.body {
            guard body.readableBytes + part.readableBytes <= cap else { throw StoreError(.tooLarge, "the request body is over the \(cap)-byte limit") }
            body.writeBuffer(&part)
        }
        if body.readableBytes == 0, let ifEmpty { return ifEmpty }
        do { return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView)) } catch {
            throw StoreError(.badRequest, "the request body is not the JSON this endpoint takes (Format/API.md)")
        }
    }

    // MARK: heads

    /// The newest version of `ref`, with the session file it names.
    static func head(of ref: String, in store: RepositoryStore) async throws -> RefHead? {
        let versions = try await store.list(.ref, namePrefix: ref + "-").map(\.handle)
        guard let last = versions.max(by: { $0.name < $1.name }) else { return nil }
        return try await head(last, in: store)
    }

    static func head(_ handle: Handle, in store: RepositoryStore) async throws -> RefHead? {
        guard let data = try await store.get(handle), data.count == 64 else { return nil }
        guard let name = handle.refVersionName else { return nil }
        return RefHead(ref: name.ref, version: name.version, target: String(decoding: data, as: UTF8.self))
    }

    /// `GET sessions`: what a device needs to choose a session, in one answer: the config, the
    /// key files, and for every ref its newest version with the session file it names.
    func listSessions(store: RepositoryStore) async throws -> Response {
        func bytes(_ handle: Handle) async throws -> Data? {
            try await store.get(handle).map { Data($0) }
        }
        var newest: [String: Handle] = [:]
        for file in try await store.list(.ref) {
            guard let ref = file.handle.ref else { continue }
            if let known = newest[ref], known.name >= file.handle.name { continue }
            newest[ref] = file.handle
        }
        var heads: [SessionList.Head] = []
        for (ref, handle) in newest.sorted(by: { $0.value.name < $1.value.name }) {
            guard let head = try await Self.head(handle, in: store), let sessionHandle = try? Handle(.session, name: head.target) else { continue }
            heads.append(SessionList.Head(ref: ref, version: head.version, session: head.target, data: try await bytes(sessionHandle)))
        }
        var keys: [SessionList.Key] = []
        for file in try await store.list(.key) {
            if let data = try await bytes(file.handle) { keys.append(SessionList.Key(name: file.handle.name, data: data)) }
        }
        return Self.json(.ok, SessionList(config: try await bytes(.config), keys: keys, heads: heads))
    }

    // MARK: manifests

    static func parseNeed(_ text: String) -> Handle? {
        guard let slash = text.firstIndex(of: "/"), let type = FileType(rawValue: String(text[..<slash])), type != .config, type != .ref, type != .lock
        else { return nil }
        return try? Handle(type, name: String(text[text.index(after: slash)...]))
    }

    /// Every file `session` needs, following parent manifests; nil when it or any ancestor
    /// has no manifest (saved file by file, or from an outbox), since the list would be short.
    func closure(of session: String, store: RepositoryStore) async throws -> [Handle]? {
        var seen: Set<Handle> = []
        var out: [Handle] = []
        var visited: Set<String> = []
        var current: String? = session
        while let s = current, visited.insert(s).inserted {
            guard let manifest = try await state.manifests.manifest(of: s, in: store) else { return nil }
            for name in manifest.files {
                guard let handle = Self.parseNeed(name), seen.insert(handle).inserted else { continue }
                out.append(handle)
            }
            current = manifest.parent
        }
        return out
    }

    // MARK: resume

    /// A bundle (Format/API.md §Bundle) of `head` (if given) and every file `session` needs
    /// that is not in `have`, streamed from disk: data before what names it, as in a save.
    func resumeBundle(session: String, head: Handle?, have: Set<String>, store: RepositoryStore) async throws -> Response {
        guard let needed = try await closure(of: session, store: store) else {
            throw StoreError(.notFound, "session \(session.prefix(12))… has no manifest (it was not saved through sessions/save); read its files one by one")
        }
        var files: [(Handle, Int)] = []
        for handle in needed where !have.contains(handle.manifestName) {
            guard let size = try await store.size(handle) else {
                throw StoreError(.notFound, "\(handle) is missing from the repository, which is damaged: put the file back from a copy of the repository")
            }
            files.append((handle, size))
        }
        files.sort { ($0.0.type.commitRank, $0.0.name) < ($1.0.type.commitRank, $1.0.name) }
        if let head, let size = try await store.size(head) { files.insert((head, size), at: 0) }
        let sending = files
        let total = sending.reduce(BundleFormat.header().count + 1) { $0 + BundleFormat.entryHeader($1.0, size: $1.1).count + $1.1 }
        metrics.bytesOut.increment(by: Int64(total))
        let body = ResponseBody(contentLength: total) { writer in
            try await writer.write(ByteBuffer(bytes: BundleFormat.header()))
            for (handle, size) in sending {
                try await writer.write(ByteBuffer(bytes: BundleFormat.entryHeader(handle, size: size)))
                var sent = 0
                try await store.read(handle, range: 0..<size) { chunk in
                    sent += chunk.readableBytes
                    try await writer.write(chunk)
                }
                guard sent == size else { throw StoreError(.io, "\(handle) changed size while being sent") }
            }
            try await writer.write(ByteBuffer(bytes: BundleFormat.end))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: BundleFormat.contentType, .contentLength: String(total)], body: body)
    }

    // MARK: save

    /// `POST sessions/save`: a bundle of files (Format/API.md §Save), stored write-once and
    /// hash-checked like single uploads; an optional `manifest` entry, then a final `refs` entry
    /// applied last as a compare-and-swap. 200 when everything is stored and the ref moved; 409
    /// with the current head (JSON) when the ref had moved on, the files staying stored.
    func saveBundle(_ request: Request, store: RepositoryStore, principal: Principal) async throws -> Response {
        let user = principal.user
        var reader = BundleStreamReader(request.body.makeAsyncIterator()) { StoreError(.badRequest, "the bundle ends early") }
        guard try await reader.readHeader() else { throw StoreError(.badRequest, "not a bundle (magic CSBN, version 1)") }
        var stored = 0
        var storedBytes = 0
        var total = 0
        var carried: [Handle] = []
        var carriedSet: Set<Handle> = []
        var entries = 0
        var manifest: (session: String, declared: ManifestDeclaration)?
        while let entry = try await reader.nextEntry() {
            let (typeName, name, wide) = (entry.type, entry.name, entry.size)
            guard wide <= UInt64(configuration.maxBodySize) else {
                throw StoreError(.tooLarge, "a bundle entry of \(wide) bytes is larger than the \(configuration.maxBodySize)-byte limit")
            }
            entries += 1
            guard entries <= Self.maxBundleEntries else { throw StoreError(.tooLarge, "a bundle carries at most \(Self.maxBundleEntries) files") }
            let size = Int(wide)
            total += size + entry.headerSize  // entry headers count toward the limit too
            guard total <= configuration.maxBodySize else {
                throw StoreError(.tooLarge, "the bundle is larger than the \(configuration.maxBodySize)-byte limit")
            }
            if typeName == BundleFormat.manifestType {
                guard Handle.isValidName(name), size <= 4 << 20 else { throw StoreError(.badRequest, "a manifest entry is named by its session and holds at most 4 MiB") }
                let body = try await reader.bytes(size)
                guard let declared = try? Wire.decode(ManifestDeclaration.self, body) else {
                    throw StoreError(.badRequest, "the manifest entry is not JSON {\"parent\": …, \"needs\": [\"type/name\", …]}")
                }
                manifest = (name, declared)
                continue
            }
            guard let type = FileType(rawValue: typeName), type != .config, type != .key, type != .lock else {
                throw StoreError(.badRequest, "a bundle may not carry '\(typeName.prefix(20))' files")
            }
            let handle: Handle
            do { handle = try Handle(type, name: name) } catch { throw StoreError(.badRequest, "\(error)") }
            if type == .ref {
                guard size == 64 else { throw StoreError(.badRequest, "a ref holds a session file's name: 64 hex digits") }
                let target = String(decoding: try await reader.bytes(size), as: UTF8.self)
                guard Handle.isValidName(target) else { throw StoreError(.badRequest, "a ref holds a session file's name: 64 hex digits") }
                guard try await reader.bytes(1) == [0] else { throw StoreError(.badRequest, "the ref must be the bundle's last entry") }
                guard let session = try? Handle(.session, name: target), try await store.size(session) != nil else {
                    throw StoreError(.badRequest, "the ref names session \(target.prefix(12))…, which is neither in the bundle nor stored")
                }
                guard let ref = handle.ref else { throw StoreError(.badRequest, "\(handle) is not a ref version") }
                let conversation = try await state.conversations.bytes(ref, in: store) + storedBytes
                if let limit = configuration.maxConversationSize, conversation > limit {
                    throw StoreError(.tooLarge, "the conversation would hold \(conversation) bytes, over this server's MAX_CONVERSATION_SIZE of \(limit); start a new conversation (the files of this save stay unreferenced until prune)")
                }
                if let manifest {
                    guard manifest.session == target else { throw StoreError(.badRequest, "the manifest describes another session than the ref names") }
                    try await storeManifest(manifest.declared, session: target, carried: carried, store: store)
                }
                return try await applyRef(handle, ref: ref, target: target, store: store, principal: principal, stored: stored, added: storedBytes)
            }
            if carriedSet.insert(handle).inserted { carried.append(handle) }
            if try await store.size(handle) != nil {
                try await reader.skip(size)  // content-addressed: the same name holds the same bytes
                continue
            }
            try await checkQuota(user, incoming: size)
            let upload = try await store.upload(handle, limit: configuration.maxBodySize)
            try await reader.stream(size) { try upload.write($0) }
            if try await commitIfNew(upload) {
                await state.usage.add(user, size)
                metrics.stored(bytes: size)
                stored += 1
                storedBytes += size
            }
        }
        return Self.json(.ok, SaveAnswer(stored: stored, ref: nil))
    }

    static let maxBundleEntries = 100_000

    /// Checks a declared manifest and writes the server's own, before the ref makes it reachable.
    func storeManifest(_ declared: ManifestDeclaration, session: String, carried: [Handle], store: RepositoryStore) async throws {
        var files = carried.map(\.manifestName)
        for need in declared.needs {
            guard let handle = Self.parseNeed(need) else { throw StoreError(.badRequest, "the manifest names '\(need.prefix(80))', which is not type/name") }
            guard try await store.size(handle) != nil else { throw StoreError(.badRequest, "the manifest names \(need.prefix(80)), which is not stored") }
            files.append(handle.manifestName)
        }
        if let parent = declared.parent {
            guard Handle.isValidName(parent) else { throw StoreError(.badRequest, "the manifest's parent is not a session name") }
        }
        try await state.manifests.record(StoredManifest(parent: declared.parent, files: files), of: session, in: store)
    }

    /// The compare-and-swap at the end of a save: 200 and an event when the version is new,
    /// 409 with the current head when another save took it.
    func applyRef(_ handle: Handle, ref: String, target: String, store: RepositoryStore, principal: Principal, stored: Int, added: Int) async throws -> Response {
        guard try await objects.put(Array(target.utf8), at: store.key(handle), ifAbsent: true) else {
            metrics.conflicts.increment()
            return try await conflict(ref, store: store)
        }
        metrics.sessionSaves.increment()
        await state.conversations.add(ref, added, in: store)
        await state.events.publish(user: principal.user, from: principal.device, event: SessionSavedEvent(
            repository: store.name, ref: ref, version: handle.refVersion ?? 0, session: target))
        return Self.json(.ok, SaveAnswer(stored: stored, ref: handle.name))
    }
}
