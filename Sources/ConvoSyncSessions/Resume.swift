public import ConvoSync
public import ConvoSyncFormat
import ConvoSyncStorage
import Crypto
public import Foundation

public struct ResumeOptions: Sendable {
    public var directory: String
    /// A session ID prefix; nil for the newest session of this project.
    public var session: String?
    /// Proceed although the working tree is dirty, the branch diverged or a newer local
    /// transcript would be replaced (kept as `<name>.convosync-bak`).
    public var force = false
    public var homes: AgentHomes
    public var stateDirectory: String
    /// Called with the chosen session before its files are read (the session API fetches
    /// them into the local mirror here, in one request).
    public var prepare: (@Sendable (SessionID) async throws -> Void)?

    public init(directory: String, environment: [String: String]) {
        self.directory = directory
        homes = AgentHomes(environment: environment)
        stateDirectory = DeviceState.directory(environment: environment)
    }
}

public struct ResumeResult: Sendable, Codable {
    public var session: String
    public var host: String
    public var time: Date
    public var message: String
    public var commit: String
    public var branch: String?
    public var codeAction: String
    public var wipApplied: Bool
    public var agent: SessionFile.Agent
    public var agentSession: String
    public var messages: Int
    public var transcript: String
    public var transcriptAction: String
    /// Where to start the agent, and the command that continues the conversation.
    public var workingDirectory: String
    public var next: String
    /// Project memory files that had changed here since they were last synced: each was kept,
    /// and the session's copy written beside it as `name.from-HOST.ext`.
    public var memoryKeptBoth: [String] = []
    /// Other copies of the transcript in other project folders, renamed to `….convosync-moved`
    /// so that the agent finds exactly one.
    public var setAside: [String] = []
    /// What was done so the agent's own session list shows the conversation (Codex's thread
    /// index, see ``CodexIndex``); nil when nothing needed doing.
    public var agentIndex: String?
}

/// `convosync resume`: bring the code to the session's commit, rebuild its transcript with
/// this checkout's paths, write it where the agent looks, and verify that both match.
///
/// Order: everything that can be checked is checked before anything changes (the session
/// loads, the transcript rebuilds and hashes to the recorded value, the tree is clean, the
/// commit is reachable, the branch fast-forwards, no newer local transcript is in the way).
/// Then the code moves, then each file is renamed into place.
public struct SessionResumer {
    let repository: Repository
    let options: ResumeOptions

    public init(repository: Repository, options: ResumeOptions) {
        self.repository = repository
        self.options = options
    }

