import ConvoSyncFormat
import ConvoSyncTestSupport
import Foundation
import Testing


/// Runs the built `convosync` binary with a cheap KDF.
/// The files under `sub` of a local repository, temporary files (never listed) aside.
func repositoryFiles(_ repo: String, under sub: String) throws -> [String] {
    let base = sub.isEmpty ? repo : repo + "/" + sub
    guard let walk = FileManager.default.enumerator(atPath: base) else { return [] }
    return walk.compactMap { $0 as? String }.map { base + "/" + $0 }.filter { path in
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue && !(path as NSString).lastPathComponent.hasPrefix(".tmp-")
    }
}

func convosync(_ args: [String], password: String = "pw", extraEnv: [String: String] = [:], cwd: String? = nil) async throws -> RunResult {
    var env = ProcessInfo.processInfo.environment
    env["CONVOSYNC_PASSWORD"] = password
    env["CONVOSYNC_SCRYPT_N"] = "1024"
    env.removeValue(forKey: "CONVOSYNC_REPOSITORY")
    for (k, v) in extraEnv { env[k] = v }
    return try await runProgramOffPool(Paths.binary, args, environment: env, cwd: cwd)
}

@Suite("convosync CLI", .serialized)
struct CLITests {
    @Test("init, backup, snapshots --json, ls, diff, stats and restore work end to end")
    func endToEnd() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let repo = dir.path + "/repo", cache = dir.path + "/cache"
        let src = dir.url.appendingPathComponent("src")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        try Data(try generateSession(messages: 100)).write(to: src.appendingPathComponent("s.jsonl"))
        #expect(try await convosync(["init", "-r", repo]).status == 0)
        let b1 = try await convosync(["backup", "-r", repo, "--cache-dir", cache, src.path, "--json"])
        #expect(b1.status == 0, "\(b1.stderr)")
        try Data(try generateSession(messages: 150)).write(to: src.appendingPathComponent("s.jsonl"))
        let b2 = try await convosync(["backup", "-r", repo, "--cache-dir", cache, src.path, "--tag", "t1", "--compression", "zstd:5"])
        #expect(b2.status == 0)
        let list = try await convosync(["snapshots", "-r", repo, "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
        #expect(json?.count == 2)
        let ids = json?.compactMap { $0["id"] as? String } ?? []
        let diff = try await convosync(["diff", "-r", repo, String(ids[0].prefix(8)), "latest"])
        #expect(diff.stdout.contains("100 -> 150 messages"), "\(diff.stdout)")
        #expect(try await convosync(["ls", "-r", repo, "latest"]).stdout.contains("src/s.jsonl"))
        #expect(try await convosync(["stats", "-r", repo, "--json"]).stdout.contains("\"snapshots\" : 2"))
        #expect(try await convosync(["cat", "-r", repo, "config"]).stdout.contains("chunker"))
        let out = dir.path + "/out"
        #expect(try await convosync(["restore", "-r", repo, "latest", "--target", out]).status == 0)
        #expect(FileManager.default.contentsEqual(atPath: out + "/src/s.jsonl", andPath: src.path + "/s.jsonl"))
    }

    @Test("missing repository exits 10, wrong password exits 12, bad usage exits 64")
    func exitCodes() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let missing = try await convosync(["snapshots", "-r", dir.path + "/nothing"])
        #expect(missing.status == 10)
        #expect(missing.stderr.contains("convosync init"))
        #expect(try await convosync(["init", "-r", dir.path + "/r"]).status == 0)
        let wrong = try await convosync(["snapshots", "-r", dir.path + "/r"], password: "wrong")
        #expect(wrong.status == 12)
        #expect(wrong.stderr.split(separator: "\n").count == 1, "one-line error: \(wrong.stderr)")
        #expect(try await convosync(["backup", "-r", dir.path + "/r", "/x", "--compression", "lz4"]).status == 64)
        #expect(try await convosync(["init", "-r", dir.path + "/r"]).status == 1)
        #expect(try await convosync(["restore", "-r", dir.path + "/r", "deadbeef", "--target", dir.path + "/o"]).status == 1)
    }

