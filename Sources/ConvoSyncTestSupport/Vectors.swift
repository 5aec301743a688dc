public import Foundation

// The shapes of the Wycheproof-style vector files in Format/vectors: read by the tests,
// written only by Format/tools/vectors.

public struct EnvelopeVector: Codable, Sendable, CustomStringConvertible {
    public var tcId: Int
    public var comment: String
    public var key: String
    public var context: String
    public var plaintext: String
    public var sealed: String
    public var result: String
    public init(tcId: Int, comment: String, key: String, context: String, plaintext: String, sealed: String, result: String) {
        (self.tcId, self.comment, self.key, self.context, self.plaintext, self.sealed, self.result) = (tcId, comment, key, context, plaintext, sealed, result)
    }
    public var description: String { "tcId \(tcId): \(comment)" }
}

public struct PackVector: Codable, Sendable, CustomStringConvertible {
    public var tcId: Int
    public var comment: String
    public var key: String
    public var pack: String
    /// Blob IDs in header order, for valid packs.
    public var blobs: [String]
    public var result: String
    /// Expected FormatError code for invalid packs.
    public var error: String?
    public init(tcId: Int, comment: String, key: String, pack: String, blobs: [String], result: String, error: String? = nil) {
        (self.tcId, self.comment, self.key, self.pack, self.blobs, self.result, self.error) = (tcId, comment, key, pack, blobs, result, error)
    }
    public var description: String { "tcId \(tcId): \(comment)" }
}

public struct ChunkerVector: Codable, Sendable, CustomStringConvertible {
    public var tcId: Int
    public var comment: String
    public var seed: UInt64
    public var length: Int
    public var chunkLengths: [Int]
    public var result: String
    public init(tcId: Int, comment: String, seed: UInt64, length: Int, chunkLengths: [Int], result: String) {
        (self.tcId, self.comment, self.seed, self.length, self.chunkLengths, self.result) = (tcId, comment, seed, length, chunkLengths, result)
    }
    public var description: String { "tcId \(tcId): \(comment)" }
}

public struct KeyFileVector: Codable, Sendable, CustomStringConvertible {
    public var tcId: Int
    public var comment: String
    public var password: String
    public var keyFile: String
    public var masterKey: String
    public var result: String
    public init(tcId: Int, comment: String, password: String, keyFile: String, masterKey: String, result: String) {
        (self.tcId, self.comment, self.password, self.keyFile, self.masterKey, self.result) = (tcId, comment, password, keyFile, masterKey, result)
    }
    public var description: String { "tcId \(tcId): \(comment)" }
}

public struct MessagesVector: Codable, Sendable, CustomStringConvertible {
    public var tcId: Int
    public var comment: String
    public var content: String
    public var messages: [String]
    public var finalNewline: Bool
    public var result: String
    public var description: String { "tcId \(tcId): \(comment)" }
}

public struct RemapVector: Codable, Sendable, CustomStringConvertible {
    public struct Rule: Codable, Sendable {
        public var from: String
        public var to: String
    }
    public var tcId: Int
    public var comment: String
    public var rules: [Rule]
    public var input: String
    public var output: String
    public var result: String
    public var description: String { "tcId \(tcId): \(comment)" }
}

public struct RepoFileVector: Codable, Sendable, CustomStringConvertible {
    public var tcId: Int
    public var comment: String
    public var key: String
    public var context: String
    public var type: String
    public var stored: String
    public var plaintext: String
    public var result: String
    public var description: String { "tcId \(tcId): \(comment)" }
}
