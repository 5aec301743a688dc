import ArgumentParser
import ConvoSync
import ConvoSyncFormat
import ConvoSyncSessions
import ConvoSyncStorage
import Foundation

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new repository.",
        discussion: "EXAMPLE:\n  CONVOSYNC_PASSWORD=... convosync init -r ~/convosync-repo\n\nEXIT STATUS:\n  0 created, 1 error (e.g. a repository exists already).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let backend = try global.backend()
        let repo = try await Repository.initialize(backend: backend, password: global.password(confirm: true), kdf: global.kdf, cacheDirectory: global.cacheDirectory)
        if output.json {
            try printJSON(["id": repo.config.id, "location": backend.location])
        } else {
            global.say("created repository \(repo.config.id.prefix(8)) at \(backend.location)\n\nKeep your password safe: without it the data cannot be read.")
        }
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up files and directories; .jsonl files are stored message by message.",
        discussion: """
            Only what the repository lacks is stored. A .jsonl file is a conversation: one blob per
            line, so appending messages stores just the new ones.

            EXAMPLES:
              convosync backup ~/.claude/projects
              convosync backup --agents          # every Claude Code and Codex session here
              convosync backup session.jsonl --compression zstd:19 --tag laptop

            EXIT STATUS:
              0 snapshot saved, 1 error, 10 no repository, 12 wrong password, 130 interrupted.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag
    @Argument(help: "Files or directories to back up.") var paths: [String] = []
    @Flag(help: "Also back up every agent session on this device: Claude Code's projects folder ($CLAUDE_CONFIG_DIR or ~/.claude) and Codex's sessions ($CODEX_HOME or ~/.codex), before the agents' own cleanup deletes old ones.") var agents = false
    @Option(help: "gzip (default, level 9), zstd[:LEVEL] or none.") var compression = "gzip"
    @Option(name: .customLong("tag"), help: "Tag the snapshot (repeatable).") var tags: [String] = []
    @Option(help: "Host name recorded in the snapshot.") var host: String?
    @Option(help: "Snapshot to compare with (default: latest of this host and paths).") var parent: String?

    func validate() throws {
        do { _ = try Compression(parsing: compression) } catch { throw ValidationError("\(error)") }
        if paths.isEmpty && !agents { throw ValidationError("give paths to back up, or --agents") }
    }

    func run() async throws {
        var paths = paths
        if agents {
            let homes = AgentHomes(environment: global.environment)
            let found = [homes.claudeProjects, homes.codexSessions].filter { FileManager.default.fileExists(atPath: $0) }
            guard !found.isEmpty || !paths.isEmpty else {
                throw ConvoSyncError(.notFound, "no agent sessions on this device (looked for \(homes.claudeProjects) and \(homes.codexSessions))")
            }
            paths += found
        }
        let repo = try await global.open()
        var options = BackupOptions(paths: paths)
        if agents { options.tags.append("agents") }
        options.compression = try Compression(parsing: compression)
        options.tags += tags
        if let host { options.host = host }
        if let parent { options.parent = try await repo.resolve(parent, type: .snapshot, as: SnapshotID.self) }
        let bar = ProgressBar(enabled: !global.quiet && !output.json)
        options.progress = { p in bar.update(done: p.bytes, total: p.totalBytes, files: p.files, totalFiles: p.totalFiles) }
        let result = try await Backup(repository: repo, options: options).run()
        bar.finish()
        let s = result.snapshot.summary
        if output.json {
            try printJSON(BackupReport(snapshot: result.snapshotID, parent: result.parent, summary: s))
        } else {
            global.say("""
                snapshot \(result.snapshotID.short) saved\(result.parent.map { " (parent \($0.short))" } ?? "")
                  files:          \(s.files) (\(s.conversations) conversations, \(s.messages) messages), \(formatBytes(s.bytes))
                  added to repo:  \(formatBytes(result.bytesAdded)) in \(s.blobsAdded) new blobs
                """)
        }
    }
}

struct BackupReport: Encodable {
    var snapshot: SnapshotID
    var parent: SnapshotID?
    var summary: SnapshotFile.Summary
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot into a directory, byte for byte.",
        discussion: """
            EXAMPLES:
              convosync restore latest --target /tmp/out
              convosync restore 3f2a91c0 --target /tmp/out --include '*.jsonl'

            EXIT STATUS:
              0 restored, 1 error (e.g. snapshot not found, damaged data), 10 no repository, 12 wrong password.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag
    @Argument(help: "Snapshot ID (or unique prefix) or 'latest'.") var snapshot: String
    @Option(help: "Directory to restore into.") var target: String
    @Option(help: "Restore only paths matching this shell pattern (repeatable).") var include: [String] = []

    func run() async throws {
        let repo = try await global.open()
        let (id, snap) = try await repo.findSnapshot(snapshot)
        var options = RestoreOptions(target: target)
        options.include = include
        let p = try await Restore(repository: repo, options: options).run(snap)
        if output.json {
            try printJSON(["snapshot": id.hex, "files": String(p.files), "bytes": String(p.bytes)])
        } else {
            global.say("restored \(p.files) files (\(formatBytes(p.bytes))) from snapshot \(id.short) to \(target)")
        }
    }
}

