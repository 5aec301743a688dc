import ArgumentParser
import ConvoSyncFormat
import ConvoSyncServer
import Foundation
import Hummingbird
#if canImport(Glibc)
import Glibc
#endif

@main
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convosync-server",
        abstract: "Serve ConvoSync (and restic) repositories over HTTP; holds only ciphertext.",
        discussion: """
            Zero configuration: `convosync-server serve --data-dir DIR` keeps packs on its disk and
            accounts in SQLite in DIR. Repositories live at /USER/REPO/ and speak restic's REST
            protocol (v1 and v2), so `restic -r rest:http://USER:PASSWORD@HOST:PORT/USER/REPO/` works,
            as does `convosync -r rest:http://USER:PASSWORD@HOST:PORT/USER/REPO/`.

            EXAMPLES:
              CONVOSYNC_SERVER_PASSWORD=... convosync-server user add alice --data-dir /srv/convosync
              convosync-server serve --data-dir /srv/convosync --listen 127.0.0.1:8000

            ENVIRONMENT:
              CONVOSYNC_SERVER_PASSWORD  password for `user add` / `user passwd` (else a prompt)
              DATABASE_URL               account database: sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB (default DIR/convosync.sqlite)
              CONVOSYNC_DATA_DIR         default for --data-dir
              CONVOSYNC_USER_QUOTA       default for --user-quota
              CONVOSYNC_CACHE_SIZE       default for --cache-size (64MiB)
              JWT_SECRET                 key for device tokens, 32+ characters (default: generated into DIR/jwt-secret)
              MAX_DEVICES_PER_USER       default for --max-devices (5)
              MAX_CONVERSATION_SIZE      default for --max-conversation-size (no limit)
              STORAGE_BACKEND            default for --storage: local (DIR/repos) or s3
              S3_BUCKET, S3_ENDPOINT     with s3: the bucket, and an S3-compatible endpoint (default AWS)
              S3_REGION, S3_PREFIX       with s3: the region (default us-east-1 or AWS_REGION), a key prefix
              AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   with s3: credentials
              CONVOSYNC_SCRYPT_N         scrypt cost for new password hashes (tests only)
            """,
        subcommands: [Serve.self, UserCommand.self, Audit.self])
}

struct DataOptions: ParsableArguments {
    @Option(help: "Where packs and the account database live (env: CONVOSYNC_DATA_DIR; default ./convosync-data).")
    var dataDir: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var configuration: ServerConfiguration {
        let dir = dataDir ?? environment["CONVOSYNC_DATA_DIR"] ?? "convosync-data"
        return ServerConfiguration(dataDirectory: URL(fileURLWithPath: (dir as NSString).expandingTildeInPath).standardizedFileURL)
    }

    /// The account database: `DATABASE_URL` (sqlite:PATH or postgres://…), else DIR/convosync.sqlite.
    func users() async throws -> UserStore {
        let config = configuration
        try ConvoSyncServer.prepare(config)
        var kdf = KDFDefaults.server
        if let n = environment["CONVOSYNC_SCRYPT_N"].flatMap(Int.init) { kdf.n = n }
        return try await UserStore.open(url: environment["DATABASE_URL"], defaultPath: config.databasePath, kdf: kdf)
    }

