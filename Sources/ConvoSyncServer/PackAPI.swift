import ConvoSyncFormat
import ConvoSyncProtocol
public import ConvoSyncStorage
public import Foundation
public import Hummingbird
import Logging
import HTTPTypes
import NIOCore
import Prometheus

/// What every route of the server uses (configuration, stores, accounts, tokens, events,
/// metrics); the pack API's handlers are below, the session API's in SessionAPI.swift and the
/// account API's in Auth.swift. Routes: Routes.swift.
///
/// restic's REST backend protocol (v1 and v2), with private repositories per user:
/// `/<user>/<repo>/…`, HTTP basic authentication, and only the user's own paths.
///
/// | request | answer |
/// |---|---|
/// | `POST /u/r/?create=true` | 200: repository created (idempotent) |
/// | `HEAD`/`GET /u/r/config`, `POST /u/r/config` | the config; write-once |
/// | `GET /u/r/<type>/` | names (v1) or names and sizes (v2, `Accept: application/vnd.x.restic.rest.v2`) |
/// | `HEAD`/`GET` (with `Range`)/`POST`/`DELETE /u/r/<type>/<name>` | one file; POST verifies `sha256(body) == name` and never replaces |
///
/// Errors: 400 bad name or hash, 401 no or wrong credentials, 403 another user's repository,
/// an existing file or a delete in append-only mode, 404 missing, 413 body over the limit,
/// 429 too many failed logins, 507 disk full.
public struct Services: Sendable {
    let configuration: ServerConfiguration
    let users: UserStore
    let tokens: TokenAuthority
    let metrics: ServerMetrics
    let objects: any ObjectStore
    /// Events, usage, conversation sizes, manifests (``ServerState``).
    let state: ServerState
    let clock: any ServerClock
    static let v2 = "application/vnd.x.restic.rest.v2"

    public init(
        configuration: ServerConfiguration, objects: (any ObjectStore)? = nil, users: UserStore, tokens: TokenAuthority, state: ServerState? = nil,
        metrics: ServerMetrics = ServerMetrics(), clock: any ServerClock = SystemClock()
    ) {
        self.configuration = configuration
        self.objects = objects ?? configuration.objectStore()
        self.users = users
        self.tokens = tokens
        self.state = state ?? .local(objects: self.objects)
        self.metrics = metrics
        self.clock = clock
    }

    var events: any EventBus { state.events }

    /// Refuses `incoming` more bytes for `user` when that would pass the quota.
    func checkQuota(_ user: String, incoming: Int) async throws {
        guard let quota = configuration.userQuota else { return }
        let used = try await state.usage.usage(user)
        if used + incoming > quota {
            throw StoreError(.insufficientStorage, "quota exceeded: \(user) stores \(used) of \(quota) bytes; this upload needs \(incoming) more. Delete old snapshots (`restic forget --prune`) or ask for a larger quota")
        }
    }

