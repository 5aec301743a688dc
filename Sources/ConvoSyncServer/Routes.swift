import ConvoSyncFormat
import ConvoSyncStorage
public import Foundation
public import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import Prometheus

/// The context of every request: Hummingbird's, plus what ``GateMiddleware`` found out (who
/// is asking, and which repository the path names).
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set for every request past the gate but `/healthz` and `/metrics`.
    public var principal: Principal?
    /// The repository the path names (`/<user>/<repo>/…` or `/api/v1/<user>/<repo>/…`).
    public var repository: RepositoryStore?

    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }

    /// The authenticated principal (routes are only reached through the gate).
    func caller() throws -> Principal {
        guard let principal else { throw StoreError.unauthorized("authentication required") }
        return principal
    }

    /// The repository the path names (routes are only reached through the gate, which sets it
    /// for every path but the account API's).
    func packRepository() throws -> RepositoryStore {
        guard let repository else { throw StoreError(.notFound, "no such path") }
        return repository
    }
}

/// Request id, `X-ConvoSync-API`, metrics and the log line of every request; errors become
/// answers here (``StoreError``'s status and message), so they are counted like the rest. A
/// body that ends before its `Content-Length` fails the request (``CompleteBody``).
struct ObserveMiddleware: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        // A request id in every log line of this request and in the answer's X-Request-Id;
        // one the client sent is kept if it is short and plain.
        let sent = request.headers[.requestID].flatMap { id in
            id.count <= 64 && id.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } ? id : nil
        }
        let id = sent ?? String(UInt64.random(in: 0...UInt64.max), radix: 16)
        var context = context
        context.logger[metadataKey: "request"] = "\(id)"
        var request = request
        if let length = request.headers[.contentLength].flatMap(Int.init) {
            request.body = RequestBody(asyncSequence: CompleteBody(base: request.body, expected: length))
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as StoreError {
            if error.kind != .unauthorized && error.kind != .tooManyRequests { context.logger.info("refused: \(error.message)") }
            response = error.response
        } catch let error as HTTPError where error.status == .notFound {
            response = Services.text(.notFound, "no such path")
        } catch {
            // Counted once the handler has cleaned up after it (an upload's temporary file is gone).
            metrics.abortedRequests.increment()
            context.logger.info("\(request.method) \(request.uri.path) aborted: \(error)")
            throw error
        }
        response.headers[.requestID] = id
        response.headers[.convoSyncAPI] = "1"
        let duration = ContinuousClock.now - start
        metrics.request(method: request.method.rawValue, status: response.status.code, duration: duration)
        // Method, path (file names are content hashes), status and time: never a header or a body.
        context.logger.info("\(request.method) \(request.uri.path) \(response.status.code)", metadata: ["ms": "\(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)"])
        return response
    }
}

/// Checks every path and authenticates every request but `/healthz` and `/metrics`, before
/// any route: a malformed path is 400, one that names no repository 404, missing or wrong
/// credentials 401 (429 while locked out), another user's repository 403.
struct GateMiddleware: RouterMiddleware {
    let services: Services

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/healthz" || path == "/metrics" { return try await next(request, context) }
        guard path.hasPrefix("/"), !path.contains("%"), !path.contains("//") else { throw StoreError(.badRequest, "malformed path") }
        var parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var context = context
        let api = parts.count >= 2 && parts[0] == "api" && parts[1] == "v1"
        if api { parts.removeFirst(2) }
        let account = api && parts.first == "account"
        guard account || (parts.count >= 2 && UserStore.isValidName(parts[0]) && UserStore.isValidName(parts[1])) else {
            throw StoreError(.notFound, "no such path; repositories live at /USER/REPO/")
        }
        let passwordOnly = account && parts.count == 2 && parts[1] == "login"
        switch await services.authenticate(authorization: request.headers[.authorization], passwordOnly: passwordOnly) {
        case .success(let principal): context.principal = principal
        case .failure(let refusal): throw refusal
        }
        if !account {
            guard context.principal?.user == parts[0] else { throw StoreError(.forbidden, "\(context.principal?.user ?? "") may not access /\(parts[0])/") }
            context.repository = RepositoryStore(objects: services.objects, user: parts[0], name: parts[1])
        }
        return try await next(request, context)
    }
}

