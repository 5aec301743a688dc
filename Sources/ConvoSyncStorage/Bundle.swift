import ConvoSyncFormat

/// A run of repository files in one byte stream: what `POST /api/v1/<user>/<repo>/sessions/save`
/// carries (Format/API.md §Bundle).
///
/// ```
/// bundle = "CSBN" ‖ u8 version (1) ‖ entry* ‖ u8 0
/// entry  = u8 len(type) ‖ type ‖ u8 len(name) ‖ name ‖ u64 size (big-endian) ‖ size bytes
/// ```
/// `type` is a directory name of Format/SPEC.md §Layout (`data`, `index`, `snapshots`,
/// `sessions`, `refs`, …) and `name` a file name valid for it. A `refs` entry, if any, comes
/// last and is the compare-and-swap that makes the rest visible.
public enum BundleFormat {
    public static let magic: [UInt8] = Array("CSBN".utf8)
    public static let version: UInt8 = 1
    public static let contentType = "application/vnd.convosync.bundle.v1"

    /// The entry type of a save's manifest: named by its session, holding JSON
    /// `{"parent": SESSION|null, "needs": ["type/name", …]}` (Format/API.md §Manifest).
    public static let manifestType = "manifest"

    public static func header() -> [UInt8] { magic + [version] }

    public static func entryHeader(_ handle: Handle, size: Int) -> [UInt8] {
        entryHeader(type: handle.type.rawValue, name: handle.name, size: size)
    }

    public static func entryHeader(type typeName: String, name nameText: String, size: Int) -> [UInt8] {
        let type = Array(typeName.utf8)
        let name = Array(nameText.utf8)
        var out: [UInt8] = [UInt8(type.count)] + type + [UInt8(name.count)] + name
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(size) >> UInt64(shift))) }
        return out
    }

    public static let end: [UInt8] = [0]

    /// Encodes whole files (for small bundles built in memory).
    public static func encode(_ files: [(Handle, [UInt8])]) -> [UInt8] {
        var out = header()
        for (handle, data) in files {
            out += entryHeader(handle, size: data.count)
            out += data
        }
        return out + end
    }
}

/// A backend that can carry a save's manifest to the server (Format/API.md §Manifest): the
/// session's parent and the files it reuses, so a later resume is answered in one response.
public protocol SessionManifestSink: Sendable {
    func declareManifest(session: String, parent: String?, needs: [Handle]) async
}

extension Handle {
    /// `type/name` (e.g. `data/3f2a…`), how manifests and resume requests name a file.
    public var manifestName: String { "\(type.rawValue)/\(name)" }
}
