import ConvoSync
public import ConvoSyncFormat
public import Foundation

/// Where the agents keep their transcripts on this device, and how to find the one for a
/// working tree.
public struct AgentHomes: Sendable {
    /// Claude Code's config directory (`$CLAUDE_CONFIG_DIR`, else `~/.claude`).
    public var claude: String
    /// Codex's home (`$CODEX_HOME`, else `~/.codex`).
    public var codex: String

    public init(claude: String, codex: String) { (self.claude, self.codex) = (claude, codex) }

    public init(environment: [String: String]) {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        claude = environment["CLAUDE_CONFIG_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? (home as NSString).appendingPathComponent(".claude")
        codex = environment["CODEX_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (home as NSString).appendingPathComponent(".codex")
    }

    public var claudeProjects: String { (claude as NSString).appendingPathComponent("projects") }
    public var codexSessions: String { (codex as NSString).appendingPathComponent("sessions") }
}

/// One agent session found on disk.
public struct AgentSession: Sendable, Hashable {
    public var agent: SessionFile.Agent
    /// The agent's session id.
    public var id: String
    /// The transcript file.
    public var transcript: String
    /// Claude Code's `<id>/` folder next to the transcript (subagents, tool results), if any.
    public var companion: String?
    /// The transcript's location under the agent's session root (see ``SessionFile/Conversation/transcript``).
    public var relativePath: String
    /// The first `cwd` the transcript records: where the agent was started.
    public var cwd: String
    public var agentVersion: String?
    public var modified: Date
}

/// Claude Code's and Codex's on-disk conventions.
public enum AgentLayout {
    /// Claude Code's project folder name for a working directory: every UTF-16 code unit that
    /// is not an ASCII letter or digit becomes `-`; names over 200 characters keep their first
    /// 200 and gain `-` plus a hash of the path (32-bit `h = h·31 + unit`, base 36 of |h|).
    public static func claudeProjectFolder(for path: String) -> String {
        let units = Array(path.utf16)
        var folded = String()
        folded.reserveCapacity(units.count)
        for u in units {
            let isAlnum = (48...57).contains(u) || (65...90).contains(u) || (97...122).contains(u)
            folded.append(isAlnum ? Character(Unicode.Scalar(UInt8(u))) : "-")
        }
        guard folded.count > 200 else { return folded }
        var h: Int32 = 0
        for u in units { h = (h &<< 5) &- h &+ Int32(u) }
        let magnitude = UInt32(h == Int32.min ? 2_147_483_648 : Int64(abs(Int64(h))))
        return String(folded.prefix(200)) + "-" + String(magnitude, radix: 36)
    }

    /// The folder Claude Code uses for `path` under `projects`: an existing folder that matches
    /// the first 200 characters (Claude builds that hash their own way) wins over the computed name.
    public static func claudeProjectDirectory(for path: String, projects: String) -> String {
        let name = claudeProjectFolder(for: path)
        if name.count > 200 {
            let prefix = String(name.prefix(201))
            let existing = ((try? FileManager.default.contentsOfDirectory(atPath: projects)) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
            if let first = existing.first { return (projects as NSString).appendingPathComponent(first) }
        }
        return (projects as NSString).appendingPathComponent(name)
    }

    /// Finds the newest session whose recorded `cwd` is `root` or below it.
    public static func find(root: String, homes: AgentHomes, agent: SessionFile.Agent?, id: String?) throws -> AgentSession {
        var found: [AgentSession] = []
        if agent != .codex { found += claudeSessions(homes: homes) }
        if agent != .claude { found += codexSessions(homes: homes) }
        let matching = found.filter { s in
            if let id { return s.id == id || s.id.hasPrefix(id) }
            return s.cwd == root || s.cwd.hasPrefix(root.hasSuffix("/") ? root : root + "/")
        }
        guard let newest = matching.max(by: { $0.modified < $1.modified }) else {
            let which = agent.map { "\($0.rawValue) " } ?? "Claude Code or Codex "
            if let id { throw ConvoSyncError(.notFound, "no \(which)session with id \(id) under \(homes.claudeProjects) or \(homes.codexSessions)") }
            throw ConvoSyncError(.notFound, "no \(which)session was started in \(root) (looked in \(homes.claudeProjects) and \(homes.codexSessions)); pass --session ID or --file PATH")
        }
        return newest
    }

    /// Reads a transcript given by path, deciding the agent from its content.
    public static func session(file path: String, homes: AgentHomes) throws -> AgentSession {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        guard let info = peek(url.path) else {
            throw ConvoSyncError(.invalidArgument, "\(path) is not a Claude Code or Codex transcript (no line with a cwd)")
        }
        let name = url.lastPathComponent
        let isCodex = info.codexID != nil
        let id = info.codexID ?? info.sessionID ?? String(name.dropLast(name.hasSuffix(".jsonl") ? 6 : 0))
        let companion = url.deletingPathExtension().path
        var relative = name
        if isCodex, url.path.hasPrefix(homes.codexSessions + "/") { relative = String(url.path.dropFirst(homes.codexSessions.count + 1)) }
        return AgentSession(
            agent: isCodex ? .codex : .claude, id: isCodex ? id : String(name.dropLast(name.hasSuffix(".jsonl") ? 6 : 0)),
            transcript: url.path, companion: !isCodex && isDirectory(companion) ? companion : nil,
            relativePath: relative, cwd: info.cwd, agentVersion: info.version, modified: modified(url.path))
    }

    static func claudeSessions(homes: AgentHomes) -> [AgentSession] {
        let fm = FileManager.default
        var out: [AgentSession] = []
        for project in (try? fm.contentsOfDirectory(atPath: homes.claudeProjects)) ?? [] {
            let dir = (homes.claudeProjects as NSString).appendingPathComponent(project)
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasSuffix(".jsonl") {
                let path = (dir as NSString).appendingPathComponent(name)
                guard let info = peek(path) else { continue }
                let id = String(name.dropLast(6))
                let companion = (dir as NSString).appendingPathComponent(id)
                out.append(AgentSession(
                    agent: .claude, id: id, transcript: path, companion: isDirectory(companion) ? companion : nil,
                    relativePath: name, cwd: info.cwd, agentVersion: info.version, modified: modified(path)))
            }
        }
        return out
    }

    static func codexSessions(homes: AgentHomes) -> [AgentSession] {
        let base = homes.codexSessions
        guard let walker = FileManager.default.enumerator(atPath: base) else { return [] }
        var out: [AgentSession] = []
        while let rel = walker.nextObject() as? String {
            let name = (rel as NSString).lastPathComponent
            guard name.hasPrefix("rollout-"), name.hasSuffix(".jsonl") else { continue }
            let path = (base as NSString).appendingPathComponent(rel)
            guard let info = peek(path), let id = info.codexID else { continue }
            out.append(AgentSession(
                agent: .codex, id: id, transcript: path, companion: nil, relativePath: rel,
                cwd: info.cwd, agentVersion: info.version, modified: modified(path)))
        }
        return out
    }

    struct Peek {
        var cwd: String
        var version: String?
        var sessionID: String?
        var codexID: String?
    }

    /// The first cwd, agent version and session id in a transcript (reads at most 64 lines).
    static func peek(_ path: String) -> Peek? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        // Read only as far as the first 64 lines reach (at most 4 MiB), not the whole file.
        var head = Data()
        var newlines = 0
        while newlines < 64, head.count < 4 << 20, let chunk = try? handle.read(upToCount: 64 << 10), !chunk.isEmpty {
            newlines += chunk.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            head.append(chunk)
        }
        var lines = 0
        for line in head.split(separator: UInt8(ascii: "\n"), maxSplits: 64, omittingEmptySubsequences: true) {
            lines += 1
            if lines > 64 { break }
            guard let object = try? JSONDecoder().decode(HeadLine.self, from: Data(line)) else { continue }
            if object.type == "session_meta", let payload = object.payload, let cwd = payload.cwd {
                return Peek(cwd: cwd, version: payload.cli_version, sessionID: nil, codexID: payload.id)
            }
            if let cwd = object.cwd, cwd.hasPrefix("/") {
                return Peek(cwd: cwd, version: object.version, sessionID: object.sessionId, codexID: nil)
            }
        }
        return nil
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    static func modified(_ path: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }
}

/// The fields of a transcript's first lines that tell where and by what it was written: a
/// Claude Code line (`cwd`, `version`, `sessionId`) or Codex's `session_meta` (`payload`).
/// Every other field is ignored, and a line of another shape decodes to nothing useful.
private struct HeadLine: Decodable {
    struct Payload: Decodable {
        var cwd: String?
        var cli_version: String?
        var id: String?

        enum CodingKeys: String, CodingKey { case cwd, cli_version, id }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            cwd = try? c.decode(String.self, forKey: .cwd)
            cli_version = try? c.decode(String.self, forKey: .cli_version)
            id = try? c.decode(String.self, forKey: .id)
        }
    }

    var type: String?
    var payload: Payload?
    var cwd: String?
    var version: String?
    var sessionId: String?

    enum CodingKeys: String, CodingKey { case type, payload, cwd, version, sessionId }

    /// Field by field: a field of another type is absent, not a reason to skip the line.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try? c.decode(String.self, forKey: .type)
        payload = try? c.decode(Payload.self, forKey: .payload)
        cwd = try? c.decode(String.self, forKey: .cwd)
        version = try? c.decode(String.self, forKey: .version)
        sessionId = try? c.decode(String.self, forKey: .sessionId)
    }
}
