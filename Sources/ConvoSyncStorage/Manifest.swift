import ConvoSyncFormat

/// A backend that can carry a save's manifest to the server (Format/API.md §Manifest): the
/// session's parent and the files it reuses, so a later resume is answered in one response.
public protocol SessionManifestSink: Sendable {
    func declareManifest(session: String, parent: String?, needs: [Handle]) async
}

extension Handle {
    /// `type/name` (e.g. `data/3f2a…`), how manifests and resume requests name a file.
    public var manifestName: String { "\(type.rawValue)/\(name)" }
}
