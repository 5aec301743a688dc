import ConvoSync
public import Foundation

/// Registers `convosync backup --agents` as a Claude Code hook, so every session is captured
/// before Claude Code's cleanup (30 days by default) deletes old transcripts.
///
/// Edits `<claude config dir>/settings.json` in place: other settings and hooks are kept,
/// the entry is added once (running it again changes nothing), and the previous file is
/// kept as `settings.json.convosync-bak`.
public enum ClaudeHook {
    /// The hook events that run the backup: the end of a session, and before a compaction
    /// rewrites the conversation.
    public static let events = ["SessionEnd", "PreCompact"]

    public struct Result: Sendable, Codable {
        public var settings: String
        public var command: String
        /// Events the hook was added to (empty when it was there already).
        public var added: [String]
    }

    public static func install(command: String, homes: AgentHomes) throws -> Result {
        let path = (homes.claude as NSString).appendingPathComponent("settings.json")
        var settings: [String: JSONValue] = [:]
        let existing = FileManager.default.contents(atPath: path)
        if let existing, !existing.isEmpty {
            guard let parsed = try? JSONDecoder().decode([String: JSONValue].self, from: existing) else {
                throw ConvoSyncError(.invalidArgument, "\(path) is not a JSON object; fix or move it, then run install-hook again")
            }
            settings = parsed
        }
        guard case .object(var hooks) = settings["hooks"] ?? .object([:]) else {
            throw ConvoSyncError(.invalidArgument, "\(path): \"hooks\" is not a JSON object; fix it, then run install-hook again")
        }
        var added: [String] = []
        for event in events {
            var groups = hooks[event]?.array ?? []
            let present = groups.contains { group in
                (group["hooks"]?.array ?? []).contains { $0["command"]?.string == command }
            }
            if present { continue }
            groups.append(.object(["hooks": .array([.object(["type": .string("command"), "command": .string(command)])])]))
            hooks[event] = .array(groups)
            added.append(event)
        }
        guard !added.isEmpty else { return Result(settings: path, command: command, added: []) }
        settings["hooks"] = .object(hooks)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(settings)
        try FileManager.default.createDirectory(atPath: homes.claude, withIntermediateDirectories: true)
        if let existing { try AtomicFileWriter.write(Array(existing), to: path + ".convosync-bak", mode: 0o600) }
        try AtomicFileWriter.write(Array(data) + [UInt8(ascii: "\n")], to: path, mode: 0o600)
        return Result(settings: path, command: command, added: added)
    }
}
