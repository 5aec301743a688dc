import Foundation
import Prometheus

/// What `/metrics` reports, in Prometheus' text format (swift-prometheus): requests by
/// method and status class, bytes in and out, request latency, failed logins, files and
/// bytes stored. Counts only: never a path, a user name or a token.
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let latency: DurationHistogram
    let bytesIn: Counter
    let bytesOut: Counter
    let failedLogins: Counter
    let filesStored: Counter
    let bytesStored: Counter
    let sessionSaves: Counter
    let conflicts: Counter
    let webSocketConnections: Gauge
    let abortedRequests: Counter

    public init() {
        latency = registry.makeDurationHistogram(
            name: "convosync_request_duration_seconds",
            buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(10)],
            help: "Time to answer a request")
        bytesIn = registry.makeCounter(name: "convosync_received_bytes_total", help: "Request body bytes stored")
        bytesOut = registry.makeCounter(name: "convosync_sent_bytes_total", help: "File bytes sent")
        failedLogins = registry.makeCounter(name: "convosync_failed_logins_total", help: "Requests with wrong credentials")
        filesStored = registry.makeCounter(name: "convosync_files_stored_total", help: "Files written")
        bytesStored = registry.makeCounter(name: "convosync_stored_bytes_total", help: "Bytes of files written")
        sessionSaves = registry.makeCounter(name: "convosync_session_saves_total", help: "Session bundles whose ref moved")
        conflicts = registry.makeCounter(name: "convosync_ref_conflicts_total", help: "Saves answered 409 because the ref had moved on")
        abortedRequests = registry.makeCounter(name: "convosync_aborted_requests_total", help: "Requests that ended before they could be answered (a client that hung up mid-upload)")
        webSocketConnections = registry.makeGauge(name: "convosync_event_connections", help: "Open WebSocket event connections")
    }

    func request(method: String, status: Int, duration: Duration) {
        registry.makeCounter(name: "convosync_requests_total", labels: [("method", method), ("status", "\(status / 100)xx")]).increment()
        latency.record(duration)
    }

    func stored(bytes: Int) {
        filesStored.increment()
        bytesStored.increment(by: Int64(bytes))
        bytesIn.increment(by: Int64(bytes))
    }

    public func text() -> String { registry.emitToString() }
}
