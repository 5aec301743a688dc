public import ConvoSync
public import ConvoSyncStorage
public import Foundation
import ConvoSyncFormat
import ConvoSyncSessions

/// Where a repository lives, as `-r` / `CONVOSYNC_REPOSITORY` names it: a directory, or a
/// repository on an HTTP server (restic's REST protocol; convosync-server adds the session API).
public enum RepositoryLocation: Sendable {
    case local(LocalBackend)
    case server(RESTBackend)

    /// `rest:http(s)://…`, `http(s)://…`, `local:PATH` or a path.
    public static func parse(_ text: String, credentials: CredentialStore?) throws -> RepositoryLocation {
        if text.hasPrefix("rest:") || text.hasPrefix("http://") || text.hasPrefix("https://") {
            return .server(try RESTBackend(url: text, credentials: credentials))
        }
        let path = text.hasPrefix("local:") ? String(text.dropFirst(6)) : text
        return .local(LocalBackend(path: (path as NSString).expandingTildeInPath))
    }

    public var backend: any Backend {
        switch self {
        case .local(let b): b
        case .server(let b): b
        }
    }
}

/// Opens a repository location for `save` and `resume`, the one place that knows how: a
/// directory directly; a convosync-server through the device's mirror, each save one request
/// (``SessionAPIDestination``); and, when the server cannot be reached, the device's offline
/// outbox. It remembers the repository for offline use and uploads what an offline save left.
public struct SessionLocation: Sendable {
    public let location: RepositoryLocation
    public let password: @Sendable () throws -> String
    public let cacheDirectory: URL?
    public let stateDirectory: String
    /// Damaged files set aside while opening (see ``Repository/skipped``).
    public let onSkip: (@Sendable (String) -> Void)?
    /// What the user should hear about: a fallback to the outbox, an upload of queued saves.
    public let notice: @Sendable (String) -> Void

    public init(
        location: RepositoryLocation, password: @escaping @Sendable () throws -> String, cacheDirectory: URL?, stateDirectory: String,
        onSkip: (@Sendable (String) -> Void)?, notice: @escaping @Sendable (String) -> Void
    ) {
        (self.location, self.password, self.cacheDirectory, self.stateDirectory) = (location, password, cacheDirectory, stateDirectory)
        (self.onSkip, self.notice) = (onSkip, notice)
    }

    public struct Opened: Sendable {
        public var repository: Repository
        /// The mirror reads come from, when the repository is on a convosync-server.
        public var mirror: SessionMirror?
        /// The repository is the offline outbox: the server could not be reached.
        public var offline: Bool
    }

    /// For a save: over the session API when the server has one, else straight to the
    /// backend; the outbox when the server cannot be reached and this device opened the
    /// repository before.
    public func openForSave() async throws -> Opened {
        let opened: (Repository, SessionMirror?)
        do { opened = try await openSaving() } catch let error as ConvoSyncError where (error.code == .noRepository || error.code == .backend) && canWorkOffline {
            notice("\(location.backend.location) cannot be reached (\(error.message)); saving to the local outbox")
            return Opened(repository: try await outbox(), mirror: nil, offline: true)
        }
        return try await online(opened.0, mirror: opened.1)
    }

    private func openSaving() async throws -> (Repository, SessionMirror?) {
        guard case .server(let rest) = location else { return (try await open(location.backend), nil) }
        var mirror = cacheDirectory.map { SessionMirror(remote: rest, cacheDirectory: $0) }
        do {
            // A device that has talked to this server before sends its save without asking
            // for the heads: if another device moved the ref on, the 409 answer makes it
            // fetch them and decide (continue or fork) then.
            if let m = mirror, !m.hasIdentity { try await m.fetchHeads() }
        } catch is SessionMirror.Unsupported {
            mirror = nil
        } catch {
            throw ConvoSyncError.wrap(error, file: "sessions")
        }
        do {
            return (try await Repository.open(sessionAPI: rest, mirror: mirror, password: password(), cacheDirectory: cacheDirectory, onSkip: onSkip), mirror)
        } catch let error as ConvoSyncError where error.code == .wrongPassword && mirror?.hasIdentity == true {
            // The mirror's key files may be old (a password changed on another device).
            try await mirror?.fetchHeads()
            return (try await Repository.open(sessionAPI: rest, mirror: mirror, password: password(), cacheDirectory: cacheDirectory, onSkip: onSkip), mirror)
        }
    }

    /// For a resume file by file (a session the mirror cannot provide, or no session API).
    public func openForResume() async throws -> Opened {
        try await online(try await open(location.backend), mirror: nil)
    }

    /// For a resume through the mirror of a convosync-server, after one request for the heads;
    /// nil when the repository is not on one (or the cache is off, or an offline save waits to
    /// be uploaded, which needs the server itself).
    public func openMirror() async throws -> (Repository, SessionMirror)? {
        guard let cache = cacheDirectory, case .server(let rest) = location else { return nil }
        let mirror = SessionMirror(remote: rest, cacheDirectory: cache)
        do { try await mirror.fetchHeads() } catch is SessionMirror.Unsupported { return nil }
        let repository = try await Repository.open(backend: mirror.local, password: password(), cacheDirectory: cache, onSkip: onSkip)
        if await Outbox.pendingCount(repositoryID: repository.config.id, stateDirectory: stateDirectory) > 0 { return nil }
        return (repository, mirror)
    }

    /// Whether a save may go to the outbox: this device has opened the repository before.
    public var canWorkOffline: Bool { Outbox.canWorkOffline(location: location.backend.location, stateDirectory: stateDirectory) }

    /// The device's outbox for this repository.
    public func outbox() async throws -> Repository {
        try await Outbox.open(location: location.backend.location, password: password(), stateDirectory: stateDirectory, cacheDirectory: cacheDirectory)
    }

    private func open(_ backend: any Backend) async throws -> Repository {
        try await Repository.open(backend: backend, password: password(), cacheDirectory: cacheDirectory, onSkip: onSkip)
    }

    /// Remembers the repository for offline saves and uploads what earlier ones queued.
    private func online(_ repository: Repository, mirror: SessionMirror?) async throws -> Opened {
        try await Outbox.remember(repository, stateDirectory: stateDirectory)
        if await Outbox.pendingCount(repositoryID: repository.config.id, stateDirectory: stateDirectory) > 0 {
            let pushed = try await Outbox.push(to: repository, stateDirectory: stateDirectory)
            notice("uploaded \(pushed.sessions.count + pushed.forks.count) session(s) saved offline\(pushed.forks.isEmpty ? "" : ", \(pushed.forks.count) kept as fork(s)")")
        }
        return Opened(repository: repository, mirror: mirror, offline: false)
    }
}
