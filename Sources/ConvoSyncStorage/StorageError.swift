/// The one error type thrown by backends.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case notFound, alreadyExists, invalidName, io, outOfSpace, permissionDenied, unavailable, conflict
        }
        private let value: Value
        private init(_ v: Value) { value = v }
        /// No file of that name (or no repository at that location).
        public static let notFound = Code(.notFound)
        /// A write-once file exists already.
        public static let alreadyExists = Code(.alreadyExists)
        /// The name is not one the layout allows (e.g. not 64 hex digits, or a path).
        public static let invalidName = Code(.invalidName)
        /// Any other I/O failure.
        public static let io = Code(.io)
        /// The disk or quota is full.
        public static let outOfSpace = Code(.outOfSpace)
        public static let permissionDenied = Code(.permissionDenied)
        /// The backend cannot be reached.
        public static let unavailable = Code(.unavailable)
        /// A compare-and-swap found a different current value (a ref moved on).
        public static let conflict = Code(.conflict)
        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    public var location: String

    public init(_ code: Code, _ message: String, location: String = #function) {
        (self.code, self.message, self.location) = (code, message, location)
    }

    public var description: String { message }
}
