public import ArgumentParser
import ConvoSync
import ConvoSyncFormat
import ConvoSyncProtocol
import ConvoSyncREST
import ConvoSyncSessions
import ConvoSyncStorage
import Foundation

struct Save: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save this project's agent session: code, conversation and terminal state as one unit.",
        discussion: """
            Run inside the project's git working tree. Finds the newest Claude Code session (or Codex
            rollout) started in this tree, commits and pushes the code, stores only the messages the
            repository lacks, and links commit and conversation in an encrypted session record.

            If another device saved this conversation since this device last saved or resumed it,
            nothing is overwritten: this save is kept as a fork, and both heads are printed.

            EXAMPLES:
              convosync save "Implementing OAuth"
              convosync save --wip                 # keep uncommitted changes inside the session
              convosync save --no-push --json
              convosync save --agent codex --session 019a93b9

            EXIT STATUS:
              0 saved, 1 error, 10 no repository, 12 wrong password, 21 saved as a fork (another
              device moved the conversation on), 22 git failed (no upstream, push rejected).
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag
    @Argument(help: "Commit message (and the session's description).") var message: String = ""
    @Option(help: "claude or codex (default: whichever has the newest session here).") var agent: SessionFile.Agent?
    @Option(help: "The agent's session id, or a prefix of it.") var session: String?
    @Option(help: "A transcript file to save instead of looking one up.") var file: String?
    @Flag(help: "Do not commit; record the tree as dirty.") var noCommit = false
    @Flag(help: "Do not push (the other device must then fetch the commit some other way).") var noPush = false
    @Flag(help: "Store uncommitted changes (tracked diff and untracked files) inside the session instead of committing.") var wip = false
    @Option(help: "gzip (default, level 9), zstd[:LEVEL] or none.") var compression = "gzip"

    func validate() throws {
        do { _ = try Compression(parsing: compression) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let place = try global.sessionLocation(json: output.json)
        let opened = try await place.openForSave()
        let repo = opened.repository
        var options = SaveOptions(directory: FileManager.default.currentDirectoryPath, message: message, environment: environment)
        options.agent = agent
        options.sessionID = session
        options.file = file
        options.commit = !noCommit
        options.push = !noPush
        options.wip = wip
        options.compression = try Compression(parsing: compression)
        let mirror = opened.mirror
        if let mirror {
            // Over the session API: the session this save continues should be in the mirror.
            // One saved without a manifest cannot be fetched in one piece: the save then reads
            // what it needs file by file.
            options.prepare = { id in
                do { try await mirror.ensure(session: id) } catch is SessionMirror.Unsupported {}
            }
        }
        var offline = opened.offline
        let result: SaveResult
        do {
            result = try await SessionSaver(repository: repo, options: options).run()
            // Its files went into the mirror on top of a complete parent: complete too.
            mirror?.markComplete(result.session)
        } catch let error where mirror != nil && Self.isUnreachable(error) && place.canWorkOffline {
            // The mirror let the save get this far without the server, which is gone: the
            // commit is made; queue the conversation in the outbox like any offline save.
            place.notice("\(repo.backend.location) cannot be reached (\(error)); saving to the local outbox")
            options.prepare = nil
            result = try await SessionSaver(repository: try await place.outbox(), options: options).run()
            offline = true
        }
        if output.json {
            try printJSON(SaveOutput(result: result, offline: offline))
        } else {
            let code = result.committed ? "git add, commit" + (result.pushed ? ", push" : "") : (result.pushed ? "push" : result.wip ? "uncommitted changes stored in the session" : "nothing to commit")
            global.say("✓ Code: \(code) (\(result.branch ?? "detached") at \(result.commit.prefix(12)))")
            global.say("✓ Conversation: \(result.agent.rawValue) \(result.agentSession), \(result.messages) messages (new: [\(result.added[0]), \(result.added[1]))), compressed & encrypted")
            global.say("✓ Linked: commit \(result.commit.prefix(12)) ↔ conversation, session \(result.session.prefix(8))")
            if offline {
                global.say("✓ Queued offline: \(formatBytes(result.bytesAdded)) in the outbox (\(repo.backend.location)); `convosync push` or the next save/resume uploads it")
            } else {
                global.say("✓ Uploaded: \(formatBytes(result.bytesAdded)) added to \(repo.backend.location)")
            }
        }
        if let fork = result.fork {
            let when = JSONCoding.formatDate(fork.currentTime).prefix(19).replacingOccurrences(of: "T", with: " ")
            FileHandle.standardError.write(Data("""
                convosync: another device moved this conversation on since this device last saved or resumed it.
                  theirs: session \(fork.currentSession.prefix(8)) from \(fork.currentHost) at \(when), \(fork.currentMessages) messages
                  yours:  session \(result.session.prefix(8)), \(result.messages) messages, kept as a fork (nothing was overwritten)
                continue from theirs: convosync resume \(fork.currentSession.prefix(8))
                continue from yours:  keep working here; later saves extend your fork (convosync resume \(result.session.prefix(8)) elsewhere)

                """.utf8))
            throw ExitCode(ExitStatus.forked)
        }
    }
}

extension Save {
    /// A network failure reaching the server (not a refusal by it).
    static func isUnreachable(_ error: any Error) -> Bool {
        if let e = error as? StorageError { return e.code == .unavailable }
        if let e = error as? ConvoSyncError, let cause = e.cause { return isUnreachable(cause) }
        return false
    }
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a saved session here: check out its commit and write its conversation for the agent.",
        discussion: """
            Run inside a clone of the project. Picks the newest session saved for this project
            (matched by remote URL) or the one named, brings the code to its commit (fast-forward
            only), rebuilds the transcript with this checkout's paths, writes it where the agent
            looks, and verifies that code and conversation match.

            EXAMPLES:
              convosync resume
              convosync resume 3f2a9c1e
              convosync resume --json

            EXIT STATUS:
              0 ready, 1 error, 10 no repository, 12 wrong password, 20 the code cannot be moved
              safely (uncommitted changes, diverged branch, commit not fetchable; nothing changed),
              21 a local transcript has messages the session lacks (nothing changed).
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag
    @Argument(help: "Session ID prefix (default: the newest for this project).") var session: String?
    @Flag(help: "Resume despite uncommitted changes, a diverged branch or a newer local transcript.") var force = false

    @Flag(help: "Wait for the next session saved to this repository by another device, then resume it (needs a convosync server).") var wait = false
    @Option(help: "With --wait: give up after this many seconds (exit 1).") var timeout: Int?

    func run() async throws {
        if wait { try await waitForSave() }
        var options = ResumeOptions(directory: FileManager.default.currentDirectoryPath, environment: ProcessInfo.processInfo.environment)
        options.session = session
        options.force = force
        let result = try await resume(options)
        if output.json { return try printJSON(result) }
        global.say("✓ Code: \(result.codeAction)\(result.wipApplied ? ", uncommitted changes applied" : "")")
        global.say("✓ Conversation: \(result.messages) messages from \(result.host), \(result.transcriptAction): \(result.transcript)")
        for moved in result.setAside {
            global.say("! Another copy of this conversation was in another project folder (a checkout that moved?); renamed so Claude Code finds one: \(moved)")
        }
        for kept in result.memoryKeptBoth {
            global.say("! Memory: \((kept as NSString).lastPathComponent) changed here since it was last synced; kept, and \(result.host)'s copy written beside it (.from-…)")
        }
        if let index = result.agentIndex { global.say("✓ Codex's session list: \(index)") }
        global.say("✓ Verified: HEAD is \(result.commit.prefix(12)) and the transcript matches the saved hash")
        global.say("✓ Ready! Continue with:\n  \(result.next)")
    }
}

