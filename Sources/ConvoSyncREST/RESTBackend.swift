public import AsyncHTTPClient
public import ConvoSyncFormat
import ConvoSyncProtocol
public import ConvoSyncStorage
public import Foundation
import NIOCore
import NIOHTTP1

/// A repository behind restic's REST protocol: `convosync-server`, restic's rest-server, or
/// `rclone serve restic`.
///
/// Accepts `rest:http://USER:PASSWORD@HOST:PORT/PATH/` and the same URL without `rest:`.
/// Requests reuse connections (one client per process, with ``NetworkTimeouts``). 5xx answers
/// other than 507 are retried three times with exponential backoff; failures to connect or to
/// hear back are retried only within the connect timeout, so an unreachable server costs
/// seconds (and a save goes to the outbox), not minutes.
public struct RESTBackend: Backend {
    let base: String
    let authorization: String?
    public let location: String
    public let maxConcurrentOperations = 4
    let client: HTTPClient
    static let v2 = "application/vnd.x.restic.rest.v2"

    /// `credentials`: where to find a device token (from `convosync login`) when the URL names
    /// no user; it is sent as `Authorization: Bearer`.
    public init(url text: String, client: HTTPClient = NetworkTimeouts.client, credentials: CredentialStore? = nil) throws(StorageError) {
        var raw = text.hasPrefix("rest:") ? String(text.dropFirst(5)) : text
        guard raw.hasPrefix("http://") || raw.hasPrefix("https://"), var components = URLComponents(string: raw), components.host != nil else {
            throw StorageError(.invalidName, "'\(Self.redact(text))' is not an http(s) URL")
        }
        if let user = components.user {
            let password = components.password ?? ""
            authorization = "Basic " + Data("\(user.removingPercentEncoding ?? user):\(password.removingPercentEncoding ?? password)".utf8).base64EncodedString()
        } else if let entry = credentials?.entry(for: raw) {
            authorization = "Bearer " + entry.token
        } else {
            authorization = nil
        }
        components.user = nil
        components.password = nil
        raw = components.string ?? raw
        if !raw.hasSuffix("/") { raw += "/" }
        base = raw
        location = raw
        self.client = client
    }

    /// The URL with any password replaced by `***`, for messages.
    public static func redact(_ url: String) -> String {
        guard let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://"), scheme.upperBound < at else { return url }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    func url(_ handle: Handle) -> String {
        handle.type == .config ? base + "config" : base + handle.type.rawValue + "/" + handle.name
    }

    struct Reply {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    func send(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers extra: [(String, String)] = [], what: String) async throws -> Reply {
        var attempt = 0
        let start = NIODeadline.now()
        while true {
            var request = HTTPClientRequest(url: url)
            request.method = method
            if let authorization { request.headers.add(name: "Authorization", value: authorization) }
            for (k, v) in extra { request.headers.add(name: k, value: v) }
            if let body {
                request.body = .bytes(ByteBuffer(bytes: body))
                if !extra.contains(where: { $0.0.lowercased() == "content-type" }) {
                    request.headers.add(name: "Content-Type", value: "application/octet-stream")
                }
            }
            let result: Result<Reply, any Error>
            do {
                let response = try await client.execute(request, timeout: NetworkTimeouts.deadline)
                let bytes = try await response.body.collect(upTo: 1 << 30)
                result = .success(Reply(status: response.status, headers: response.headers, body: Array(buffer: bytes)))
            } catch {
                result = .failure(error)
            }
            let retry: Bool
            switch result {
            case .success(let reply): retry = reply.status.code >= 500 && reply.status.code != 507
            // Failures to reach the server are retried only within one connect timeout: a
            // refused connection gets its quick retries, an unreachable server none.
            case .failure: retry = NIODeadline.now() - start < NetworkTimeouts.current.connect
            }
            if retry && attempt < 3 {
                attempt += 1
                try await Task.sleep(nanoseconds: UInt64(200_000_000 << attempt))
                continue
            }
            switch result {
            case .success(let reply): return reply
            case .failure(let error):
                throw StorageError(.unavailable, "\(what): cannot reach \(location): \(NetworkTimeouts.explain(error))")
            }
        }
    }