    public func run() async throws -> ResumeResult {
        let git = try Git.repository(containing: options.directory)
        let root = git.root
        let branchRemote = git.branch.flatMap { git.value("config", "branch.\($0).remote") }
        let remotes = git.value("remote").map { $0.split(separator: "\n").map(String.init) } ?? []
        var remoteName = branchRemote ?? (remotes.contains("origin") ? "origin" : remotes.first ?? "origin")
        let repositoryKey = git.value("remote", "get-url", remoteName).map(RemoteURL.normalize)
        // Every remote of the checkout, so that a session saved against any of them is its own.
        var keys: [String: String] = [:]
        for name in remotes { if let url = git.value("remote", "get-url", name) { keys[name] = RemoteURL.normalize(url) } }

        let (sessionID, session, head): (SessionID, SessionFile, RefHead?)
        if let prefix = options.session {
            let found = try await SessionCatalog.find(repository, prefix: prefix)
            (sessionID, session) = found
            head = try await SessionCatalog.head(of: found.0, found.1, in: repository)
        } else {
            let latest = try await SessionCatalog.latest(repository, repositoryKey: repositoryKey, otherKeys: Set(keys.values))
            (sessionID, session, head) = (latest.id, latest.session, latest.head)
        }
        if let prepare = options.prepare {
            try await prepare(sessionID)
            await repository.reloadIndex()
        }
        // The remote the session's code lives on: the checkout's remote with the session's URL.
        if let saved = session.code.repository, keys[remoteName] != saved, let match = keys.keys.sorted().first(where: { keys[$0] == saved }) {
            remoteName = match
        }
        if let repositoryKey, let saved = session.code.repository, keys[remoteName] != saved, saved != repositoryKey, !options.force {
            throw ConvoSyncError(.unsafeCodeState, "session \(sessionID.short) belongs to \(saved), but this checkout's remote is \(repositoryKey); run resume in a clone of that project, or pass --force")
        }

        // 1. Rebuild the conversation in a scratch directory and check it against the record.
        let scratch = try ScratchDirectory(prefix: "resume")
        let snapshot = try await repository.load(SnapshotFile.self, id: session.conversation.snapshot)
        let stagedDir = scratch.path("files")
        _ = try await Restore(repository: repository, options: RestoreOptions(target: stagedDir)).run(snapshot)
        let transcriptName = (session.conversation.transcript as NSString).lastPathComponent
        let stored = try SessionSaver.read((stagedDir as NSString).appendingPathComponent(transcriptName))
        guard stored.count == session.conversation.size, Hex.encode(Array(SHA256.hash(data: stored))) == session.conversation.sha256 else {
            throw ConvoSyncError(.corrupted, "session \(sessionID.short): the rebuilt transcript does not match the hash recorded at save time, so the repository's copy is damaged; nothing was changed here. Save the conversation again from the device that has it")
        }

        // 2. Plan the files: remapped to this checkout, placed where the local agent looks.
        let localAgentDirectory = session.conversation.agent == .claude ? options.homes.claude : options.homes.codex
        let remap = PathRemap(
            agent: session.conversation.agent,
            from: .init(root: session.conversation.root, launch: session.terminal.cwd, agentDirectory: session.conversation.agentDirectory),
            to: .init(root: root, launch: session.terminal.cwd, agentDirectory: localAgentDirectory))
        let workingDirectory = session.terminal.cwd.isEmpty ? root : (root as NSString).appendingPathComponent(session.terminal.cwd)
        let destinationDir: String
        switch session.conversation.agent {
        case .claude:
            destinationDir = AgentLayout.claudeProjectDirectory(for: workingDirectory, projects: options.homes.claudeProjects)
        case .codex:
            let sub = (session.conversation.transcript as NSString).deletingLastPathComponent
            destinationDir = sub.isEmpty ? options.homes.codexSessions : (options.homes.codexSessions as NSString).appendingPathComponent(sub)
        }
        var writes: [(path: String, bytes: [UInt8], mtime: Date?)] = []
        try collect(stagedDir, into: destinationDir, remap: remap, writes: &writes, skipping: ["wip"])
        let transcriptPath = (destinationDir as NSString).appendingPathComponent(transcriptName)
        let transcriptBytes = writes.first { $0.path == transcriptPath }?.bytes ?? []
        var transcriptAction = "written"
        if let existing = FileManager.default.contents(atPath: transcriptPath) {
            let local = Array(existing)
            if local == transcriptBytes {
                transcriptAction = "already up to date"
            } else if local.count < transcriptBytes.count, Array(transcriptBytes[0..<local.count]) == local {
                transcriptAction = "updated (+\(SessionSaver.messageCount(transcriptBytes) - SessionSaver.messageCount(local)) messages)"
            } else if !options.force {
                throw ConvoSyncError(.conflict, "\(transcriptPath) has messages that session \(sessionID.short) does not; run `convosync save` first to keep them (it will fork if needed), or pass --force to replace the file (the old one is kept as .convosync-bak)")
            } else {
                try? FileManager.default.removeItem(atPath: transcriptPath + ".convosync-bak")
                try FileManager.default.copyItem(atPath: transcriptPath, toPath: transcriptPath + ".convosync-bak")
                transcriptAction = "replaced (old copy: \(transcriptPath).convosync-bak)"
            }
        }

        // 3. Code: refuse anything that is not a safe fast-forward, then move.
        let codeAction = try bringCode(git: git, session: session, sessionID: sessionID, remoteName: remoteName)
        var wipApplied = false
        if session.code.wip {
            try applyWIP(git: git, from: (stagedDir as NSString).appendingPathComponent("wip"))
            wipApplied = true
        }

        // Project memory: a local file that changed since this device last synced it is kept,
        // and the session's copy is written beside it (`name.from-HOST.md`); nothing is lost.
        var state = try DeviceState.load(repositoryID: repository.config.id, directory: options.stateDirectory)
        var memoryKept: [String] = []
        var memoryHashes = state.memory ?? [:]
        let memoryDir = (destinationDir as NSString).appendingPathComponent("memory") + "/"
        writes = writes.compactMap { w in
            guard w.path.hasPrefix(memoryDir) else { return w }
            let incoming = Hex.encode(Array(SHA256.hash(data: w.bytes)))
            guard let local = FileManager.default.contents(atPath: w.path) else {
                memoryHashes[w.path] = incoming
                return w
            }
            let localHash = Hex.encode(Array(SHA256.hash(data: local)))
            if localHash == incoming { return nil }
            if memoryHashes[w.path] == localHash {
                memoryHashes[w.path] = incoming
                return w
            }
            let ext = (w.path as NSString).pathExtension
            let stem = (w.path as NSString).deletingPathExtension
            let beside = stem + ".from-" + Self.fileNameSafe(session.host) + (ext.isEmpty ? "" : "." + ext)
            memoryKept.append(w.path)
            return (beside, w.bytes, w.mtime)
        }

        // 4. Conversation files, each renamed into place.
        for w in writes {
            try FileManager.default.createDirectory(atPath: (w.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try AtomicFileWriter.write(w.bytes, to: w.path, mode: 0o600)
        }

        // Claude Code resumes an id from any folder only when exactly one project folder holds
        // it: a copy in another folder (a checkout that moved, an older folder name) is renamed
        // out of its way, never deleted.
        var setAside: [String] = []
        if session.conversation.agent == .claude {
            let projects = options.homes.claudeProjects
            for folder in ((try? FileManager.default.contentsOfDirectory(atPath: projects)) ?? []).sorted() {
                let other = (projects as NSString).appendingPathComponent(folder + "/" + transcriptName)
                guard other != transcriptPath, FileManager.default.fileExists(atPath: other) else { continue }
                let aside = other + ".convosync-moved"
                try? FileManager.default.removeItem(atPath: aside)
                try FileManager.default.moveItem(atPath: other, toPath: aside)
                setAside.append(aside)
            }
        }

        // Codex's picker lists only the threads in its index.
        var agentIndex: String?
        if session.conversation.agent == .codex {
            do {
                let outcome = try CodexIndex.refresh(codexHome: options.homes.codex, thread: session.conversation.sessionID, rollout: transcriptPath)
                agentIndex = outcome == .rescan || outcome == .moved ? outcome.rawValue : nil
            } catch {
                agentIndex = "Codex's thread index could not be updated (\(error)); `codex resume \(session.conversation.sessionID)` works, the picker may not list it"
            }
        }

        // 5. Verify what the agent will see.
        let headNow = try git.head()
        guard headNow == session.code.commit else {
            throw ConvoSyncError(.unsafeCodeState, "after checkout HEAD is \(headNow.prefix(12)), not the session's \(session.code.commit.prefix(12))")
        }
        let written = try SessionSaver.read(transcriptPath)
        guard written == transcriptBytes else {
            throw ConvoSyncError(.corrupted, "\(transcriptPath) does not read back as the session's transcript")
        }

        state.memory = memoryHashes.isEmpty ? state.memory : memoryHashes
        if let head {
            state.refs[head.ref] = head
            state.lines[session.ref] = head.ref
        }
        try state.save(repositoryID: repository.config.id, directory: options.stateDirectory)

        let next = switch session.conversation.agent {
        case .claude: "cd \(Self.shellQuoted(workingDirectory)) && claude --resume \(session.conversation.sessionID)"
        case .codex: "cd \(Self.shellQuoted(workingDirectory)) && codex resume \(session.conversation.sessionID)"
        }
        return ResumeResult(
            session: sessionID.hex, host: session.host, time: session.time, message: session.message, commit: session.code.commit,
            branch: session.code.branch, codeAction: codeAction, wipApplied: wipApplied, agent: session.conversation.agent,
            agentSession: session.conversation.sessionID, messages: session.conversation.messageCount, transcript: transcriptPath,
            transcriptAction: transcriptAction, workingDirectory: workingDirectory, next: next, memoryKeptBoth: memoryKept, setAside: setAside,
            agentIndex: agentIndex)
    }

    private func collect(_ source: String, into target: String, remap: PathRemap, writes: inout [(path: String, bytes: [UInt8], mtime: Date?)], skipping: Set<String> = []) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: source).sorted() where !skipping.contains(name) {
            let from = (source as NSString).appendingPathComponent(name)
            let to = (target as NSString).appendingPathComponent(name)
            if AgentLayout.isDirectory(from) {
                try collect(from, into: to, remap: remap, writes: &writes)
            } else {
                let bytes = try SessionSaver.read(from)
                writes.append((to, name.hasSuffix(".jsonl") ? remap.apply(bytes) : bytes, nil))
            }
        }
    }

