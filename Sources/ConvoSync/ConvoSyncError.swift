import ConvoSyncFormat
import ConvoSyncStorage

/// The one error type thrown by the repository engine.
///
/// Lower layers' errors (``FormatError``, ``StorageError``) are wrapped with the file they
/// concern, so a message always names what is wrong and where.
public struct ConvoSyncError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case notFound, alreadyExists, locked, wrongPassword, corrupted, backend, noRepository, invalidArgument, outOfSpace, unsafeCodeState, conflict, git
        }
        private let value: Value
        private init(_ v: Value) { value = v }
        /// A snapshot, blob or file that was asked for does not exist.
        public static let notFound = Code(.notFound)
        public static let alreadyExists = Code(.alreadyExists)
        public static let locked = Code(.locked)
        /// No key file opens with the given password.
        public static let wrongPassword = Code(.wrongPassword)
        /// Stored bytes fail authentication, hashing or parsing.
        public static let corrupted = Code(.corrupted)
        /// The backend failed (I/O, network).
        public static let backend = Code(.backend)
        /// There is no repository at the location.
        public static let noRepository = Code(.noRepository)
        public static let invalidArgument = Code(.invalidArgument)
        /// The disk or quota is full; nothing partial was left behind.
        public static let outOfSpace = Code(.outOfSpace)
        /// The local code cannot be brought to a session's state safely (dirty tree, diverged
        /// branch, missing commit); nothing was changed.
        public static let unsafeCodeState = Code(.unsafeCodeState)
        /// Another device moved a conversation on; this save was kept as a fork.
        public static let conflict = Code(.conflict)
        /// A git command failed (push rejected, no upstream, fetch failed).
        public static let git = Code(.git)
        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?
    public var location: String

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil, location: String = #function) {
        (self.code, self.message, self.cause, self.location) = (code, message, cause, location)
    }

    public var description: String { message }

    /// Wraps a lower layer's error, naming the file it concerns.
    public static func wrap(_ error: any Error, file: String) -> ConvoSyncError {
        switch error {
        case let e as ConvoSyncError: return e
        case let e as FormatError: return ConvoSyncError(.corrupted, "\(file): \(e.message)", cause: e)
        case let e as StorageError:
            switch e.code {
            case .notFound: return ConvoSyncError(.notFound, "\(file) is missing from the repository", cause: e)
            case .outOfSpace: return ConvoSyncError(.outOfSpace, e.message, cause: e)
            case .alreadyExists: return ConvoSyncError(.alreadyExists, e.message, cause: e)
            default: return ConvoSyncError(.backend, e.message, cause: e)
            }
        default: return ConvoSyncError(.backend, "\(file): \(error)", cause: error)
        }
    }
}