extension Resume {
    /// Over a convosync server: two requests (heads, then one bundle of what this device
    /// lacks) and a resume on the local mirror. Elsewhere, or for a session the server has
    /// no manifest of, file by file.
    func resume(_ options: ResumeOptions) async throws -> ResumeResult {
        let place = try global.sessionLocation(json: output.json)
        if let (repo, mirror) = try await place.openMirror() {
            var viaMirror = options
            viaMirror.prepare = { id in try await mirror.fetch(session: id.hex) }
            do {
                return try await SessionResumer(repository: repo, options: viaMirror).run()
            } catch is SessionMirror.Unsupported {
            } catch let error as ConvoSyncError where error.code == .notFound && options.session != nil {
                // A session that is no conversation's head is not in the mirror: look it up on the server.
            }
        }
        return try await SessionResumer(repository: try await place.openForResume().repository, options: options).run()
    }

    func waitForSave() async throws {
        guard let location = global.repo ?? global.environment["CONVOSYNC_REPOSITORY"], location.contains("://") else {
            throw ConvoSyncError(.invalidArgument, "--wait needs a repository on a convosync server (-r http(s)://…/USER/REPO/)")
        }
        let repositoryName = URL(string: location.hasPrefix("rest:") ? String(location.dropFirst(5)) : location)?.lastPathComponent ?? ""
        if !global.quiet && !output.json {
            FileHandle.standardError.write(Data("convosync: waiting for another device to save to \(RESTBackend.redact(location))…\n".utf8))
        }
        let listen = Task { () -> Bool in
            let heard = Watch.Counter()
            try await EventStream.listen(url: location, credentials: CredentialStore(environment: global.environment)) { event in
                guard event.repository == repositoryName else { return true }  // keep listening
                _ = heard.next()
                return false
            }
            return heard.value > 0
        }
        if let timeout {
            let timer = Task {
                try await Task.sleep(nanoseconds: UInt64(timeout) * 1_000_000_000)
                listen.cancel()
            }
            defer { timer.cancel() }
            let heard: Bool
            do { heard = try await listen.value } catch {
                if listen.isCancelled { throw ConvoSyncError(.notFound, "no session was saved within \(timeout) s") }
                throw error
            }
            guard heard else {
                throw ConvoSyncError(listen.isCancelled ? .notFound : .backend,
                    listen.isCancelled ? "no session was saved within \(timeout) s" : "the server closed the event stream before a save arrived")
            }
        } else {
            guard try await listen.value else { throw ConvoSyncError(.backend, "the server closed the event stream before a save arrived") }
        }
    }
}

struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List saved sessions (the newest of each conversation and fork).",
        discussion: """
            By default only sessions of the project in the current directory (matched by its git
            remote) are listed; --all lists every project's. A damaged ref version is set aside
            with a warning on stderr that names it; the other sessions are listed.

            EXAMPLES:
              convosync sessions
              convosync sessions --all --json

            EXIT STATUS:
              0 ok, 1 error, 10 no repository, 12 wrong password.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag
    @Flag(help: "List every project's sessions.") var all = false

    struct Row: Encodable {
        var id: String
        var fork: Bool
        var version: Int
        var session: SessionFile
    }

    func run() async throws {
        let repo = try await global.open()
        var heads = try await SessionCatalog.heads(repo)
        if !all, let git = try? Git.repository(containing: FileManager.default.currentDirectoryPath) {
            let remote = git.branch.flatMap { git.value("config", "branch.\($0).remote") } ?? "origin"
            if let key = git.value("remote", "get-url", remote).map(RemoteURL.normalize) {
                heads = heads.filter { $0.session.code.repository == key }
            }
        }
        if output.json { return try printJSON(heads.map { Row(id: $0.id.hex, fork: $0.isFork, version: $0.head.version, session: $0.session) }) }
        print("ID        Time                 Device        Branch          Commit   Messages  Message")
        for h in heads {
            let s = h.session
            let time = JSONCoding.formatDate(s.time).prefix(19).replacingOccurrences(of: "T", with: " ")
            let branch = (s.code.branch ?? "(detached)") + (h.isFork ? " [fork]" : "")
            print("\(h.id.short)  \(time.padding(19))  \(s.host.padding(12))  \(branch.padding(14))  \(s.code.commit.prefix(7))  \(String(s.conversation.messageCount).padding(8))  \(s.message)")
        }
        print("\(heads.count) sessions")
    }
}

struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload sessions saved while the repository was unreachable.",
        discussion: """
            `convosync save` keeps a session in a local, encrypted outbox when the repository cannot
            be reached; `push` uploads it (the next save or resume does too). A session another
            device has overtaken meanwhile is kept as a fork, never overwriting anything.

            EXAMPLE:
              convosync push

            EXIT STATUS:
              0 uploaded (or nothing to upload), 1 error, 10 no repository, 12 wrong password,
              21 uploaded, but some sessions became forks.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let repo = try await global.open()
        let stateDirectory = DeviceState.directory(environment: global.environment)
        try await Outbox.remember(repo, stateDirectory: stateDirectory)
        let result = try await Outbox.push(to: repo, stateDirectory: stateDirectory)
        if output.json {
            try printJSON(result)
        } else {
            global.say("pushed \(result.sessions.count + result.forks.count) session(s), \(result.files) file(s), \(formatBytes(result.bytes))")
            for fork in result.forks {
                global.say("session \(fork.prefix(8)) was overtaken by another device and is kept as a fork: see convosync sessions")
            }
        }
        if !result.forks.isEmpty { throw ExitCode(ExitStatus.forked) }
    }
}

