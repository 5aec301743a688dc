/// The one error type thrown by ConvoSyncFormat's decoders and codecs.
///
/// Shaped like swift-nio's `FileSystemError`: an extensible ``Code``, a message that says
/// what went wrong (and, where it can, what to do), and the decoder that found it.
public struct FormatError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case truncated, invalidHeader, unknownType, authenticationFailed
            case unsupportedVersion, invalidEncoding, compression, hashMismatch, invalidParameter
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The input ended before the structure it encodes.
        public static let truncated = Code(.truncated)
        /// A length, count or magic value is out of range.
        public static let invalidHeader = Code(.invalidHeader)
        /// A type or codec byte is not one the spec defines.
        public static let unknownType = Code(.unknownType)
        /// AES-GCM rejected the tag: the data was altered or the key is wrong.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The file declares a format version this build does not read.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// JSON or hex that does not parse.
        public static let invalidEncoding = Code(.invalidEncoding)
        /// A compressed frame that does not decompress to its declared length.
        public static let compression = Code(.compression)
        /// Bytes whose SHA-256 is not the ID they are stored under.
        public static let hashMismatch = Code(.hashMismatch)
        /// A parameter outside the range the spec allows.
        public static let invalidParameter = Code(.invalidParameter)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// The decoder or codec that raised the error, e.g. `"PackReader.header"`.
    public var location: String

    public init(_ code: Code, _ message: String, location: String = #function) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String { message }
}
