public import AsyncHTTPClient
import Crypto
import ConvoSyncFormat
public import ConvoSyncStorage
public import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
public import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// Where `STORAGE_BACKEND=s3` keeps objects. Secrets stay out of `description`.
public struct S3Configuration: Sendable, CustomStringConvertible {
    public var bucket: String
    public var region = "us-east-1"
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`, MinIO, moto); nil means AWS.
    public var endpoint: String?
    /// A key prefix inside the bucket (`convosync/`), so that one bucket can hold more.
    public var prefix = ""
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?

    public init(bucket: String, accessKey: String, secretKey: String) {
        (self.bucket, self.accessKey, self.secretKey) = (bucket, accessKey, secretKey)
    }

    /// `S3_BUCKET`, `S3_ENDPOINT`, `S3_REGION` (or `AWS_REGION`), `S3_PREFIX`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    public static func fromEnvironment(_ env: [String: String]) throws -> S3Configuration {
        func need(_ name: String) throws -> String {
            guard let value = env[name], !value.isEmpty else {
                throw StoreError(.badRequest, "STORAGE_BACKEND=s3 needs \(name) (see the README's self-hosting section)")
            }
            return value
        }
        var config = S3Configuration(bucket: try need("S3_BUCKET"), accessKey: try need("AWS_ACCESS_KEY_ID"), secretKey: try need("AWS_SECRET_ACCESS_KEY"))
        if let region = env["S3_REGION"] ?? env["AWS_REGION"], !region.isEmpty { config.region = region }
        if let endpoint = env["S3_ENDPOINT"], !endpoint.isEmpty {
            guard let url = URL(string: endpoint), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw StoreError(.badRequest, "S3_ENDPOINT must be an http:// or https:// URL, not '\(endpoint.prefix(80))'")
            }
            config.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        }
        if let prefix = env["S3_PREFIX"], !prefix.isEmpty { config.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/" }
        config.sessionToken = env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return config
    }

    /// Path-style addressing (`endpoint/bucket/key`) for a given endpoint, virtual-hosted
    /// (`bucket.s3.region.amazonaws.com/key`) for AWS.
    var base: (origin: String, host: String, path: String) {
        if let endpoint, let url = URL(string: endpoint), let host = url.host {
            return (endpoint, url.port.map { "\(host):\($0)" } ?? host, "/" + bucket)
        }
        let host = "\(bucket).s3.\(region).amazonaws.com"
        return ("https://" + host, host, "")
    }

    public var description: String { "s3://\(bucket)/\(prefix) at \(base.origin)" }
}

/// AWS Signature Version 4 for S3 requests, written by hand because no S3 SDK is available to
/// this build (Soto is not among the packages); swift-crypto provides SHA-256 and HMAC.
/// Checked against botocore's signer in the tests.
public struct SigV4: Sendable {
    public var accessKey: String
    public var secretKey: String
    public var region: String
    public var service = "s3"

    public init(accessKey: String, secretKey: String, region: String) {
        (self.accessKey, self.secretKey, self.region) = (accessKey, secretKey, region)
    }

    public static let emptyPayloadHash = Hex.encode(Array(SHA256.hash(data: [UInt8]())))

    /// `application/x-www-form-urlencoded` is not what AWS wants: every byte but `A-Za-z0-9-_.~`
    /// is percent-encoded, and `/` too unless it separates path segments.
    public static func encode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (encode($0.0, keepSlash: false), encode($0.1, keepSlash: false)) }
            .sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// The `Authorization` header for a request whose `headers` (lowercase names, `host` and
    /// `x-amz-*` among them) are all signed.
    public func authorization(method: String, path: String, query: [(String, String)], headers: [String: String], payloadHash: String, date: Date) -> String {
        let (stamp, day) = Self.timestamps(date)
        let names = headers.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(headers[$0]!.trimmingCharacters(in: .whitespaces))\n" }.joined()  // invariant: names come from headers
        let signed = names.joined(separator: ";")
        let canonical = [method, path, Self.canonicalQuery(query), canonicalHeaders, signed, payloadHash].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(stamp)\n\(scope)\n" + Hex.encode(Array(SHA256.hash(data: Array(canonical.utf8))))
        var key = SymmetricKey(data: Array(("AWS4" + secretKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Hex.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: key)))
        return "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signed), Signature=\(signature)"
    }

    /// `20130524T000000Z` and `20130524`.
    public static func timestamps(_ date: Date) -> (String, String) {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        let day = String(format: "%04d%02d%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
        return (day + String(format: "T%02d%02d%02dZ", Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec)), day)
    }
}

/// Objects in an S3 bucket (AWS or any S3-compatible store). Uploads are staged on the
/// server's disk while their hash is computed, then sent with one `PUT` carrying
/// `If-None-Match: *`, which S3 applies atomically: write-once objects and the refs'
/// compare-and-swap need nothing more. Reads stream with `Range`; listings page through
/// `ListObjectsV2`. Idempotent requests are retried with backoff on 5xx and network errors.
public struct S3Store: ObjectStore {
    public let configuration: S3Configuration
    let staging: URL
    let signer: SigV4
    let client: HTTPClient

    /// `staging`: a directory on the server's disk for uploads in progress.
    public init(_ configuration: S3Configuration, staging: URL, client: HTTPClient = S3Store.client) {
        self.configuration = configuration
        self.staging = staging
        self.client = client
        signer = SigV4(accessKey: configuration.accessKey, secretKey: configuration.secretKey, region: configuration.region)
    }

    public var location: String { configuration.description }

    /// One client for every S3 request of the process (like `HTTPClient.shared`, never shut
    /// down). A refused connection fails at once instead of being retried until the request's
    /// deadline, so that ``send`` can retry with its own, short backoff and then answer 503.
    public static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(10)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    // MARK: requests

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: HTTPClientResponse.Body
    }

    /// One signed request; `key` nil addresses the bucket.
    func send(
        _ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers extra: [String: String] = [:],
        body: (@Sendable () throws -> HTTPClientRequest.Body)? = nil, payloadHash: String = SigV4.emptyPayloadHash,
        idempotent: Bool = true, timeout: TimeAmount = .seconds(60)
    ) async throws -> Answer {
        let base = configuration.base
        let path = base.path + "/" + SigV4.encode(key.map { configuration.prefix + $0 } ?? "", keepSlash: true)
        let query = query
        let attempts = idempotent ? 4 : 1
        var lastFailure = ""
        for attempt in 1...attempts {
            if attempt > 1 { try await Task.sleep(for: .milliseconds(100 << (2 * (attempt - 2)))) }  // 100 ms, 400 ms, 1.6 s
            var headers = extra
            headers["host"] = base.host
            headers["x-amz-date"] = SigV4.timestamps(Date()).0
            headers["x-amz-content-sha256"] = payloadHash
            if let token = configuration.sessionToken { headers["x-amz-security-token"] = token }
            let authorization = signer.authorization(method: method.rawValue, path: path, query: query, headers: headers, payloadHash: payloadHash, date: Date())
            let queryText = SigV4.canonicalQuery(query)
            var request = HTTPClientRequest(url: base.origin + path + (queryText.isEmpty ? "" : "?" + queryText))
            request.method = method
            for (name, value) in headers where name != "host" { request.headers.add(name: name, value: value) }
            request.headers.add(name: "Authorization", value: authorization)
            if let body { request.body = try body() }
            do {
                let response = try await client.execute(request, timeout: timeout)
                let status = Int(response.status.code)
                if idempotent && attempt < attempts && (status >= 500 || status == 429) {
                    lastFailure = "\(status) \(try await Self.errorCode(response.body))"
                    continue
                }
                return Answer(status: status, headers: response.headers, body: response.body)
            } catch let error as StoreError {
                throw error
            } catch {
                lastFailure = "\(error)"
                if attempt == attempts || Task.isCancelled { break }
            }
        }
        throw StoreError(.unavailable, "the S3 store \(location) did not answer (\(lastFailure)); check S3_ENDPOINT and that the store is up")
    }

    /// An unexpected answer as an error that names S3's code and says what to check.
    func failure(_ answer: Answer, _ what: String) async -> StoreError {
        let code = (try? await Self.errorCode(answer.body)) ?? ""
        switch answer.status {
        case 403:
            return StoreError(.io, "S3 refused to \(what) (403 \(code)); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy")
        case 404 where code == "NoSuchBucket":
            return StoreError(.io, "the bucket \(configuration.bucket) does not exist at \(configuration.base.origin); create it or set S3_BUCKET")
        case 500..., 429:
            return StoreError(.unavailable, "S3 could not \(what) (\(answer.status) \(code)); try again later")
        default:
            return StoreError(.io, "S3 could not \(what) (\(answer.status) \(code))")
        }
    }

    static func errorCode(_ body: HTTPClientResponse.Body) async throws -> String {
        let bytes = try await body.collect(upTo: 64 << 10)
        let text = XMLText.parse(Data(bytes.readableBytesView))
        return text.first("Code").map { code in text.first("Message").map { "\(code): \($0)" } ?? code } ?? ""
    }

    // MARK: ObjectStore

    public func check() async throws {
        do { try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true) } catch {
            throw StoreError(.io, "cannot create the staging directory \(staging.path): \(error.localizedDescription)")
        }
        let answer = try await send(.HEAD, key: nil)
        switch answer.status {
        case 200: return
        case 404: throw StoreError(.io, "the bucket \(configuration.bucket) does not exist at \(configuration.base.origin); create it or set S3_BUCKET")
        case 403: throw StoreError(.io, "S3 refused access to the bucket \(configuration.bucket) (403); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and S3_REGION")
        default: throw await failure(answer, "reach the bucket \(configuration.bucket)")
        }
    }

    /// Creates the bucket (for tests and first set-up); an existing bucket of ours is fine.
    public func createBucket() async throws {
        let answer = try await send(.PUT, key: nil, idempotent: false)
        guard answer.status == 200 || answer.status == 409 else { throw await failure(answer, "create the bucket") }
        _ = try? await answer.body.collect(upTo: 64 << 10)
    }

    public func size(_ key: String) async throws -> Int? {
        let answer = try await send(.HEAD, key: key)
        switch answer.status {
        case 200: return answer.headers.first(name: "Content-Length").flatMap(Int.init)
        case 404: return nil
        default: throw await failure(answer, "look up \(key)")
        }
    }

    public func list(prefix: String) async throws -> [StoredObject] {
        var out: [StoredObject] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", configuration.prefix + prefix)]
            if let token { query.append(("continuation-token", token)) }
            let answer = try await send(.GET, key: nil, query: query)
            guard answer.status == 200 else { throw await failure(answer, "list \(prefix)") }
            let page = XMLText.parse(Data(try await answer.body.collect(upTo: 64 << 20).readableBytesView))
            for (key, size) in zip(page.all("Key"), page.all("Size")) {
                guard key.hasPrefix(configuration.prefix), let size = Int(size) else { continue }
                out.append(StoredObject(key: String(key.dropFirst(configuration.prefix.count)), size: size))
            }
            token = page.first("IsTruncated") == "true" ? page.first("NextContinuationToken") : nil
        } while token != nil
        return out
    }

    public func read(_ key: String, range: Range<Int>, _ body: (ByteBuffer) async throws -> Void) async throws {
        guard !range.isEmpty else { return }
        let answer = try await send(.GET, key: key, headers: ["range": "bytes=\(range.lowerBound)-\(range.upperBound - 1)"], timeout: .seconds(900))
        switch answer.status {
        case 200, 206: break
        case 404: throw StoreError(.notFound, "\(key) does not exist")
        default: throw await failure(answer, "read \(key)")
        }
        var received = 0
        for try await chunk in answer.body {
            received += chunk.readableBytes
            try await body(chunk)
        }
        guard received == range.count else { throw StoreError(.io, "S3 sent \(received) of \(range.count) bytes of \(key)") }
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        let answer = try await send(.GET, key: key)
        switch answer.status {
        case 200: return Array(buffer: try await answer.body.collect(upTo: 64 << 20))
        case 404: return nil
        default: throw await failure(answer, "read \(key)")
        }
    }

    public func put(_ bytes: [UInt8], at key: String, ifAbsent: Bool) async throws -> Bool {
        let hash = Hex.encode(Array(SHA256.hash(data: bytes)))
        let buffer = ByteBuffer(bytes: bytes)
        return try await conditionalPut(key, hash: hash, ifAbsent: ifAbsent) { .bytes(buffer) }
    }

    /// Uploads are staged in the staging directory (`.tmp-…`, swept when old), then streamed to S3.
    public func stage(for key: String) throws -> AtomicFile {
        do { return try AtomicFile(path: staging.path + "/upload") } catch { throw StoreError(error) }
    }

    public func commit(_ staged: AtomicFile, size: Int, sha256: String, to key: String) async throws -> Bool {
        defer { staged.discard() }
        do { try staged.flush() } catch { throw StoreError(error) }
        let path = staged.temporaryPath
        return try await conditionalPut(key, hash: sha256, ifAbsent: true, timeout: .seconds(900)) {
            .stream(try FileChunks(path: path, size: size), length: .known(Int64(size)))
        }
    }

    /// A PUT, with `If-None-Match: *` when `ifAbsent`: 412 means the key was taken (false).
    /// Retried on 5xx, 409 (a concurrent conditional write) and network errors. When a retry
    /// finds the key taken, the object's hash decides: the same bytes mean an earlier attempt
    /// of this very upload landed, which counts as success.
    func conditionalPut(
        _ key: String, hash: String, ifAbsent: Bool, timeout: TimeAmount = .seconds(60), body: @escaping @Sendable () throws -> HTTPClientRequest.Body
    ) async throws -> Bool {
        var headers: [String: String] = [:]
        if ifAbsent { headers["if-none-match"] = "*" }
        for attempt in 1...4 {
            if attempt > 1 { try await Task.sleep(for: .milliseconds(100 << (2 * (attempt - 2)))) }
            let answer: Answer
            do { answer = try await send(.PUT, key: key, headers: headers, body: body, payloadHash: hash, idempotent: false, timeout: timeout) } catch let e as StoreError where e.kind == .unavailable && attempt < 4 {
                continue
            }
            switch answer.status {
            case 200:
                _ = try? await answer.body.collect(upTo: 64 << 10)
                return true
            case 412:
                _ = try? await answer.body.collect(upTo: 64 << 10)
                guard attempt > 1, let existing = try await get(key) else { return false }
                return Hex.encode(Array(SHA256.hash(data: existing))) == hash
            case 409, 500..., 429 where attempt < 4:
                _ = try? await answer.body.collect(upTo: 64 << 10)
                continue
            default:
                throw await failure(answer, "store \(key)")
            }
        }
        throw StoreError(.unavailable, "S3 did not accept \(key) after 4 attempts; try again later")
    }

    public func delete(_ key: String) async throws {
        // S3 deletes answer 204 whether or not the key existed, so look first.
        guard try await size(key) != nil else { throw StoreError(.notFound, "\(key) does not exist") }
        let answer = try await send(.DELETE, key: key)
        guard answer.status == 204 || answer.status == 200 else { throw await failure(answer, "delete \(key)") }
    }

    public func repositoryExists(_ prefix: String) async throws -> Bool {
        if try await size(prefix + "config") != nil { return true }
        return try await size(prefix + Self.marker) != nil
    }

    /// S3 has no directories: an empty marker object records that the repository was created.
    static let marker = ".repository"

    public func createRepository(_ prefix: String) async throws {
        _ = try await put([], at: prefix + Self.marker, ifAbsent: true)
    }

    public func sweep(olderThan age: TimeInterval) {
        LocalStaging.sweep(staging, olderThan: age)
    }
}

enum LocalStaging {
    /// Deletes `.tmp-*` files directly in `dir` older than `age`.
    static func sweep(_ dir: URL, olderThan age: TimeInterval) {
        let cutoff = Date().addingTimeInterval(-age)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasPrefix(".tmp-") {
            let path = dir.path + "/" + name
            if let m = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, m < cutoff { unlink(path) }
        }
    }
}

/// A staged file as a sequence of 1 MiB ByteBuffers, for a streamed request body.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let size: Int

    init(path: String, size: Int) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError(.io, "the staged upload \(path) is gone") }
        (self.path, self.size) = (path, size)
    }

    final class AsyncIterator: AsyncIteratorProtocol {
        let fd: Int32
        let size: Int
        var offset = 0

        init(path: String, size: Int) {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            self.size = size
        }

        deinit { if fd >= 0 { close(fd) } }

        func next() async throws -> ByteBuffer? {
            guard offset < size else { return nil }
            guard fd >= 0 else { throw StoreError.errno("cannot read the staged upload") }
            var buffer = ByteBufferAllocator().buffer(capacity: Swift.min(1 << 20, size - offset))
            let want = Swift.min(1 << 20, size - offset)
            var failure: Int32 = 0
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                let got = pread(fd, raw.baseAddress!, want, off_t(offset))  // invariant: capacity >= want > 0
                if got < 0 { failure = errno }
                return Swift.max(got, 0)
            }
            guard n > 0 else { throw StoreError.errno("cannot read the staged upload", failure == 0 ? EIO : failure) }
            offset += n
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, size: size) }
}

/// The text of every element of a small XML document (S3's answers), by element name.
struct XMLText {
    var values: [String: [String]] = [:]

    func first(_ name: String) -> String? { values[name]?.first }
    func all(_ name: String) -> [String] { values[name] ?? [] }

    static func parse(_ data: Data) -> XMLText {
        let collector = Collector()
        let parser = XMLParser(data: data)
        parser.delegate = collector
        _ = parser.parse()
        return collector.result
    }

    final class Collector: NSObject, XMLParserDelegate {
        var result = XMLText()
        var text = ""

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            text = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            result.values[name, default: []].append(text)
            text = ""
        }
    }
}
