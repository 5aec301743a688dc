public import ConvoSync
public import ConvoSyncFormat
public import ConvoSyncSessions
public import ConvoSyncStorage
public import Foundation

/// Two devices sharing one bare git remote and one repository directory, each with its own
/// HOME (so its own ~/.claude, ~/.codex and device state) and its own checkout path.
public final class TwoDevices: @unchecked Sendable {
    public let temp: TemporaryDirectory
    public let remote: String
    public let repository: Repository
    public let a: Device
    public let b: Device

    public struct Device {
        public var name: String
        public var home: String
        public var checkout: String
        public var environment: [String: String]
        public var git: Git { Git(root: checkout) }
        public var claudeProjects: String { (home as NSString).appendingPathComponent(".claude/projects") }
    }

    /// The main real Claude session (with two subagent files) and its recorded root.
    public static let claudeFile = "marot__spotter__test__fixtures__transcripts__4d5611e5-241a-462a-8d15-5122611a9569.jsonl"
    public static let claudeID = "4d5611e5-241a-462a-8d15-5122611a9569"
    public static let claudeRoot = "/home/USER/projects/spotter-worktrees/spotter-dov"
    public static let subagents = [
        "agent-a2898e3.jsonl": "marot__spotter__test__fixtures__transcripts__4d5611e5-241a-462a-8d15-5122611a9569__subagents__agent-a2898e3.jsonl",
        "agent-acompact-e1f845.jsonl": "marot__spotter__test__fixtures__transcripts__4d5611e5-241a-462a-8d15-5122611a9569__subagents__agent-acompact-e1f845.jsonl",
    ]

    public init(checkoutB: String = "work/b-checkout", backend: (any Backend)? = nil) async throws {
        temp = try TemporaryDirectory()
        let root = temp.path
        remote = root + "/remote.git"
        try Self.sh(["git", "init", "--quiet", "--bare", "--initial-branch=main", remote], in: root)
        a = try Self.device("laptop", root: root, checkout: "src/project")
        b = try Self.device("phone", root: root, checkout: checkoutB)
        // Device A owns the project: first commit, pushed with an upstream.
        try FileManager.default.createDirectory(atPath: a.checkout, withIntermediateDirectories: true)
        try Self.sh(["git", "init", "--quiet", "--initial-branch=main"], in: a.checkout)
        try Self.configure(a.checkout, name: "A")
        try "hello\n".write(toFile: a.checkout + "/README.md", atomically: true, encoding: .utf8)
        try Self.sh(["git", "add", "-A"], in: a.checkout)
        try Self.sh(["git", "commit", "--quiet", "-m", "first"], in: a.checkout)
        try Self.sh(["git", "remote", "add", "origin", remote], in: a.checkout)
        try Self.sh(["git", "push", "--quiet", "-u", "origin", "main"], in: a.checkout)
        // Device B clones it.
        try FileManager.default.createDirectory(atPath: (b.checkout as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Self.sh(["git", "clone", "--quiet", remote, b.checkout], in: root)
        try Self.configure(b.checkout, name: "B")
        repository = try await Repository.initialize(backend: backend ?? LocalBackend(path: root + "/repo"), password: "pw", kdf: .insecureTesting)
    }

    deinit { temp.cleanup() }

    /// A third device: a fresh clone of the remote at `third`, with its own HOME, otherwise
    /// like B (B's git identity and environment).
    public func thirdDevice() throws -> Device {
        var c = b
        c.name = "third"
        c.checkout = temp.path + "/third"
        try Self.sh(["git", "clone", "--quiet", remote, c.checkout], in: temp.path)
        c.home = temp.path + "/home-third"
        c.environment["HOME"] = c.home
        return c
    }

    static func device(_ name: String, root: String, checkout: String) throws -> Device {
        let home = root + "/home-\(name)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let env = ["HOME": home, "CONVOSYNC_DEVICE": name, "SHELL": "/bin/bash", "LANG": "C.UTF-8"]
        return Device(name: name, home: home, checkout: root + "/" + checkout, environment: env)
    }

    public static func configure(_ dir: String, name: String) throws {
        try sh(["git", "config", "user.email", "\(name)@example.com"], in: dir)
        try sh(["git", "config", "user.name", name], in: dir)
    }

    @discardableResult
    public static func sh(_ args: [String], in dir: String) throws -> String {
        let result = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), args, cwd: dir)
        guard result.status == 0 else { throw TestFailure("\(args.joined(separator: " ")) failed with \(result.status)") }
        return result.stdout
    }

    /// Real corpus lines `lines` of `file`, with `originalRoot` mapped to `root`.
    public static func corpus(_ file: String, lines: Range<Int>? = nil, originalRoot: String, root: String) throws -> [UInt8] {
        let bytes = Array(try Data(contentsOf: Paths.realCorpus.appendingPathComponent(file)))
        var selected = bytes
        if let lines {
            let all = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            selected = Array(all[lines.clamped(to: 0..<all.count)].map { Array($0) + [UInt8(ascii: "\n")] }.joined())
        }
        return PathRemap(from: originalRoot, to: root).apply(selected)
    }

    /// Places the real Claude session (first `lines` messages) in device A's ~/.claude, as if
    /// Claude Code had been started in A's checkout.
    public func placeClaudeSession(on device: Device, lines: Range<Int>, subagents: Bool = true) throws -> String {
        let dir = device.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: device.checkout)
        try FileManager.default.createDirectory(atPath: dir + "/\(Self.claudeID)/subagents", withIntermediateDirectories: true)
        let path = dir + "/\(Self.claudeID).jsonl"
        try Data(try Self.corpus(Self.claudeFile, lines: lines, originalRoot: Self.claudeRoot, root: device.checkout)).write(to: URL(fileURLWithPath: path))
        if subagents {
            for (name, file) in Self.subagents {
                try Data(try Self.corpus(file, originalRoot: Self.claudeRoot, root: device.checkout))
                    .write(to: URL(fileURLWithPath: dir + "/\(Self.claudeID)/subagents/\(name)"))
            }
        }
        return path
    }

    /// Appends corpus lines to a device's transcript.
    public func append(lines: Range<Int>, to path: String, on device: Device) throws {
        try append(raw: try Self.corpus(Self.claudeFile, lines: lines, originalRoot: Self.claudeRoot, root: device.checkout), to: path)
    }

    public func append(raw: [UInt8], to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(raw))
        try handle.close()
    }

    public func save(_ device: Device, _ message: String = "", into repo: Repository? = nil, configure: (inout SaveOptions) -> Void = { _ in }) async throws -> SaveResult {
        var options = SaveOptions(directory: device.checkout, message: message, environment: device.environment)
        configure(&options)
        return try await SessionSaver(repository: repo ?? repository, options: options).run()
    }

    public func state(_ device: Device) -> String { DeviceState.directory(environment: device.environment) }

    public func resume(
        _ device: Device, session: String? = nil, force: Bool = false, from repo: Repository? = nil, configure: (inout ResumeOptions) -> Void = { _ in }
    ) async throws -> ResumeResult {
        var options = ResumeOptions(directory: device.checkout, environment: device.environment)
        options.session = session
        options.force = force
        configure(&options)
        return try await SessionResumer(repository: repo ?? repository, options: options).run()
    }

    public func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

