import ConvoSyncFormat
import ConvoSyncProtocol
import ConvoSyncServer
import ConvoSyncStorage
import ConvoSyncTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Every route and every error status of the server, through Hummingbird's router test
/// framework (requests go to the responder without a socket). The live tests on loopback
/// cover what needs a network: restic's client, killed uploads, TLS, WebSockets.
/// Who a request comes as. Tokens are issued by the fixture, which logs alice in from two
/// devices: `full` (read, append, maintenance) and `appendOnly` (read, append).
enum As: Sendable {
    case nobody, alice, basic(String, String), raw(String), full, appendOnly, appendOnlyAsPassword
}

/// One request of a case's setup or the request under test.
struct Step: Sendable {
    var method: HTTPRequest.Method
    var path: String
    var auth: As = .alice
    var body: [UInt8]?
    var headers: HTTPFields = [:]
    var status = 200
}

/// One request and the status it must get, after `given` (each of which must get its own
/// status) on a fresh server; `then` checks the answer further.
struct RouteCase: Sendable, CustomStringConvertible {
    var given: [Step] = []
    var request: Step
    var then: (@Sendable (TestResponse) throws -> Void)?
    var description: String { "\(request.method) \(request.path) → \(request.status)" }

    init(given: [Step] = [], _ method: HTTPRequest.Method, _ path: String, auth: As = .alice, body: [UInt8]? = nil, headers: HTTPFields = [:], status: Int,
         then: (@Sendable (TestResponse) throws -> Void)? = nil) {
        self.given = given
        request = Step(method: method, path: path, auth: auth, body: body, headers: headers, status: status)
        self.then = then
    }
}

/// What the cases store and the states they start from.
enum Fixture {
    static let blob = Array("hello".utf8), name = sha256Hex(blob)
    static let tooBig = [UInt8](repeating: 9, count: 30_001)
    static let session = [UInt8](repeating: 3, count: 1000), sessionName = sha256Hex(session)
    static let big = [UInt8](repeating: 4, count: 6000), bigName = sha256Hex(big)
    static let filler = [UInt8](repeating: 5, count: 29_000), filler2 = [UInt8](repeating: 6, count: 29_000)
    static let ref = String(repeating: "c", count: 64)
    static let refVersion = "\(ref)-0000000001"

    static func bundle(_ files: [(FileType, String, [UInt8])], ref refTarget: (String, String)? = nil) -> [UInt8] {
        var out = BundleFormat.header()
        for (type, name, bytes) in files { out += BundleFormat.entryHeader(type: type.rawValue, name: name, size: bytes.count) + bytes }
        if let (version, target) = refTarget { out += BundleFormat.entryHeader(type: "refs", name: version, size: 64) + Array(target.utf8) }
        return out + BundleFormat.end
    }

    static let save = bundle([(.session, sessionName, session)], ref: (refVersion, sessionName))

    /// alice's repository `r` exists, empty.
    static let created = [Step(method: .post, path: "/alice/r/?create=true")]
    /// … holding config and one key file, both "hello".
    static let repository = created + [Step(method: .post, path: "/alice/r/config", body: blob), Step(method: .post, path: "/alice/r/keys/\(name)", body: blob)]
    /// … a 6000-byte pack stored through the pack API (a conversation's size counts only what
    /// its bundles brought), and a saved session: ref version 1 names it.
    static let sessionSaved = repository + [Step(method: .post, path: "/alice/r/data/\(bigName)", body: big),
                                            Step(method: .post, path: "/api/v1/alice/r/sessions/save", auth: .full, body: save)]
    /// … and version 2 of the same ref, whose bundle holds that pack again.
    static let twoVersions = sessionSaved + [Step(method: .post, path: "/api/v1/alice/r/sessions/save", auth: .full,
                                                  body: bundle([(.pack, bigName, big)], ref: ("\(ref)-0000000002", sessionName)))]
    /// carol has given the wrong password as often as the lockout allows.
    static let carolLockedOut = Array(repeating: Step(method: .get, path: "/carol/r/config", auth: .basic("carol", "guess"), status: 401), count: UserStore.maxFailures)
}

