import AsyncHTTPClient
import ConvoSync
import ConvoSyncFormat
import ConvoSyncProtocol
import ConvoSyncREST
import ConvoSyncServer
import ConvoSyncSessions
import ConvoSyncStorage
import ConvoSyncTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// A real convosync-server on a free loopback port, with users alice and bob.
final class TestServer: @unchecked Sendable {
    let dir: TemporaryDirectory
    let users: UserStore
    let port: Int
    let task: Task<Void, any Error>
    var base: String { "http://127.0.0.1:\(port)" }

    init(
        appendOnly: Bool = false, maxBodySize: Int = 64 << 20, userQuota: Int? = nil, maxDevices: Int? = 5, maxConversationSize: Int? = nil,
        users given: UserStore? = nil, logger: Logger? = nil, storage: StorageBackend = .local,
        headerTimeout: TimeAmount = .seconds(10), idleTimeout: TimeAmount = .seconds(60)
    ) async throws {
        dir = try TemporaryDirectory()
        var config = ServerConfiguration(dataDirectory: dir.url.appendingPathComponent("data"))
        config.port = 0
        config.appendOnly = appendOnly
        config.maxBodySize = maxBodySize
        config.userQuota = userQuota
        config.maxDevicesPerUser = maxDevices
        config.maxConversationSize = maxConversationSize
        config.storage = storage
        config.headerTimeout = headerTimeout
        config.idleTimeout = idleTimeout
        try ConvoSyncServer.prepare(config)
        users = try given ?? UserStore(path: config.databasePath, kdf: .insecureTesting)
        try await users.add("alice", password: "alice-password")
        try await users.add("bob", password: "bob-password")
        try await users.add("carol", password: "carol-password")
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = try await ConvoSyncServer.application(config, users: users, logger: logger) { port in continuation.yield(port) }
        task = Task { try await app.run() }
        var iterator = stream.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw TestFailure("the server did not start") }
        port = bound
    }

    func url(_ user: String, _ password: String, repo: String) -> String {
        "rest:http://\(user):\(password)@127.0.0.1:\(port)/\(user)/\(repo)/"
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        dir.cleanup()
    }

    /// The sum of a counter's samples in /metrics (over all its labels).
    func metric(_ name: String) async throws -> Int {
        let text = String(decoding: try await request(.GET, "/metrics", auth: nil).1, as: UTF8.self)
        return text.split(separator: "\n").filter { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +).rounded().toInt
    }

    /// Requests answered so far.
    func requestCount() async throws -> Int { try await metric("convosync_requests_total") }

    /// Sends the start of a request over a socket and hangs up (a client killed mid-upload),
    /// then waits until the server has given up on it and cleaned up after it.
    func sendAndHangUp(_ bytes: [UInt8]) async throws {
        let aborted = try await metric("convosync_aborted_requests_total")
        let fd = try LoopbackSocket.connect(port: port)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        shutdown(fd, Int32(SHUT_WR))
        defer { close(fd) }
        try await eventually("the server to count the cut-off request as aborted") {
            try await metric("convosync_aborted_requests_total") > aborted
        }
    }

    /// Sends raw bytes over a socket (for requests an HTTP client will not send) and returns
    /// the status code of the answer.
    func rawStatus(_ text: String) throws -> Int {
        let fd = try LoopbackSocket.connect(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 12 else { throw TestFailure("no answer") }
        let line = String(decoding: buffer[0..<n], as: UTF8.self)
        return Int(line.split(separator: " ")[1]) ?? 0
    }

    /// One raw HTTP request.
    func request(
        _ method: HTTPMethod, _ path: String, auth: (String, String)? = ("alice", "alice-password"), bearer: String? = nil, body: [UInt8]? = nil,
        headers: [(String, String)] = []
    ) async throws -> (Int, [UInt8], HTTPHeaders) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let bearer {
            request.headers.add(name: "Authorization", value: "Bearer " + bearer)
        } else if let auth {
            request.headers.add(name: "Authorization", value: "Basic " + Data("\(auth.0):\(auth.1)".utf8).base64EncodedString())
        }
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 28)
        return (Int(response.status.code), Array(buffer: bytes), response.headers)
    }
}

