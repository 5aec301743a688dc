public import ConvoSyncProtocol
import ConvoSyncStorage
public import Foundation

// The server's state that outlives a request, each behind a protocol with today's
// implementation (in this process, or in the object store next to the repository's files).
// A second instance of the server needs implementations that share the state (PostgreSQL, as
// the accounts already are): they only add conformances; no route changes.

/// What time it is, for everything where time decides (token lifetimes, the login lockout,
/// device timestamps). Tests pass a ``ManualClock`` instead of sleeping.
public protocol ServerClock: Sendable {
    var now: Date { get }
}

public struct SystemClock: ServerClock {
    public init() {}
    public var now: Date { Date() }
}

/// A clock that moves only when told to.
public final class ManualClock: ServerClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    public init(_ start: Date = Date(timeIntervalSince1970: 1_790_000_000)) { current = start }
    public var now: Date { lock.withLock { current } }
    public func advance(by seconds: TimeInterval) { lock.withLock { current += seconds } }
}

/// Fans "session saved" events out to the connections of each user (``EventHub``: in this
/// process).
public protocol EventBus: Sendable {
    /// A stream of the user's events but those caused by `device`; nil when the user has too
    /// many connections already.
    func subscribe(user: String, device: String?) async -> (UUID, AsyncStream<SessionSavedEvent>)?
    func unsubscribe(user: String, id: UUID) async
    func publish(user: String, from device: String?, event: SessionSavedEvent) async
    /// Ends the streams of one device (revoked).
    func disconnect(user: String, device: String) async
    /// Ends every stream (shutdown).
    func finishAll() async
}

/// Bytes each user stores, for quotas (``UsageTracker``: counted from the object store once,
/// then kept in this process).
public protocol UsageLedger: Sendable {
    func usage(_ user: String) async throws -> Int
    func add(_ user: String, _ delta: Int) async
}

/// Bytes the saves of each conversation stored, for `MAX_CONVERSATION_SIZE`
/// (``ObjectStoreConversations``: a counter file beside the repository).
public protocol ConversationLedger: Sendable {
    func bytes(_ ref: String, in store: RepositoryStore) async throws -> Int
    func add(_ ref: String, _ bytes: Int, in store: RepositoryStore) async
}

/// What the server keeps of each save's manifest: the session's parent and the files it
/// needs beyond the parent's (``ObjectStoreManifests``: a file per session beside the
/// repository).
public protocol ManifestStore: Sendable {
    func manifest(of session: String, in store: RepositoryStore) async throws -> StoredManifest?
    /// Write-once: a later manifest for the same session leaves the first alone.
    func record(_ manifest: StoredManifest, of session: String, in store: RepositoryStore) async throws
}

/// A save's manifest as the server stores it.
public struct StoredManifest: Codable, Sendable {
    /// The parent session (its manifest covers what this one does not list).
    public var parent: String?
    /// `type/name` of every file this session needs beyond its parent's.
    public var files: [String]
}

/// The state of one server: where each kind lives.
public struct ServerState: Sendable {
    public var events: any EventBus
    public var usage: any UsageLedger
    public var conversations: any ConversationLedger
    public var manifests: any ManifestStore

    /// Today's: events and usage in this process, conversations and manifests in `objects`.
    public static func local(objects: any ObjectStore, events: any EventBus = EventHub()) -> ServerState {
        ServerState(events: events, usage: UsageTracker(objects: objects), conversations: ObjectStoreConversations(objects: objects),
                    manifests: ObjectStoreManifests(objects: objects))
    }
}

/// Conversation byte counts in `<repo>/conversations/<ref>` (a read-modify-write: two
/// instances saving to one conversation at once could lose an addition).
public struct ObjectStoreConversations: ConversationLedger {
    let objects: any ObjectStore

    public func bytes(_ ref: String, in store: RepositoryStore) async throws -> Int {
        try await objects.get(store.key("conversations/\(ref)"))
            .flatMap { Int(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
    }

    public func add(_ ref: String, _ bytes: Int, in store: RepositoryStore) async {
        guard let current = try? await self.bytes(ref, in: store) else { return }
        _ = try? await objects.put(Array(String(current + bytes).utf8), at: store.key("conversations/\(ref)"), ifAbsent: false)
    }
}

/// Manifests in `<repo>/manifests/<session>`.
public struct ObjectStoreManifests: ManifestStore {
    let objects: any ObjectStore

    public func manifest(of session: String, in store: RepositoryStore) async throws -> StoredManifest? {
        guard let data = try await objects.get(store.key("manifests/\(session)")) else { return nil }
        return try? JSONDecoder().decode(StoredManifest.self, from: Data(data))
    }

    public func record(_ manifest: StoredManifest, of session: String, in store: RepositoryStore) async throws {
        try await objects.put(Array(try JSONEncoder().encode(manifest)), at: store.key("manifests/\(session)"), ifAbsent: true)
    }
}

extension EventHub: EventBus {}
extension UsageTracker: UsageLedger {}
