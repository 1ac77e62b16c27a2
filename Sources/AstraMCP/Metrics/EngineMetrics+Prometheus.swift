import CoreMetrics
import Prometheus

extension EngineMetrics {
    /// A Prometheus factory on `registry` with this daemon's histogram buckets.
    public static func prometheusFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [Name.executionDuration: durationBuckets, Name.pickupLatency: pickupBuckets]
        factory.valueHistogramBuckets = [Name.completionBatchSize: batchSizeBuckets]
        return factory
    }

    /// Makes a new Prometheus registry the process's swift-metrics backend and returns it (for
    /// ``MetricsService`` to serve).
    ///
    /// - Important: Once per process, before any ``EngineMetrics`` is made: swift-metrics
    ///   allows one bootstrap, and handles made earlier stay no-op. `astra-mcpd run` calls it
    ///   when `metrics_listen` is set; in-process daemons (tests, `bench`) make their own
    ///   factory or record nothing.
    public static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(prometheusFactory(registry: registry))
        return registry
    }
}
