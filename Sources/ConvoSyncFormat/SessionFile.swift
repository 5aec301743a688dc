public import Foundation

public enum SessionTag {}
/// A session file's ID: SHA-256 of its stored bytes.
public typealias SessionID = ID<SessionTag>

/// One `convosync save`: code state, conversation snapshot and terminal state, linked.
///
/// Implements Format/SPEC.md §Sessions. Stored encrypted under `sessions/`; a session becomes
/// visible only when a ref points at it (§Refs), so a save stopped half-way shows nothing.
public struct SessionFile: NamedByHash, Hashable {
    public static let fileType = FileType.session
    public static let context = EnvelopeContext.session
    public typealias Tag = SessionTag
    public static let currentVersion = FormatVersion.current

    public enum Agent: String, Codable, Hashable, Sendable, CaseIterable {
        case claude, codex
    }

    public struct Code: Codable, Hashable, Sendable {
        /// The remote's URL with any user name, password or token removed.
        public var remote: String?
        /// The remote URL normalised (`host/owner/repo`), which matches clones over ssh and https.
        public var repository: String?
        public var branch: String?
        /// The branch's upstream on the remote (`branch.<branch>.merge` without `refs/heads/`),
        /// when it has one: where the save pushed, and what resume fetches.
        public var upstream: String?
        public var commit: String
        /// Whether the working tree had uncommitted changes when the session was saved.
        public var dirty: Bool
        /// Whether the snapshot carries the uncommitted changes (`wip/changes.patch`, a
        /// `git diff --binary` against `commit`, and `wip/untracked/`), i.e. saved with `--wip`.
        public var wip: Bool

        public init(remote: String?, repository: String?, branch: String?, upstream: String? = nil, commit: String, dirty: Bool, wip: Bool) {
            (self.remote, self.repository, self.branch, self.upstream, self.commit, self.dirty, self.wip) = (remote, repository, branch, upstream, commit, dirty, wip)
        }
    }

    public struct Conversation: Codable, Hashable, Sendable {
        public var agent: Agent
        public var agentVersion: String?
        /// The agent's own session id (`claude --resume <id>`).
        public var sessionID: String
        /// Where the transcript lives under the agent's directory, relative to its session root:
        /// Claude `<id>.jsonl`; Codex `YYYY/MM/DD/rollout-….jsonl`.
        public var transcript: String
        /// The snapshot holding the transcript (and subagent files, and the WIP changes).
        public var snapshot: SnapshotID
        public var messageCount: Int
        /// The transcript's length in bytes, as stored.
        public var size: Int
        /// SHA-256 (hex) of the transcript as stored, i.e. with paths under `root`.
        public var sha256: String
        /// The repository root the stored transcript's paths are written under. Every device
        /// maps it to its own checkout when it writes the transcript out.
        public var root: String
        /// The messages this save added: [start, end).
        public var added: [Int]
        /// The agent's own directory (Claude Code's `~/.claude`, Codex's `~/.codex`) as the
        /// stored transcript names it: that of the device of the conversation's first save.
        /// Every device maps it to its own, like `root`. Absent in sessions saved before
        /// 2026-12, whose transcripts keep the saving device's agent paths.
        public var agentDirectory: String?

        public init(agent: Agent, agentVersion: String?, sessionID: String, transcript: String, snapshot: SnapshotID,
                    messageCount: Int, size: Int, sha256: String, root: String, added: [Int], agentDirectory: String? = nil) {
            self.agentDirectory = agentDirectory
            self.agent = agent
            self.agentVersion = agentVersion
            self.sessionID = sessionID
            self.transcript = transcript
            self.snapshot = snapshot
            self.messageCount = messageCount
            self.size = size
            self.sha256 = sha256
            self.root = root
            self.added = added
        }
    }

    public struct Terminal: Codable, Hashable, Sendable {
        /// The working directory relative to the repository root ("" for the root).
        public var cwd: String
        public var shell: String?
        /// Allow-listed environment variables (never anything that looks like a secret).
        public var environment: [String: String]

        public init(cwd: String, shell: String?, environment: [String: String]) {
            (self.cwd, self.shell, self.environment) = (cwd, shell, environment)
        }
    }

    public var version: Int
    public var time: Date
    public var host: String
    public var username: String
    public var message: String
    /// The conversation's main ref. A save that conflicted is kept under a fork ref derived
    /// from this one and the session's own ID (§Refs), so it cannot be named in here.
    public var ref: String
    /// The session this one continues, if any.
    public var parent: SessionID?
    public var code: Code
    public var conversation: Conversation
    public var terminal: Terminal

    public init(time: Date, host: String, username: String, message: String, ref: String, parent: SessionID?,
                code: Code, conversation: Conversation, terminal: Terminal) {
        version = Self.currentVersion
        self.time = time
        self.host = host
        self.username = username
        self.message = message
        self.ref = ref
        self.parent = parent
        self.code = code
        self.conversation = conversation
        self.terminal = terminal
    }
}

extension SessionFile {
    /// Readers refuse a version other than this build's (Format/SPEC.md §15, §19).
    public func checkVersion() throws(FormatError) {
        guard version == Self.currentVersion else { throw Self.unsupported(version, current: Self.currentVersion) }
    }
}