    static func text(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    func list(_ type: FileType, store: RepositoryStore, v2: Bool) async throws -> Response {
        guard try await store.exists() else { throw StoreError(.notFound, "no such repository") }
        let files = try await store.list(type)
        let json = v2 ? Wire.encode(files.map { FileListEntry(name: $0.handle.name, size: $0.size) }) : Wire.encode(files.map(\.handle.name))
        return Response(status: .ok, headers: [.contentType: v2 ? Self.v2 : "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
    }

    func file(_ handle: Handle, request: Request, store: RepositoryStore, principal: Principal) async throws -> Response {
        switch request.method {
        case .head:
            guard let size = try await store.size(handle) else { throw StoreError(.notFound, "\(handle) does not exist") }
            return Response(status: .ok, headers: [.contentLength: String(size), .contentType: "application/octet-stream"])
        case .get:
            guard let size = try await store.size(handle) else { throw StoreError(.notFound, "\(handle) does not exist") }
            var range = 0..<size
            var status = HTTPResponse.Status.ok
            var headers: HTTPFields = [.contentType: "application/octet-stream", .acceptRanges: "bytes"]
            if let header = request.headers[.range] {
                guard let r = Self.parseRange(header, size: size) else {
                    return Self.text(.rangeNotSatisfiable, "range \(header) is outside the file (\(size) bytes)", headers: [.contentRange: "bytes */\(size)"])
                }
                range = r
                status = .partialContent
                headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)"
            }
            headers[.contentLength] = String(range.count)
            let wanted = range
            metrics.bytesOut.increment(by: Int64(wanted.count))
            let body = ResponseBody(contentLength: wanted.count) { writer in
                try await store.read(handle, range: wanted) { chunk in try await writer.write(chunk) }
                try await writer.finish(nil)
            }
            return Response(status: status, headers: headers, body: body)
        case .post:
            guard try await store.exists() || handle.type == .config else { throw StoreError(.notFound, "no repository here; create it first (POST ?create=true)") }
            // A key decides who can open the repository, and what a key's scrypt parameters cost
            // every device that tries it: once the repository exists, adding one is maintenance,
            // so an append-only (default) device token cannot plant one. Creating a repository
            // (its first key, then its config) needs only `append`.
            if handle.type == .key, try await store.size(.config) != nil {
                try principal.require(.maintenance)
            }
            let limit = handle.type == .ref ? 64 : configuration.maxBodySize
            if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
                throw StoreError(.tooLarge, "the body (\(length) bytes) is larger than the \(configuration.maxBodySize)-byte limit")
            }
            let user = principal.user
            try await checkQuota(user, incoming: request.headers[.contentLength].flatMap(Int.init) ?? 0)
            let upload = try await store.upload(handle, limit: limit)
            for try await buffer in request.body {
                try buffer.withUnsafeReadableBytes { try upload.write($0) }
                try await checkQuota(user, incoming: upload.size)
            }
            // The config is named "config" and refs by version; every other name is the SHA-256 of the body.
            if handle.type == .ref {
                try upload.checkRefContents()
            }
            try await upload.commit(verifyHash: handle.type != .config && handle.type != .ref)
            await state.usage.add(user, upload.size)
            metrics.stored(bytes: upload.size)
            return Self.text(.ok, "saved")
        case .delete:
            if handle.type == .ref {
                throw StoreError(.forbidden, "ref versions are history and cannot be deleted")
            }
            if configuration.appendOnly && handle.type != .lock {
                throw StoreError(.forbidden, "the server is append-only: only locks may be deleted")
            }
            let size = try await store.size(handle) ?? 0
            try await store.remove(handle)
            await state.usage.add(principal.user, -size)
            if handle.type != .lock {
                await users.audit("delete", user: principal.user, device: principal.device, detail: "\(store.name)/\(handle.relativePath)")
            }
            return Self.text(.ok, "deleted")
        default:
            throw StoreError(.forbidden, "\(request.method) is not allowed here")
        }
    }

    /// Commits a hash-checked upload; false when a concurrent writer stored the same name first
    /// (content addressing makes that the same file).
    func commitIfNew(_ upload: RepositoryStore.Upload) async throws -> Bool {
        do { try await upload.commit(verifyHash: true) } catch let e as StoreError where e.kind == .exists {
            return false
        }
        return true
    }

    /// 409 with the ref's current head.
    func conflict(_ ref: String, store: RepositoryStore) async throws -> Response {
        let head = try await Self.head(of: ref, in: store)
        return Self.json(.conflict, RefState(ref: ref, version: head?.version, target: head?.target))
    }

    /// A JSON answer (one of the wire types of ConvoSyncProtocol), keys sorted.
    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: Wire.encode(value))))
    }

    /// `bytes=a-b`, `bytes=a-` or `bytes=-n`, as a range within `size`; nil if unsatisfiable
    /// (API.md §5.2). Numbers are plain ASCII digits (no sign, no space); one too large for an
    /// Int means "to the end" as a last position or suffix length, and "past the end" as a start.
    static func parseRange(_ header: String, size: Int) -> Range<Int>? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard spec.count == 2 else { return nil }
        guard size > 0 else { return nil }
        if spec[0].isEmpty {
            guard let n = digits(spec[1]), n > 0 else { return nil }
            return (n >= size ? 0 : size - n)..<size
        }
        guard let start = digits(spec[0]), start < size else { return nil }
        let end: Int
        if spec[1].isEmpty {
            end = size - 1
        } else {
            guard let last = digits(spec[1]) else { return nil }
            end = min(last, size - 1)
        }
        guard end >= start else { return nil }
        return start..<(end + 1)
    }

    /// A non-empty run of ASCII digits as an Int, Int.max when it is larger; nil otherwise.
    static func digits(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return Int(text) ?? Int.max
    }

    static func basicCredentials(_ header: String?) -> (String, String)? {
        guard let header, header.lowercased().hasPrefix("basic "),
              let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}

extension HTTPField.Name {
    static let requestID = Self("X-Request-Id")!  // invariant: a valid header name
    /// On every answer: tells a client that a 404 came from convosync-server (a missing
    /// repository or file) and not from a server without the session API (rclone, restic's
    /// rest-server).
    static let convoSyncAPI = Self("X-ConvoSync-API")!  // invariant: a valid header name
}

/// A request body that throws when it ends before `Content-Length` bytes arrived. Hummingbird
/// ends the body stream quietly when the client hangs up, and an upload cut short must never be
/// stored as a short file (`config` is not named by its hash, so nothing else would notice).
struct CompleteBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let expected: Int

    struct Truncated: Error, CustomStringConvertible {
        let received: Int, expected: Int
        var description: String { "the request body ended after \(received) of \(expected) bytes" }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let expected: Int
        var received = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else {
                if received < expected { throw Truncated(received: received, expected: expected) }
                return nil
            }
            received += buffer.readableBytes
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), expected: expected) }
}
