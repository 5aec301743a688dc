/// Implements Format/SPEC.md §18 (Refs): the names of refs and of their versions, parsed and
/// formatted here and nowhere else.
public enum RefName {
    /// A ref's name: 64 lowercase hex digits (an HMAC the storage cannot invert).
    public static func isValid(_ name: some StringProtocol) -> Bool {
        name.utf8.count == 64 && name.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// One version of a ref: the file `refs/<ref>-<version>`, the version in 10 decimal digits
/// from `0000000001` (version 0 is no version: "the ref does not exist").
public struct RefVersion: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let ref: String
    public let version: Int

    public static let maxVersion = 9_999_999_999

    public init(ref: String, version: Int) throws(FormatError) {
        guard RefName.isValid(ref) else { throw FormatError(.invalidEncoding, "'\(ref.prefix(80))' is not a ref name (64 lowercase hex digits)") }
        guard (1...Self.maxVersion).contains(version) else { throw FormatError(.invalidEncoding, "ref version \(version) is out of range (1 to \(Self.maxVersion))") }
        (self.ref, self.version) = (ref, version)
    }

    /// Parses a ref version's file name, `<64 hex digits>-<10 digits>`.
    public init(fileName: String) throws(FormatError) {
        let u = Array(fileName.utf8)
        guard u.count == 75, u[64] == UInt8(ascii: "-"), u[65...].allSatisfy({ (48...57).contains($0) }),
              let version = Int(String(decoding: u[65...], as: UTF8.self))
        else { throw FormatError(.invalidEncoding, "'\(fileName.prefix(80))' is not a ref version's name (64 lowercase hex digits, '-', 10 decimal digits)") }
        try self.init(ref: String(decoding: u[..<64], as: UTF8.self), version: version)
    }

    /// `<ref>-<version, 10 digits>`.
    public var fileName: String {
        let digits = String(version)
        return ref + "-" + String(repeating: "0", count: 10 - digits.count) + digits
    }

    public var description: String { fileName }

    public static func < (a: RefVersion, b: RefVersion) -> Bool { (a.ref, a.version) < (b.ref, b.version) }
}

/// The current value of a ref: its newest version and the file name it holds (a session's).
public struct RefHead: Hashable, Sendable, Codable {
    /// The ref's name: 64 hex digits.
    public var ref: String
    /// 1 for the first value, +1 for each advance.
    public var version: Int
    /// What the ref points at (a session file's name).
    public var target: String

    public init(ref: String, version: Int, target: String) { (self.ref, self.version, self.target) = (ref, version, target) }
}