struct InstallHook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-hook",
        abstract: "Make Claude Code back up every session when it ends (before its 30-day cleanup can delete it).",
        discussion: """
            Adds `convosync backup --agents --quiet -r REPO [--password-file FILE]` to the SessionEnd
            and PreCompact hooks in Claude Code's settings.json ($CLAUDE_CONFIG_DIR or ~/.claude).
            Other settings are kept; running it twice adds nothing. The password must reach the hook
            through --password-file (recommended) or CONVOSYNC_PASSWORD in Claude Code's environment;
            it is never written into settings.json.

            EXAMPLE:
              convosync install-hook -r ~/convosync-repo --password-file ~/.config/convosync/password

            EXIT STATUS:
              0 installed (or already there), 1 error, 10 no repository.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let backend = try global.backend()
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let binary = CommandLine.arguments[0].contains("/") ? executable : CommandLine.arguments[0]
        var command = "\(SessionResumer.shellQuoted(binary)) backup --agents --quiet -r \(SessionResumer.shellQuoted(backend.location))"
        if let file = global.passwordFile ?? global.environment["CONVOSYNC_PASSWORD_FILE"] {
            command += " --password-file \(SessionResumer.shellQuoted(URL(fileURLWithPath: (file as NSString).expandingTildeInPath).standardizedFileURL.path))"
        }
        let result = try ClaudeHook.install(command: command, homes: AgentHomes(environment: global.environment))
        if output.json { return try printJSON(result) }
        global.say(result.added.isEmpty ? "already installed in \(result.settings)" : "added to \(result.added.joined(separator: ", ")) in \(result.settings):\n  \(result.command)")
        if global.passwordFile == nil && global.environment["CONVOSYNC_PASSWORD_FILE"] == nil {
            global.say("note: no --password-file given, so the hook needs CONVOSYNC_PASSWORD in Claude Code's environment")
        }
    }
}

struct SaveOutput: Encodable {
    var result: SaveResult
    var offline: Bool

    func encode(to encoder: any Encoder) throws {
        try result.encode(to: encoder)
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(offline, forKey: .offline)
    }

    enum Key: String, CodingKey { case offline }
}

extension SessionFile.Agent: ExpressibleByArgument {}
