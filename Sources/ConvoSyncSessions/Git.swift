import ConvoSync
public import Foundation

/// Runs `git` in one working tree. Every failure becomes a ``ConvoSyncError`` carrying git's
/// own message, so the user sees what git said and which command failed.
public struct Git: Sendable {
    /// The working tree's top-level directory (as git prints it).
    public let root: String

    public init(root: String) { self.root = root }

    /// The repository containing `directory`, or an error telling the user to run inside one.
    public static func repository(containing directory: String) throws -> Git {
        let result = try run(["rev-parse", "--show-toplevel"], in: directory)
        guard result.status == 0 else {
            throw ConvoSyncError(.invalidArgument, "\(directory) is not inside a git working tree; run convosync save/resume in a clone of the project")
        }
        return Git(root: result.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public struct Result: Sendable {
        public var status: Int32
        public var data: Data
        public var error: String
        public var output: String { String(decoding: data, as: UTF8.self) }
    }

    /// Runs git and returns its output; throws `.git` with git's message when it fails.
    @discardableResult
    public func callAsFunction(_ arguments: String..., what: String? = nil) throws -> String {
        try run(arguments, what: what)
    }

    @discardableResult
    public func run(_ arguments: [String], what: String? = nil) throws -> String {
        String(decoding: try data(arguments, what: what), as: UTF8.self)
    }

    /// Runs git and returns its output as bytes (for diffs, which need not be UTF-8).
    public func data(_ arguments: [String], what: String? = nil) throws -> Data {
        let result = try Self.run(arguments, in: root)
        guard result.status == 0 else {
            let said = result.error.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ConvoSyncError(.git, "\(what ?? "git \(arguments.joined(separator: " "))") failed: \(said.isEmpty ? "exit \(result.status)" : said)")
        }
        return result.data
    }

    /// Runs git and returns its status and output without judging them.
    public func attempt(_ arguments: String...) throws -> Result {
        try Self.run(arguments, in: root)
    }

    /// Trimmed output, or nil when git fails (for questions like "is there an upstream?").
    public func value(_ arguments: String...) -> String? {
        guard let r = try? Self.run(arguments, in: root), r.status == 0 else { return nil }
        let text = r.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    static func run(_ arguments: [String], in directory: String) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        // Never stop to ask for credentials or an editor: fail with a message instead.
        environment["GIT_TERMINAL_PROMPT"] = "0"
        environment["GIT_EDITOR"] = "true"
        environment["LC_ALL"] = "C"
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw ConvoSyncError(.git, "cannot run git: \(error.localizedDescription); install git and try again")
        }
        // Read both pipes to the end before waiting, so a large diff cannot fill a pipe and block.
        let errData = LockedData()
        let reading = DispatchGroup()
        DispatchQueue.global().async(group: reading) { errData.value = err.fileHandleForReading.readDataToEndOfFile() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        reading.wait()
        return Result(status: process.terminationStatus, data: outData, error: String(decoding: errData.value, as: UTF8.self))
    }

    // MARK: questions

    /// The current branch, or nil on a detached HEAD.
    public var branch: String? { value("symbolic-ref", "--quiet", "--short", "HEAD") }

    /// The commit HEAD points at; an error in a repository without commits.
    public func head() throws -> String {
        guard let c = value("rev-parse", "--verify", "--quiet", "HEAD^{commit}") else {
            throw ConvoSyncError(.git, "the repository at \(root) has no commit yet; make a first commit, then save")
        }
        return c
    }

    /// `git status --porcelain` lines: changed tracked files and untracked, non-ignored ones.
    public func status() throws -> [String] {
        try run(["status", "--porcelain=v1", "--untracked-files=all"]).split(separator: "\n").map(String.init)
    }

    /// Whether `commit` exists locally.
    public func hasCommit(_ commit: String) -> Bool {
        (try? attempt("cat-file", "-e", "\(commit)^{commit}").status) == 0
    }

    /// Whether `ancestor` is reachable from `descendant`.
    public func isAncestor(_ ancestor: String, of descendant: String) -> Bool {
        (try? attempt("merge-base", "--is-ancestor", ancestor, descendant).status) == 0
    }
}

/// Collects a pipe's data on another thread.
private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    var value: Data {
        get { lock.withLock { data } }
        set { lock.withLock { data = newValue } }
    }
}

/// Remote URLs: credentials removed for storage, and a normalised form to match clones.
public enum RemoteURL {
    /// The URL without a user name or password (`https://tok@host/x` → `https://host/x`).
    public static func stripCredentials(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + String(rest[rest.index(after: at)...])
    }

    /// `host/path` without scheme, user, port, trailing `.git` or slash; lowercase host. An ssh
    /// clone and an https clone of one project give the same value; a local path stays a path.
    public static func normalize(_ url: String) -> String {
        var text = stripCredentials(url.trimmingCharacters(in: .whitespacesAndNewlines))
        var host = ""
        var path = text
        if let scheme = text.range(of: "://") {
            text = String(text[scheme.upperBound...])
            let slash = text.firstIndex(of: "/") ?? text.endIndex
            host = String(text[..<slash])
            path = String(text[slash...])
            if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        } else if !text.hasPrefix("/"), let colon = text.firstIndex(of: ":"), !text[..<colon].contains("/") {
            // scp-like: [user@]host:path
            host = String(text[..<colon])
            if let at = host.lastIndex(of: "@") { host = String(host[host.index(after: at)...]) }
            path = "/" + text[text.index(after: colon)...]
        }
        while path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix(".git") { path.removeLast(4) }
        if host.isEmpty { return path }
        return host.lowercased() + (path.hasPrefix("/") ? path : "/" + path)
    }
}
