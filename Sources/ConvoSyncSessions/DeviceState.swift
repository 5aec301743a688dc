public import ConvoSyncFormat
import ConvoSync
public import ConvoSyncStorage
import Foundation

/// What this device last saw of each conversation ref in one repository.
///
/// A save is a fast-forward only from the version this device last saved or resumed; any
/// other current version means another device moved on, and the save becomes a fork.
/// Stored as JSON at `<state dir>/<repository id>.json` (`$CONVOSYNC_STATE_DIR`, else
/// `$XDG_STATE_HOME/convosync`, else `~/.local/state/convosync`). It holds ref names (HMACs)
/// and file names only, nothing secret.
public struct DeviceState: Codable, Sendable {
    public var refs: [String: RefHead] = [:]
    /// For a conversation's main ref, the ref this device continues: the main ref itself, or
    /// the fork it saved or resumed last.
    public var lines: [String: String] = [:]
    /// The SHA-256 (hex) of each Claude Code project memory file, by path, as this device last
    /// saved or resumed it: a local file that still has it has not changed since, so a resume
    /// may replace it; one that has changed is kept. Absent in state files written before 2026-12.
    public var memory: [String: String]?

    public init() {}

    public static func directory(environment: [String: String]) -> String {
        if let dir = environment["CONVOSYNC_STATE_DIR"], !dir.isEmpty { return dir }
        if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty { return (xdg as NSString).appendingPathComponent("convosync") }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".local/state/convosync")
    }

    static func path(repositoryID: String, directory: String) -> String {
        (directory as NSString).appendingPathComponent("\(repositoryID).json")
    }

    public static func load(repositoryID: String, directory: String) throws -> DeviceState {
        let path = path(repositoryID: repositoryID, directory: directory)
        guard let data = FileManager.default.contents(atPath: path) else { return DeviceState() }
        do { return try JSONDecoder().decode(DeviceState.self, from: data) } catch {
            throw ConvoSyncError(.corrupted, "\(path) is not valid device state (\(error.localizedDescription)); delete it to start over (the next save of each conversation may then fork)")
        }
    }

    public func save(repositoryID: String, directory: String) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ConvoSyncError(.backend, "cannot create \(directory): \(error.localizedDescription)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        try AtomicFileWriter.write(Array(data), to: Self.path(repositoryID: repositoryID, directory: directory), mode: 0o600)
    }
}
