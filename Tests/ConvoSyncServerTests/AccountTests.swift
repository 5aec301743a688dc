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
import NIOCore
import NIOHTTP1
import Testing

@Suite("devices, tokens, the session API and events", .serialized)
struct AccountTests {
    func login(_ server: TestServer, _ user: String = "alice", scopes: [String] = ["read", "append"]) async throws -> CredentialStore.Entry {
        try await AccountClient(url: server.base).login(user: user, password: "\(user)-password", device: "test-\(user)", scopes: scopes, days: nil)
    }

    @Test("login gives a device token that works as bearer and as restic's basic password; scopes, other users, revocation, expiry and forgery are refused")
    func deviceTokens() async throws {
        let server = try await TestServer(maxDevices: 3)
        let alice = try await login(server)
        #expect(alice.scopes == ["append", "read"])

        // The stored token makes a plain URL work (no password in it), file mode 0600.
        let temp = try TemporaryDirectory()
        let store = CredentialStore(path: temp.path + "/config/credentials.json")
        try store.set(alice, for: server.base + "/alice/repo/")
        var st = stat()
        #expect(stat(store.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let backend = try RESTBackend(url: "\(server.base)/alice/repo/", credentials: store)
        let repo = try await Repository.initialize(backend: backend, password: "pw", kdf: .insecureTesting)
        let blob = Array("hello".utf8)
        try await backend.save(try Handle(.snapshot, name: ObjectID.hash(blob).hex), data: blob)
        #expect(try await backend.list(.snapshot).count == 1)
        _ = repo

        // restic's form: the token as the basic-auth password.
        #expect(try await server.request(.GET, "/alice/repo/keys/", auth: ("alice", alice.token)).0 == 200)
        // Another user's token, on alice's data: the token names bob, the path alice.
        let bob = try await login(server, "bob")
        #expect(try await server.request(.GET, "/alice/repo/keys/", bearer: bob.token).0 == 403)
        #expect(try await server.request(.GET, "/alice/repo/keys/", auth: ("alice", bob.token)).0 == 401)
        // A default token is append-only: no deletes but of locks.
        let name = ObjectID.hash(blob).hex
        let (status, body, _) = try await server.request(.DELETE, "/alice/repo/snapshots/\(name)", bearer: alice.token)
        #expect(status == 403 && String(decoding: body, as: UTF8.self).contains("maintenance"))
        #expect(try await server.request(.DELETE, "/alice/repo/locks/\(name)", bearer: alice.token).0 == 404)
        let admin = try await login(server, scopes: ["read", "append", "maintenance"])
        #expect(try await server.request(.DELETE, "/alice/repo/snapshots/\(name)", bearer: admin.token).0 == 200)
        // The device limit (3 here): the fourth login is refused with the way out.
        _ = try await login(server)
        await #expect(throws: StorageError.self) { _ = try await login(server) }
        // A token cannot log in (that needs the password).
        #expect(try await server.request(.POST, "/api/v1/account/login", auth: ("alice", alice.token)).0 == 401)

        // Devices: listed, then revoked; the revoked token is refused at once.
        let devices = try await AccountClient(url: server.base).devices(token: alice.token)
        #expect(devices.count == 3 && devices.contains { $0.id == alice.device && $0.current == true })
        // A revoked device's open event stream is closed too.
        let (opened, open) = AsyncStream<Void>.makeStream()
        let stream = Task {
            try await EventStream.listen(url: "http://alice:\(admin.token)@127.0.0.1:\(server.port)/alice/repo/", credentials: nil, connected: { open.yield() }) { _ in true }
        }
        var openedIt = opened.makeAsyncIterator()
        _ = await openedIt.next()
        // Revoking another device needs `maintenance` (or the password); one's own, never.
        await #expect(throws: StorageError.self) { try await AccountClient(url: server.base).revoke(admin.device, token: alice.token) }
        try await AccountClient(url: server.base).revoke(admin.device, token: admin.token)
        let (revokedStatus, revokedBody, _) = try await server.request(.GET, "/alice/repo/keys/", bearer: admin.token)
        #expect(revokedStatus == 401 && String(decoding: revokedBody, as: UTF8.self).contains("revoked"))
        let closed = Task { try await stream.value; return true }
        let timer = Task { try await Task.sleep(nanoseconds: 10_000_000_000); stream.cancel() }
        #expect(try await closed.value && !stream.isCancelled, "the server closed the revoked device's event stream")
        timer.cancel()
        await #expect(throws: StorageError.self) { try await AccountClient(url: server.base).revoke(bob.device, token: alice.token) }

        // Expired and forged tokens.
        let secret = try TokenAuthority.secret(environment: nil, dataDirectory: server.dir.url.appendingPathComponent("data"))
        let expired = try await TokenAuthority(secret: secret).sign(user: "alice", device: alice.device, scopes: [.read], expires: Date().addingTimeInterval(-60))
        let (expiredStatus, expiredBody, _) = try await server.request(.GET, "/alice/repo/keys/", bearer: expired)
        #expect(expiredStatus == 401 && String(decoding: expiredBody, as: UTF8.self).contains("expired"))
        let forged = try await TokenAuthority(secret: Array(repeating: 7, count: 32)).sign(user: "alice", device: alice.device, scopes: Set(Scope.allCases), expires: Date().addingTimeInterval(600))
        #expect(try await server.request(.GET, "/alice/repo/keys/", bearer: forged).0 == 401)
        #expect(try await server.request(.GET, "/alice/repo/keys/", bearer: "not-a-token").0 == 401)

        // The audit log has the logins, the revocation and the deletion; never a token.
        let audit = try await server.users.auditLog(user: "alice")
        #expect(audit.contains { $0.action == "login" } && audit.contains { $0.action == "device-revoked" } && audit.contains { $0.action == "delete" })
        #expect(!audit.contains { $0.detail.contains(alice.token) })
        #expect(UserStore.reservedNames.contains("api"))
        await #expect(throws: StoreError.self) { try await server.users.add("account", password: "long-enough") }
        temp.cleanup()
        await server.stop()
    }

