import ArgumentParser
import ConvoSync
import ConvoSyncFormat
import ConvoSyncREST
import ConvoSyncSessions
import ConvoSyncStorage
import Foundation

@main
struct ConvoSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convosync",
        abstract: "Keep AI coding sessions continuous across devices: an encrypted, deduplicating store for code + conversation.",
        discussion: """
            The repository comes from -r/--repo or CONVOSYNC_REPOSITORY; the password from
            CONVOSYNC_PASSWORD, --password-file / CONVOSYNC_PASSWORD_FILE, or a prompt.

            EXAMPLES:
              export CONVOSYNC_REPOSITORY=/srv/convosync
              convosync init
              convosync save "Implementing OAuth"      # in the project, on one machine
              convosync resume                         # in a clone, on another machine
              convosync backup ~/.claude/projects -r /srv/convosync
              convosync snapshots
              convosync restore latest --target /tmp/restored

            EXIT STATUS:
              0 success, 1 error, 10 no repository at the location, 12 wrong password,
              20 code cannot be moved safely (resume), 21 conflict: saved as a fork (save) or a
              local transcript is newer (resume), 22 git failed, 64 invalid command-line usage,
              130 interrupted.
            """,
        subcommands: [Save.self, Resume.self, Sessions.self, Push.self, InstallHook.self, Init.self, BackupCommand.self, RestoreCommand.self, Snapshots.self, Ls.self, Cat.self, Stats.self, Diff.self, Key.self, Login.self, Logout.self, Devices.self, Watch.self])

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let error as ConvoSyncError {
            FileHandle.standardError.write(Data("convosync: \(error.message)\n".utf8))
            Foundation.exit(ExitStatus.code(for: error))
        } catch let error as StorageError {
            FileHandle.standardError.write(Data("convosync: \(error.message)\n".utf8))
            Foundation.exit(ExitStatus.code(for: ConvoSyncError.wrap(error, file: "")))
        } catch {
            // ArgumentParser's own errors (usage, --help) keep their exit codes and wording; any
            // other error is ours, said as every other message is.
            guard exitCode(for: error) == .failure, !(error is ExitCode) else { exit(withError: error) }
            FileHandle.standardError.write(Data("convosync: \(error)\n".utf8))
            Foundation.exit(ExitStatus.error)
        }
    }
}

/// Documented exit codes.
enum ExitStatus {
    static let error: Int32 = 1
    static let noRepository: Int32 = 10
    static let locked: Int32 = 11
    static let wrongPassword: Int32 = 12
    static let unsafeCodeState: Int32 = 20
    static let forked: Int32 = 21
    static let git: Int32 = 22

    static func code(for error: ConvoSyncError) -> Int32 {
        switch error.code {
        case .noRepository: noRepository
        case .wrongPassword: wrongPassword
        case .locked: locked
        case .unsafeCodeState: unsafeCodeState
        case .conflict: forked
        case .git: git
        default: ExitStatus.error
        }
    }
}

struct GlobalOptions: ParsableArguments {
    @Option(name: [.customShort("r"), .long], help: "Repository: a directory path, or rest:http(s)://USER:PASSWORD@HOST:PORT/USER/REPO/ (env: CONVOSYNC_REPOSITORY).")
    var repo: String?

    @Option(name: .long, help: "Read the password from this file (env: CONVOSYNC_PASSWORD_FILE).")
    var passwordFile: String?

    @Option(name: .long, help: "Directory for the local index cache (default: ~/.cache/convosync).")
    var cacheDir: String?

    @Flag(name: .long, help: "Do not use or write the local cache.")
    var noCache = false

