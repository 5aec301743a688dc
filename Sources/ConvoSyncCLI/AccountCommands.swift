import ArgumentParser
import ConvoSync
import ConvoSyncProtocol
import ConvoSyncREST
import ConvoSyncStorage
import Foundation

/// The server this command talks to: `URL` if given, else the repository's.
private func serverURL(_ given: String?, _ global: GlobalOptions) throws -> String {
    guard let url = given ?? global.repo ?? global.environment["CONVOSYNC_REPOSITORY"], CredentialStore.origin(url) != nil else {
        throw ConvoSyncError(.invalidArgument, "give the server's URL (http(s)://HOST:PORT), or -r with a repository on it")
    }
    return url
}

private func storedToken(_ url: String, _ global: GlobalOptions) throws -> CredentialStore.Entry {
    guard let entry = CredentialStore(environment: global.environment).entry(for: url) else {
        throw ConvoSyncError(.invalidArgument, "this device is not logged in to \(CredentialStore.origin(url) ?? url); run `convosync login \(CredentialStore.origin(url) ?? url) --user NAME`")
    }
    return entry
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log this device in to a convosync server and keep its device token.",
        discussion: """
            Registers this device with the account's password (from CONVOSYNC_SERVER_PASSWORD or a
            prompt) and stores the device token it gets in ~/.config/convosync/credentials.json
            (mode 0600). Afterwards repository URLs on that server need no password:
            `convosync save -r http://HOST:PORT/USER/REPO/`. The password itself is not stored.

            A token can read and append (an append-only device); add `maintenance` to let the
            device delete (restic's forget --prune). It expires after the server's default (90 days)
            or --days. `convosync devices revoke ID` ends it at once.

            EXAMPLES:
              convosync login http://sync.example.com:8000 --user alice
              convosync login https://sync.example.com --user alice --device laptop --scope read,append,maintenance

            EXIT STATUS:
              0 logged in, 1 error (refused, unreachable, device limit reached).
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The server (any URL on it; a repository URL works).") var url: String?
    @Option(help: "Account name (default: the user in the URL).") var user: String?
    @Option(help: "A name for this device (default: the host name).") var device: String?
    @Option(help: "Comma-separated scopes: read, append, maintenance (default read,append).") var scope = "read,append"
    @Option(help: "Days until the token expires (default: the server's).") var days: Int?

    func run() async throws {
        let target = try serverURL(url, global)
        let raw = target.hasPrefix("rest:") ? String(target.dropFirst(5)) : target
        guard let name = user ?? URLComponents(string: raw)?.user else {
            throw ConvoSyncError(.invalidArgument, "give the account name with --user NAME")
        }
        let password: String
        if let p = global.environment["CONVOSYNC_SERVER_PASSWORD"], !p.isEmpty {
            password = p
        } else if let p = URLComponents(string: raw)?.password, !p.isEmpty {
            password = p.removingPercentEncoding ?? p
        } else {
            guard isatty(0) == 1, let p = getpass("password for \(name) on \(CredentialStore.origin(raw) ?? raw): ") else {
                throw ConvoSyncError(.invalidArgument, "set CONVOSYNC_SERVER_PASSWORD or run on a terminal")
            }
            password = String(cString: p)
        }
        let scopes = scope.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let entry = try await AccountClient(url: raw).login(user: name, password: password, device: device ?? Identity.host, scopes: scopes, days: days)
        try CredentialStore(environment: global.environment).set(entry, for: raw)
        global.say("logged in to \(CredentialStore.origin(raw) ?? raw) as \(name): device \(entry.device) (\(entry.name)), scopes \(entry.scopes.joined(separator: ",")), expires \(entry.expires.prefix(10))")
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke this device's token on the server and forget it here.",
        discussion: "EXAMPLE:\n  convosync logout http://sync.example.com:8000\n\nEXIT STATUS:\n  0 logged out, 1 error.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The server (default: the repository's).") var url: String?

    func run() async throws {
        let target = try serverURL(url, global)
        let entry = try storedToken(target, global)
        do {
            try await AccountClient(url: target).revoke(entry.device, token: entry.token)
        } catch let error as StorageError where error.code == .permissionDenied || error.code == .notFound {
            // Already revoked or expired: forgetting it is all that is left.
        }
        try CredentialStore(environment: global.environment).set(nil, for: target)
        global.say("logged out: device \(entry.device) revoked and its token removed")
    }
}

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List or revoke the devices logged in to your account.",
        discussion: """
            EXAMPLES:
              convosync devices list -r http://sync.example.com:8000/alice/work/
              convosync devices revoke 3f2a91c0d4e5b6a7 -r http://sync.example.com:8000/alice/work/

            EXIT STATUS:
              0 ok, 1 error (not logged in, unknown device).
            """,
        subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List active devices (the current one is marked *).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONFlag
        @Option(help: "The server (default: the repository's).") var server: String?

        func run() async throws {
            let target = try serverURL(server, global)
            let entry = try storedToken(target, global)
            let devices = try await AccountClient(url: target).devices(token: entry.token)
            if output.json { return try printJSON(devices) }
            for d in devices {
                let seen = d.lastSeen.map { "last seen \($0.prefix(19))" } ?? "never used"
                print("\(d.current == true ? "*" : " ") \(d.id)  \(d.name)  [\(d.scopes.joined(separator: ","))]  \(seen), expires \(d.expires.prefix(10))")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a device: its token stops working at once.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The server (default: the repository's).") var server: String?
        @Argument(help: "The device id (from `convosync devices list`).") var id: String

        func run() async throws {
            let target = try serverURL(server, global)
            let entry = try storedToken(target, global)
            try await AccountClient(url: target).revoke(id, token: entry.token)
            if id == entry.device { try CredentialStore(environment: global.environment).set(nil, for: target) }
            global.say("revoked device \(id)")
        }
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print sessions as other devices save them (live, from the server).",
        discussion: """
            Follows the server's event stream for your account and prints one line per save made
            by another device: repository, conversation ref, version and session. No plaintext
            travels: names are opaque; `convosync sessions` shows what they are.

            EXAMPLES:
              convosync watch -r http://sync.example.com:8000/alice/work/
              convosync watch --json --count 1

            EXIT STATUS:
              0 done (--count reached or the server closed), 1 error.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONFlag
    @Option(help: "Exit after this many events.") var count: Int?

    func run() async throws {
        guard let location = global.repo ?? global.environment["CONVOSYNC_REPOSITORY"], location.contains("://") else {
            throw ConvoSyncError(.invalidArgument, "watch needs a repository on a convosync server (-r http(s)://…/USER/REPO/)")
        }
        let json = output.json
        let quiet = global.quiet
        let limit = count
        let seen = Counter()
        do {
            try await EventStream.listen(url: location, credentials: CredentialStore(environment: global.environment), connected: {
                if !quiet && !json { FileHandle.standardError.write(Data("convosync: watching \(RESTBackend.redact(location)) (Ctrl-C to stop)\n".utf8)) }
            }) { event in
                if json {
                    try printJSON(event)
                } else {
                    print("session saved: \(event.repository) conversation \(event.ref.prefix(12)) v\(event.version) session \(event.session.prefix(8))")
                }
                fflush(nil)
                return limit.map { seen.next() < $0 } ?? true
            }
        }
    }

    final class Counter: @unchecked Sendable {
        private var n = 0
        private let lock = NSLock()
        func next() -> Int { lock.withLock { n += 1; return n } }
        var value: Int { lock.withLock { n } }
    }
}