struct Snapshots: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List snapshots.",
        discussion: "EXAMPLE:\n  convosync snapshots --json\n\nA damaged snapshot file is skipped with a warning on stderr that names it.\n\nEXIT STATUS:\n  0 ok, 1 error, 10 no repository, 12 wrong password.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag

    struct Row: Encodable {
        var id: SnapshotID
        var snapshot: SnapshotFile
    }

    func run() async throws {
        let repo = try await global.open()
        let all = try await repo.snapshots()
        if output.json { return try printJSON(all.map { Row(id: $0.0, snapshot: $0.1) }) }
        print("ID        Time                      Host          Tags        Size        Paths")
        for (id, s) in all {
            let time = JSONCoding.formatDate(s.time).prefix(19).replacingOccurrences(of: "T", with: " ")
            print("\(id.short)  \(time.padding(24))  \(s.host.padding(12))  \(s.tags.joined(separator: ",").padding(10))  \(formatBytes(s.summary.bytes).padding(10))  \(s.paths.joined(separator: " "))")
        }
        print("\(all.count) snapshots")
    }
}

struct Ls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the files in a snapshot.",
        discussion: "EXAMPLE:\n  convosync ls latest\n\nEXIT STATUS:\n  0 ok, 1 error, 10 no repository, 12 wrong password.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag
    @Argument(help: "Snapshot ID or 'latest'.") var snapshot: String

    func run() async throws {
        let repo = try await global.open()
        let (_, snap) = try await repo.findSnapshot(snapshot)
        let entries = try await repo.walk(snap.tree)
        if output.json { return try printJSON(entries) }
        for e in entries {
            let detail = e.messages.map { "\($0) messages" } ?? e.size.map(formatBytes) ?? ""
            print("\(e.type.rawValue.padding(12)) \(detail.padding(14)) \(e.path)")
        }
    }
}

