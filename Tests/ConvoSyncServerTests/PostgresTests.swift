import AsyncHTTPClient
import ConvoSyncFormat
import ConvoSyncREST
import ConvoSyncServer
import ConvoSyncStorage
import ConvoSyncTestSupport
import Foundation
import NIOHTTP1
import Testing

/// A real PostgreSQL server (Debian's `postgresql` package, installed by .ci/setup) in a
/// temporary directory on a free loopback port, with password authentication over TCP.
/// PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
final class PostgresServer: @unchecked Sendable {
    let dir: String
    let port: Int
    static let password = "pg-test-password-\(UInt32.random(in: 0...UInt32.max))"
    var url: String { "postgres://convosync:\(Self.password)@127.0.0.1:\(port)/postgres" }

    static func binary(_ name: String) throws -> String {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.sorted(by: >) ?? []
        for v in versions where FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/\(name)") {
            return "/usr/lib/postgresql/\(v)/bin/\(name)"
        }
        throw TestFailure("PostgreSQL's \(name) is not installed (Debian package postgresql; .ci/setup installs it)")
    }

    @discardableResult
    static func run(_ args: [String]) throws -> String {
        let p = Process()
        let asRoot = getuid() == 0
        p.executableURL = URL(fileURLWithPath: asRoot ? "/usr/sbin/runuser" : args[0])
        p.arguments = asRoot ? ["-u", "postgres", "--"] + args : Array(args.dropFirst())
        // Output to a file, so nothing waits on a pipe.
        let outPath = NSTemporaryDirectory() + "convosync-pg-out-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        try? handle.close()
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard p.terminationStatus == 0 else { throw TestFailure("\(args[0]) failed: \(out.suffix(500))") }
        return out
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    let process: Process

    init() throws {
        let initdb = try Self.binary("initdb")
        dir = "/tmp/convosync-pg-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        try Self.password.write(toFile: dir + "/pw", atomically: true, encoding: .utf8)
        chmod(dir + "/pw", 0o644)
        try Self.run([initdb, "-D", dir + "/data", "-U", "convosync", "--pwfile=\(dir)/pw", "--auth-local=trust", "--auth-host=scram-sha-256"])
        // The port was free when freePort() looked; another process may take it before
        // PostgreSQL binds it, so a start that fails on a taken port tries another.
        for attempt in 1...3 {
            let port = try Self.freePort()
            switch try Self.start(dir: dir, port: port) {
            case .running(let process):
                (self.port, self.process) = (port, process)
                return
            case .portTaken where attempt < 3:
                continue
            case .portTaken, .failed:
                break
            }
            break
        }
        let log = (try? String(contentsOfFile: dir + "/log", encoding: .utf8))?.suffix(500) ?? ""
        try? FileManager.default.removeItem(atPath: dir)
        throw TestFailure("PostgreSQL did not start: \(log)")
    }

    enum Start { case running(Process), portTaken, failed }

    /// Starts PostgreSQL on `port` as this process's child (not daemonized by pg_ctl), so
    /// stopping it is a signal and nothing outlives the test.
    static func start(dir: String, port: Int) throws -> Start {
        let postgres = try binary("postgres"), isready = try binary("pg_isready")
        let process = Process()
        let args = [postgres, "-D", dir + "/data", "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1"]
        process.executableURL = URL(fileURLWithPath: getuid() == 0 ? "/usr/sbin/runuser" : postgres)
        process.arguments = getuid() == 0 ? ["-u", "postgres", "--"] + args : Array(args.dropFirst())
        FileManager.default.createFile(atPath: dir + "/log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/log"))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Ready when it accepts TCP connections and pg_isready says it takes queries (not
        // "the database system is starting up").
        for _ in 0..<200 {
            if accepts(port), (try? run([isready, "-q", "-h", "127.0.0.1", "-p", String(port), "-U", "convosync", "-d", "postgres"])) != nil {
                return .running(process)
            }
            if !process.isRunning {
                let text = (try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? ""
                return text.contains("Address already in use") ? .portTaken : .failed
            }
            usleep(100_000)
        }
        process.terminate()
        process.waitUntilExit()
        return .failed
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    func stop() {
        // SIGINT is PostgreSQL's fast shutdown; runuser passes it on.
        if process.isRunning {
            kill(process.processIdentifier, SIGINT)
            for _ in 0..<100 where process.isRunning { usleep(50_000) }
            if process.isRunning { process.terminate() }
        }
        // runuser may return before PostgreSQL has finished: it removes postmaster.pid last.
        for _ in 0..<200 where FileManager.default.fileExists(atPath: dir + "/data/postmaster.pid") { usleep(50_000) }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite("accounts in PostgreSQL", .serialized)
struct PostgresTests {
    @Test("DATABASE_URL=postgres://…: accounts, logins, device limit, revocation and audit live in a real PostgreSQL server")
    func postgresAccounts() async throws {
        let pg = try PostgresServer()
        defer { pg.stop() }
        let users = try await UserStore.open(url: pg.url, defaultPath: "/nonexistent", kdf: .insecureTesting)
        let server = try await TestServer(maxDevices: 2, users: users)
        #expect(try await users.list().map(\.name) == ["alice", "bob", "carol"])
        await #expect(throws: StoreError.self) { try await users.add("alice", password: "another-password") }

        // Password and token requests against a repository.
        #expect(try await server.request(.POST, "/alice/pg/?create=true").0 == 200)
        let token = try await AccountClient(url: server.base).login(user: "alice", password: "alice-password", device: "pg", scopes: ["read", "append"], days: 1)
        #expect(try await server.request(.GET, "/alice/pg/keys/", bearer: token.token).0 == 200)
        _ = try await AccountClient(url: server.base).login(user: "alice", password: "alice-password", device: "pg2", scopes: ["read"], days: 1)
        await #expect(throws: StorageError.self, "the device limit holds in PostgreSQL too") {
            _ = try await AccountClient(url: server.base).login(user: "alice", password: "alice-password", device: "pg3", scopes: ["read"], days: 1)
        }
        #expect(try await AccountClient(url: server.base).devices(token: token.token).count == 2)
        try await AccountClient(url: server.base).revoke(token.device, token: token.token)
        #expect(try await server.request(.GET, "/alice/pg/keys/", bearer: token.token).0 == 401)
        #expect(try await server.request(.GET, "/alice/pg/keys/", auth: ("alice", "wrong-password")).0 == 401)

        // Password change and removal, as `convosync-server user passwd/remove` do them.
        try await users.setPassword("bob", password: "bob-new-password")
        #expect(await users.check("bob", password: "bob-new-password") == .ok)
        try await users.remove("carol")
        #expect(await users.check("carol", password: "carol-password") == .wrong)
        let audit = try await users.auditLog()
        for action in ["user-added", "login", "device-revoked", "password-changed", "user-removed"] {
            #expect(audit.contains { $0.action == action }, "audit has \(action)")
        }
        await server.stop()
        await users.close()

        // A wrong password in the URL: a clear error that does not repeat the password.
        let wrong = pg.url.replacingOccurrences(of: PostgresServer.password, with: "not-the-password-xyz")
        let error = await #expect(throws: StoreError.self) { _ = try await UserStore.open(url: wrong, defaultPath: "/nonexistent") }
        #expect(error.map { !$0.message.contains("not-the-password-xyz") && $0.message.contains("127.0.0.1") && $0.message.contains("password") } == true, "\(String(describing: error))")
    }
}