    /// One request whose answer is read as it arrives (no retries: the caller decides).
    func open(_ method: HTTPMethod, _ url: String, body: [UInt8], contentType: String, what: String) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            return try await client.execute(request, timeout: NetworkTimeouts.deadline)
        } catch {
            throw StorageError(.unavailable, "\(what): cannot reach \(location): \(NetworkTimeouts.explain(error))")
        }
    }

    func check(_ reply: Reply, _ what: String, handle: Handle? = nil) throws(StorageError) {
        let message = String(decoding: reply.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        switch reply.status.code {
        case 200..<300: return
        case 404: throw StorageError(.notFound, "\(what): \(handle.map { "\($0)" } ?? location) does not exist")
        case 401: throw StorageError(.permissionDenied, "\(what): the server refused the credentials (401 \(message)); put USER:PASSWORD in the URL or run `convosync login URL`")
        case 403: throw StorageError(.permissionDenied, "\(what): forbidden (403 \(message))")
        case 413: throw StorageError(.io, "\(what): the server's body size limit is too small (413 \(message))")
        case 507: throw StorageError(.outOfSpace, "\(what): the server is out of space or over quota (507 \(message))")
        default: throw StorageError(.io, "\(what): HTTP \(reply.status.code) \(message)")
        }
    }

    public func create() async throws {
        let config = try await send(.HEAD, base + "config", what: "create")
        if config.status.code == 200 { throw StorageError(.alreadyExists, "a repository exists already at \(location)") }
        try check(try await send(.POST, base + "?create=true", what: "create"), "create")
    }

    public func save(_ handle: Handle, data: [UInt8]) async throws {
        let reply = try await send(.POST, url(handle), body: data, what: "save \(handle)")
        if reply.status.code == 403 || reply.status.code == 409 {
            // restic's servers answer 403 for a name that exists: tell that apart from a refusal.
            if (try? await stat(handle)) != nil { throw StorageError(.alreadyExists, "\(handle) exists already") }
        }
        try check(reply, "save \(handle)", handle: handle)
    }

    public func load(_ handle: Handle, range: Range<Int>?) async throws -> [UInt8] {
        var headers: [(String, String)] = []
        if let range {
            guard !range.isEmpty else { return [] }
            headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        let reply = try await send(.GET, url(handle), headers: headers, what: "load \(handle)")
        try check(reply, "load \(handle)", handle: handle)
        if let range, reply.status.code == 200 {
            // A server that ignores Range sends the whole file.
            guard range.upperBound <= reply.body.count else { throw StorageError(.io, "\(handle) is shorter than the range asked for") }
            return Array(reply.body[range])
        }
        if let range, reply.body.count != range.count { throw StorageError(.io, "\(handle): asked for \(range.count) bytes, got \(reply.body.count)") }
        return reply.body
    }

    public func stat(_ handle: Handle) async throws -> Int {
        let reply = try await send(.HEAD, url(handle), what: "stat \(handle)")
        try check(reply, "stat \(handle)", handle: handle)
        guard let length = reply.headers.first(name: "Content-Length").flatMap(Int.init) else {
            throw StorageError(.io, "stat \(handle): the server sent no Content-Length")
        }
        return length
    }

    public func list(_ type: FileType) async throws -> [FileInfo] {
        if type == .config { return (try? await stat(.config)).map { [FileInfo(handle: .config, size: $0)] } ?? [] }
        let reply = try await send(.GET, base + type.rawValue + "/", headers: [("Accept", Self.v2)], what: "list \(type.rawValue)")
        if reply.status.code == 404 { return [] }
        try check(reply, "list \(type.rawValue)")
        var out: [FileInfo] = []
        if let entries = try? Wire.decode([FileListEntry].self, reply.body) {
            for e in entries where Handle.isValidName(e.name, type: type) {
                out.append(FileInfo(handle: try Handle(type, name: e.name), size: e.size))
            }
        } else if let names = try? Wire.decode([String].self, reply.body) {
            for name in names where Handle.isValidName(name, type: type) {
                let handle = try Handle(type, name: name)
                out.append(FileInfo(handle: handle, size: try await stat(handle)))
            }
        } else {
            throw StorageError(.io, "list \(type.rawValue): the server's answer is not a listing")
        }
        return out.sorted { $0.handle.name < $1.handle.name }
    }

    public func remove(_ handle: Handle) async throws {
        try check(try await send(.DELETE, url(handle), what: "remove \(handle)"), "remove \(handle)", handle: handle)
    }
}