    /// Checks out the session's commit on its branch, fast-forward only.
    private func bringCode(git: Git, session: SessionFile, sessionID: SessionID, remoteName: String) throws -> String {
        let commit = session.code.commit
        let current = try? git.head()
        let dirty = try git.status()
        let inPlace = current == commit && (git.branch == session.code.branch || session.code.branch == nil)
        if inPlace && !session.code.wip { return "already at \(commit.prefix(12))" }
        if !dirty.isEmpty && !options.force {
            throw ConvoSyncError(.unsafeCodeState, "the working tree has uncommitted changes (\(dirty.count) file(s), e.g. \(dirty[0].dropFirst(3))); commit or stash them (`git stash -u`), or save them first with `convosync save`, then resume again; --force resumes anyway")
        }
        let remoteBranch = session.code.upstream ?? session.code.branch
        if !git.hasCommit(commit) {
            var fetchArgs = ["fetch", "--quiet", remoteName]
            if let b = remoteBranch { fetchArgs.append("+refs/heads/\(b):refs/remotes/\(remoteName)/\(b)") }
            _ = try? git.run(fetchArgs, what: "git fetch")
            if !git.hasCommit(commit) { _ = try? git.run(["fetch", "--quiet", remoteName, commit], what: "git fetch") }
            guard git.hasCommit(commit) else {
                throw ConvoSyncError(.unsafeCodeState, "commit \(commit.prefix(12)) of session \(sessionID.short) cannot be fetched from \(remoteName); it was probably saved with --no-push on \(session.host): push it there (`git push`), then resume again")
            }
        }
        if inPlace { return "already at \(commit.prefix(12))" }
        guard let savedBranch = session.code.branch, let remoteBranch else {
            try git.run(["checkout", "--quiet", "--detach", commit], what: "git checkout")
            return "checked out \(commit.prefix(12)) (detached HEAD)"
        }
        // The local branch: the session's, if it exists here; else one that tracks the same
        // upstream (this clone's `main` for a session saved on `master` tracking `origin/main`);
        // else a new one of the session's name, tracking that upstream.
        let branch = git.value("rev-parse", "--verify", "--quiet", "refs/heads/\(savedBranch)") != nil
            ? savedBranch : Self.localBranch(tracking: "refs/remotes/\(remoteName)/\(remoteBranch)", in: git) ?? savedBranch
        if let local = git.value("rev-parse", "--verify", "--quiet", "refs/heads/\(branch)") {
            if local == commit {
                try git.run(["checkout", "--quiet", branch], what: "git checkout")
                return "switched to \(branch) at \(commit.prefix(12))"
            }
            if git.isAncestor(local, of: commit) {
                try git.run(["checkout", "--quiet", branch], what: "git checkout")
                try git.run(["merge", "--quiet", "--ff-only", commit], what: "git merge --ff-only")
                return "fast-forwarded \(branch) \(local.prefix(7))..\(commit.prefix(7))"
            }
            guard options.force else {
                let how = git.isAncestor(commit, of: local) ? "is ahead of the session's commit" : "has diverged from the session's commit"
                throw ConvoSyncError(.unsafeCodeState, "local branch \(branch) (\(local.prefix(12))) \(how) \(commit.prefix(12)); the conversation would not match the code. Save your work with `convosync save` (it may fork), or merge by hand; --force moves \(branch) to the session's commit (the old tip stays in the reflog)")
            }
            try git.run(["checkout", "--quiet", "-B", branch, commit], what: "git checkout -B")
            return "moved \(branch) from \(local.prefix(12)) to \(commit.prefix(12)) (--force)"
        }
        try git.run(["checkout", "--quiet", "-b", branch, commit], what: "git checkout -b")
        if git.value("rev-parse", "--verify", "--quiet", "refs/remotes/\(remoteName)/\(remoteBranch)") != nil {
            _ = try? git.run(["branch", "--quiet", "--set-upstream-to", "\(remoteName)/\(remoteBranch)", branch])
        }
        return "created \(branch) at \(commit.prefix(12))"
    }

