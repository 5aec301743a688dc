import AsyncHTTPClient
import ConvoSync
import ConvoSyncFormat
import ConvoSyncREST
import ConvoSyncServer
import ConvoSyncSessions
import ConvoSyncStorage
import ConvoSyncTestSupport
import Foundation
import Logging
import NIOHTTP1
import Testing

/// A real S3-compatible endpoint on loopback: moto's server (PyPI `moto[server]`, installed by
/// .ci/setup), in memory, on a free port.
final class MotoServer: @unchecked Sendable {
    let port: Int
    let process: Process
    var endpoint: String { "http://127.0.0.1:\(port)" }

    init() throws {
        // The port was free when freePort() looked; moto exits if another process took it
        // before it bound it, and then the next try takes another port.
        for _ in 1...3 {
            let port = try PostgresServer.freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            // Not `os.closerange` in the child: Foundation learns that a child ended when a socket
            // the child inherited closes, so a child that closes it looks ended and Foundation's one
            // process-monitor thread blocks in waitpid on it, stalling every other Process. (Foundation
            // already closes every other descriptor in the child.)
            process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
            // Output to /dev/null, so nothing waits on a pipe.
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<300 {
                if PostgresServer.accepts(port), process.isRunning {
                    (self.port, self.process) = (port, process)
                    return
                }
                guard process.isRunning else { break }
                usleep(50_000)
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        throw TestFailure("moto's S3 server did not start (pip install 'moto[server]'; .ci/setup installs it)")
    }

    func configuration(bucket: String = "convosync-test") -> S3Configuration {
        var s3 = S3Configuration(bucket: bucket, accessKey: "test-access-key", secretKey: "test-secret-key")
        s3.endpoint = endpoint
        s3.prefix = "tenant/"
        return s3
    }

    /// Every object in the bucket, read back whole.
    func objects(_ s3: S3Configuration) async throws -> [(String, [UInt8])] {
        let store = S3Store(s3, staging: URL(fileURLWithPath: NSTemporaryDirectory()))
        var out: [(String, [UInt8])] = []
        for object in try await store.list(prefix: "") {
            out.append((object.key, try await store.get(object.key) ?? []))
        }
        return out
    }

    /// moto's server ignores SIGTERM; it holds nothing worth a clean shutdown.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite("STORAGE_BACKEND=s3", .serialized)
struct S3Tests {
    @Test("SigV4 signatures equal botocore's (AWS's documented GET example, and a listing on a custom endpoint)")
    func signatures() {
        let signer = SigV4(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
        let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
        let get = signer.authorization(
            method: "GET", path: "/test.txt", query: [],
            headers: ["host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9", "x-amz-content-sha256": SigV4.emptyPayloadHash, "x-amz-date": "20130524T000000Z"],
            payloadHash: SigV4.emptyPayloadHash, date: date)
        #expect(get.hasSuffix("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
        #expect(get.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"))
        // botocore's S3SigV4Auth on the same request, its URL given as
        // http://127.0.0.1:9000/bucket?list-type=2&prefix=alice%2Fnotes%2Frefs%2Fab- (AWS encodes '/' in query values).
        let list = signer.authorization(
            method: "GET", path: "/bucket", query: [("list-type", "2"), ("prefix", "alice/notes/refs/ab-")],
            headers: ["host": "127.0.0.1:9000", "x-amz-content-sha256": SigV4.emptyPayloadHash, "x-amz-date": "20130524T000000Z"],
            payloadHash: SigV4.emptyPayloadHash, date: date)
        #expect(list.hasSuffix("Signature=571085bd48174537475c3fb3c25b7dfe42f3bb0e08d5f5456c81a6ce32f62bb6"))
        #expect(SigV4.encode("a b/c~d+é", keepSlash: true) == "a%20b/c~d%2B%C3%A9")
        #expect(SigV4.canonicalQuery([("prefix", "a/b"), ("list-type", "2")]) == "list-type=2&prefix=a%2Fb")
    }

    @Test("the server on S3: the object store contract, conformance, restic's client, save/resume with a 409 fork; no plaintext and no repository file on the server's disk")
    func serverOnS3() async throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let s3 = moto.configuration()
        try await S3Store(s3, staging: URL(fileURLWithPath: NSTemporaryDirectory())).createBucket()
        let staging = try TemporaryDirectory()
        defer { staging.cleanup() }
        try await ObjectStoreContract.run(S3Store(s3, staging: staging.url), prefix: "contract/r/")
        let logs = CapturedLogs()
        var logger = Logger(label: "s3-server") { _ in CapturingLogHandler(logs: logs) }
        logger.logLevel = .trace
        let server = try await TestServer(logger: logger, storage: .s3(s3))

        try await BackendConformance.run(try RESTBackend(url: server.url("alice", "alice-password", repo: "conformance")))
        try await resticRoundTrip(server)

        // Two devices through the session API: bundles, manifests and the ref's compare-and-swap on S3.
        let rest = try RESTBackend(url: server.url("alice", "alice-password", repo: "sessions"))
        let d = try await TwoDevices(backend: rest)
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<200, subagents: false)
        let marker = "PLAINTEXT-MARKER-\(UUID().uuidString)"
        try d.append(raw: Array(#"{"type":"user","message":{"content":"\#(marker)"},"cwd":"\#(d.a.checkout)"}"#.utf8) + [10], to: transcript)
        let repo = try await Repository.open(sessionAPI: rest, password: "pw")
        let first = try await d.save(d.a, "first \(marker)", into: repo)
        let resumed = try await d.resume(d.b)
        #expect(resumed.session == first.session)
        #expect(String(decoding: try d.read(resumed.transcript), as: UTF8.self).contains(marker), "the marker did travel")
        try d.append(lines: 200..<250, to: transcript, on: d.a)
        try d.append(lines: 300..<310, to: resumed.transcript, on: d.b)
        #expect(try await d.save(d.a, "a", into: repo).fork == nil)
        #expect(try await d.save(d.b, "b").fork != nil, "the ref's compare-and-swap holds on S3 (If-None-Match)")
        #expect(try await SessionCatalog.heads(d.repository).count == 2)

        // The bucket holds the files under the prefix; none holds the marker or a local path.
        let objects = try await moto.objects(s3)
        #expect(objects.contains { $0.0.hasPrefix("alice/sessions/manifests/") })
        #expect(objects.contains { $0.0.hasPrefix("alice/restic/data/") })
        for (key, bytes) in objects {
            #expect(Data(bytes).range(of: Data(marker.utf8)) == nil, "\(key) holds the plaintext marker")
            #expect(Data(bytes).range(of: Data(d.a.checkout.utf8)) == nil, "\(key) holds a local path")
        }
        // The server's own disk keeps accounts and nothing of any repository.
        let local = FileManager.default.enumerator(atPath: server.dir.path + "/data")?.allObjects as? [String] ?? []
        #expect(!local.contains { $0.hasPrefix("repos/") && $0.count > 6 }, "repository files on the server's disk: \(local.prefix(5))")
        #expect(!local.contains { $0.hasPrefix("staging/.tmp-") }, "staged uploads are gone")
        #expect(!logs.text.contains(marker) && !logs.text.contains(s3.secretKey))
        await server.stop()
    }

    @Test("on S3, a killed upload leaves no object; S3 going away gives 503 and a message; a missing bucket stops the start")
    func failures() async throws {
        let moto = try MotoServer()
        let s3 = moto.configuration()
        try await S3Store(s3, staging: URL(fileURLWithPath: NSTemporaryDirectory())).createBucket()
        let server = try await TestServer(storage: .s3(s3))
        #expect(try await server.request(.POST, "/alice/cut/?create=true").0 == 200)
        let body = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let name = ObjectID.hash(body).hex
        let auth = "Authorization: Basic \(Data("alice:alice-password".utf8).base64EncodedString())\r\n"
        try await server.sendAndHangUp(Array("POST /alice/cut/data/\(name) HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: \(body.count)\r\n\r\n".utf8) + body.prefix(30_000))
        #expect(try await server.request(.HEAD, "/alice/cut/data/\(name)").0 == 404)
        #expect(!(try await moto.objects(s3)).contains { $0.0.contains(name) })
        #expect(try await server.request(.POST, "/alice/cut/data/\(name)", body: body).0 == 200)
        #expect(try await server.request(.GET, "/alice/cut/data/\(name)").1 == body)
        #expect(try await server.request(.GET, "/alice/cut/data/\(name)", headers: [("Range", "bytes=10-19")]).1 == Array(body[10..<20]))
        // A wrong hash is refused before anything reaches the bucket.
        #expect(try await server.request(.POST, "/alice/cut/data/\(String(repeating: "0", count: 64))", body: body).0 == 400)

        moto.stop()
        // A pack just read is served from the server's read cache; anything else needs S3.
        #expect(try await server.request(.GET, "/alice/cut/data/\(name)").1 == body)
        let (status, answer, _) = try await server.request(.GET, "/alice/cut/keys/")
        #expect(status == 503)
        #expect(String(decoding: answer, as: UTF8.self).contains("did not answer"))
        await server.stop()

        // Starting against a bucket that is not there (or a store that is down) fails with a message.
        let again = try MotoServer()
        defer { again.stop() }
        let error = await #expect(throws: StoreError.self) { _ = try await TestServer(storage: .s3(again.configuration(bucket: "no-such-bucket"))) }
        #expect(error?.message.contains("does not exist") == true, "\(error.map { "\($0)" } ?? "")")
    }
}
