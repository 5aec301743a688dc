public import ConvoSync
public import ConvoSyncFormat
import ConvoSyncStorage
import Crypto
public import Foundation

public struct SaveOptions: Sendable {
    /// Where `convosync save` runs: inside the project's working tree.
    public var directory: String
    public var message: String
    public var agent: SessionFile.Agent?
    /// The agent's session id (or a prefix of it) instead of the newest session for the tree.
    public var sessionID: String?
    /// A transcript file instead of looking one up.
    public var file: String?
    /// Commit changes (`git add -A` + commit) before saving.
    public var commit = true
    /// Push the branch to its upstream.
    public var push = true
    /// Store uncommitted changes inside the session instead of committing them.
    public var wip = false
    public var homes: AgentHomes
    public var environment: [String: String]
    public var stateDirectory: String
    public var host: String = Identity.host
    public var compression: Compression = .default
    /// Called with the session this save continues (if any) before anything is read for it:
    /// over the session API, it makes sure the device's mirror holds that session's files.
    public var prepare: (@Sendable (String) async throws -> Void)?

    public init(directory: String, message: String, environment: [String: String]) {
        self.directory = directory
        self.message = message
        self.environment = environment
        homes = AgentHomes(environment: environment)
        stateDirectory = DeviceState.directory(environment: environment)
        if let device = environment["CONVOSYNC_DEVICE"], !device.isEmpty { host = device }
    }
}

public struct SaveResult: Sendable, Codable {
    public struct Fork: Sendable, Codable {
        /// The head another device saved, which this save did not overwrite.
        public var currentSession: String
        public var currentHost: String
        public var currentTime: Date
        public var currentMessages: Int
        /// The fork ref this save is kept under.
        public var forkRef: String
    }

    public var session: String
    public var ref: String
    public var version: Int
    public var commit: String
    public var branch: String?
    public var committed: Bool
    public var pushed: Bool
    public var wip: Bool
    public var agent: SessionFile.Agent
    public var agentSession: String
    public var messages: Int
    public var added: [Int]
    public var transcriptBytes: Int
    public var bytesAdded: Int
    public var fork: Fork?
}

/// `convosync save`: commit and push the code, store the conversation's new messages, and
/// link them in a session record that a ref points at.
///
/// Write order (Format/SPEC.md §Sessions): packs, index, snapshot, session file, and last the
/// ref. Until the ref moves, nothing of the save is visible to `resume` or `sessions`.
public struct SessionSaver {
    let repository: Repository
    let options: SaveOptions

    public init(repository: Repository, options: SaveOptions) {
        self.repository = repository
        self.options = options
    }

    /// Environment variables a session may record; names that look like secrets never pass.
    public static let environmentAllowlist = ["SHELL", "TERM", "TERM_PROGRAM", "COLORTERM", "LANG", "LC_ALL", "LC_CTYPE", "EDITOR", "VISUAL", "PAGER", "TZ", "VIRTUAL_ENV", "NODE_ENV"]

    public static func isSecretLooking(_ name: String) -> Bool {
        let upper = name.uppercased()
        return ["TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE", "SESSION"].contains { upper.contains($0) }
    }

    public static func recordedEnvironment(_ environment: [String: String]) -> [String: String] {
        var out: [String: String] = [:]
        for name in environmentAllowlist where !isSecretLooking(name) {
            if let value = environment[name] { out[name] = value }
        }
        return out
    }