extension Services {
    /// Every route of the server (Format/API.md), behind the two middlewares.
    func router() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.add(middleware: ObserveMiddleware(metrics: metrics))
        router.add(middleware: GateMiddleware(services: self))
        // Any method, as API.md §10 says.
        for method in Self.packMethods {
            router.on("/healthz", method: method) { _, _ in Self.text(.ok, "ok") }
            router.on("/metrics", method: method) { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.text())))
            }
        }
        accountRoutes(router.group("/api/v1/account"))
        sessionRoutes(router.group("/api/v1/:user/:repo"))
        packRoutes(router)
        return router
    }

    /// The methods the pack API answers (most of them with 403 where restic's protocol has no
    /// use for them, as restic's rest-server does).
    static let packMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]

    /// restic's REST protocol: `/<user>/<repo>/`, `…/config`, `…/<type>/`, `…/<type>/<name>`.
    func packRoutes(_ router: Router<ServerContext>) {
        for method in Self.packMethods {
            router.on("/:user/:repo", method: method) { request, context in
                let store = try context.packRepository()
                try context.caller().require(Self.scope(for: request.method, type: nil))
                guard request.method == .post else { throw StoreError(.forbidden, "only POST ?create=true is allowed on a repository") }
                guard request.uri.queryParameters["create"] == "true" else { throw StoreError(.badRequest, "POST to a repository needs ?create=true") }
                try await store.create()
                return Self.text(.ok, "created")
            }
            router.on("/:user/:repo/:type", method: method) { request, context in
                let store = try context.packRepository()
                let typeName = try context.parameters.require("type")
                let type = FileType(rawValue: typeName)
                try context.caller().require(Self.scope(for: request.method, type: type))
                if type == .config, !request.uri.path.hasSuffix("/") {
                    return try await file(.config, request: request, store: store, principal: context.caller())
                }
                guard let type, type != .config else { throw StoreError(.notFound, "no file type '\(typeName.prefix(40))'") }
                guard request.uri.path.hasSuffix("/") else { throw StoreError(.notFound, "no such path") }
                guard request.method == .get || request.method == .head else { throw StoreError(.forbidden, "\(request.method) is not allowed on a listing") }
                return try await list(type, store: store, v2: request.headers[.accept]?.contains(Self.v2) == true)
            }
            router.on("/:user/:repo/:type/:name", method: method) { request, context in
                let store = try context.packRepository()
                let typeName = try context.parameters.require("type")
                let type = FileType(rawValue: typeName)
                try context.caller().require(Self.scope(for: request.method, type: type))
                guard let type, type != .config else { throw StoreError(.notFound, "no file type '\(typeName.prefix(40))'") }
                guard !request.uri.path.hasSuffix("/") else { throw StoreError(.notFound, "no such path") }
                let handle: Handle
                do { handle = try Handle(type, name: try context.parameters.require("name")) } catch let error as StorageError { throw StoreError(.badRequest, "\(error)") }
                return try await file(handle, request: request, store: store, principal: context.caller())
            }
        }
    }

    /// The session API (Format/API.md §Sessions) under `/api/v1/<user>/<repo>/`.
    func sessionRoutes(_ group: RouterGroup<ServerContext>) {
        /// The repository, which must exist, of a session-API request.
        @Sendable func repository(_ context: ServerContext) async throws -> RepositoryStore {
            guard let store = context.repository else { throw StoreError(.notFound, "no such path") }
            guard try await store.exists() else { throw StoreError(.notFound, "no repository /\(store.user)/\(store.name)/") }
            return store
        }
        group.post("sessions/save") { request, context in
            let store = try await repository(context)
            let principal = try context.caller()
            try principal.require(.append)
            return try await saveBundle(request, store: store, principal: principal)
        }
        group.get("sessions") { _, context in
            let store = try await repository(context)
            try context.caller().require(.read)
            return try await listSessions(store: store)
        }
        group.post("sessions/resume") { request, context in
            let store = try await repository(context)
            try context.caller().require(.read)
            return try await resume(request, store: store)
        }
        group.post("conversations/:ref/sync") { request, context in
            let store = try await repository(context)
            try context.caller().require(.read)
            return try await sync(request, ref: try context.parameters.require("ref"), store: store)
        }
    }

    /// The account API (Format/API.md §Accounts) under `/api/v1/account/`.
    func accountRoutes(_ group: RouterGroup<ServerContext>) {
        group.post("login") { request, context in try await login(request, principal: context.caller(), context: context) }
        group.get("devices") { _, context in try await listDevices(principal: context.caller()) }
        group.delete("devices/:id") { _, context in try await revokeDevice(try context.parameters.require("id"), principal: context.caller()) }
        group.get("events") { _, _ -> Response in
            throw StoreError(.badRequest, "events are a WebSocket: connect with an Upgrade: websocket request")
        }
    }
}