    /// The local branch whose upstream is `remoteRef` (`refs/remotes/origin/main`), if exactly one is.
    static func localBranch(tracking remoteRef: String, in git: Git) -> String? {
        let lines = git.value("for-each-ref", "--format=%(refname:short) %(upstream)", "refs/heads") ?? ""
        let matches = lines.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            return parts.count == 2 && parts[1] == remoteRef ? parts[0] : nil
        }
        return matches.count == 1 ? matches[0] : nil
    }

    /// Applies the session's uncommitted changes on top of its commit.
    private func applyWIP(git: Git, from dir: String) throws {
        let patch = (dir as NSString).appendingPathComponent("changes.patch")
        if let size = (try? FileManager.default.attributesOfItem(atPath: patch))?[.size] as? Int, size > 0 {
            try git.run(["apply", "--binary", "--whitespace=nowarn", patch], what: "git apply (the session's uncommitted changes)")
        }
        let untracked = (dir as NSString).appendingPathComponent("untracked")
        guard let walker = FileManager.default.enumerator(atPath: untracked) else { return }
        while let rel = walker.nextObject() as? String {
            let from = (untracked as NSString).appendingPathComponent(rel)
            guard !AgentLayout.isDirectory(from) else { continue }
            let to = (git.root as NSString).appendingPathComponent(rel)
            if FileManager.default.fileExists(atPath: to), (try? SessionSaver.read(to)) != (try? SessionSaver.read(from)) {
                throw ConvoSyncError(.unsafeCodeState, "\(to) exists and differs from the session's untracked file; move it away and resume again")
            }
            try FileManager.default.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try AtomicFileWriter.write(try SessionSaver.read(from), to: to, mode: SessionSaver.mode(from))
        }
    }

    /// `s` as one word for a POSIX shell.
    /// `text` with every character but letters, digits, `-` and `_` replaced by `-`.
    static func fileNameSafe(_ text: String) -> String {
        String(text.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" ? Character($0) : "-" })
    }

    public static func shellQuoted(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "/._-".contains($0) } ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
