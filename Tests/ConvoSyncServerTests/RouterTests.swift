import ConvoSyncFormat
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
@Suite("routes and statuses (HummingbirdTesting)")
struct RouterTests {
    /// One request and the status it must get; `then` checks the answer further.
    struct Case: CustomStringConvertible {
        var method: HTTPRequest.Method
        var path: String
        var auth: String?
        var body: [UInt8]?
        var headers: HTTPFields = [:]
        var status: Int
        var then: ((TestResponse) throws -> Void)?
        var description: String { "\(method) \(path) → \(status)" }
    }

    static func bundle(_ files: [(FileType, String, [UInt8])], ref refTarget: (String, String)? = nil) -> [UInt8] {
        var out = BundleFormat.header()
        for (type, name, bytes) in files { out += BundleFormat.entryHeader(type: type.rawValue, name: name, size: bytes.count) + bytes }
        if let (version, target) = refTarget { out += BundleFormat.entryHeader(type: "refs", name: version, size: 64) + Array(target.utf8) }
        return out + BundleFormat.end
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any], "a JSON object")
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    static func basic(_ user: String, _ password: String) -> String { "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() }

    @Test("the pack API, the account API and the session API answer every route with the documented status")
    func routes() async throws {
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

        let alice = Self.basic("alice", "alice-password")
        let blob = Array("hello".utf8), name = sha256Hex(blob)
        let tooBig = [UInt8](repeating: 9, count: 30_001)
        let session = [UInt8](repeating: 3, count: 1000), sessionName = sha256Hex(session)
        let big = [UInt8](repeating: 4, count: 6000), bigName = sha256Hex(big)
        let ref = String(repeating: "c", count: 64)
        let refVersion = "\(ref)-0000000001"
        try await app.test(.router) { client in
            func run(_ cases: [Case]) async throws {
                for c in cases {
                    var headers = c.headers
                    if let auth = c.auth { headers[.authorization] = auth }
                    let response = try await client.execute(uri: c.path, method: c.method, headers: headers, body: c.body.map { ByteBuffer(bytes: $0) })
                    #expect(Int(response.status.code) == c.status, "\(c): \(Self.text(response).prefix(300))")
                    #expect(response.headers[HTTPField.Name("X-Request-Id")!] != nil, "\(c) has a request id")
                    #expect(response.headers[HTTPField.Name("X-ConvoSync-API")!] == "1", "\(c) is marked as convosync-server's")
                    try c.then?(response)
                }
            }
            // Operations, authentication, paths.
            try await run([
                Case(method: .get, path: "/healthz", status: 200),
                Case(method: .get, path: "/metrics", status: 200) { #expect(Self.text($0).contains("convosync_requests_total")) },
                Case(method: .get, path: "/alice/r/config", status: 401) { #expect($0.headers[.wwwAuthenticate] != nil) },
                Case(method: .get, path: "/alice/r/config", auth: Self.basic("alice", "wrong"), status: 401),
                Case(method: .get, path: "/alice/r/config", auth: "Bearer not-a-token", status: 401),
                Case(method: .get, path: "/alice/r/config", auth: Self.basic("bob", "bob-password"), status: 403),
                Case(method: .get, path: "/alice/r/%2e%2e/x", auth: alice, status: 400),
                Case(method: .get, path: "//alice/r/config", auth: alice, status: 400),
                Case(method: .get, path: "/.hidden/r/config", auth: alice, status: 404),
                Case(method: .get, path: "/alice", auth: alice, status: 404),
                Case(method: .get, path: "/alice/r/etc/passwd", auth: alice, status: 404),
            ])
            // The repository and its files (restic's REST protocol).
            try await run([
                Case(method: .post, path: "/alice/r/keys/\(name)", auth: alice, body: blob, status: 404),
                Case(method: .get, path: "/alice/r/keys/", auth: alice, status: 404),
                Case(method: .post, path: "/alice/r/", auth: alice, status: 400),
                Case(method: .get, path: "/alice/r/", auth: alice, status: 403),
                Case(method: .post, path: "/alice/r/?create=true", auth: alice, status: 200),
                Case(method: .post, path: "/alice/r/?create=true", auth: alice, status: 200),
                Case(method: .post, path: "/alice/r/config", auth: alice, body: blob, status: 200),
                Case(method: .post, path: "/alice/r/config", auth: alice, body: blob, status: 403),
                Case(method: .head, path: "/alice/r/config", auth: alice, status: 200) { #expect($0.headers[.contentLength] == "5") },
                Case(method: .get, path: "/alice/r/config", auth: alice, status: 200) { #expect(Self.text($0) == "hello") },
                Case(method: .post, path: "/alice/r/keys/\(name)", auth: alice, body: blob, status: 200),
                Case(method: .post, path: "/alice/r/keys/\(name)", auth: alice, body: blob, status: 403),
                Case(method: .post, path: "/alice/r/keys/\(String(repeating: "0", count: 64))", auth: alice, body: blob, status: 400),
                Case(method: .post, path: "/alice/r/keys/not-hex", auth: alice, body: blob, status: 400),
                Case(method: .post, path: "/alice/r/data/\(sha256Hex(tooBig))", auth: alice, body: tooBig, status: 413),
                Case(method: .put, path: "/alice/r/keys/\(name)", auth: alice, body: blob, status: 403),
                Case(method: .get, path: "/alice/r/keys/\(name)", auth: alice, headers: [.range: "bytes=1-3"], status: 206) {
                    #expect(Self.text($0) == "ell" && $0.headers[.contentRange] == "bytes 1-3/5")
                },
                Case(method: .get, path: "/alice/r/keys/\(name)", auth: alice, headers: [.range: "bytes=9-"], status: 416),
                Case(method: .get, path: "/alice/r/keys/\(String(repeating: "1", count: 64))", auth: alice, status: 404),
                Case(method: .head, path: "/alice/r/keys/\(String(repeating: "1", count: 64))", auth: alice, status: 404),
                Case(method: .get, path: "/alice/r/keys/", auth: alice, status: 200) { #expect(Self.text($0) == "[\"\(name)\"]") },
                Case(method: .get, path: "/alice/r/keys/", auth: alice, headers: [.accept: "application/vnd.x.restic.rest.v2"], status: 200) {
                    #expect(Self.text($0).contains("\"size\":5"))
                },
                Case(method: .post, path: "/alice/r/keys/", auth: alice, body: blob, status: 403),
                Case(method: .get, path: "/alice/r/nope/", auth: alice, status: 404),
                Case(method: .post, path: "/alice/r/locks/\(name)", auth: alice, body: blob, status: 200),
                Case(method: .delete, path: "/alice/r/locks/\(name)", auth: alice, status: 200),
                Case(method: .delete, path: "/alice/r/locks/\(name)", auth: alice, status: 404),
                Case(method: .post, path: "/alice/r/refs/\(refVersion)", auth: alice, body: Array("abc".utf8), status: 400),
                Case(method: .post, path: "/alice/r/data/\(bigName)", auth: alice, body: big, status: 200),
            ])
            // Quota: 40 000 bytes per user; this upload would pass it.
            let filler = [UInt8](repeating: 5, count: 29_000), filler2 = [UInt8](repeating: 6, count: 29_000)
            try await run([
                Case(method: .post, path: "/alice/r/data/\(sha256Hex(filler))", auth: alice, body: filler, status: 200),
                Case(method: .post, path: "/alice/r/data/\(sha256Hex(filler2))", auth: alice, body: filler2, status: 507) { #expect(Self.text($0).contains("quota exceeded")) },
                Case(method: .delete, path: "/alice/r/data/\(sha256Hex(filler))", auth: alice, status: 200),
            ])
            // Accounts: login (password only), devices, scopes, the device limit.
            var tokens: [String] = []
            for device in ["one", "append-only"] {
                try await run([Case(method: .post, path: "/api/v1/account/login", auth: alice,
                                    body: Array(#"{"device":"\#(device)","scopes":\#(device == "one" ? #"["read","append","maintenance"]"# : #"["read","append"]"#)}"#.utf8), status: 200) {
                    tokens.append(try Self.json($0)["token"] as? String ?? "")
                }])
            }
            let full = "Bearer " + tokens[0], appendOnly = "Bearer " + tokens[1]
            try await run([
                Case(method: .post, path: "/api/v1/account/login", auth: alice, body: Array(#"{"device":"three"}"#.utf8), status: 403) {
                    #expect(Self.text($0).contains("MAX_DEVICES_PER_USER"))
                },
                Case(method: .post, path: "/api/v1/account/login", auth: full, status: 401),
                Case(method: .post, path: "/api/v1/account/login", auth: alice, body: Array(#"{"scopes":["root"]}"#.utf8), status: 400),
                Case(method: .post, path: "/api/v1/account/login", auth: alice, body: Array("not json".utf8), status: 400),
                Case(method: .get, path: "/api/v1/account/devices", auth: full, status: 200),
                Case(method: .get, path: "/api/v1/account/events", auth: full, status: 400),
                Case(method: .get, path: "/api/v1/account/nope", auth: full, status: 404),
                Case(method: .delete, path: "/api/v1/account/devices/no-such-device", auth: full, status: 404),
                Case(method: .get, path: "/alice/r/keys/", auth: appendOnly, status: 200),
                Case(method: .get, path: "/alice/r/keys/", auth: Self.basic("alice", tokens[1]), status: 200),
                Case(method: .delete, path: "/alice/r/keys/\(name)", auth: appendOnly, status: 403) { #expect(Self.text($0).contains("maintenance")) },
                Case(method: .delete, path: "/alice/r/refs/\(refVersion)", auth: full, status: 403),
            ])
            // The session API.
            let save = Self.bundle([(.session, sessionName, session)], ref: (refVersion, sessionName))
            try await run([
                Case(method: .get, path: "/api/v1/alice/never/sessions", auth: full, status: 404),
                Case(method: .get, path: "/api/v1/alice/r/sessions", auth: full, status: 200) { response throws in #expect((try Self.json(response)["heads"] as? [Any])?.isEmpty == true) },
                Case(method: .post, path: "/api/v1/alice/r/sessions/save", auth: full, body: Array("nope!".utf8), status: 400),
                Case(method: .post, path: "/api/v1/alice/r/sessions/save", auth: full, body: Self.bundle([], ref: (refVersion, sessionName)), status: 400),
                Case(method: .post, path: "/api/v1/alice/r/sessions/save", auth: full, body: Self.bundle([(.config, "config", blob)]), status: 400),
                Case(method: .post, path: "/api/v1/alice/r/sessions/save", auth: full, body: save, status: 200) { response throws in #expect(try Self.json(response)["ref"] as? String == refVersion) },
                Case(method: .post, path: "/api/v1/alice/r/sessions/save", auth: full, body: save, status: 409) { response throws in
                    #expect(try Self.json(response)["target"] as? String == sessionName)
                },
                Case(method: .post, path: "/api/v1/alice/r/sessions/save", auth: full,
                     body: Self.bundle([(.pack, bigName, big)], ref: ("\(ref)-0000000002", sessionName)), status: 200),
                Case(method: .post, path: "/api/v1/alice/r/sessions/save", auth: full,
                     body: Self.bundle([(.pack, sha256Hex(big + [1]), big + [1])], ref: ("\(ref)-0000000003", sessionName)), status: 413) {
                    #expect(Self.text($0).contains("MAX_CONVERSATION_SIZE"))
                },
                Case(method: .get, path: "/api/v1/alice/r/sessions", auth: full, status: 200) { response throws in #expect((try Self.json(response)["heads"] as? [Any])?.count == 1) },
                Case(method: .post, path: "/api/v1/alice/r/sessions/resume", auth: full, body: Array("{}".utf8), status: 400),
                Case(method: .post, path: "/api/v1/alice/r/sessions/resume", auth: full, body: Array(#"{"session":"zz"}"#.utf8), status: 400),
                Case(method: .post, path: "/api/v1/alice/r/sessions/resume", auth: full, body: Array(#"{"session":"\#(sessionName)"}"#.utf8), status: 404) {
                    #expect(Self.text($0).contains("no manifest"))
                },
                Case(method: .post, path: "/api/v1/alice/r/conversations/short/sync", auth: full, body: Array("{}".utf8), status: 400),
                Case(method: .post, path: "/api/v1/alice/r/conversations/\(String(repeating: "d", count: 64))/sync", auth: full, body: Array("{}".utf8), status: 404),
                Case(method: .post, path: "/api/v1/alice/r/conversations/\(ref)/sync", auth: full, body: Array(#"{"after":2}"#.utf8), status: 200) { response throws in
                    #expect(try Self.json(response)["upToDate"] as? Bool == true)
                },
                Case(method: .post, path: "/api/v1/alice/r/sessions/nope", auth: full, status: 404),
                Case(method: .get, path: "/api/v1/bob/r/sessions", auth: full, status: 403),
            ])
            // Failed logins lock the account for a minute; others are unaffected.
            for _ in 0..<UserStore.maxFailures {
                _ = try await client.execute(uri: "/carol/r/config", method: .get, headers: [.authorization: Self.basic("carol", "guess")])
            }
            try await run([
                Case(method: .get, path: "/carol/r/config", auth: Self.basic("carol", "carol-password"), status: 429),
                Case(method: .get, path: "/bob/r/config", auth: Self.basic("bob", "bob-password"), status: 404),
            ])
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