    /// Runs `body` with the account database open, closing it after (PostgreSQL connections).
    func withUsers<T>(_ body: (UserStore) async throws -> T) async throws -> T {
        let users = try await users()
        do {
            let result = try await body(users)
            await users.close()
            return result
        } catch {
            await users.close()
            throw error
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (stops gracefully on SIGINT/SIGTERM).",
        discussion: "EXAMPLE:\n  convosync-server serve --data-dir /srv/convosync --listen 0.0.0.0:8000 --append-only")
    @OptionGroup var data: DataOptions
    @Option(help: "Address to listen on, HOST:PORT (default 127.0.0.1:8000; port 0 picks a free one).") var listen = "127.0.0.1:8000"
    @Flag(help: "Refuse deletes (except of locks): clients can add but never remove data.") var appendOnly = false
    @Option(help: "Largest request body in bytes (default 268435456).") var maxBodySize: Int?
    @Option(help: "Bytes each user may store, e.g. 10GB (env: CONVOSYNC_USER_QUOTA; default: no limit).") var userQuota: String?
    @Option(help: "Active devices (logins) per user (env: MAX_DEVICES_PER_USER; default 5; 0: no limit).") var maxDevices: Int?
    @Option(help: "Bytes one conversation's saves may add up to, e.g. 10MB (env: MAX_CONVERSATION_SIZE; default: no limit).") var maxConversationSize: String?
    @Option(help: "Days a device token lasts unless the login asks otherwise (default 90).") var tokenDays: Int = 90
    @Option(help: "PEM certificate chain: serve HTTPS (needs --tls-key).") var tlsCert: String?
    @Option(help: "PEM private key for --tls-cert.") var tlsKey: String?
    @Option(help: "Where repository files live: local (DIR/repos) or s3 (env: STORAGE_BACKEND; S3 settings from S3_* and AWS_* variables).")
    var storage: String?
    @Option(help: "Memory for recently read packs, e.g. 64MiB (env: CONVOSYNC_CACHE_SIZE; default 64MiB; 0: none).") var cacheSize: String?
    @Option(help: "Seconds a connection may take to send a complete request head before it is closed (default 10).") var headerTimeout: Double = 10
    @Option(help: "Seconds a connection may stay silent between requests or within one before it is closed (default 60).") var idleTimeout: Double = 60

    func run() async throws {
        Self.keepLargeBuffersInHeap()
        var config = data.configuration
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8000")
        }
        config.host = String(listen[..<colon])
        config.port = port
        config.appendOnly = appendOnly
        if let maxBodySize {
            guard maxBodySize > 0 else { throw ValidationError("--max-body-size must be positive") }
            config.maxBodySize = maxBodySize
        }
        config.userQuota = try Self.size(userQuota, orEnvironment: "CONVOSYNC_USER_QUOTA", data, example: "500MB, 10GB, 1073741824")
        if let n = maxDevices ?? data.environment["MAX_DEVICES_PER_USER"].flatMap(Int.init) {
            guard n >= 0 else { throw ValidationError("--max-devices must be 0 (no limit) or more") }
            config.maxDevicesPerUser = n == 0 ? nil : n
        }
        config.maxConversationSize = try Self.size(maxConversationSize, orEnvironment: "MAX_CONVERSATION_SIZE", data, example: "10MB")
        guard (1...3650).contains(tokenDays) else { throw ValidationError("--token-days must be 1…3650") }
        config.tokenLifetimeDays = tokenDays
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        config.tlsCertificate = tlsCert
        config.tlsKey = tlsKey
        config.jwtSecret = data.environment["JWT_SECRET"]
        if let bytes = try Self.size(cacheSize, orEnvironment: "CONVOSYNC_CACHE_SIZE", data, example: "64MiB, 0") { config.cacheSize = bytes }
        guard (0.1...3600).contains(headerTimeout), (0.1...86_400).contains(idleTimeout) else {
            throw ValidationError("--header-timeout must be 0.1…3600 seconds and --idle-timeout 0.1…86400")
        }
        config.headerTimeout = .nanoseconds(Int64(headerTimeout * 1e9))
        config.idleTimeout = .nanoseconds(Int64(idleTimeout * 1e9))
        config.storage = try StorageBackend.parse(storage ?? data.environment["STORAGE_BACKEND"], environment: data.environment)
        let users = try await data.users()
        let (host, dir) = (config.host, config.objectStore().location)
        let scheme = tlsCert == nil ? "http" : "https"
        let app = try await ConvoSyncServer.application(config, users: users) { port in
            FileHandle.standardOutput.write(Data("convosync-server listening on \(scheme)://\(host):\(port) (data: \(dir))\n".utf8))
        }
        try await app.runService()
        await users.close()
    }
}