struct Cat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a repository file decrypted (for debugging).",
        discussion: """
            config, index ID, snapshot ID and key ID print JSON; pack ID prints the decrypted pack
            header as JSON; blob ID writes the blob's raw bytes.

            EXAMPLES:
              convosync cat config
              convosync cat snapshot latest

            EXIT STATUS:
              0 ok, 1 error (not found, damaged), 10 no repository, 12 wrong password.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "config, index, snapshot, pack, blob or key.") var type: String
    @Argument(help: "ID or unique prefix (not for config).") var id: String?

    func validate() throws {
        guard ["config", "index", "snapshot", "pack", "blob", "key"].contains(type) else {
            throw ValidationError("unknown type '\(type)': use config, index, snapshot, pack, blob or key")
        }
        if type != "config" && id == nil { throw ValidationError("'cat \(type)' needs an ID") }
    }

    func run() async throws {
        let repo = try await global.open()
        let id = self.id ?? ""
        switch type {
        case "config": try printJSON(repo.config)
        case "index": try printJSON(try await repo.load(IndexFile.self, id: repo.resolve(id, type: .index, as: IndexID.self)))
        case "snapshot": try printJSON(try await repo.findSnapshot(id).1)
        case "key":
            let keyID = try await repo.resolve(id, type: .key, as: KeyID.self)
            try printJSON(try await repo.keys().first { $0.0 == keyID }?.1)
        case "pack":
            let packID = try await repo.resolve(id, type: .pack, as: PackID.self)
            let bytes = try await repo.backend.load(Handle(.pack, id: packID))
            do {
                let header = try PackHeader(pack: bytes, using: repo.key.encryption)
                try printJSON(IndexFile.Pack(id: packID, size: bytes.count, header: header))
            } catch { throw ConvoSyncError(.corrupted, "data/\(packID.hex): \(error)") }
        default:
            let blob = try await repo.loadBlob(BlobID(hex: id))
            FileHandle.standardOutput.write(Data(blob))
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how much the repository stores and how much it saved.",
        discussion: "EXAMPLE:\n  convosync stats --json\n\nEXIT STATUS:\n  0 ok, 1 error, 10 no repository, 12 wrong password.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let repo = try await global.open()
        let s = try await repo.stats()
        if output.json { return try printJSON(s) }
        let ratio = s.totalBytes > 0 ? Double(s.rawBlobBytes) / Double(s.totalBytes) : 0
        print("""
            snapshots:          \(s.snapshots)
            packs:              \(s.packs)
            blobs:              \(s.blobs) (\(s.rawBytesByType.sorted { $0.key < $1.key }.map { "\($0.key) \(formatBytes($0.value))" }.joined(separator: ", ")))
            unique raw data:    \(formatBytes(s.rawBlobBytes))
            stored:             \(formatBytes(s.totalBytes)) (packs \(formatBytes(s.packBytes)), metadata \(formatBytes(s.metadataBytes)))
            compression ratio:  \(String(format: "%.2fx", ratio))
            """)
    }
}

struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what changed between two snapshots.",
        discussion: "EXAMPLE:\n  convosync diff 3f2a91c0 latest\n\nEXIT STATUS:\n  0 ok, 1 error, 10 no repository, 12 wrong password.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag
    @Argument var first: String
    @Argument var second: String

    func run() async throws {
        let repo = try await global.open()
        let a = try await repo.walk(repo.findSnapshot(first).1.tree)
        let b = try await repo.walk(repo.findSnapshot(second).1.tree)
        let diff = SnapshotDiff.compute(a, b)
        if output.json { return try printJSON(diff) }
        for e in diff.entries {
            let sign = switch e.change { case .added: "+"; case .removed: "-"; case .modified: "M" }
            var note = ""
            if let before = e.messagesBefore, let after = e.messagesAfter { note = "  (\(before) -> \(after) messages)" }
            print("\(sign)  \(e.path)\(note)")
        }
        print("\(diff.entries.count) changes")
    }
}

struct Key: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the passwords (key files) that open the repository.",
        discussion: "EXAMPLES:\n  convosync key list\n  CONVOSYNC_NEW_PASSWORD=... convosync key add\n\nEXIT STATUS:\n  0 ok, 1 error, 10 no repository, 12 wrong password.",
        subcommands: [List.self, Add.self, Remove.self, Passwd.self])

    static func newPassword(_ global: GlobalOptions) throws -> String {
        if let p = ProcessInfo.processInfo.environment["CONVOSYNC_NEW_PASSWORD"], !p.isEmpty { return p }
        guard isatty(0) == 1 else { throw ConvoSyncError(.invalidArgument, "set CONVOSYNC_NEW_PASSWORD or run on a terminal") }
        guard let a = getpass("enter new password: "), case let first = String(cString: a),
              let b = getpass("enter new password again: "), String(cString: b) == first
        else { throw ConvoSyncError(.invalidArgument, "the passwords do not match") }
        return first
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List key files.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONFlag
        struct Row: Encodable { var id: KeyID; var current: Bool; var host: String; var username: String; var created: Date }
        func run() async throws {
            let repo = try await global.open()
            let rows = try await repo.keys().map { Row(id: $0.0, current: $0.0 == repo.keyID, host: $0.1.host, username: $0.1.username, created: $0.1.created) }
            if output.json { return try printJSON(rows) }
            for r in rows { print("\(r.current ? "*" : " ") \(r.id.short)  \(r.username)@\(r.host)  \(JSONCoding.formatDate(r.created))") }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a key for another password (from CONVOSYNC_NEW_PASSWORD or a prompt).")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let repo = try await global.open()
            let id = try await repo.addKey(password: Key.newPassword(global), kdf: global.kdf)
            global.say("added key \(id.short)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key (not the one in use).")
        @OptionGroup var global: GlobalOptions
        @Argument var id: String
        func run() async throws {
            let repo = try await global.open()
            let keyID = try await repo.resolve(id, type: .key, as: KeyID.self)
            try await repo.removeKey(keyID)
            global.say("removed key \(keyID.short)")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the password of the key in use.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let repo = try await global.open()
            let id = try await repo.changePassword(to: Key.newPassword(global), kdf: global.kdf)
            global.say("password changed (new key \(id.short))")
        }
    }
}

extension StringProtocol {
    func padding(_ n: Int) -> String {
        count >= n ? String(self) : String(self) + String(repeating: " ", count: n - count)
    }
}

/// A one-line progress bar on standard error, shown only on a terminal.
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let start = Date()
    private let lock = NSLock()
    private var lastDraw = Date.distantPast

    init(enabled: Bool) { self.enabled = enabled && isatty(2) == 1 }

    func update(done: Int, total: Int, files: Int, totalFiles: Int) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        let rate = Double(done) / elapsed
        let fraction = total > 0 ? min(Double(done) / Double(total), 1) : 0
        let width = 24
        let filled = Int(fraction * Double(width))
        let eta = rate > 0 ? Int(Double(max(total - done, 0)) / rate) : 0
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let line = "[\(bar)] \(Int(fraction * 100))%  \(formatBytes(done)) / \(formatBytes(total))  \(files)/\(totalFiles) files  \(formatBytes(Int(rate)))/s  ETA \(eta / 60):\(String(format: "%02d", eta % 60))"
        FileHandle.standardError.write(Data("\r\(line)\u{1B}[K".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
