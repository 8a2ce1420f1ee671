import AviaryIPC
import AviaryQueue
import CoreMetrics
import Prometheus
import Synchronization

/// The counts of the whole instance, in swift-metrics counters backed by one swift-prometheus registry: the
/// daemons' datagrams are added in, and each scrape sets the queue gauges and renders the registry in the
/// Prometheus text format.
public final class MetricsRegistry: Sendable {
    /// Most label values per counter; the rest of a datagram's new values are dropped (with a count of their
    /// own), so that nothing a daemon sends can grow the registry without bound.
    public static let maximumLabelsPerCounter = 64

    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private struct Series: Hashable {
        var counter: MetricsCounter
        var label: String
    }
    /// The counters made so far, and how many of each kind.
    private let counters = Mutex<[Series: CoreMetrics.Counter]>([:])
    private let dropped: CoreMetrics.Counter
    private let malformed: CoreMetrics.Counter
    private let queueMessages: [QueueName: CoreMetrics.Gauge]
    private let queueOldest: [QueueName: CoreMetrics.Gauge]

    public init() {
        factory = PrometheusMetricsFactory(registry: registry)
        dropped = CoreMetrics.Counter(label: "aviary_metrics_dropped_total", dimensions: [], factory: factory)
        malformed = CoreMetrics.Counter(label: "aviary_metrics_malformed_datagrams_total", dimensions: [], factory: factory)
        var messages: [QueueName: CoreMetrics.Gauge] = [:]
        var oldest: [QueueName: CoreMetrics.Gauge] = [:]
        for queue in QueueName.messageQueues {
            messages[queue] = CoreMetrics.Gauge(label: "aviary_queue_messages", dimensions: [("queue", queue.rawValue)], factory: factory)
            oldest[queue] = CoreMetrics.Gauge(
                label: "aviary_queue_oldest_message_age_seconds", dimensions: [("queue", queue.rawValue)], factory: factory)
        }
        queueMessages = messages
        queueOldest = oldest
        for counter in MetricsCounter.allCases {
            for label in counter.knownLabels { add(MetricsSample(counter, label, increment: 0)) }
        }
    }

    /// Adds a datagram's counts; a malformed datagram is counted and otherwise ignored.
    public func add(datagram: some BidirectionalCollection<UInt8>) {
        guard let samples = MetricsSample.parse(datagram: datagram) else {
            malformed.increment()
            return
        }
        for sample in samples { add(sample) }
    }

    /// Adds one count (an increment of 0 makes the series appear at 0).
    public func add(_ sample: MetricsSample) {
        let counter = counters.withLock { counters -> CoreMetrics.Counter? in
            let series = Series(counter: sample.counter, label: sample.label)
            if let existing = counters[series] { return existing }
            guard counters.keys.count(where: { $0.counter == sample.counter }) < Self.maximumLabelsPerCounter else {
                return nil
            }
            let made = CoreMetrics.Counter(
                label: sample.counter.metricName, dimensions: [(sample.counter.labelName, sample.label)],
                factory: factory)
            counters[series] = made
            return made
        }
        guard let counter else {
            dropped.increment()
            return
        }
        if sample.increment > 0 { counter.increment(by: sample.increment) }
    }

    /// The Prometheus text exposition (version 0.0.4) of everything, with the queue gauges set from `queues`
    /// (nil: the queue could not be read; the gauges keep their last values).
    public func exposition(queues: [QueueCensus]?) -> [UInt8] {
        for census in queues ?? [] {
            queueMessages[census.name]?.record(census.messages)
            queueOldest[census.name]?.record(census.oldestAge ?? 0)
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