    @Test("a backup killed midway leaves no partial file and the next backup works")
    func killedBackup() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let repo = dir.path + "/repo"
        let src = dir.url.appendingPathComponent("src")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 42)
        for i in 0..<6 { try Data(rng.bytes(6 << 20)).write(to: src.appendingPathComponent("f\(i).bin")) }
        #expect(try await convosync(["init", "-r", repo]).status == 0)
        let p = Process()
        p.executableURL = Paths.binary
        p.arguments = ["backup", "-r", repo, src.path, "--compression", "gzip:9", "-q"]
        p.environment = ProcessInfo.processInfo.environment.merging(["CONVOSYNC_PASSWORD": "pw"]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Killed once its first pack is stored, so a part of the backup is on disk and the rest
        // is not; the signal (not an exit) shows it was still running.
        // Polled to a deadline from a thread of its own: on the cooperative pool, busy with
        // other suites, a poll could come only after the backup had ended.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                let deadline = Date().addingTimeInterval(60)
                while p.isRunning, Date() < deadline, (try? repositoryFiles(repo, under: "data").isEmpty) != false { usleep(2000) }
                kill(p.processIdentifier, SIGKILL)
                done.resume()
            }.start()
        }
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal, "the backup was killed while it ran")
        #expect(try !repositoryFiles(repo, under: "data").isEmpty)
        // Every file it left is complete: its name is the SHA-256 of its bytes (config and refs
        // are named otherwise; a backup writes no ref).
        for file in try repositoryFiles(repo, under: "") where !file.hasSuffix("/config") && !file.contains("/refs/") {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(ObjectID.hash(Array(bytes)).hex == (file as NSString).lastPathComponent, "\(file) is complete")
        }
        let check = try await convosync(["snapshots", "-r", repo, "--json"])
        #expect(check.status == 0)
        let again = try await convosync(["backup", "-r", repo, src.path, "-q"])
        #expect(again.status == 0, "\(again.stderr)")
        let out = dir.path + "/out"
        #expect(try await convosync(["restore", "-r", repo, "latest", "--target", out]).status == 0)
        for i in 0..<6 {
            #expect(FileManager.default.contentsEqual(atPath: "\(out)/src/f\(i).bin", andPath: src.path + "/f\(i).bin"))
        }
    }

    /// Root ignores permissions, so as root (as CI runs) the command runs as `nobody`.
    @Test("a repository directory the user may not write gives a permission error that names it, and exit status 1")
    func readOnlyRepository() async throws {
        let dir = try TemporaryDirectory()
        let locked = dir.path + "/locked"
        defer { chmod(locked, 0o755); dir.cleanup() }
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: dir.path + "/home", withIntermediateDirectories: false)
        chmod(dir.path, 0o755)
        chmod(dir.path + "/home", 0o777)
        chmod(locked, 0o555)
        let (program, args) = unprivileged(Paths.binary, ["init", "-r", locked + "/repo"])
        var env = ProcessInfo.processInfo.environment
        env.merge(["CONVOSYNC_PASSWORD": "pw", "CONVOSYNC_SCRYPT_N": "1024", "HOME": dir.path + "/home"]) { $1 }
        let result = try await runProgramOffPool(program, args, environment: env)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("permission denied") && result.stderr.contains(locked + "/repo"), "\(result.stderr)")
        #expect(result.stderr.contains("choose a directory you may write"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: locked + "/repo"))
    }

    /// Every "run 'convosync X'" a message or help text gives names a command that exists
    /// (messages once promised 'convosync check', which is not built yet).
    @Test("every command that a message tells the user to run exists")
    func promisedCommandsExist() async throws {
        let help = try await convosync(["--help"])
        let section = help.stdout.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        let commands = Set(section.split(separator: "\n").compactMap { line in line.wholeMatch(of: /\ \ ([a-z][a-z-]*)\s.*/).map { String($0.1) } })
        #expect(commands.isSuperset(of: ["save", "resume", "init", "snapshots"]), "\(help.stdout)")
        let sources = Paths.projectRoot.appendingPathComponent("Sources")
        var promised: [String: String] = [:]
        for case let path as String in FileManager.default.enumerator(atPath: sources.path)! where path.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8)
            for line in text.split(separator: "\n") where line.contains("\"") && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                for match in line.matches(of: /convosync ([a-z][a-z-]*)/) {
                    promised[String(match.1)] = "\(path): \(line.trimmingCharacters(in: .whitespaces).prefix(120))"
                }
            }
        }
        #expect(!promised.isEmpty)
        let english: Set = ["is", "cannot", "can", "has", "needs", "keeps", "stores", "does", "saves", "sees", "server"]
        for (word, place) in promised.sorted(by: { $0.key < $1.key }) where !english.contains(word) {
            #expect(commands.contains(word), "'convosync \(word)' is not a command: \(place)")
        }
    }

    @Test("a damaged snapshot file is skipped with a warning naming it; the listing goes on")
    func damagedSnapshotWarning() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let repo = dir.path + "/repo", src = dir.url.appendingPathComponent("src")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        try Data(try generateSession(messages: 20)).write(to: src.appendingPathComponent("s.jsonl"))
        #expect(try await convosync(["init", "-r", repo]).status == 0)
        for _ in 0..<2 { #expect(try await convosync(["backup", "-r", repo, "--no-cache", src.path]).status == 0) }
        let names = try FileManager.default.contentsOfDirectory(atPath: repo + "/snapshots").sorted()
        try #require(names.count == 2)
        try Data("damaged".utf8).write(to: URL(fileURLWithPath: repo + "/snapshots/" + names[0]))
        let listed = try await convosync(["snapshots", "-r", repo, "--no-cache"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("1 snapshots"), "\(listed.stdout)")
        #expect(listed.stderr.contains("warning: skipped a damaged file: snapshots/\(names[0])"), "\(listed.stderr)")
    }
}