extension Serve {
    /// `123`, `10KB`, `500MB`, `10GB`, `1TB` (powers of 1000) or `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024).
    /// A size from its flag, else from the environment variable; nil when neither is set.
    static func size(_ flag: String?, orEnvironment name: String, _ data: DataOptions, example: String) throws -> Int? {
        guard let text = flag ?? data.environment[name] else { return nil }
        guard let bytes = parseSize(text) else { throw ValidationError("'\(text)' is not a size (e.g. \(example))") }
        return bytes
    }

    static func parseSize(_ text: String) -> Int? {
        let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
                                         ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1)]
        let t = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where t.uppercased().hasSuffix(suffix.uppercased()) {
            guard let n = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n.isFinite, n >= 0, n * factor < 9e18 else { return nil }
            return Int(n * factor)
        }
        return Int(t).flatMap { $0 >= 0 ? $0 : nil }
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage accounts.",
        subcommands: [Add.self, List.self, Remove.self, Passwd.self])

    static func password() throws -> String {
        if let p = ProcessInfo.processInfo.environment["CONVOSYNC_SERVER_PASSWORD"], !p.isEmpty { return p }
        guard isatty(0) == 1, let p = getpass("password for the new account: ") else {
            throw ValidationError("set CONVOSYNC_SERVER_PASSWORD or run on a terminal")
        }
        return String(cString: p)
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user (password from CONVOSYNC_SERVER_PASSWORD or a prompt).")
        @OptionGroup var data: DataOptions
        @Argument var name: String
        func run() async throws {
            let password = try UserCommand.password()
            try await data.withUsers { try await $0.add(name, password: password) }
            print("added user \(name); their repositories live at /\(name)/REPO/")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var data: DataOptions
        @Flag var json = false
        func run() async throws {
            let users = try await data.withUsers { try await $0.list() }
            if json {
                try printJSON(users)
            } else {
                for u in users { print("\(u.name)  \(u.created)") }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user (their repositories stay on disk).")
        @OptionGroup var data: DataOptions
        @Argument var name: String
        func run() async throws {
            try await data.withUsers { try await $0.remove(name) }
            print("removed user \(name)")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's password.")
        @OptionGroup var data: DataOptions
        @Argument var name: String
        func run() async throws {
            let password = try UserCommand.password()
            try await data.withUsers { try await $0.setPassword(name, password: password) }
            print("changed the password of \(name)")
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the audit log: logins, failed logins, device revocations, deletions.",
        discussion: "EXAMPLE:\n  convosync-server audit --data-dir /srv/convosync --user alice --limit 20")
    @OptionGroup var data: DataOptions
    @Option(help: "Only this user's entries.") var user: String?
    @Option(help: "At most this many entries, newest first.") var limit = 100
    @Flag var json = false
    func run() async throws {
        let entries = try await data.withUsers { try await $0.auditLog(user: user, limit: limit) }
        if json {
            try printJSON(entries)
        } else {
            for e in entries {
                print([e.time, e.user, e.device ?? "-", e.action, e.detail].joined(separator: "  "))
            }
        }
    }
}

/// Pretty-printed JSON with sorted keys, for `--json`.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

extension Serve {
    /// Pack GETs read files into 1 MiB buffers that live until the socket has sent them. glibc
    /// serves allocations that large with mmap and unmaps them on free, so every buffer was new
    /// pages that the kernel faulted in and zeroed: about a tenth of the server's CPU time under
    /// `wrk` in `perf record`, and 0.8x rclone's rate for 4 MiB GETs. With the threshold raised,
    /// freed buffers stay in the heap and are reused; the heap is trimmed past 64 MiB free.
    static func keepLargeBuffersInHeap() {
        #if canImport(Glibc)
        // glibc's mallopt and the M_* names of <malloc.h>, which the Glibc module does not import.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }  // nil: RTLD_DEFAULT
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let (trimThreshold, mmapThreshold): (Int32, Int32) = (-1, -3)
        _ = mallopt(mmapThreshold, 8 << 20)
        _ = mallopt(trimThreshold, 64 << 20)
        #endif
    }
}