    @Test("a fresh device resumes in two requests; after +50 messages, two requests bring only the new files")
    func twoRequestResume() async throws {
        let server = try await TestServer()
        let rest = try RESTBackend(url: server.url("alice", "alice-password", repo: "resume"))
        let d = try await TwoDevices(backend: rest)
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<800, subagents: false)
        let saving = try await Repository.open(sessionAPI: rest, password: "pw")
        let first = try await d.save(d.a, "first", into: saving)

        let cache = try TemporaryDirectory()
        let mirror = SessionMirror(remote: rest, cacheDirectory: cache.url)
        let received = Counter()
        func resumeViaMirror() async throws -> ResumeResult {
            try await mirror.fetchHeads()
            let repo = try await Repository.open(backend: mirror.local, password: "pw")
            return try await d.resume(d.b, from: repo) { options in
                options.prepare = { id in received.add(try await mirror.fetch(session: id.hex)) }
            }
        }
        var before = try await server.requestCount()
        let resumed = try await resumeViaMirror()
        #expect(resumed.session == first.session && resumed.messages == 800)
        #expect(try await server.requestCount() - before - 1 == 2, "heads, then one bundle")
        let firstFetch = received.take()
        #expect(firstFetch.files >= 4)

        try d.append(lines: 800..<850, to: transcript, on: d.a)
        let second = try await d.save(d.a, "second", into: saving)
        before = try await server.requestCount()
        let again = try await resumeViaMirror()
        #expect(again.session == second.session && again.messages == 850)
        #expect(try await server.requestCount() - before - 1 == 2)
        let delta = received.take()
        #expect(delta.files <= 6 && delta.bytes < firstFetch.bytes / 4, "only the new pack, index, snapshot and session: \(delta)")

        // B continues and saves through its mirror: two requests, the heads and the bundle.
        try d.append(lines: 850..<860, to: again.transcript, on: d.b)
        before = try await server.requestCount()
        try await mirror.fetchHeads()
        let mirrored = try await Repository.open(sessionAPI: rest, mirror: mirror, password: "pw")
        let third = try await d.save(d.b, "from b", into: mirrored) { $0.prepare = { id in try await mirror.ensure(session: id) } }
        #expect(third.fork == nil && third.messages == 860 && third.added == [850, 860])
        #expect(try await server.requestCount() - before - 1 == 2, "heads, then one bundle")
        // A, behind, saves through the same kind of path: 409, the heads are refetched, a fork.
        try d.append(lines: 860..<865, to: transcript, on: d.a)
        let mirrorA = SessionMirror(remote: rest, cacheDirectory: cache.url.appendingPathComponent("a"))
        try await mirrorA.fetchHeads()
        let aRepo = try await Repository.open(sessionAPI: rest, mirror: mirrorA, password: "pw")
        let forked = try await d.save(d.a, "from a", into: aRepo) { $0.prepare = { id in try await mirrorA.ensure(session: id) } }
        #expect(forked.fork?.currentSession == third.session, "the fork names the head that won")

