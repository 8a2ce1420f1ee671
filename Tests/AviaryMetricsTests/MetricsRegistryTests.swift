import AviaryIPC
import AviaryQueue
import Testing

@testable import AviaryMetrics

@Suite("metrics datagrams and aggregation")
struct MetricsRegistryTests {
    @Test(
        "a datagram's lines parse to samples",
        arguments: [
            ("v1 delivered local 2\n", [MetricsSample(.delivered, "local", increment: 2)]),
            (
                "v1 received smtpd 1\nv1 tls_failures imap 3\n",
                [MetricsSample(.received, "smtpd"), MetricsSample(.tlsFailures, "imap", increment: 3)]
            ),
            ("v1 restarts 127.0.0.1:25/x-y_z 1000000\n", [MetricsSample(.restarts, "127.0.0.1:25/x-y_z", increment: 1_000_000)]),
        ])
    func parses(datagram: String, samples: [MetricsSample]) {
        #expect(MetricsSample.parse(datagram: Array(datagram.utf8)) == samples)
    }

    @Test(
        "a malformed datagram is refused whole",
        arguments: [
            "", "v1 delivered local 1", "v2 delivered local 1\n", "v1 sent local 1\n", "v1 delivered local 0\n",
            "v1 delivered local 1000001\n", "v1 delivered local -1\n", "v1 delivered local +1\n", "v1 delivered  1\n",
            "v1 delivered lo cal 1\n", "v1 delivered local\"} 1\n", "v1 delivered local 1\n\n",
            "v1 delivered local 1\nv1 bogus x 1\n", "v1 delivered \(String(repeating: "a", count: 65)) 1\n",
            "v1 delivered l\u{00E9} 1\n", "v1 delivered local 1 extra\n",
        ])
    func refuses(datagram: String) {
        #expect(MetricsSample.parse(datagram: Array(datagram.utf8)) == nil)
    }

    @Test("a sample's line parses back to it")
    func roundTrip() {
        for counter in MetricsCounter.allCases {
            let sample = MetricsSample(counter, "label-\(counter.rawValue)", increment: 7)
            #expect(MetricsSample.parse(datagram: Array(sample.line.utf8)) == [sample])
        }
    }

    @Test("counts add up per label; known labels show at 0; queue gauges come from the census")
    func aggregates() {
        let registry = MetricsRegistry()
        registry.add(datagram: Array("v1 delivered local 2\nv1 delivered smtp 1\n".utf8))
        registry.add(datagram: Array("v1 delivered local 3\n".utf8))
        registry.add(datagram: Array("v1 received smtpd 1\n".utf8))
        registry.add(datagram: Array("garbage\n".utf8))
        let text = String(
            decoding: registry.exposition(queues: [
                QueueCensus(name: .deferred, messages: 4, oldestAge: 90), QueueCensus(name: .active, messages: 0, oldestAge: nil),
            ]), as: UTF8.self)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"aviary_messages_delivered_total{transport="local"} 5"#,
            #"aviary_messages_delivered_total{transport="smtp"} 1"#,
            #"aviary_messages_received_total{source="smtpd"} 1"#,
            #"aviary_messages_received_total{source="pickup"} 0"#,
            #"aviary_connections_total{protocol="imap"} 0"#,
            #"aviary_auth_failures_total{protocol="pop3"} 0"#,
            "aviary_metrics_malformed_datagrams_total 1",
            #"aviary_queue_messages{queue="deferred"} 4.0"#,
            #"aviary_queue_oldest_message_age_seconds{queue="deferred"} 90.0"#,
            #"aviary_queue_messages{queue="active"} 0.0"#,
            "# TYPE aviary_messages_delivered_total counter",
            "# TYPE aviary_queue_messages gauge",
        ] {
            #expect(lines.contains(expected), "\(expected)\n\(text)")
        }
    }

    @Test("label values per counter are bounded; what is past the bound is dropped and counted")
    func boundsLabels() {
        let registry = MetricsRegistry()
        for index in 0..<(MetricsRegistry.maximumLabelsPerCounter + 10) {
            registry.add(MetricsSample(.delivered, "transport\(index)"))
        }
        registry.add(MetricsSample(.delivered, "transport0"))
        let text = String(decoding: registry.exposition(queues: nil), as: UTF8.self)
        let series = text.split(separator: "\n").filter { $0.hasPrefix("aviary_messages_delivered_total{") }
        #expect(series.count == MetricsRegistry.maximumLabelsPerCounter)
        #expect(text.contains(#"aviary_messages_delivered_total{transport="transport0"} 2"#))
        #expect(text.contains("aviary_metrics_dropped_total 10"))
    }

    @Test("a disabled reporter has no socket and sends nothing")
    func disabledReporter() {
        #expect(!MetricsReporter.disabled.isEnabled)
        MetricsReporter.disabled.count(.received, "smtpd")
        #expect(MetricsReporter(socketPath: "/tmp/x").isEnabled)
    }
}
