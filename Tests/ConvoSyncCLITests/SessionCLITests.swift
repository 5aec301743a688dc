import ConvoSync
import ConvoSyncSessions
import ConvoSyncStorage
import ConvoSyncTestSupport
import Foundation
import Testing

@Suite("convosync save/resume CLI", .serialized)
struct SessionCLITests {
    @Test("save, resume, sessions, push, backup --agents and install-hook through the binary, with their exit codes")
    func sessionCommands() async throws {
        let d = try await TwoDevices()
        let repo = d.repository.backend.location
        func run(_ device: TwoDevices.Device, _ args: [String]) async throws -> RunResult {
            try await convosync(args + ["-r", repo], extraEnv: device.environment, cwd: device.checkout)
        }
        func json(_ r: RunResult) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
        }
        let aPath = try d.placeClaudeSession(on: d.a, lines: 0..<100, subagents: false)
        try "x\n".write(toFile: d.a.checkout + "/x.txt", atomically: true, encoding: .utf8)

        let saved = try await run(d.a, ["save", "first save"])
        #expect(saved.status == 0, "\(saved.stderr)")
        for line in ["✓ Code: git add, commit, push", "✓ Conversation:", "✓ Linked: commit", "✓ Uploaded:"] {
            #expect(saved.stdout.contains(line), "\(saved.stdout)")
        }
        // Resume onto a dirty tree: exit 20, nothing changed.
        try "dirty\n".write(toFile: d.b.checkout + "/README.md", atomically: true, encoding: .utf8)
        let refused = try await run(d.b, ["resume"])
        #expect(refused.status == 20, "\(refused.stderr)")
        #expect(refused.stderr.contains("git stash -u"))
        #expect(!FileManager.default.fileExists(atPath: d.b.checkout + "/x.txt"))
        try TwoDevices.sh(["git", "checkout", "--", "README.md"], in: d.b.checkout)

        let resumed = try await run(d.b, ["resume", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let bPath = try #require(json(resumed)["transcript"] as? String)
        #expect((json(resumed)["next"] as? String)?.contains("claude --resume \(TwoDevices.claudeID)") == true)
        let listed = try await run(d.b, ["sessions", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [Any])?.count == 1)

        // Both continue from message 100; the second save becomes a fork: exit 21, both heads named.
        try d.append(lines: 100..<110, to: aPath, on: d.a)
        try d.append(lines: 200..<205, to: bPath, on: d.b)
        #expect(try await run(d.b, ["save", "phone"]).status == 0)
        let forked = try await run(d.a, ["save", "laptop"])
        #expect(forked.status == 21)
        #expect(forked.stderr.contains("kept as a fork") && forked.stderr.contains("convosync resume"), "\(forked.stderr)")

        // No upstream: exit 22 with the command to run.
        try TwoDevices.sh(["git", "checkout", "--quiet", "-b", "topic"], in: d.a.checkout)
        let noUpstream = try await run(d.a, ["save", "topic"])
        #expect(noUpstream.status == 22)
        #expect(noUpstream.stderr.contains("git push -u origin topic"), "\(noUpstream.stderr)")

        // Offline: the repository is gone; save queues to the outbox, push uploads it.
        try FileManager.default.moveItem(atPath: repo, toPath: repo + "-away")
        let offline = try await run(d.a, ["save", "on the train", "--no-push", "--json"])
        #expect(offline.status == 0 || offline.status == 21, "\(offline.stderr)")
        #expect(json(offline)["offline"] as? Bool == true)
        #expect(try await run(d.b, ["sessions"]).status == 10, "a device that never opened it cannot work offline")
        try FileManager.default.moveItem(atPath: repo + "-away", toPath: repo)
        let pushed = try await run(d.a, ["push", "--json"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect((json(pushed)["sessions"] as? [String])?.count == 1)
        #expect(try await run(d.a, ["push", "--json"]).stdout.contains("\"files\" : 0"))

        // Capture every agent session on the device, and the hook that keeps doing it.
        let agents = try await run(d.a, ["backup", "--agents", "--json"])
        #expect(agents.status == 0, "\(agents.stderr)")
        let settings = d.a.home + "/.claude/settings.json"
        try #"{"theme": "dark", "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo hi"}]}]}}"#.write(toFile: settings, atomically: true, encoding: .utf8)
        for _ in 0..<2 {
            #expect(try await run(d.a, ["install-hook", "--password-file", d.temp.path + "/pw"]).status == 0)
        }
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: settings))) as? [String: Any])
        #expect(parsed["theme"] as? String == "dark")
        let hooks = try #require(parsed["hooks"] as? [String: Any])
        #expect((hooks["Stop"] as? [Any])?.count == 1)
        for event in ClaudeHook.events {
            let groups = try #require(hooks[event] as? [[String: Any]])
            #expect(groups.count == 1, "installed once in \(event)")
            let command = (groups[0]["hooks"] as? [[String: Any]])?.first?["command"] as? String ?? ""
            #expect(command.contains("backup --agents --quiet -r \(repo)") && command.contains("--password-file"))
            #expect(!command.contains("pw\""), "no password in settings")
        }
    }
}