/// restic's own client against `server`: init, two backups, check --read-data, forget --prune
/// and restore of the real corpus, compared byte for byte.
func resticRoundTrip(_ server: TestServer) async throws {
    let restic = try #require(["/usr/bin/restic", "/usr/local/bin/restic"].first { FileManager.default.isExecutableFile(atPath: $0) },
                              "restic is installed by .ci/setup")
    let repo = server.url("alice", "alice-password", repo: "restic")
    let target = server.dir.path + "/restored"
    func run(_ args: [String]) async throws -> (Int32, String) {
        let result = try await runProgramOffPool(URL(fileURLWithPath: restic), ["-r", repo, "--no-cache"] + args,
                                    environment: ["RESTIC_PASSWORD": "restic-pw", "HOME": server.dir.path, "PATH": "/usr/bin:/bin"])
        return (result.status, result.stdout + result.stderr)
    }
    for args in [["init"], ["backup", Paths.realCorpus.path], ["backup", Paths.realCorpus.path], ["check", "--read-data"],
                 ["forget", "--keep-last", "1", "--prune"], ["restore", "latest", "--target", target]] {
        let (status, output) = try await run(args)
        #expect(status == 0, "restic \(args.joined(separator: " ")): \(output.suffix(600))")
    }
    for url in Paths.realSessions() {
        #expect(FileManager.default.contentsEqual(atPath: url.path, andPath: target + url.path), "\(url.lastPathComponent)")
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String { ObjectID.hash(bytes).hex }

extension Double {
    var toInt: Int { Int(self) }
}

@Suite("convosync-server", .serialized)
struct ServerTests {
    @Test("the HTTP backend passes the backend conformance suite against the server")
    func conformance() async throws {
        let server = try await TestServer()
        try await BackendConformance.run(try RESTBackend(url: server.url("alice", "alice-password", repo: "conformance")))
        await server.stop()
    }

    @Test("restic's own client: init, backup, check --read-data, forget --prune, restore")
    func resticClient() async throws {
        let server = try await TestServer()
        try await resticRoundTrip(server)
        await server.stop()
    }

    @Test("convosync over HTTP: init, backup, incremental backup, restore; a wrong password and another user's repository fail")
    func convosyncClient() async throws {
        let server = try await TestServer()
        let backend = try RESTBackend(url: server.url("alice", "alice-password", repo: "cs"))
        let repo = try await Repository.initialize(backend: backend, password: "pw", kdf: .insecureTesting)
        let src = try TemporaryDirectory(), dst = try TemporaryDirectory()
        defer { src.cleanup(); dst.cleanup() }
        try Data(try generateSession(messages: 300)).write(to: src.url.appendingPathComponent("s.jsonl"))
        _ = try await Backup(repository: repo, options: BackupOptions(paths: [src.path])).run()
        try Data(try generateSession(messages: 350)).write(to: src.url.appendingPathComponent("s.jsonl"))
        let second = try await Backup(repository: repo, options: BackupOptions(paths: [src.path])).run()
        #expect(second.snapshot.summary.messages == 350)
        let reopened = try await Repository.open(backend: backend, password: "pw")
        _ = try await Restore(repository: reopened, options: RestoreOptions(target: dst.path)).run(second.snapshot)
        #expect(FileManager.default.contentsEqual(atPath: src.path + "/s.jsonl", andPath: dst.path + "/" + src.url.lastPathComponent + "/s.jsonl"))

        await #expect(throws: StorageError.self) { _ = try await RESTBackend(url: server.url("alice", "wrong", repo: "cs")).load(.config) }
        let asBob = try RESTBackend(url: "rest:http://bob:bob-password@127.0.0.1:\(server.port)/alice/cs/")
        do {
            _ = try await asBob.load(.config)
            Issue.record("bob read alice's config")
        } catch let e as StorageError {
            #expect(e.code == .permissionDenied)
        }
        await server.stop()
    }

    @Test("save on one device and resume on another through the server")
    func sessionsOverHTTP() async throws {
        let server = try await TestServer()
        let d = try await TwoDevices(backend: try RESTBackend(url: server.url("alice", "alice-password", repo: "sessions")))
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<200, subagents: false)
        let first = try await d.save(d.a, "over http")
        let resumed = try await d.resume(d.b)
        #expect(resumed.session == first.session && resumed.messages == 200)
        try d.append(lines: 200..<250, to: transcript, on: d.a)
        try d.append(lines: 300..<310, to: resumed.transcript, on: d.b)
        #expect(try await d.save(d.a, "a").fork == nil)
        #expect(try await d.save(d.b, "b").fork != nil, "compare-and-swap works over HTTP")
        await server.stop()
    }

    @Test("an incremental save through the session API is one write request; a conflict is 409 and keeps the files")
    func oneRequestSave() async throws {
        let server = try await TestServer()
        let rest = try RESTBackend(url: server.url("alice", "alice-password", repo: "bundle"))
        let d = try await TwoDevices(backend: rest)
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<300, subagents: false)
        let repo = try await Repository.open(sessionAPI: rest, password: "pw")
        _ = try await d.save(d.a, "first", into: repo)
        try d.append(lines: 300..<350, to: transcript, on: d.a)
        func writes() async throws -> Int {
            let text = try await server.request(.GET, "/metrics", auth: nil).1
            return String(decoding: text, as: UTF8.self).split(separator: "\n")
                .filter { $0.hasPrefix("convosync_requests_total") && ($0.contains("method=\"POST\"") || $0.contains("method=\"DELETE\"")) }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +).rounded().toInt
        }
        let before = try await writes()
        let second = try await d.save(d.a, "second", into: repo)
        #expect(second.added == [300, 350] && second.fork == nil)
        #expect(try await writes() - before == 1, "packs, index, snapshot, session and ref in one POST")
        // B resumes, continues; A (not having seen B's save) saves: 409, kept as a fork.
        let r = try await d.resume(d.b)
        try d.append(lines: 400..<410, to: r.transcript, on: d.b)
        _ = try await d.save(d.b, "b")
        try d.append(lines: 350..<360, to: transcript, on: d.a)
        let forked = try await d.save(d.a, "a", into: repo)
        #expect(forked.fork != nil)
        let metrics = String(decoding: try await server.request(.GET, "/metrics", auth: nil).1, as: UTF8.self)
        #expect(metrics.contains("convosync_ref_conflicts_total 1"))
        #expect(!metrics.contains("alice"), "metrics never name a user")
        let heads = try await SessionCatalog.heads(d.repository)
        #expect(heads.count == 2)
        await server.stop()
    }

    @Test("a user over quota gets 507 and a message, and keeps what was stored")
    func quota() async throws {
        let server = try await TestServer(userQuota: 3000)
        #expect(try await server.request(.POST, "/alice/q/?create=true").0 == 200)
        let small = [UInt8](repeating: 1, count: 2000), more = [UInt8](repeating: 2, count: 2000)
        #expect(try await server.request(.POST, "/alice/q/data/\(sha256Hex(small))", body: small).0 == 200)
        let (status, body, _) = try await server.request(.POST, "/alice/q/data/\(sha256Hex(more))", body: more)
        #expect(status == 507)
        #expect(String(decoding: body, as: UTF8.self).contains("quota exceeded"))
        #expect(try await server.request(.HEAD, "/alice/q/data/\(sha256Hex(more))").0 == 404)
        #expect(try await server.request(.GET, "/alice/q/data/\(sha256Hex(small))").1 == small)
        // Bob's quota is his own.
        #expect(try await server.request(.POST, "/bob/q/?create=true", auth: ("bob", "bob-password")).0 == 200)
        #expect(try await server.request(.POST, "/bob/q/data/\(sha256Hex(more))", auth: ("bob", "bob-password"), body: more).0 == 200)
        await server.stop()
    }

    @Test("no plaintext of a saved conversation reaches the server's disk, database or logs")
    func serverSeesNoPlaintext() async throws {
        let logs = CapturedLogs()
        var logger = Logger(label: "test-server") { _ in CapturingLogHandler(logs: logs) }
        logger.logLevel = .trace
        let server = try await TestServer(logger: logger)
        let d = try await TwoDevices(backend: try RESTBackend(url: server.url("alice", "alice-password", repo: "secret")))
        let path = try d.placeClaudeSession(on: d.a, lines: 0..<100, subagents: false)
        let marker = "PLAINTEXT-MARKER-\(UUID().uuidString)"
        try d.append(raw: Array(#"{"type":"user","message":{"content":"\#(marker)"},"cwd":"\#(d.a.checkout)"}"#.utf8) + [10], to: path)
        let secret = try RESTBackend(url: server.url("alice", "alice-password", repo: "secret"))
        _ = try await d.save(d.a, "commit message \(marker)", into: try await Repository.open(sessionAPI: secret, password: "pw"))
        let resumed = try await d.resume(d.b)
        #expect(String(decoding: try d.read(resumed.transcript), as: UTF8.self).contains(marker), "the marker did travel")
        var scanned = 0
        for case let rel as String in FileManager.default.enumerator(atPath: server.dir.path + "/data")! {
            guard let bytes = FileManager.default.contents(atPath: server.dir.path + "/data/" + rel) else { continue }
            scanned += bytes.count
            #expect(bytes.range(of: Data(marker.utf8)) == nil, "\(rel) holds the plaintext marker")
            #expect(bytes.range(of: Data(d.a.checkout.utf8)) == nil, "\(rel) holds a local path")
        }
        #expect(scanned > 10_000)
        let logText = logs.text
        #expect(!logText.contains(marker) && !logText.contains("alice-password"))
        await server.stop()
    }

    @Test("temporary files a crash left behind are swept when the server starts, fresh ones kept")
    func sweep() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let config = ServerConfiguration(dataDirectory: dir.url)
        try ConvoSyncServer.prepare(config)
        let data = dir.path + "/repos/alice/r/data/ab"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for name in [".tmp-old", ".tmp-new", String(repeating: "ab", count: 32)] {
            FileManager.default.createFile(atPath: data + "/" + name, contents: Data([1]))
        }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: data + "/.tmp-old")
        ConvoSyncServer.sweepTemporaryFiles(config)
        #expect(!FileManager.default.fileExists(atPath: data + "/.tmp-old"))
        #expect(FileManager.default.fileExists(atPath: data + "/.tmp-new"))
        #expect(FileManager.default.fileExists(atPath: data + "/" + String(repeating: "ab", count: 32)))
    }

    @Test("bad requests get clear statuses and leave nothing behind")
    func badRequests() async throws {
        let server = try await TestServer(appendOnly: true, maxBodySize: 1 << 20)
        #expect(try await server.request(.GET, "/healthz", auth: nil).0 == 200)
        #expect(try await server.request(.POST, "/alice/r/?create=true").0 == 200)
        let blob: [UInt8] = Array("hello".utf8)
        let name = sha256Hex(blob)
        // Authentication and privacy.
        #expect(try await server.request(.GET, "/alice/r/config", auth: nil).0 == 401)
        #expect(try await server.request(.GET, "/alice/r/config", auth: ("alice", "nope")).0 == 401)
        #expect(try await server.request(.GET, "/alice/r/keys/", auth: ("bob", "bob-password")).0 == 403)
        #expect(try await server.request(.POST, "/alice/r/keys/\(name)", auth: ("bob", "bob-password"), body: blob).0 == 403)
        // Paths that try to leave the repository.
        for path in ["/alice/../etc/passwd", "/alice/r/../../etc/passwd", "/alice/r/data/..%2f..%2fconfig", "/alice/r/keys/../config",
                     "/alice/r/data/\(name)/x", "//alice/r/config", "/alice/r/etc/passwd"] {
            let status = try await server.request(.GET, path).0
            #expect([400, 403, 404].contains(status), "\(path) answered \(status)")
        }
        // Write-once, hash-checked uploads.
        #expect(try await server.request(.POST, "/alice/r/keys/\(name)", body: blob).0 == 200)
        #expect(try await server.request(.POST, "/alice/r/keys/\(name)", body: blob).0 == 403)
        #expect(try await server.request(.POST, "/alice/r/keys/\(String(repeating: "0", count: 64))", body: blob).0 == 400)
        #expect(try await server.request(.POST, "/alice/r/keys/not-hex", body: blob).0 == 400)
        // Too large: refused by Content-Length before reading, and while streaming without one.
        let big = [UInt8](repeating: 7, count: (1 << 20) + 1)
        #expect(try await server.request(.POST, "/alice/r/data/\(sha256Hex(big))", body: big).0 == 413)
        #expect(try server.rawStatus("POST /alice/r/data/\(String(repeating: "a", count: 64)) HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \(Data("alice:alice-password".utf8).base64EncodedString())\r\nContent-Length: 10737418240\r\n\r\nabc") == 413)
        // Byte ranges.
        let (partial, bytes, headers) = try await server.request(.GET, "/alice/r/keys/\(name)", headers: [("Range", "bytes=1-3")])
        #expect(partial == 206 && bytes == Array("ell".utf8) && headers.first(name: "Content-Range") == "bytes 1-3/5")
        #expect(try await server.request(.GET, "/alice/r/keys/\(name)", headers: [("Range", "bytes=9-")]).0 == 416)
        let (head, _, headHeaders) = try await server.request(.HEAD, "/alice/r/keys/\(name)")
        #expect(head == 200 && headHeaders.first(name: "Content-Length") == "5")
        // Append-only: no deletes except locks.
        #expect(try await server.request(.DELETE, "/alice/r/keys/\(name)").0 == 403)
        #expect(try await server.request(.POST, "/alice/r/locks/\(name)", body: blob).0 == 200)
        #expect(try await server.request(.DELETE, "/alice/r/locks/\(name)").0 == 200)
        // Listings: v1 names, v2 names and sizes.
        let (_, v1, _) = try await server.request(.GET, "/alice/r/keys/")
        #expect(String(decoding: v1, as: UTF8.self) == "[\"\(name)\"]")
        let (_, v2, v2Headers) = try await server.request(.GET, "/alice/r/keys/", headers: [("Accept", "application/vnd.x.restic.rest.v2")])
        #expect(String(decoding: v2, as: UTF8.self).contains("\"size\":5"))
        #expect(v2Headers.first(name: "Content-Type") == "application/vnd.x.restic.rest.v2")
        // Refs: 64 hex digits, never deleted; bundles with absurd sizes are refused whole.
        let ref = String(repeating: "c", count: 64)
        #expect(try await server.request(.POST, "/alice/r/refs/\(ref)-0000000001", body: Array("abc".utf8)).0 == 400)
        #expect(try await server.request(.POST, "/alice/r/refs/\(ref)-0000000001", body: Array(name.utf8)).0 == 200)
        #expect(try await server.request(.DELETE, "/alice/r/refs/\(ref)-0000000001").0 == 403)
        var evil = BundleFormat.header() + [4] + Array("data".utf8) + [64] + Array(String(repeating: "b", count: 64).utf8)
        evil += [0x80, 0, 0, 0, 0, 0, 0, 1] + [1, 2, 3]
        #expect(try await server.request(.POST, "/api/v1/alice/r/sessions/save", body: evil, headers: [("Content-Type", BundleFormat.contentType)]).0 == 413)
        #expect(try await server.request(.GET, "/healthz", auth: nil).0 == 200, "the server is still up")
        #expect(try await server.request(.POST, "/alice/never-created/keys/\(name)", body: blob).0 == 404)
        // The account database is private to the server's user.
        let mode = (try FileManager.default.attributesOfItem(atPath: server.dir.path + "/data/convosync.sqlite")[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        // Nothing partial left behind by the refused uploads.
        let files = FileManager.default.enumerator(atPath: server.dir.path + "/data/repos/alice/r")?.allObjects as? [String] ?? []
        #expect(!files.contains { ($0 as NSString).lastPathComponent.hasPrefix(".tmp-") })
        #expect(!files.contains { $0.hasSuffix(String(repeating: "a", count: 64)) || $0.hasSuffix(String(repeating: "0", count: 64)) })
        // Failed logins lock the account out for a while (a client already logged in keeps working).
        for _ in 0..<UserStore.maxFailures { _ = try await server.request(.GET, "/carol/r/config", auth: ("carol", "guess")) }
        #expect(try await server.request(.GET, "/carol/r/config", auth: ("carol", "carol-password")).0 == 429)
        #expect(try await server.request(.GET, "/bob/r/config", auth: ("bob", "bob-password")).0 == 404)
        await server.stop()
    }
}

final class CapturedLogs: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

struct CapturingLogHandler: LogHandler {
    let logs: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        logs.append("\(level) \(message) \(metadata ?? [:]) \(self.metadata)")
    }
}
