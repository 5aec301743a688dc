import ConvoSyncFormat

extension Handle {
    /// `type/name` (e.g. `data/3f2a…`), how manifests and resume requests name a file.
    public var manifestName: String { "\(type.rawValue)/\(name)" }
}
