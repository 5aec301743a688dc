import Foundation
import ConvoSyncSessions
import ConvoSyncTestSupport
import Testing

@Suite("Agent layout, path remapping, remote URLs")
struct LayoutTests {
    @Test func claudeFoldsEveryNonAlphanumericUTF16Unit() {
        #expect(AgentLayout.claudeProjectFolder(for: "/home/user/my_project") == "-home-user-my-project")
        #expect(AgentLayout.claudeProjectFolder(for: "/Users/foo/Open Source/a.b+c") == "-Users-foo-Open-Source-a-b-c")
        // One dash per UTF-16 code unit: é is one unit, an emoji two.
        #expect(AgentLayout.claudeProjectFolder(for: "/tmp/é😀") == "-tmp----")
    }

    @Test func claudeTruncatesLongPathsAndAppendsTheirHash() {
        // Expected value computed independently (Python, JavaScript's int32 semantics).
        let path = "/home/user/" + String(repeating: "a-very-long-directory-name/", count: 8) + "project"
        let expected = "-home-user-" + String(repeating: "a-very-long-directory-name-", count: 7) + "-u7epmy"
        #expect(AgentLayout.claudeProjectFolder(for: path) == expected)
        #expect(AgentLayout.claudeProjectFolder(for: path).count == 207)
    }

    @Test("remap vectors rewrite exactly the recorded occurrences (SPEC §22)", arguments: try VectorFile<RemapVector>.load("remap.json").tests)
    func remap(_ v: RemapVector) {
        let remap = PathRemap(v.rules.map { PathRemap.Rule(from: $0.from, to: $0.to) })
        #expect(String(decoding: remap.apply(Array(v.input.utf8)), as: UTF8.self) == v.output)
    }

    /// The root each recorded session was made in: the first `cwd` (Codex: `payload.cwd`).
    static func recordedRoot(_ url: URL) throws -> String? {
        struct Line: Decodable {
            struct Payload: Decodable { var cwd: String? }
            var cwd: String?
            var payload: Payload?
        }
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n").prefix(50) {
            guard let decoded = try? JSONDecoder().decode(Line.self, from: Data(line.utf8)) else { continue }
            if let cwd = decoded.cwd ?? decoded.payload?.cwd { return cwd }
        }
        return nil
    }

    @Test("every occurrence of a recorded session's root is remapped (SPEC §22)", arguments: Paths.realSessions())
    func realRootsRemapped(_ url: URL) throws {
        let root = try #require(try Self.recordedRoot(url), "\(url.lastPathComponent) names its cwd")
        let bytes = Array(try Data(contentsOf: url))
        let out = String(decoding: PathRemap(from: root, to: "/elsewhere/checkout").apply(bytes), as: UTF8.self)
        let left = out.components(separatedBy: root).count - 1
        #expect(left == 0, "\(left) occurrence(s) of \(root) left in \(url.lastPathComponent)")
    }

    struct PathCase: Decodable, Sendable, CustomStringConvertible {
        var tcId: Int
        var comment: String
        var path: String
        var folder: String
        var description: String { "tcId \(tcId): \(comment)" }
    }

    @Test("Format/vectors/claude-paths.json holds the vectors it declares")
    func claudePathVectorCount() throws {
        let file = try VectorFile<PathCase>.load("claude-paths.json")
        #expect(file.tests.count == file.numberOfTests && file.tests.count >= 10)
    }

    @Test("Format/vectors/claude-paths.json: Claude Code's folder for each path", arguments: try VectorFile<PathCase>.load("claude-paths.json").tests)
    func claudePathVectors(_ t: PathCase) {
        #expect(AgentLayout.claudeProjectFolder(for: t.path) == t.folder)
    }

    @Test func remoteURLsNormaliseAcrossProtocolsAndLoseCredentials() {
        #expect(RemoteURL.normalize("git@github.com:Owner/Repo.git") == "github.com/Owner/Repo")
        #expect(RemoteURL.normalize("https://user:tok@GitHub.com/Owner/Repo.git/") == "github.com/Owner/Repo")
        #expect(RemoteURL.normalize("ssh://git@github.com:22/Owner/Repo") == "github.com/Owner/Repo")
        #expect(RemoteURL.normalize("/srv/git/project.git") == "/srv/git/project")
        #expect(RemoteURL.stripCredentials("https://user:tok@host/x.git") == "https://host/x.git")
        #expect(RemoteURL.stripCredentials("git@host:x.git") == "git@host:x.git")
    }
}
