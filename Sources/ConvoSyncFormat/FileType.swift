/// The kinds of file a repository holds; raw values are the spec's directory names.
///
/// Implements Format/SPEC.md §Layout.
public enum FileType: String, CaseIterable, Sendable, Codable {
    case config
    case key = "keys"
    case pack = "data"
    case index
    case snapshot = "snapshots"
    case lock = "locks"
    /// Session records: what `convosync save` wrote (Format/SPEC.md §Sessions).
    case session = "sessions"
    /// Conversation refs: write-once version files, `<ref>-<version>` (Format/SPEC.md §Refs).
    case ref = "refs"

    /// Packs are spread over 256 subdirectories named by the first two hex digits.
    public var isSharded: Bool { self == .pack }

    /// The order in which one commit's files are written (Format/SPEC.md §25): data before what
    /// names it, so a reader never finds a name whose file is missing. A commit's ref version
    /// comes after all of them.
    public static let commitOrder: [FileType] = [.pack, .index, .snapshot, .session]

    /// This type's place in ``commitOrder`` (types outside it come after).
    public var commitRank: Int { Self.commitOrder.firstIndex(of: self) ?? Self.commitOrder.count }
}

/// What an envelope's ciphertext is, bound into AES-GCM's associated data so that a file
/// decrypted as the wrong kind fails authentication.
///
/// Implements Format/SPEC.md §Encryption envelope.
public enum EnvelopeContext: String, Sendable, CaseIterable {
    case key
    case config
    case index
    case snapshot
    case lock
    case session
    case frame
    case packHeader = "pack-header"

    /// The associated data: `"convosync/1/" ‖ rawValue`, ASCII.
    public var associatedData: [UInt8] { Array(FormatVersion.label(rawValue).utf8) }
}
