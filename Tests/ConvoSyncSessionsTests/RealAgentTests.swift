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
    static let script: [String: [AnthropicStandIn.Step]] = [
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
    static func claude(_ args: [String], on device: TwoDevices.Device, api: AnthropicStandIn) async throws -> Turn {
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
    static func continuedOnB() async throws -> (d: TwoDevices, api: AnthropicStandIn, id: String, onA: [UInt8], onB: String, requestsFromB: [String]) {
        let d = try await TwoDevices()
        let api = try AnthropicStandIn(script: script)
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
