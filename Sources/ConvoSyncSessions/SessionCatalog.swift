public import ConvoSync
public import ConvoSyncFormat
public import ConvoSyncStorage
import Foundation

/// A session some ref points at.
public struct SessionHead: Sendable {
    public var head: RefHead
    public var id: SessionID
    public var session: SessionFile
    /// Whether `head.ref` is a fork ref rather than the conversation's main ref.
    public var isFork: Bool { head.ref != session.ref }
}

/// Ref names. The server sees only these HMACs, never a conversation id.
public enum Refs {
    /// The main ref of one agent conversation.
    public static func conversation(_ agent: SessionFile.Agent, id: String, key: MasterKey) -> String {
        key.mac("conversation/\(agent.rawValue)/\(id)")
    }

    /// The ref a conflicting save is kept under.
    public static func fork(of ref: String, session: SessionID, key: MasterKey) -> String {
        key.mac("fork/\(ref)/\(session.hex)")
    }
}

public enum SessionCatalog {
    /// Every ref's current session, newest first. A head that is damaged (its ref version does
    /// not name a readable session of its conversation) is set aside and named through
    /// ``Repository/skip(_:)``, so it does not hide the other conversations (SPEC open
    /// question 21); asked for directly, through ``session(at:in:)``, it is an error.
    public static func heads(_ repository: Repository) async throws -> [SessionHead] {
        let heads: [String: RefHead]
        do { heads = try await repository.backend.refHeads() } catch { throw ConvoSyncError.wrap(error, file: "refs") }
        var out: [SessionHead] = []
        for head in heads.values {
            do { out.append(try await session(at: head, in: repository)) } catch let error as ConvoSyncError where error.code == .corrupted {
                await repository.skip(error.message)
            }
        }
        return out.sorted { a, b in a.session.time != b.session.time ? a.session.time > b.session.time : a.id.hex < b.id.hex }
    }

    /// The session a ref version points at. Ref contents are not authenticated (SPEC §26), so
    /// a ref version whose content was changed is caught here and named: its session must
    /// exist, open, and belong to the ref (its conversation's ref, or that ref's fork for it).
    public static func session(at head: RefHead, in repository: Repository) async throws -> SessionHead {
        let file = (try? Handle.ref(head.ref, version: head.version).relativePath) ?? "refs/\(head.ref)"
        let id: SessionID
        do { id = try SessionID(hex: head.target) } catch { throw ConvoSyncError.wrap(error, file: file) }
        let session: SessionFile
        do {
            session = try await repository.load(SessionFile.self, id: id)
        } catch let error as ConvoSyncError where error.code == .notFound || error.code == .corrupted {
            let what = error.code == .notFound ? "which is missing" : "which cannot be read (\(error.message))"
            throw ConvoSyncError(.corrupted, "\(file) names sessions/\(id.hex), \(what): the ref version is damaged or the session file was deleted. Put the file back from a copy of the repository; the conversation's other versions are in refs/\(head.ref)-*", cause: error)
        }
        guard try await belongs(head, id: id, session: session, in: repository) else {
            throw ConvoSyncError(.corrupted, "\(file) names sessions/\(id.short), a session of another conversation: the ref version is damaged. Put the file back from a copy of the repository; the conversation's other versions are in refs/\(head.ref)-*")
        }
        return SessionHead(head: head, id: id, session: session)
    }

    /// Whether `session` may be what `head` names: the head is of the session's conversation
    /// ref, or of a fork of it. A fork ref is named after the session it was made for (its
    /// version 1); later versions name the sessions that continued that fork.
    static func belongs(_ head: RefHead, id: SessionID, session: SessionFile, in repository: Repository) async throws -> Bool {
        if head.ref == session.ref || head.ref == Refs.fork(of: session.ref, session: id, key: repository.key) { return true }
        guard head.version > 1, let first = try? await repository.backend.load(Handle.ref(head.ref, version: 1)),
              let firstID = try? SessionID(hex: String(decoding: first, as: UTF8.self))
        else { return false }
        return head.ref == Refs.fork(of: session.ref, session: firstID, key: repository.key)
    }

    /// The current head of `ref`, if the ref exists.
    public static func head(_ ref: String, in repository: Repository) async throws -> RefHead? {
        do { return try await repository.backend.refHead(ref) } catch { throw ConvoSyncError.wrap(error, file: "refs/\(ref)") }
    }

    /// The head (main or fork ref) that points at session `id`, if it is a head: its
    /// conversation's ref, the fork ref named after it, or a fork ref it continued (found among
    /// all heads, which is one listing of `refs/`).
    public static func head(of id: SessionID, _ session: SessionFile, in repository: Repository) async throws -> RefHead? {
        for ref in [session.ref, Refs.fork(of: session.ref, session: id, key: repository.key)] {
            if let head = try await head(ref, in: repository), head.target == id.hex { return head }
        }
        let heads: [String: RefHead]
        do { heads = try await repository.backend.refHeads() } catch { throw ConvoSyncError.wrap(error, file: "refs") }
        for head in heads.values.sorted(by: { $0.ref < $1.ref }) where head.target == id.hex {
            if try await belongs(head, id: id, session: session, in: repository) { return head }
        }
        return nil
    }

    /// The newest head whose code is in `repositoryKey` (a normalised remote URL), or in one of
    /// `otherKeys` (the checkout's other remotes).
    public static func latest(_ repository: Repository, repositoryKey: String?, otherKeys: Set<String> = []) async throws -> SessionHead {
        let all = try await heads(repository)
        guard let repositoryKey else {
            throw ConvoSyncError(.invalidArgument, "this checkout has no git remote, so its sessions cannot be told apart from other projects'; name one: convosync resume ID (see convosync sessions --all)")
        }
        let keys = otherKeys.union([repositoryKey])
        let matching = all.filter { $0.session.code.repository.map(keys.contains) ?? false }
        guard let first = matching.first else {
            if all.isEmpty { throw ConvoSyncError(.notFound, "the repository has no saved sessions yet; run convosync save on the device you worked on") }
            throw ConvoSyncError(.notFound, "no saved session belongs to this project (\(repositoryKey)); \(all.count) session(s) belong to other projects: see convosync sessions --all")
        }
        return first
    }

    /// A session by ID prefix (any saved session, not only heads).
    public static func find(_ repository: Repository, prefix: String) async throws -> (SessionID, SessionFile) {
        let id = try await repository.resolve(prefix, type: .session, as: SessionID.self)
        return (id, try await repository.load(SessionFile.self, id: id))
    }
}
