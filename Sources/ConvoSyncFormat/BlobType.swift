/// What a blob holds; raw values are the type bytes of Format/SPEC.md §Frames and Pack format.
public enum BlobType: UInt8, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Bytes of a message or of a file chunk.
    case data = 0
    /// A conversation range: the message blob IDs of messages [start, end).
    case range = 1
    /// A directory listing of a snapshot.
    case tree = 2

    public var description: String {
        switch self {
        case .data: "data"
        case .range: "range"
        case .tree: "tree"
        }
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let t = BlobType.allCases.first(where: { $0.description == name }) else {
            throw FormatError(.unknownType, "unknown blob type '\(name)'")
        }
        self = t
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// Range and tree blobs are metadata: they go to their own packs so they can be read without data.
    public var isMetadata: Bool { self != .data }
}