    @Flag(name: [.customShort("q"), .long], help: "Print only errors.")
    var quiet = false

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    func location() throws -> RepositoryLocation {
        guard let location = repo ?? environment["CONVOSYNC_REPOSITORY"], !location.isEmpty else {
            throw ConvoSyncError(.noRepository, "no repository given: pass -r/--repo or set CONVOSYNC_REPOSITORY")
        }
        if location.contains("://") {
            do { _ = try NetworkTimeouts.fromEnvironment(environment) } catch { throw ConvoSyncError(.invalidArgument, "\(error)") }
        }
        do { return try RepositoryLocation.parse(location, credentials: CredentialStore(environment: environment)) } catch let error as StorageError {
            throw ConvoSyncError(.invalidArgument, "\(error.message); give rest:http(s)://USER:PASSWORD@HOST:PORT/USER/REPO/")
        }
    }

    func backend() throws -> any Backend { try location().backend }

    /// The repository as save and resume open it (session API, mirror, outbox); notices go to
    /// stderr unless `quiet` or `json`.
    func sessionLocation(json: Bool) throws -> SessionLocation {
        let options = self
        let quiet = quiet || json
        return SessionLocation(
            location: try location(), password: { try options.password() }, cacheDirectory: cacheDirectory,
            stateDirectory: DeviceState.directory(environment: environment), onSkip: Self.warnSkipped,
            notice: { message in if !quiet { FileHandle.standardError.write(Data("convosync: \(message)\n".utf8)) } })
    }

    var cacheDirectory: URL? {
        if noCache { return nil }
        if let cacheDir { return URL(fileURLWithPath: cacheDir) }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return URL(fileURLWithPath: xdg).appendingPathComponent("convosync") }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/convosync")
    }

    /// Scrypt parameters for new keys; CONVOSYNC_SCRYPT_N lowers the cost for tests.
    var kdf: KDFParameters {
        if let n = environment["CONVOSYNC_SCRYPT_N"].flatMap(Int.init) { return KDFParameters(n: n, r: 8, p: 1) }
        return .default
    }

    func password(confirm: Bool = false, prompt: String = "enter password for repository: ") throws -> String {
        if let p = environment["CONVOSYNC_PASSWORD"], !p.isEmpty { return p }
        if let file = passwordFile ?? environment["CONVOSYNC_PASSWORD_FILE"] {
            guard let data = FileManager.default.contents(atPath: (file as NSString).expandingTildeInPath) else {
                throw ConvoSyncError(.invalidArgument, "cannot read password file \(file)")
            }
            let text = String(decoding: data, as: UTF8.self)
            return text.hasSuffix("\n") ? String(text.dropLast()) : text
        }
        guard isatty(0) == 1 else {
            throw ConvoSyncError(.invalidArgument, "no password: set CONVOSYNC_PASSWORD or CONVOSYNC_PASSWORD_FILE, or run on a terminal")
        }
        let first = try Self.prompt(prompt)
        if confirm {
            guard try Self.prompt("enter password again: ") == first else {
                throw ConvoSyncError(.invalidArgument, "the passwords do not match")
            }
        }
        return first
    }

    private static func prompt(_ text: String) throws -> String {
        guard let p = getpass(text) else { throw ConvoSyncError(.invalidArgument, "cannot read a password from the terminal") }
        return String(cString: p)
    }

    func open() async throws -> Repository {
        try await Repository.open(backend: backend(), password: password(), cacheDirectory: cacheDirectory, onSkip: Self.warnSkipped)
    }

    func say(_ text: String) {
        if !quiet { print(text) }
    }

    /// Says on stderr which damaged index or snapshot file a command goes on without, as it
    /// is skipped (even with --quiet: the repository needs repair). Every open passes it.
    static let warnSkipped: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data("convosync: warning: skipped a damaged file: \(message). The command went on without it; put the original back from a copy of the repository (or move the file out of the repository to stop this warning)\n".utf8))
    }
}

struct JSONFlag: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON.")
    var json = false
}

func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONCoding.encoder
    e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var i = 0
    while v >= 1024, i < units.count - 1 { v /= 1024; i += 1 }
    return i == 0 ? "\(n) B" : String(format: "%.2f %@", v, units[i])
}
