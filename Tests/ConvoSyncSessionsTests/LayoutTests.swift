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

    @Test func remapStopsAtPathBoundaries() {
        let remap = PathRemap(from: "/home/a/proj", to: "/Users/b/p")
        let line = #"{"cwd":"/home/a/proj","file":"/home/a/proj/src/x.swift","other":"/home/a/proj2","txt":"cd /home/a/proj\nls","esc":"\/home\/a\/proj\/y","dot":"/home/a/proj.old"}"#
        let out = String(decoding: remap.apply(Array(line.utf8)), as: UTF8.self)
        #expect(out == #"{"cwd":"/Users/b/p","file":"/Users/b/p/src/x.swift","other":"/home/a/proj2","txt":"cd /Users/b/p\nls","esc":"\/Users\/b\/p\/y","dot":"/home/a/proj.old"}"#)
        #expect(PathRemap(from: "/x", to: "/x").apply(Array("/x/y".utf8)) == Array("/x/y".utf8))
        // A root inside a longer path is not that root.
        let nested = #"{"a":"/backup/home/a/proj/x","b":"/home/a/proj/x"}"#
        #expect(String(decoding: remap.apply(Array(nested.utf8)), as: UTF8.self) == #"{"a":"/backup/home/a/proj/x","b":"/Users/b/p/x"}"#)
        // A target with a quote is written JSON-escaped.
        let quoted = PathRemap(from: "/home/a/proj", to: #"/Users/b/"q""#)
        #expect(String(decoding: quoted.apply(Array(#"{"cwd":"/home/a/proj"}"#.utf8)), as: UTF8.self) == #"{"cwd":"/Users/b/\"q\""}"#)
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
