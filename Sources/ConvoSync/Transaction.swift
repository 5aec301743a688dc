public import ConvoSyncFormat
public import ConvoSyncStorage

/// A ref's compare-and-swap at the end of a commit: move `ref` from version `expected` (0: the
/// ref must not exist) to a new version naming `target`.
public struct RefUpdate: Sendable {
    public var ref: String
    public var expected: Int
    public var target: String
    /// What the target session builds on, for destinations that keep a manifest of it (the
    /// session API answers a resume in one response from these).
    public var lineage: Lineage?

    public init(ref: String, expected: Int, target: String, lineage: Lineage? = nil) {
        (self.ref, self.expected, self.target, self.lineage) = (ref, expected, target, lineage)
    }
}

/// A session's parent and the stored files (packs, index files) it reuses.
public struct Lineage: Sendable {
    public var parent: String?
    public var reused: [Handle]
    public init(parent: String?, reused: [Handle]) { (self.parent, self.reused) = (parent, reused) }
}

/// How a commit ended: the ref moved (to `head`), or another writer had moved it first (to
/// `current`, nil when that could not be read); the files stay stored either way.
public enum CommitOutcome: Sendable, Equatable {
    case applied(RefHead)
    case conflict(current: RefHead?)
}

/// Where a commit's files and ref update go, in the order of Format/SPEC.md §25: every file
/// first (packs before the index files that name them, then snapshots, then sessions), the
/// ref last, so a reader never finds a name whose file is missing. One implementation per
/// destination: a backend (``BackendDestination``), the session API (one request per commit),
/// a device's offline outbox (a backend in the state directory).
public protocol CommitDestination: Sendable {
    /// Where the files go, for messages.
    var location: String { get }
    /// Whether ``RefUpdate/lineage`` is used (it costs an index lookup per reused blob).
    var keepsLineage: Bool { get }
    /// Adds one content-addressed file to the commit. A file of that name that exists already
    /// holds the same bytes: not an error.
    func write(_ handle: Handle, _ bytes: [UInt8]) async throws
    /// Makes every file written so far durable and then applies `update`.
    func commit(_ update: RefUpdate) async throws -> CommitOutcome
}

/// Files straight to a backend as they come, then the ref's compare-and-swap: exactly one of
/// two writers of the same next version succeeds, since a backend never replaces a file.
public struct BackendDestination: CommitDestination {
    public let backend: any Backend
    public var location: String { backend.location }
    public var keepsLineage: Bool { false }

    public init(_ backend: any Backend) { self.backend = backend }

    public func write(_ handle: Handle, _ bytes: [UInt8]) async throws {
        do { try await backend.save(handle, data: bytes) } catch let e as StorageError where e.code == .alreadyExists {}
    }

    public func commit(_ update: RefUpdate) async throws -> CommitOutcome {
        do {
            return .applied(try await backend.advanceRef(update.ref, from: update.expected, to: update.target))
        } catch let error as StorageError where error.code == .conflict {
            return .conflict(current: try? await backend.refHead(update.ref))
        }
    }
}

/// The line a save continues, decided from what the device knows and what the ref holds now
/// (Format/SPEC.md §20): one decision for save, retry after a conflict, and the outbox's push.
public enum LineDecision: Sendable, Equatable {
    /// Move the ref from this version.
    case advance(from: Int)
    /// Keep the save under its own fork ref: the ref holds messages this save lacks.
    case fork

    /// `known`: the version this device last saw; `head`: the ref's current head, and whether
    /// that head's transcript is a prefix of the one being saved. Advancing from the device's
    /// own version is always tried first; a head that is a prefix is overtaken (nothing of it
    /// is lost); any other head means another device moved on.
    public static func decide(known: Int, head: RefHead?, headIsPrefix: Bool) -> LineDecision {
        guard let head, head.version != known else { return .advance(from: known) }
        return headIsPrefix ? .advance(from: head.version) : .advance(from: known)
    }

    /// After a conflict: continue from the head that won if it is a prefix, else fork.
    public static func afterConflict(current: RefHead?, currentIsPrefix: Bool) -> LineDecision {
        guard let current, currentIsPrefix else { return .fork }
        return .advance(from: current.version)
    }
}
