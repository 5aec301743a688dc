public import ConvoSyncFormat

/// Refs with compare-and-swap on any write-once backend.
///
/// Implements Format/SPEC.md §Refs: version *n* of ref *r* is the file `refs/<r>-<n>` holding
/// the target's name. Advancing from version *n* writes version *n + 1*; since a backend's
/// `save` never replaces a file, exactly one of two writers racing from the same *n* wins
/// and the other gets `.conflict`. The history stays, which makes the versions an audit log.
extension Backend {
    /// Every ref's newest version.
    public func refHeads() async throws -> [String: RefHead] {
        var heads: [String: RefHead] = [:]
        for (ref, handle) in try await newestVersions() { heads[ref] = try await readRef(handle) }
        return heads
    }

    /// One ref's newest version, or nil if the ref does not exist. Reads only that ref's file.
    public func refHead(_ ref: String) async throws -> RefHead? {
        guard let handle = try await newestVersions(of: ref)[ref] else { return nil }
        return try await readRef(handle)
    }

    /// The newest version file of each ref (of `only` when given), from one listing.
    private func newestVersions(of only: String? = nil) async throws -> [String: Handle] {
        var newest: [String: Handle] = [:]
        for info in try await list(.ref) {
            guard let ref = info.handle.ref else { continue }
            if let only, ref != only { continue }
            if let current = newest[ref], current.name >= info.handle.name { continue }
            newest[ref] = info.handle
        }
        return newest
    }

    /// Points `ref` at `target` if its current version is `expected` (0: the ref must not exist).
    ///
    /// Throws ``StorageError`` `.conflict` when another writer advanced the ref first.
    @discardableResult
    public func advanceRef(_ ref: String, from expected: Int, to target: String) async throws -> RefHead {
        let handle = try Handle.ref(ref, version: expected + 1)
        do {
            try await save(handle, data: Array(target.utf8))
        } catch let error as StorageError where error.code == .alreadyExists {
            throw StorageError(.conflict, "ref \(ref.prefix(12)) moved past version \(expected)")
        }
        return RefHead(ref: ref, version: expected + 1, target: target)
    }

    private func readRef(_ handle: Handle) async throws -> RefHead {
        let bytes = try await load(handle)
        guard let target = String(validating: bytes, as: UTF8.self), Handle.isValidName(target) else {
            throw StorageError(.io, "\(handle) does not hold a file name")
        }
        guard let name = handle.refVersionName else { throw StorageError(.invalidName, "\(handle) is not a ref version") }
        return RefHead(ref: name.ref, version: name.version, target: target)
    }
}