        // B again, from its mirror as it is (as `convosync save` does once the mirror has the
        // repository's identity): one request, the bundle.
        mirror.markComplete(third.session)
        try d.append(lines: 865..<870, to: again.transcript, on: d.b)
        before = try await server.requestCount()
        let bAgain = try await Repository.open(sessionAPI: rest, mirror: mirror, password: "pw")
        let fourth = try await d.save(d.b, "b again", into: bAgain) { $0.prepare = { id in try await mirror.ensure(session: id) } }
        #expect(fourth.fork == nil && fourth.version == third.version + 1)
        #expect(try await server.requestCount() - before - 1 == 1, "the bundle alone")

        // A session without a manifest: the client is told to read file by file.
        await #expect(throws: SessionMirror.Unsupported.self) { try await mirror.fetch(session: String(repeating: "ab", count: 32)) }

        // conversations/<ref>/sync: up to date, or the head and what is missing.
        let head = try #require(try await SessionCatalog.heads(d.repository).first)
        let ref = head.head.ref
        let upToDate = try await server.request(.POST, "/api/v1/alice/resume/conversations/\(ref)/sync", body: Array("{\"after\": \(head.head.version)}".utf8))
        #expect(upToDate.0 == 200 && String(decoding: upToDate.1, as: UTF8.self).contains("upToDate"))
        let sync = try await server.request(.POST, "/api/v1/alice/resume/conversations/\(ref)/sync", body: Array("{}".utf8))
        #expect(sync.0 == 200 && sync.1.starts(with: BundleFormat.header()))
        #expect(try await server.request(.POST, "/api/v1/alice/resume/conversations/\(String(repeating: "0", count: 64))/sync", body: Array("{}".utf8)).0 == 404)
        #expect(try await server.request(.POST, "/api/v1/alice/resume/sessions/resume", body: Array("not json".utf8)).0 == 400)
        #expect(try await server.request(.POST, "/api/v1/alice/resume/sessions/resume", auth: ("bob", "bob-password"), body: Array("{}".utf8)).0 == 403)
        cache.cleanup()
        await server.stop()
    }

    @Test("a pack damaged on the server's disk fails the resume with its name, and the mirror keeps nothing of it")
    func damagedBundleEntry() async throws {
        let server = try await TestServer()
        let rest = try RESTBackend(url: server.url("alice", "alice-password", repo: "damaged"))
        let d = try await TwoDevices(backend: rest)
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<200, subagents: false)
        let saved = try await d.save(d.a, "first", into: try await Repository.open(sessionAPI: rest, password: "pw"))

        // Flip one byte in the middle of the largest pack, behind the server's back.
        let dataDir = server.dir.path + "/data/repos/alice/damaged/data"
        let packs = (FileManager.default.enumerator(atPath: dataDir)?.allObjects as? [String] ?? []).filter { $0.count == 67 }
        let sizes = try packs.map { (($0 as NSString).lastPathComponent, try FileManager.default.attributesOfItem(atPath: dataDir + "/" + $0)[.size] as? Int ?? 0) }
        let (name, size) = try #require(sizes.max { $0.1 < $1.1 })
        let path = dataDir + "/\(name.prefix(2))/\(name)"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        var damaged = original
        damaged[size / 2] ^= 0x40
        try damaged.write(to: URL(fileURLWithPath: path))

        let cache = try TemporaryDirectory()
        defer { cache.cleanup() }
        let mirror = SessionMirror(remote: rest, cacheDirectory: cache.url)
        try await mirror.fetchHeads()
        do {
            _ = try await mirror.fetch(session: saved.session)
            Issue.record("a damaged pack was accepted")
        } catch let error as StorageError {
            #expect(error.message.contains("data/\(name.prefix(2))/\(name)") && error.message.contains("does not match its name"), "\(error.message)")
        }
        let kept = FileManager.default.enumerator(atPath: mirror.local.root.path)?.allObjects as? [String] ?? []
        #expect(!kept.contains { $0.hasSuffix(name) }, "the damaged pack is not in the mirror")
        #expect(!kept.contains { ($0 as NSString).lastPathComponent.hasPrefix(".tmp-") }, "no staged file is left: \(kept)")

        // Repaired on the server, the same mirror resumes: the files it kept before are not asked again.
        try original.write(to: URL(fileURLWithPath: path))
        let again = try await mirror.fetch(session: saved.session)
        #expect(again.files >= 1)
        let repo = try await Repository.open(backend: mirror.local, password: "pw")
        let resumed = try await d.resume(d.b, from: repo)
        #expect(resumed.session == saved.session && resumed.messages == 200)
        await server.stop()
    }

    @Test("sessions saved offline and pushed later carry manifests: a fresh device resumes them in two requests")
    func offlineThenResume() async throws {
        let server = try await TestServer()
        let rest = try RESTBackend(url: server.url("alice", "alice-password", repo: "outbox"))
        let d = try await TwoDevices(backend: rest)
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<300, subagents: false)
        let online = try await Repository.open(sessionAPI: rest, password: "pw")
        _ = try await d.save(d.a, "online", into: online)
        try await Outbox.remember(online, stateDirectory: d.state(d.a))
        // Two saves while the server is "unreachable": into the outbox.
        let outbox = try await Outbox.open(location: rest.location, password: "pw", stateDirectory: d.state(d.a), cacheDirectory: nil)
        try d.append(lines: 300..<320, to: transcript, on: d.a)
        _ = try await d.save(d.a, "offline 1", into: outbox)
        try d.append(lines: 320..<340, to: transcript, on: d.a)
        let last = try await d.save(d.a, "offline 2", into: outbox)
        let pushed = try await Outbox.push(to: try await Repository.open(sessionAPI: rest, password: "pw"), stateDirectory: d.state(d.a))
        #expect(pushed.sessions.count == 2)

        let cache = try TemporaryDirectory()
        let mirror = SessionMirror(remote: rest, cacheDirectory: cache.url)
        let before = try await server.requestCount()
        try await mirror.fetchHeads()
        let repo = try await Repository.open(backend: mirror.local, password: "pw")
        let resumed = try await d.resume(d.b, from: repo) { $0.prepare = { id in try await mirror.fetch(session: id.hex) } }
        #expect(resumed.session == last.session && resumed.messages == 340)
        #expect(try await server.requestCount() - before - 1 == 2, "heads, then one bundle, for pushed sessions too")
        cache.cleanup()
        await server.stop()
    }

    @Test("30 concurrent wrong guesses: at most 10 reach the password check, the rest get 429")
    func concurrentLockout() async throws {
        let server = try await TestServer()
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<30 { group.addTask { try await server.request(.GET, "/carol/r/config", auth: ("carol", "guess-\(i)")).0 } }
            var out: [Int] = []
            for try await status in group { out.append(status) }
            return out
        }
        #expect(statuses.filter { $0 == 401 }.count <= UserStore.maxFailures, "\(statuses)")
        #expect(statuses.filter { $0 == 429 }.count >= 30 - UserStore.maxFailures)
        await server.stop()
    }

    @Test("a save pushes an event to the user's other connections, not to other users")
    func events() async throws {
        let server = try await TestServer()
        let url = server.url("alice", "alice-password", repo: "live")
        let d = try await TwoDevices(backend: try RESTBackend(url: url))
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<100, subagents: false)
        let (connected, opened) = AsyncStream<Void>.makeStream()
        let (bobConnected, bobOpened) = AsyncStream<Void>.makeStream()
        let bobEvents = Counter()
        let bob = Task {
            try await EventStream.listen(url: server.url("bob", "bob-password", repo: "x"), credentials: nil, connected: { bobOpened.yield() }) { _ in
                bobEvents.add((1, 0))
                return true
            }
        }
        let (received, deliver) = AsyncStream<SessionSavedEvent>.makeStream()
        let listener = Task {
            try await EventStream.listen(url: url, credentials: nil, connected: { opened.yield() }) { event in
                deliver.yield(event)
                return false
            }
            deliver.finish()
        }
        var it = connected.makeAsyncIterator()
        _ = await it.next()
        var bobIt = bobConnected.makeAsyncIterator()
        _ = await bobIt.next()
        let repo = try await Repository.open(sessionAPI: try RESTBackend(url: url), password: "pw")
        let saved = try await d.save(d.a, "live", into: repo)
        var events = received.makeAsyncIterator()
        let event = try #require(await events.next())
        try await listener.value
        #expect(event.repository == "live" && event.session == saved.session && event.ref == saved.ref && event.version == saved.version)
        _ = transcript
        bob.cancel()
        #expect(bobEvents.take().files == 0, "bob hears nothing of alice's saves")
        // Without credentials the upgrade is refused.
        await #expect(throws: StorageError.self) {
            try await EventStream.listen(url: "http://127.0.0.1:\(server.port)/alice/live/", credentials: nil) { _ in false }
        }
        await server.stop()
    }

    @Test("a client killed mid-upload, or mid-bundle, leaves no visible file and no moved ref")
    func killedMidUpload() async throws {
        let server = try await TestServer()
        #expect(try await server.request(.POST, "/alice/cut/?create=true").0 == 200)
        let auth = "Authorization: Basic \(Data("alice:alice-password".utf8).base64EncodedString())\r\n"
        let body = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let name = ObjectID.hash(body).hex
        try await server.sendAndHangUp(Array("POST /alice/cut/data/\(name) HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: \(body.count)\r\n\r\n".utf8) + body.prefix(30_000))
        // A bundle whose ref would come after a pack cut short.
        var bundle = BundleFormat.header() + BundleFormat.entryHeader(try Handle(.pack, name: name), size: body.count) + body.prefix(50_000)
        try await server.sendAndHangUp(Array("POST /api/v1/alice/cut/sessions/save HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: \(bundle.count + 60_000)\r\n\r\n".utf8) + bundle)
        bundle.removeAll()
        #expect(try await server.request(.HEAD, "/alice/cut/data/\(name)").0 == 404)
        #expect(String(decoding: try await server.request(.GET, "/alice/cut/data/").1, as: UTF8.self) == "[]")
        #expect(String(decoding: try await server.request(.GET, "/alice/cut/refs/").1, as: UTF8.self) == "[]")
        let files = FileManager.default.enumerator(atPath: server.dir.path + "/data/repos/alice/cut")?.allObjects as? [String] ?? []
        #expect(!files.contains { ($0 as NSString).lastPathComponent.hasPrefix(".tmp-") }, "the aborted uploads' temporary files are gone: \(files)")
        // The whole upload afterwards works.
        #expect(try await server.request(.POST, "/alice/cut/data/\(name)", body: body).0 == 200)
        await server.stop()
    }

    /// `config` is the one file not named by its hash: only the body's length tells a cut-off
    /// upload from a whole one.
    @Test("a config upload cut short is not stored")
    func killedConfigUpload() async throws {
        let server = try await TestServer()
        #expect(try await server.request(.POST, "/alice/cut/?create=true").0 == 200)
        let auth = "Authorization: Basic \(Data("alice:alice-password".utf8).base64EncodedString())\r\n"
        try await server.sendAndHangUp(Array("POST /alice/cut/config HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 1000\r\n\r\n".utf8) + [UInt8](repeating: 7, count: 300))
        #expect(try await server.request(.HEAD, "/alice/cut/config").0 == 404)
        #expect(try await server.request(.POST, "/alice/cut/config", body: [UInt8](repeating: 7, count: 1000)).0 == 200)
        await server.stop()
    }

    @Test("MAX_CONVERSATION_SIZE refuses a save with 413 and leaves the ref where it was")
    func conversationSize() async throws {
        let server = try await TestServer(maxConversationSize: 20_000)
        let rest = try RESTBackend(url: server.url("alice", "alice-password", repo: "big"))
        let d = try await TwoDevices(backend: rest)
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<300, subagents: false)
        let repo = try await Repository.open(sessionAPI: rest, password: "pw")
        let error = await #expect(throws: (any Error).self) { _ = try await d.save(d.a, "too big", into: repo) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("MAX_CONVERSATION_SIZE"))
        #expect(try await rest.list(.ref).isEmpty, "no ref moved")
        await server.stop()
    }
}

final class Counter: @unchecked Sendable {
    private var files = 0
    private var bytes = 0
    private let lock = NSLock()
    func add(_ x: (files: Int, bytes: Int)) { lock.withLock { files += x.files; bytes += x.bytes } }
    func take() -> (files: Int, bytes: Int) {
        lock.withLock {
            defer { (files, bytes) = (0, 0) }
            return (files, bytes)
        }
    }
}