@Suite("routes and statuses (HummingbirdTesting)")
struct RouterTests {
    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any], "a JSON object")
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    static func basic(_ user: String, _ password: String) -> String { "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() }

    typealias F = Fixture

    static let operations: [RouteCase] = [
        RouteCase(.get, "/healthz", auth: .nobody, status: 200),
        RouteCase(.post, "/healthz", auth: .nobody, status: 200),
        RouteCase(.get, "/healthz/", auth: .nobody, status: 404),
        RouteCase(.get, "/metrics", auth: .nobody, status: 200) { #expect(RouterTests.text($0).contains("convosync_requests_total")) },
        RouteCase(.get, "/alice/r/config", auth: .nobody, status: 401) { #expect($0.headers[.wwwAuthenticate] != nil) },
        RouteCase(.get, "/alice/r/config", auth: .basic("alice", "wrong"), status: 401),
        RouteCase(.get, "/alice/r/config", auth: .raw("Bearer not-a-token"), status: 401),
        RouteCase(.get, "/alice/r/config", auth: .basic("bob", "bob-password"), status: 403),
        RouteCase(.get, "/alice/r/%2e%2e/x", status: 400),
        RouteCase(.get, "//alice/r/config", status: 400),
        RouteCase(.get, "/.hidden/r/config", status: 404),
        RouteCase(.get, "/alice", status: 404),
        RouteCase(.get, "/alice/r/etc/passwd", status: 404),
    ]

    /// The repository and its files (restic's REST protocol).
    static let files: [RouteCase] = [
        RouteCase(.post, "/alice/r/keys/\(F.name)", body: F.blob, status: 404),
        RouteCase(.get, "/alice/r/keys/", status: 404),
        RouteCase(.post, "/alice/r/", status: 400),
        RouteCase(.get, "/alice/r/", status: 403),
        RouteCase(.post, "/alice/r/?create=true", status: 200),
        RouteCase(given: F.created, .post, "/alice/r/?create=true", status: 200),
        RouteCase(given: F.created, .post, "/alice/r/config", body: F.blob, status: 200),
        RouteCase(given: F.repository, .post, "/alice/r/config", body: F.blob, status: 403),
        RouteCase(given: F.repository, .head, "/alice/r/config", status: 200) { #expect($0.headers[.contentLength] == "5") },
        RouteCase(given: F.repository, .get, "/alice/r/config", status: 200) { #expect(RouterTests.text($0) == "hello") },
        RouteCase(given: F.created, .post, "/alice/r/keys/\(F.name)", body: F.blob, status: 200),
        RouteCase(given: F.repository, .post, "/alice/r/keys/\(F.name)", body: F.blob, status: 403),
        RouteCase(given: F.created, .post, "/alice/r/keys/\(String(repeating: "0", count: 64))", body: F.blob, status: 400),
        RouteCase(given: F.created, .post, "/alice/r/keys/not-hex", body: F.blob, status: 400),
        RouteCase(given: F.created, .post, "/alice/r/data/\(sha256Hex(F.tooBig))", body: F.tooBig, status: 413),
        RouteCase(given: F.repository, .put, "/alice/r/keys/\(F.name)", body: F.blob, status: 403),
        RouteCase(given: F.repository, .get, "/alice/r/keys/\(F.name)", headers: [.range: "bytes=1-3"], status: 206) {
            #expect(RouterTests.text($0) == "ell" && $0.headers[.contentRange] == "bytes 1-3/5")
        },
        RouteCase(given: F.repository, .get, "/alice/r/keys/\(F.name)", headers: [.range: "bytes=9-"], status: 416),
        RouteCase(given: F.repository, .get, "/alice/r/keys/\(String(repeating: "1", count: 64))", status: 404),
        RouteCase(given: F.repository, .head, "/alice/r/keys/\(String(repeating: "1", count: 64))", status: 404),
        RouteCase(given: F.repository, .get, "/alice/r/keys/", status: 200) { #expect(RouterTests.text($0) == "[\"\(F.name)\"]") },
        RouteCase(given: F.repository, .get, "/alice/r/keys/", headers: [.accept: "application/vnd.x.restic.rest.v2"], status: 200) {
            #expect(RouterTests.text($0).contains("\"size\":5"))
        },
        RouteCase(given: F.created, .post, "/alice/r/keys/", body: F.blob, status: 403),
        RouteCase(given: F.created, .get, "/alice/r/nope/", status: 404),
        RouteCase(given: F.created, .post, "/alice/r/locks/\(F.name)", body: F.blob, status: 200),
        RouteCase(given: F.created + [Step(method: .post, path: "/alice/r/locks/\(F.name)", body: F.blob)], .delete, "/alice/r/locks/\(F.name)", status: 200),
        RouteCase(given: F.created, .delete, "/alice/r/locks/\(F.name)", status: 404),
        RouteCase(given: F.created, .post, "/alice/r/refs/\(F.refVersion)", body: Array("abc".utf8), status: 400),
        RouteCase(given: F.created, .post, "/alice/r/data/\(F.bigName)", body: F.big, status: 200),
    ]

    /// Quota: 40 000 bytes per user.
    static let quota: [RouteCase] = [
        RouteCase(given: F.repository + [Step(method: .post, path: "/alice/r/data/\(F.bigName)", body: F.big)],
                  .post, "/alice/r/data/\(sha256Hex(F.filler))", body: F.filler, status: 200),
        RouteCase(given: F.repository + [Step(method: .post, path: "/alice/r/data/\(F.bigName)", body: F.big),
                                         Step(method: .post, path: "/alice/r/data/\(sha256Hex(F.filler))", body: F.filler)],
                  .post, "/alice/r/data/\(sha256Hex(F.filler2))", body: F.filler2, status: 507) { #expect(RouterTests.text($0).contains("quota exceeded")) },
        RouteCase(given: F.created + [Step(method: .post, path: "/alice/r/data/\(sha256Hex(F.filler))", body: F.filler)],
                  .delete, "/alice/r/data/\(sha256Hex(F.filler))", status: 200),
    ]

    /// Accounts: login (password only), devices, scopes, the device limit (2).
    static let accounts: [RouteCase] = [
        RouteCase(.post, "/api/v1/account/login", body: Array(#"{"device":"three"}"#.utf8), status: 403) {
            #expect(RouterTests.text($0).contains("MAX_DEVICES_PER_USER"))
        },
        RouteCase(.post, "/api/v1/account/login", auth: .full, status: 401),
        RouteCase(.post, "/api/v1/account/login", body: Array(#"{"scopes":["root"]}"#.utf8), status: 400),
        RouteCase(.post, "/api/v1/account/login", body: Array("not json".utf8), status: 400),
        RouteCase(.get, "/api/v1/account/devices", auth: .full, status: 200),
        RouteCase(.get, "/api/v1/account/events", auth: .full, status: 400),
        RouteCase(.get, "/api/v1/account/nope", auth: .full, status: 404),
        RouteCase(.delete, "/api/v1/account/devices/no-such-device", auth: .full, status: 404),
        RouteCase(given: F.repository, .get, "/alice/r/keys/", auth: .appendOnly, status: 200),
        RouteCase(given: F.repository, .get, "/alice/r/keys/", auth: .appendOnlyAsPassword, status: 200),
        RouteCase(given: F.repository, .delete, "/alice/r/keys/\(F.name)", auth: .appendOnly, status: 403) { #expect(RouterTests.text($0).contains("maintenance")) },
        RouteCase(given: F.created, .delete, "/alice/r/refs/\(F.refVersion)", auth: .full, status: 403),
    ]

    /// The session API (MAX_CONVERSATION_SIZE 5000).
    static let sessions: [RouteCase] = [
        RouteCase(given: F.created, .get, "/api/v1/alice/never/sessions", auth: .full, status: 404),
        RouteCase(given: F.repository, .get, "/api/v1/alice/r/sessions", auth: .full, status: 200) { response throws in
            #expect((try RouterTests.json(response)["heads"] as? [Any])?.isEmpty == true)
        },
        RouteCase(given: F.repository, .post, "/api/v1/alice/r/sessions/save", auth: .full, body: Array("nope!".utf8), status: 400),
        RouteCase(given: F.repository, .post, "/api/v1/alice/r/sessions/save", auth: .full, body: F.bundle([], ref: (F.refVersion, F.sessionName)), status: 400),
        RouteCase(given: F.repository, .post, "/api/v1/alice/r/sessions/save", auth: .full, body: F.bundle([(.config, "config", F.blob)]), status: 400),
        RouteCase(given: F.repository, .post, "/api/v1/alice/r/sessions/save", auth: .full, body: F.save, status: 200) { response throws in
            #expect(try RouterTests.json(response)["ref"] as? String == F.refVersion)
        },
        RouteCase(given: F.sessionSaved, .post, "/api/v1/alice/r/sessions/save", auth: .full, body: F.save, status: 409) { response throws in
            #expect(try RouterTests.json(response)["target"] as? String == F.sessionName)
        },
        RouteCase(given: F.sessionSaved, .post, "/api/v1/alice/r/sessions/save", auth: .full,
                  body: F.bundle([(.pack, F.bigName, F.big)], ref: ("\(F.ref)-0000000002", F.sessionName)), status: 200),
        RouteCase(given: F.twoVersions, .post, "/api/v1/alice/r/sessions/save", auth: .full,
                  body: F.bundle([(.pack, sha256Hex(F.big + [1]), F.big + [1])], ref: ("\(F.ref)-0000000003", F.sessionName)), status: 413) {
            #expect(RouterTests.text($0).contains("MAX_CONVERSATION_SIZE"))
        },
        RouteCase(given: F.twoVersions, .get, "/api/v1/alice/r/sessions", auth: .full, status: 200) { response throws in
            #expect((try RouterTests.json(response)["heads"] as? [Any])?.count == 1)
        },
        RouteCase(given: F.twoVersions, .post, "/api/v1/alice/r/sessions/resume", auth: .full, body: Array("{}".utf8), status: 400),
        RouteCase(given: F.twoVersions, .post, "/api/v1/alice/r/sessions/resume", auth: .full, body: Array(#"{"session":"zz"}"#.utf8), status: 400),
        RouteCase(given: F.twoVersions, .post, "/api/v1/alice/r/sessions/resume", auth: .full, body: Array(#"{"session":"\#(F.sessionName)"}"#.utf8), status: 404) {
            #expect(RouterTests.text($0).contains("no manifest"))
        },
        RouteCase(given: F.twoVersions, .post, "/api/v1/alice/r/conversations/short/sync", auth: .full, body: Array("{}".utf8), status: 400),
        RouteCase(given: F.twoVersions, .post, "/api/v1/alice/r/conversations/\(String(repeating: "d", count: 64))/sync", auth: .full, body: Array("{}".utf8), status: 404),
        RouteCase(given: F.twoVersions, .post, "/api/v1/alice/r/conversations/\(F.ref)/sync", auth: .full, body: Array(#"{"after":2}"#.utf8), status: 200) { response throws in
            #expect(try RouterTests.json(response)["upToDate"] as? Bool == true)
        },
        RouteCase(given: F.twoVersions, .post, "/api/v1/alice/r/sessions/nope", auth: .full, status: 404),
        RouteCase(given: F.twoVersions, .get, "/api/v1/bob/r/sessions", auth: .full, status: 403),
        // A pack-API path under /api/v1/ is no route (the user is never "api", the repository never "v1").
        RouteCase(given: F.twoVersions, .get, "/api/v1/alice/r/config", auth: .full, status: 404),
        RouteCase(given: F.twoVersions, .get, "/api/v1/alice/r/keys/", auth: .full, status: 404),
        RouteCase(given: F.twoVersions, .post, "/api/v1/alice/r", auth: .full, status: 404),
    ]

    /// Failed logins lock the account for a minute; others are unaffected.
    static let lockout: [RouteCase] = [
        RouteCase(given: F.carolLockedOut, .get, "/carol/r/config", auth: .basic("carol", "carol-password"), status: 429),
        RouteCase(given: F.carolLockedOut, .get, "/bob/r/config", auth: .basic("bob", "bob-password"), status: 404),
    ]

    @Test("the pack API, the account API and the session API answer every route with the documented status",
          arguments: operations + files + quota + accounts + sessions + lockout)
    func route(_ c: RouteCase) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        var config = ServerConfiguration(dataDirectory: dir.url)
        config.userQuota = 40_000
        config.maxBodySize = 30_000
        config.maxDevicesPerUser = 2
        config.maxConversationSize = 5_000
        config.jwtSecret = String(repeating: "s", count: 32)
        try ConvoSyncServer.prepare(config)
        let users = try UserStore(path: config.databasePath, kdf: .insecureTesting)
        for name in ["alice", "bob", "carol"] { try await users.add(name, password: "\(name)-password") }
        let app = try await ConvoSyncServer.application(config, users: users)
        try await app.test(.router) { client in
            let alice = Self.basic("alice", "alice-password")
            var tokens: [String] = []
            for (device, scopes) in [("one", #"["read","append","maintenance"]"#), ("append-only", #"["read","append"]"#)] {
                let login = try await client.execute(uri: "/api/v1/account/login", method: .post, headers: [.authorization: alice],
                                                     body: ByteBuffer(string: #"{"device":"\#(device)","scopes":\#(scopes)}"#))
                tokens.append(try #require(try Self.json(login)["token"] as? String))
            }
            func send(_ step: Step) async throws -> TestResponse {
                var headers = step.headers
                switch step.auth {
                case .nobody: break
                case .alice: headers[.authorization] = alice
                case .basic(let user, let password): headers[.authorization] = Self.basic(user, password)
                case .raw(let value): headers[.authorization] = value
                case .full: headers[.authorization] = "Bearer " + tokens[0]
                case .appendOnly: headers[.authorization] = "Bearer " + tokens[1]
                case .appendOnlyAsPassword: headers[.authorization] = Self.basic("alice", tokens[1])
                }
                return try await client.execute(uri: step.path, method: step.method, headers: headers, body: step.body.map { ByteBuffer(bytes: $0) })
            }
            for step in c.given {
                let response = try await send(step)
                try #require(Int(response.status.code) == step.status, "given \(step.method) \(step.path): \(Self.text(response).prefix(300))")
            }
            let response = try await send(c.request)
            #expect(Int(response.status.code) == c.request.status, "\(Self.text(response).prefix(300))")
            #expect(response.headers[HTTPField.Name("X-Request-Id")!] != nil, "has a request id")
            #expect(response.headers[HTTPField.Name("X-ConvoSync-API")!] == "1", "is marked as convosync-server's")
            try c.then?(response)
        }
    }

    /// A server whose clock the test moves, with alice and carol.
    static func withClock(_ body: @escaping @Sendable (_ client: any TestClientProtocol, _ clock: ManualClock) async throws -> Void) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        var config = ServerConfiguration(dataDirectory: dir.url)
        config.jwtSecret = String(repeating: "s", count: 32)
        try ConvoSyncServer.prepare(config)
        let clock = ManualClock()
        let users = try UserStore(path: config.databasePath, kdf: .insecureTesting, clock: clock)
        for name in ["alice", "carol"] { try await users.add(name, password: "\(name)-password") }
        let app = try await ConvoSyncServer.application(config, users: users)
        try await app.test(.router) { client in try await body(client, clock) }
    }

    @Test("a lockout ends when the failure window has passed on the server's clock")
    func lockoutEnds() async throws {
        try await Self.withClock { client, clock in
            for _ in 0..<UserStore.maxFailures {
                _ = try await client.execute(uri: "/carol/r/config", method: .get, headers: [.authorization: Self.basic("carol", "guess")])
            }
            let locked = try await client.execute(uri: "/carol/r/config", method: .get, headers: [.authorization: Self.basic("carol", "carol-password")])
            #expect(locked.status == .tooManyRequests)
            clock.advance(by: UserStore.failureWindow + 1)
            let again = try await client.execute(uri: "/carol/r/config", method: .get, headers: [.authorization: Self.basic("carol", "carol-password")])
            #expect(again.status == .notFound, "authenticated; the repository does not exist")
        }
    }

    @Test("a device token is refused once its lifetime has passed on the server's clock")
    func tokenExpires() async throws {
        try await Self.withClock { client, clock in
            let login = try await client.execute(uri: "/api/v1/account/login", method: .post, headers: [.authorization: Self.basic("alice", "alice-password")],
                                                 body: ByteBuffer(string: #"{"device":"d","expiresInDays":1}"#))
            let token = try #require(try Self.json(login)["token"] as? String)
            let fresh = try await client.execute(uri: "/api/v1/account/devices", method: .get, headers: [.authorization: "Bearer " + token])
            #expect(fresh.status == .ok)
            clock.advance(by: 86_400 + 1)
            let old = try await client.execute(uri: "/api/v1/account/devices", method: .get, headers: [.authorization: "Bearer " + token])
            #expect(old.status == .unauthorized && Self.text(old).contains("expired"), "\(Self.text(old))")
        }
    }

    /// A server with one repository holding config and one 10-byte key file, for single requests.
    static func withRepository(_ body: @escaping @Sendable (_ client: any TestClientProtocol, _ alice: String, _ key: String) async throws -> Void) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        var config = ServerConfiguration(dataDirectory: dir.url)
        config.jwtSecret = String(repeating: "s", count: 32)
        try ConvoSyncServer.prepare(config)
        let users = try UserStore(path: config.databasePath, kdf: .insecureTesting)
        try await users.add("alice", password: "alice-password")
        let app = try await ConvoSyncServer.application(config, users: users)
        let alice = Self.basic("alice", "alice-password")
        let key = Array("0123456789".utf8)
        try await app.test(.router) { client in
            for (path, bytes) in [("/alice/r/?create=true", [UInt8]()), ("/alice/r/keys/\(sha256Hex(key))", key), ("/alice/r/config", key)] {
                let response = try await client.execute(uri: path, method: .post, headers: [.authorization: alice], body: ByteBuffer(bytes: bytes))
                #expect(response.status == .ok)
            }
            try await body(client, alice, sha256Hex(key))
        }
    }

    /// API.md §5.2: numbers are plain digits; one past 2^63 means the end of the file.
    @Test("Range: signs and spaces are 416, numbers too large for 64 bits mean the end", arguments: [
        ("bytes=+0-3", 416, ""), ("bytes=0-+3", 416, ""), ("bytes=-+3", 416, ""), ("bytes= 0-3", 416, ""), ("bytes=0x1-3", 416, ""),
        ("bytes=99999999999999999999999-", 416, ""),
        ("bytes=2-99999999999999999999999", 206, "23456789"), ("bytes=-99999999999999999999999", 206, "0123456789"),
        ("bytes=2-4", 206, "234"), ("bytes=-3", 206, "789"),
    ])
    func ranges(_ header: String, _ status: Int, _ body: String) async throws {
        try await Self.withRepository { client, alice, key in
            let response = try await client.execute(uri: "/alice/r/keys/\(key)", method: .get, headers: [.authorization: alice, .range: header], body: nil)
            #expect(Int(response.status.code) == status, "\(header)")
            if status == 206 { #expect(Self.text(response) == body, "\(header)") }
        }
    }

    @Test("ref version 0000000000 is not a name")
    func refVersionZero() async throws {
        try await Self.withRepository { client, alice, _ in
            let response = try await client.execute(uri: "/alice/r/refs/\(String(repeating: "c", count: 64))-0000000000", method: .post,
                                                    headers: [.authorization: alice], body: ByteBuffer(string: String(repeating: "a", count: 64)))
            #expect(response.status == .badRequest)
        }
    }

    /// A key file decides who opens the repository and what every device spends trying it.
    @Test("adding a key to a repository needs the maintenance scope", arguments: [(["read", "append"], 403), (["read", "append", "maintenance"], 200)])
    func keyNeedsMaintenance(_ scopes: [String], _ status: Int) async throws {
        try await Self.withRepository { client, alice, _ in
            let login = try await client.execute(uri: "/api/v1/account/login", method: .post, headers: [.authorization: alice],
                                                 body: ByteBuffer(string: #"{"device":"d","scopes":["# + scopes.map { "\"\($0)\"" }.joined(separator: ",") + "]}"))
            let token = try #require(try Self.json(login)["token"] as? String)
            let planted = Array("another key".utf8)
            let response = try await client.execute(uri: "/alice/r/keys/\(sha256Hex(planted))", method: .post,
                                                    headers: [.authorization: "Bearer " + token], body: ByteBuffer(bytes: planted))
            #expect(Int(response.status.code) == status, "\(Self.text(response))")
        }
    }
}
