/// The format's version and the labels derived from it, in one place (Format/SPEC.md §3, §28):
/// every file's `version` field, the pack header's version byte, the envelope's associated
/// data, the HKDF labels and the chunker's gear table all say "1" through this.
public enum FormatVersion {
    /// The version this build writes and the only one it reads.
    public static let current = 1

    /// `"convosync/<version>/" ‖ label`: the domain of every string the format hashes, derives
    /// from or authenticates.
    public static func label(_ label: String) -> String { "convosync/\(current)/\(label)" }
}