    public func run() async throws -> SaveResult {
        let git = try Git.repository(containing: options.directory)
        let root = git.root
        let agentSession = try options.file.map { try AgentLayout.session(file: $0, homes: options.homes) }
            ?? AgentLayout.find(root: root, homes: options.homes, agent: options.agent, id: options.sessionID)

        // Code first: a session must never name a commit the other device cannot fetch.
        let status = try git.status()
        let branch = git.branch
        let remoteName = branch.flatMap { git.value("config", "branch.\($0).remote") } ?? "origin"
        // The upstream's name on the remote, which need not be the local branch's (`master`
        // tracking `origin/main`).
        let upstream = branch.flatMap { git.value("config", "branch.\($0).merge") }.map { $0.hasPrefix("refs/heads/") ? String($0.dropFirst(11)) : $0 }
        if options.push {
            // Checked before committing, so a save that cannot push changes nothing.
            guard let branch else {
                throw ConvoSyncError(.git, "HEAD is detached, so there is no branch to push; run `git switch -c NAME` first, or save with --no-push")
            }
            guard git.value("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}") != nil else {
                throw ConvoSyncError(.git, "branch \(branch) has no upstream to push to; run `git push -u \(remoteName) \(branch)` once, or save with --no-push")
            }
        }
        var committed = false
        if !options.wip, options.commit, !status.isEmpty {
            try git.run(["add", "-A"])
            let message = options.message.isEmpty ? "convosync save \(ISO8601DateFormatter().string(from: Date()))" : options.message
            try git.run(["commit", "--quiet", "--no-verify", "-m", message], what: "git commit")
            committed = true
        }
        let commit = try git.head()
        var pushed = false
        if options.push, let branch {
            if git.value("rev-list", "--count", "@{upstream}..HEAD") != "0" {
                do { try git.run(["push", "--quiet", remoteName, "HEAD:refs/heads/\(upstream ?? branch)"], what: "git push") } catch let error as ConvoSyncError {
                    throw ConvoSyncError(.git, "\(error.message)\nthe session was not saved; run `git pull --rebase` and save again, or save with --no-push")
                }
                pushed = true
            }
        }
        let remoteURL = git.value("remote", "get-url", remoteName)

        // Conversation: stage the files with paths under the conversation's root, back them up.
        let ref = Refs.conversation(agentSession.agent, id: agentSession.id, key: repository.key)
        var state = try DeviceState.load(repositoryID: repository.config.id, directory: options.stateDirectory)
        let line = state.lines[ref] ?? ref
        let head = try await refHead(line)
        let headSession = try await session(head)
        let known = state.refs[line]
        let basisID = known.map(\.target) ?? head?.target
        if let basisID, let prepare = options.prepare {
            try await prepare(basisID)
            await repository.reloadIndex()
        }
        let basis: SessionFile? = if let basisID, basisID == head?.target { headSession } else if let basisID {
            try? await repository.load(SessionFile.self, id: try SessionID(hex: basisID))
        } else { nil }
        let canonicalRoot = basis?.conversation.root ?? headSession?.conversation.root ?? root
        // The agent's directory the stored transcript names: fixed by the conversation's first
        // save, like the root; none for conversations begun before sessions recorded it.
        let localAgentDirectory = agentSession.agent == .claude ? options.homes.claude : options.homes.codex
        let earlier = basis ?? headSession
        let canonicalAgentDirectory = earlier.map { $0.conversation.agentDirectory } ?? localAgentDirectory
        let launch = Self.relative(agentSession.cwd, to: root)
        let remap = PathRemap(
            agent: agentSession.agent, from: .init(root: root, launch: launch, agentDirectory: localAgentDirectory),
            to: .init(root: canonicalRoot, launch: launch, agentDirectory: canonicalAgentDirectory))

        let stage = try ScratchDirectory(prefix: "save")
        // The snapshot's top level: the transcript, Claude's `<id>/` folder if any, and `wip/`.
        let staged = try stageConversation(agentSession, remap: remap, into: stage.path("session"))
        var names = [(agentSession.transcript as NSString).lastPathComponent]
        if let companion = agentSession.companion { names.append((companion as NSString).lastPathComponent) }
        // Claude Code's project memory (`<project folder>/memory/`) travels with the session.
        let memory = ((agentSession.transcript as NSString).deletingLastPathComponent as NSString).appendingPathComponent("memory")
        var memoryHashes: [String: String] = [:]
        if agentSession.agent == .claude, AgentLayout.isDirectory(memory), !((try? FileManager.default.contentsOfDirectory(atPath: memory)) ?? []).isEmpty {
            try copyTree(memory, to: stage.path("session") + "/memory", remap: remap)
            names.append("memory")
            memoryHashes = try Self.fileHashes(under: memory)
        }
        var paths = names.map { (stage.path("session") as NSString).appendingPathComponent($0) }
        if options.wip {
            try stageWIP(git: git, into: stage.path("wip"))
            paths.append(stage.path("wip"))
            names.append("wip")
        }
        var backupOptions = BackupOptions(paths: paths)
        backupOptions.recordedPaths = names
        backupOptions.parent = basis?.conversation.snapshot
        backupOptions.host = options.host
        backupOptions.tags = ["session"]
        backupOptions.compression = options.compression
        let backup = try await Backup(repository: repository, options: backupOptions).run()

        // What this session reuses: destinations that keep manifests (the session API) answer
        // a later resume of it in one response from these and its parent's.
        var reused: Set<Handle> = []
        if repository.destination.keepsLineage {
            let index = try await repository.masterIndex()
            for blob in backup.reusedBlobs {
                guard let location = index.location(of: blob) else { continue }
                reused.insert(Handle(.pack, id: location.pack))
                if let file = index.indexFile(of: location.pack) { reused.insert(Handle(.index, id: file)) }
            }
        }
        let reusedFiles = reused.sorted { $0.manifestName < $1.manifestName }

        // The session record names its parent: the session the ref moves from. `added` starts
        // after the parent's messages when the parent is a prefix of this transcript; a last
        // message the parent held without its newline was completed since, so it counts as new.
        let prefix = { (s: SessionFile?) in s.map { staged.hasPrefix($0.conversation) } ?? false }
        func record(parent id: String?, _ parent: SessionFile?) -> SessionFile {
            var start = 0
            if let parent, staged.hasPrefix(parent.conversation) {
                let partial = parent.conversation.size > 0 && staged.bytes[parent.conversation.size - 1] != UInt8(ascii: "\n")
                start = parent.conversation.messageCount - (partial ? 1 : 0)
            }
            return SessionFile(
                time: Date(), host: options.host, username: Identity.username, message: options.message, ref: ref,
                parent: id.flatMap { try? SessionID(hex: $0) },
                code: .init(remote: remoteURL.map(RemoteURL.stripCredentials), repository: remoteURL.map(RemoteURL.normalize),
                            branch: branch, upstream: upstream, commit: commit, dirty: !status.isEmpty && (options.wip || !options.commit), wip: options.wip),
                conversation: .init(
                    agent: agentSession.agent, agentVersion: agentSession.agentVersion, sessionID: agentSession.id,
                    transcript: agentSession.relativePath, snapshot: backup.snapshotID, messageCount: staged.messages,
                    size: staged.bytes.count, sha256: staged.sha256, root: canonicalRoot, added: [min(start, staged.messages), staged.messages],
                    agentDirectory: canonicalAgentDirectory),
                terminal: .init(cwd: launch ?? "", shell: options.environment["SHELL"], environment: Self.recordedEnvironment(options.environment)))
        }

        // The commit point: move the ref from the version this device knows, or past a head
        // whose transcript is a prefix of this one (nothing of it is lost), which then becomes
        // the parent.
        var update = RefUpdate(ref: line, expected: known?.version ?? 0, target: "")
        var parentID = basisID
        var parent = basis
        if case .advance(let from) = LineDecision.decide(known: update.expected, head: head, headIsPrefix: prefix(headSession)) {
            if from != update.expected, let head { (parentID, parent) = (head.target, headSession) }
            update.expected = from
        }
        var sessionRecord = record(parent: parentID, parent)
        var stored = try await repository.store(sessionRecord, compression: options.compression)
        update.target = stored.id.hex
        update.lineage = Lineage(parent: parentID, reused: reusedFiles)
        var result = SaveResult(
            session: stored.id.hex, ref: line, version: update.expected + 1, commit: commit, branch: branch, committed: committed,
            pushed: pushed, wip: options.wip, agent: agentSession.agent, agentSession: agentSession.id,
            messages: staged.messages, added: sessionRecord.conversation.added, transcriptBytes: staged.bytes.count,
            bytesAdded: backup.bytesAdded + stored.bytes.count + stored.id.hex.utf8.count, fork: nil)
        var outcome = try await repository.commit(update)
        if case .conflict(let winner) = outcome {
            // The head moved on. If it moved to a prefix of this transcript (e.g. this device's
            // own save from a copy of its state), continue the line from it, once, with it as
            // the parent (a new session record).
            var current = winner
            if current == nil { current = try await refHead(line) }
            var currentSession = try await session(current)
            if case .advance(let from) = LineDecision.afterConflict(current: current, currentIsPrefix: prefix(currentSession)) {
                if let winner = current, winner.target != parentID {
                    (parentID, parent) = (winner.target, currentSession)
                    sessionRecord = record(parent: parentID, parent)
                    stored = try await repository.store(sessionRecord, compression: options.compression)
                    update.target = stored.id.hex
                    update.lineage = Lineage(parent: parentID, reused: reusedFiles)
                    result.session = stored.id.hex
                    result.added = sessionRecord.conversation.added
                    result.bytesAdded += stored.bytes.count
                }
                update.expected = from
                outcome = try await repository.commit(update)
                if case .conflict(let again) = outcome {
                    current = again  // moved once more: fork from what is there now
                    if current == nil { current = try await refHead(line) }
                    currentSession = try await session(current)
                }
            }
            if case .conflict = outcome {
                // Another device moved on. Keep this save under its own fork ref; overwrite nothing.
                let sessionID = stored.id
                let fork = Refs.fork(of: ref, session: sessionID, key: repository.key)
                guard case .applied(let forkHead) = try await repository.commit(RefUpdate(ref: fork, expected: 0, target: sessionID.hex, lineage: update.lineage)) else {
                    throw ConvoSyncError(.conflict, "fork ref \(fork.prefix(12)) of session \(sessionID.short) exists with other contents")
                }
                state.refs[fork] = forkHead
                state.lines[ref] = fork
                result.ref = fork
                result.version = forkHead.version
                result.bytesAdded += sessionID.hex.utf8.count
                result.fork = SaveResult.Fork(
                    currentSession: current?.target ?? "", currentHost: currentSession?.host ?? "?",
                    currentTime: currentSession?.time ?? Date(), currentMessages: currentSession?.conversation.messageCount ?? 0, forkRef: fork)
            }
        }
        if case .applied(let moved) = outcome {
            state.refs[line] = moved
            result.version = moved.version
        }
        if !memoryHashes.isEmpty { state.memory = (state.memory ?? [:]).merging(memoryHashes) { $1 } }
        try state.save(repositoryID: repository.config.id, directory: options.stateDirectory)
        return result
    }

