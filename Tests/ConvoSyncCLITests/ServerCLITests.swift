import ConvoSyncTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `convosync-server` binary, started on a free loopback port with its data in a
/// temporary directory, as the README's quick start does.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let dir: String
    let url: String

    static var binary: URL { Paths.binary.deletingLastPathComponent().appendingPathComponent("convosync-server") }

    static func run(_ args: [String], env: [String: String] = [:]) throws -> RunResult {
        try runProgram(binary, args, environment: ProcessInfo.processInfo.environment.merging(env) { $1 })
    }

    init(dir: String, users: [String: String]) throws {
        self.dir = dir
        for (name, password) in users {
            let added = try Self.run(["user", "add", name, "--data-dir", dir], env: ["CONVOSYNC_SERVER_PASSWORD": password, "CONVOSYNC_SCRYPT_N": "1024"])
            guard added.status == 0 else { throw TestFailure("user add: \(added.stderr)") }
        }
        FileManager.default.createFile(atPath: dir + "/stdout", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/stdout"))
        process.executableURL = Self.binary
        process.arguments = ["serve", "--data-dir", dir, "--listen", "127.0.0.1:0"]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        var found: String?
        for _ in 0..<100 {
            let text = (try? String(contentsOfFile: dir + "/stdout", encoding: .utf8)) ?? ""
            if let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression), text.contains("listening on") {
                found = String(text[range])
                break
            }
            usleep(100_000)
        }
        guard let found else {
            process.terminate()
            throw TestFailure("the server did not start: \((try? String(contentsOfFile: dir + "/stdout", encoding: .utf8)) ?? "")")
        }
        url = found
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

@Suite("convosync against convosync-server: login, devices, watch, resume --wait", .serialized)
struct ServerCLITests {
    @Test("two devices log in, sync a session through the server binary, watch and wait for saves, revoke and log out, with their exit codes")
    func accountCommands() async throws {
        let d = try await TwoDevices()
        let server = try ServerProcess(dir: d.temp.path + "/server", users: ["alice": "alice-password"])
        defer { server.stop() }
        let repo = server.url + "/alice/cli/"
        func env(_ device: TwoDevices.Device) -> [String: String] {
            device.environment.merging([
                "XDG_CONFIG_HOME": device.home + "/.config", "XDG_CACHE_HOME": device.home + "/.cache",
                "CONVOSYNC_SERVER_PASSWORD": "alice-password",
            ]) { $1 }
        }
        func run(_ device: TwoDevices.Device, _ args: [String]) async throws -> RunResult {
            try await convosync(args + ["-r", repo], extraEnv: env(device), cwd: device.checkout)
        }
        /// Starts a command and returns the process, the file its output is collected into, and
        /// a signal given when it exits.
        func start(_ device: TwoDevices.Device, _ args: [String]) throws -> (Process, String, DispatchSemaphore) {
            let p = Process()
            p.executableURL = Paths.binary
            p.arguments = args + ["-r", repo]
            p.currentDirectoryURL = URL(fileURLWithPath: device.checkout)
            var e = ProcessInfo.processInfo.environment.merging(env(device)) { $1 }
            e["CONVOSYNC_PASSWORD"] = "pw"
            e["CONVOSYNC_SCRYPT_N"] = "1024"
            p.environment = e
            let out = d.temp.path + "/out-\(UUID().uuidString)"
            FileManager.default.createFile(atPath: out, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            p.standardOutput = handle
            p.standardError = handle
            let exited = DispatchSemaphore(value: 0)
            p.terminationHandler = { _ in exited.signal() }
            try p.run()
            return (p, out, exited)
        }
        /// Open WebSocket event connections (a watcher counts once it is subscribed).
        func eventConnections() throws -> Int {
            let port = try #require(Int(server.url.split(separator: ":").last ?? ""))
            let metrics = try LoopbackSocket.get(port: port, path: "/metrics")
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("convosync_event_connections ") }
            return line.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }.map { Int($0) } ?? 0
        }
        /// Waits for the exit signal (on a thread of its own, not one of the cooperative threads
        /// the test servers run on) up to `seconds`; a process still running then is terminated.
        func wait(_ p: Process, _ exited: DispatchSemaphore, seconds: Double) async -> Bool {
            let done = await withCheckedContinuation { continuation in
                Thread { continuation.resume(returning: exited.wait(timeout: .now() + seconds) == .success) }.start()
            }
            if !done { p.terminate() }
            return done
        }

        // Login stores a token (0600); a wrong password is refused with exit 1.
        var wrong = env(d.a)
        wrong["CONVOSYNC_SERVER_PASSWORD"] = "not-the-password"
        let refused = try await convosync(["login", server.url, "--user", "alice"], extraEnv: wrong)
        #expect(refused.status == 1 && refused.stderr.contains("login refused"), "\(refused.stderr)")
        for device in [d.a, d.b] {
            // The laptop may manage devices (maintenance); the phone is append-only.
            let scope = device.name == "laptop" ? ["--scope", "read,append,maintenance"] : []
            let login = try await run(device, ["login", server.url, "--user", "alice", "--device", device.name] + scope)
            #expect(login.status == 0 && login.stdout.contains("logged in"), "\(login.stderr)")
            let credentials = device.home + "/.config/convosync/credentials.json"
            let mode = (try FileManager.default.attributesOfItem(atPath: credentials)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600)
            #expect(!(try String(contentsOfFile: credentials, encoding: .utf8)).contains("alice-password"), "the password is not stored")
        }

        // A saves; B watches; B resumes through the session API; A saves +20: B is told.
        #expect(try await run(d.a, ["init"]).status == 0)
        let aPath = try d.placeClaudeSession(on: d.a, lines: 0..<100, subagents: false)
        let first = try await run(d.a, ["save", "first"])
        #expect(first.status == 0, "\(first.stderr)")
        let (watch, watchOut, watchExited) = try start(d.b, ["watch", "--json", "--count", "1"])
        let resumed = try await run(d.b, ["resume", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let bPath = try #require(((try? JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8))) as? [String: Any])?["transcript"] as? String)
        try await eventually("watch to subscribe to events") { try eventConnections() == 1 }
        try d.append(lines: 100..<120, to: aPath, on: d.a)
        let second = try await run(d.a, ["save", "second", "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        let secondSession = ((try? JSONSerialization.jsonObject(with: Data(second.stdout.utf8))) as? [String: Any])?["session"] as? String
        #expect(await wait(watch, watchExited, seconds: 20) && watch.terminationStatus == 0)
        let event = (try? String(contentsOfFile: watchOut, encoding: .utf8)) ?? ""
        #expect(event.contains("session.saved") && secondSession.map { event.contains($0) } == true, "\(event)")

        // resume --wait blocks until A saves again, then resumes that save.
        try await eventually("watch's connection to end") { try eventConnections() == 0 }
        let (waiting, waitOut, waitingExited) = try start(d.b, ["resume", "--wait", "--timeout", "30", "--json"])
        try await eventually("resume --wait to subscribe to events") { try eventConnections() == 1 }
        #expect(waiting.isRunning, "resume --wait is waiting")
        let again = try await run(d.b, ["resume"])  // B catches up with the second save first
        #expect(again.status == 0, "\(again.stderr)")
        try d.append(lines: 120..<130, to: aPath, on: d.a)
        #expect(try await run(d.a, ["save", "third"]).status == 0)
        #expect(await wait(waiting, waitingExited, seconds: 30) && waiting.terminationStatus == 0, "\((try? String(contentsOfFile: waitOut, encoding: .utf8)) ?? "")")
        #expect(try d.read(bPath).split(separator: UInt8(ascii: "\n")).count == 130)
        let timedOut = try await run(d.b, ["resume", "--wait", "--timeout", "1"])
        #expect(timedOut.status == 1 && timedOut.stderr.contains("no session was saved within 1 s"), "\(timedOut.stderr)")

        // Devices: both listed; A revokes B; B is refused and told to log in again.
        let listed = try await run(d.a, ["devices", "list", "--json"])
        let devices = (try? JSONSerialization.jsonObject(with: Data(listed.stdout.utf8))) as? [[String: Any]] ?? []
        #expect(devices.count == 2 && devices.contains { $0["current"] as? Bool == true && $0["name"] as? String == "laptop" }, "\(listed.stdout)")
        let phone = try #require(devices.first { $0["name"] as? String == "phone" }?["id"] as? String)
        #expect(try await run(d.a, ["devices", "revoke", phone]).status == 0)
        let revoked = try await run(d.b, ["resume"])
        #expect(revoked.status != 0 && revoked.stderr.contains("revoked"), "\(revoked.stderr)")

        // Logout: A's token is revoked on the server and forgotten here.
        #expect(try await run(d.a, ["logout"]).status == 0)
        let afterLogout = try await run(d.a, ["devices", "list"])
        #expect(afterLogout.status == 1 && afterLogout.stderr.contains("not logged in"), "\(afterLogout.stderr)")
        let audit = try ServerProcess.run(["audit", "--data-dir", server.dir, "--json"])
        #expect(audit.status == 0 && audit.stdout.contains("device-revoked") && !audit.stdout.contains("alice-password"))
    }

    @Test("serve with STORAGE_BACKEND=s3 and a setting missing, or an unknown backend, stops at once with a message")
    func storageSettings() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let missing = try ServerProcess.run(["serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0"], env: ["STORAGE_BACKEND": "s3", "S3_BUCKET": "b"])
        #expect(missing.status != 0 && missing.stderr.contains("AWS_ACCESS_KEY_ID"), "\(missing.stderr)")
        let unknown = try ServerProcess.run(["serve", "--data-dir", dir.path, "--storage", "gcs"])
        #expect(unknown.status != 0 && unknown.stderr.contains("S3_ENDPOINT=https://storage.googleapis.com"), "\(unknown.stderr)")
        let down = try ServerProcess.run(["serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0", "--storage", "s3"], env: [
            "S3_BUCKET": "b", "S3_ENDPOINT": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "very-secret-key",
        ])
        #expect(down.status != 0 && down.stderr.contains("did not answer") && !down.stderr.contains("very-secret-key"), "\(down.stderr)")
    }

    /// A port where a server was and now a listener that never accepts: `silent` completes the
    /// TCP handshake (the kernel does) and never answers; `unreachable` has its accept queue
    /// full, so new connections get no answer at all (SYNs dropped), like a host that is gone.
    final class DeadServer {
        let fd: Int32
        var filler: Int32 = -1

        init(port: Int, unreachable: Bool) throws {
            fd = try LoopbackSocket.listen(port: port, backlog: unreachable ? 0 : 64).fd
            // One connection fills a backlog of 0; later SYNs are dropped.
            if unreachable { filler = try LoopbackSocket.connect(port: port) }
        }

        deinit {
            close(fd)
            if filler >= 0 { close(filler) }
        }
    }

    /// The issue this answers: a 300-second request timeout made an unreachable server cost a
    /// save 364 s before it fell back to the outbox. With the default timeouts (5 s to connect,
    /// 20 s of silence) the fallback comes in seconds.
    @Test("save falls back to the outbox within seconds when the server is silent or unreachable", arguments: ["silent", "unreachable"])
    func offlineFallback(_ kind: String) async throws {
        let d = try await TwoDevices()
        let server = try ServerProcess(dir: d.temp.path + "/server", users: ["alice": "alice-password"])
        let repo = "rest:" + server.url.replacingOccurrences(of: "http://", with: "http://alice:alice-password@") + "/alice/cli/"
        let env = ["XDG_CONFIG_HOME": d.a.home + "/.config", "XDG_CACHE_HOME": d.a.home + "/.cache"]
        func run(_ args: [String]) async throws -> RunResult {
            try await convosync(args + ["-r", repo], extraEnv: d.a.environment.merging(env) { $1 }, cwd: d.a.checkout)
        }
        #expect(try await run(["init"]).status == 0)
        let path = try d.placeClaudeSession(on: d.a, lines: 0..<50, subagents: false)
        let first = try await run(["save", "online"])
        #expect(first.status == 0, "\(first.stderr)")
        server.stop()
        let port = try #require(Int(server.url.split(separator: ":").last ?? ""))
        let dead = try DeadServer(port: port, unreachable: kind == "unreachable")
        try d.append(lines: 50..<60, to: path, on: d.a)
        let start = Date()
        let offline = try await run(["save", "offline"])
        let seconds = Date().timeIntervalSince(start)
        withExtendedLifetime(dead) {}
        #expect(offline.status == 0, "\(offline.stderr)")
        #expect(offline.stdout.contains("Queued offline"), "\(offline.stdout)")
        #expect(offline.stderr.contains("saving to the local outbox"), "\(offline.stderr)")
        #expect(seconds < 45, "\(kind): the fallback took \(Int(seconds)) s")
    }

    @Test("every command that talks to a server gives up on an unreachable one within the connect timeout", arguments: [
        ["watch"], ["sessions"], ["resume"], ["snapshots"], ["login", "--user", "alice"],
    ])
    func unreachableServer(_ command: [String]) async throws {
        let (probe, port) = try LoopbackSocket.listen()
        close(probe)
        let dead = try DeadServer(port: port, unreachable: true)
        let url = "http://alice:alice-password@127.0.0.1:\(port)"
        let args = command.first == "login" ? command + [url] : command + ["-r", "rest:\(url)/alice/r/"]
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let start = Date()
        let result = try await convosync(args, extraEnv: ["HOME": dir.path, "XDG_CACHE_HOME": dir.path + "/cache", "XDG_CONFIG_HOME": dir.path + "/config",
                                                    "CONVOSYNC_SERVER_PASSWORD": "alice-password", "CONVOSYNC_CONNECT_TIMEOUT": "2"], cwd: dir.path)
        let seconds = Date().timeIntervalSince(start)
        withExtendedLifetime(dead) {}
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("convosync: ") && result.stderr.contains("no connection within 2 s"), "\(command): \(result.stderr)")
        #expect(seconds < 20, "\(command) took \(Int(seconds)) s")
    }

    @Test("a timeout setting that is not a number of seconds is refused with the variable named")
    func badTimeoutSetting() async throws {
        let result = try await convosync(["snapshots", "-r", "rest:http://127.0.0.1:9/u/r/"], extraEnv: ["CONVOSYNC_READ_TIMEOUT": "soon"])
        #expect(result.status == 1 && result.stderr.contains("CONVOSYNC_READ_TIMEOUT must be a number of seconds"), "\(result.stderr)")
    }

    /// A TCP proxy in front of a real server that dies in the middle of one answer: once a
    /// client has sent `POST …/sessions/resume`, it passes on the first `keep` bytes of the
    /// answer and then closes both connections, as a server killed mid-stream would.
    final class DyingProxy: @unchecked Sendable {
        let listener: Int32
        let port: Int

        init(upstream: Int, keep: Int) throws {
            let (sock, port) = try LoopbackSocket.listen()
            (listener, self.port) = (sock, port)
            Thread.detachNewThread {
                while true {
                    let client = accept(sock, nil, nil)
                    if client < 0 { return }
                    guard let server = try? LoopbackSocket.connect(port: upstream) else { close(client); continue }
                    let resuming = NSLock()
                    nonisolated(unsafe) var resumeSent = false
                    Thread.detachNewThread {
                        var buffer = [UInt8](repeating: 0, count: 65536)
                        while true {
                            let n = recv(client, &buffer, buffer.count, 0)
                            if n <= 0 { shutdown(server, Int32(SHUT_WR)); return }
                            if String(decoding: buffer[..<n], as: UTF8.self).contains("/sessions/resume") { resuming.withLock { resumeSent = true } }
                            _ = buffer.withUnsafeBytes { send(server, $0.baseAddress, n, Int32(MSG_NOSIGNAL)) }
                        }
                    }
                    Thread.detachNewThread {
                        var buffer = [UInt8](repeating: 0, count: 65536)
                        var passed = 0
                        while true {
                            let n = recv(server, &buffer, buffer.count, 0)
                            if n <= 0 { shutdown(client, Int32(SHUT_RDWR)); close(client); close(server); return }
                            var count = n
                            if resuming.withLock({ resumeSent }) {
                                count = min(n, keep - passed)
                                passed += count
                            }
                            _ = buffer.withUnsafeBytes { send(client, $0.baseAddress, count, Int32(MSG_NOSIGNAL)) }
                            if count < n { shutdown(client, Int32(SHUT_RDWR)); close(client); shutdown(server, Int32(SHUT_RDWR)); close(server); return }
                        }
                    }
                }
            }
        }

        deinit { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
    }

    /// The issue this answers: a server that died during a resume gave `Error: stream ended at
    /// an unexpected time`, with no `convosync:` prefix, no server named and nothing to do.
    @Test("a server that dies during a resume gives a convosync: message naming it, and the transcript is not written")
    func serverDiesDuringResume() async throws {
        let d = try await TwoDevices()
        let server = try ServerProcess(dir: d.temp.path + "/server", users: ["alice": "alice-password"])
        defer { server.stop() }
        let upstream = try #require(Int(server.url.split(separator: ":").last ?? ""))
        let proxy = try DyingProxy(upstream: upstream, keep: 3000)
        let direct = "rest:http://alice:alice-password@127.0.0.1:\(upstream)/alice/cli/"
        let proxied = "rest:http://alice:alice-password@127.0.0.1:\(proxy.port)/alice/cli/"
        func env(_ device: TwoDevices.Device) -> [String: String] {
            device.environment.merging(["XDG_CONFIG_HOME": device.home + "/.config", "XDG_CACHE_HOME": device.home + "/.cache"]) { $1 }
        }
        #expect(try await convosync(["init", "-r", direct], extraEnv: env(d.a), cwd: d.a.checkout).status == 0)
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<300, subagents: false)
        let saved = try await convosync(["save", "one", "-r", direct], extraEnv: env(d.a), cwd: d.a.checkout)
        #expect(saved.status == 0, "\(saved.stderr)")
        let resumed = try await convosync(["resume", "-r", proxied], extraEnv: env(d.b), cwd: d.b.checkout)
        withExtendedLifetime(proxy) {}
        #expect(resumed.status == 1, "\(resumed.stdout) \(resumed.stderr)")
        #expect(resumed.stderr.hasPrefix("convosync: "), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("127.0.0.1:\(proxy.port)") && resumed.stderr.contains("again"), "\(resumed.stderr)")
        #expect(!resumed.stderr.contains("Error: "), "\(resumed.stderr)")
        let written = (FileManager.default.enumerator(atPath: d.b.claudeProjects)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".jsonl") }
        #expect(written.isEmpty, "\(written)")
    }
}