    /// The SHA-256 (hex) of every regular file under `dir`, by path.
    static func fileHashes(under dir: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            let path = (dir as NSString).appendingPathComponent(name)
            if AgentLayout.isDirectory(path) {
                out.merge(try fileHashes(under: path)) { $1 }
            } else if FileManager.default.isReadableFile(atPath: path) {
                out[path] = Hex.encode(Array(SHA256.hash(data: try read(path))))
            }
        }
        return out
    }

    private func session(_ head: RefHead?) async throws -> SessionFile? {
        guard let head else { return nil }
        return try await SessionCatalog.session(at: head, in: repository).session
    }

    private func refHead(_ ref: String) async throws -> RefHead? {
        try await SessionCatalog.head(ref, in: repository)
    }

    // MARK: staging

    struct StagedTranscript {
        var bytes: [UInt8]
        var messages: Int
        var sha256: String

        /// Whether `conversation` (as stored) is a prefix of this transcript.
        func hasPrefix(_ conversation: SessionFile.Conversation) -> Bool {
            guard conversation.size <= bytes.count else { return false }
            return Hex.encode(Array(SHA256.hash(data: bytes[0..<conversation.size]))) == conversation.sha256
        }
    }

    /// Copies the transcript (and Claude's `<id>/` folder) into `dir`, mapping this checkout's
    /// root to the conversation's root in every `.jsonl` file; modification times are kept so
    /// unchanged companion files are not read again by the next save.
    func stageConversation(_ session: AgentSession, remap: PathRemap, into dir: String) throws -> StagedTranscript {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let original = try Self.read(session.transcript)
        let bytes = remap.apply(original)
        let name = (session.transcript as NSString).lastPathComponent
        try AtomicFileWriter.write(bytes, to: (dir as NSString).appendingPathComponent(name), mtime: AgentLayout.modified(session.transcript))
        if let companion = session.companion {
            try copyTree(companion, to: (dir as NSString).appendingPathComponent((companion as NSString).lastPathComponent), remap: remap)
        }
        return StagedTranscript(bytes: bytes, messages: Self.messageCount(bytes), sha256: Hex.encode(Array(SHA256.hash(data: bytes))))
    }

    private func copyTree(_ source: String, to target: String, remap: PathRemap) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: source) {
            let from = (source as NSString).appendingPathComponent(name)
            let to = (target as NSString).appendingPathComponent(name)
            if AgentLayout.isDirectory(from) {
                try copyTree(from, to: to, remap: remap)
            } else if fm.isReadableFile(atPath: from) {
                let bytes = try Self.read(from)
                try AtomicFileWriter.write(name.hasSuffix(".jsonl") ? remap.apply(bytes) : bytes, to: to, mtime: AgentLayout.modified(from))
            }
        }
    }

    /// The uncommitted changes: `changes.patch` (tracked files against HEAD, binary-safe) and
    /// `untracked/` (new files git does not ignore).
    private func stageWIP(git: Git, into dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: (dir as NSString).appendingPathComponent("untracked"), withIntermediateDirectories: true)
        let patch = try git.data(["diff", "--binary", "HEAD"])
        try AtomicFileWriter.write(Array(patch), to: (dir as NSString).appendingPathComponent("changes.patch"))
        let listing = try git.data(["ls-files", "-z", "--others", "--exclude-standard"])
        for raw in listing.split(separator: 0) {
            let rel = String(decoding: raw, as: UTF8.self)
            let from = (git.root as NSString).appendingPathComponent(rel)
            let to = ((dir as NSString).appendingPathComponent("untracked") as NSString).appendingPathComponent(rel)
            try fm.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try AtomicFileWriter.write(try Self.read(from), to: to, mode: Self.mode(from))
        }
    }

    // MARK: helpers

    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConvoSyncError(.backend, "cannot read \(path)")
        }
        return Array(data)
    }

    static func mode(_ path: String) -> UInt32 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber)?.uint32Value ?? 0o644
    }

    /// Messages in a transcript: lines, where a final line without a newline counts too.
    static func messageCount(_ bytes: [UInt8]) -> Int {
        guard !bytes.isEmpty else { return 0 }
        let newlines = bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        return bytes.last == UInt8(ascii: "\n") ? newlines : newlines + 1
    }

    /// `path` relative to `root`, or nil when it is not inside it.
    static func relative(_ path: String, to root: String) -> String? {
        if path == root { return "" }
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : nil
    }
}

/// A private temporary directory, removed when released.
final class ScratchDirectory {
    let root: String

    init(prefix: String) throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/convosync-\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ConvoSyncError(.backend, "cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        root = String(cString: made)
    }

    func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: root) }
}
