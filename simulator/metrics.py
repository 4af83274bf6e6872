"""Each module's ``/metrics``, written with prometheus_client from the module's own counts.

The modules keep plain counters and bulk histograms while they work; a collector reads
them under the module's lock only when scraped, so a scrape sees one consistent instant
and the tick loop pays nothing per record for metrics. Each module has its own
``CollectorRegistry``: the global one would mix three modules (and the console's own
metrics) in one exposition.

Names: the manual's "Metric Types" tables (001), plus what its threshold tables (000,
"Operational Metrics and Thresholds") and alert definitions (001, "Alert Definitions")
query. Labels as the manual uses them: ``source``, ``destination``, and on every sample
``module`` (silences match it) and ``instance`` (inhibition rules compare it).
"""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from . import __version__
from .alpha import Alpha
from .beta import Beta
from .breaker import STATE_VALUE
from .gamma import Gamma
from .module import HEALTH_VALUE, Module, RunState
from .stats import BulkHistogram

Values = float | Mapping[Any, float]


class Families:
    """Builds metric families that all carry the module's constant labels."""

    def __init__(self, module: str) -> None:
        self.const_names = ["module", "instance"]
        self.const_values = [module, f"{module}-1"]
        self.metrics: list[Metric] = []

    def counter(self, name: str, doc: str, values: Values, labels: Iterable[str] = ()) -> None:
        family = CounterMetricFamily(name, doc, labels=self.const_names + list(labels))
        self._fill(family, values)

    def gauge(self, name: str, doc: str, values: Values, labels: Iterable[str] = ()) -> None:
        family = GaugeMetricFamily(name, doc, labels=self.const_names + list(labels))
        self._fill(family, values)

    def histogram(
        self,
        name: str,
        doc: str,
        hists: BulkHistogram | Mapping[Any, BulkHistogram],
        labels: Iterable[str] = (),
    ) -> None:
        family = HistogramMetricFamily(name, doc, labels=self.const_names + list(labels))
        series = {(): hists} if isinstance(hists, BulkHistogram) else hists
        for key, hist in series.items():
            family.add_metric(
                self.const_values + _label_values(key), hist.cumulative_counts(), hist.sum
            )
        self.metrics.append(family)

    def info(self, name: str, doc: str, value: dict[str, str]) -> None:
        family = InfoMetricFamily(name, doc, labels=self.const_names)
        family.add_metric(self.const_values, value)
        self.metrics.append(family)

    def _fill(self, family: Any, values: Values) -> None:
        series = {(): values} if isinstance(values, int | float) else values
        for key, value in series.items():
            family.add_metric(self.const_values + _label_values(key), float(value))
        self.metrics.append(family)


def _label_values(key: Any) -> list[str]:
    if isinstance(key, tuple):
        return [str(k) for k in key]
    return [str(key)]


def common(f: Families, m: Module) -> None:
    """What every module exposes: health, resources, config, jobs, per-module latency."""
    p = m.name
    now = m.clock.now
    health = m.health()
    f.gauge(
        f"{p}_health_status", "0 HEALTHY, 1 DEGRADED, 2 UNHEALTHY", HEALTH_VALUE[health["status"]]
    )
    f.gauge(f"{p}_memory_utilization", "Memory in use, 0-1 (000: keep under 0.8)", m.memory)
    f.gauge(
        f"{p}_thread_pool_utilization", "Busy share of the worker pool, 0-1", m.pool_utilization
    )
    f.gauge(f"{p}_thread_pool_size", "Worker threads", m.pool_size)
    f.gauge(f"{p}_uptime_seconds", "Seconds since the module (re)started", now - m.started_at)
    f.gauge(
        f"{p}_run_state",
        "1 for the module's current run state",
        {s.value: 1.0 if m.state is s else 0.0 for s in RunState},
        ["state"],
    )
    f.info(f"{p}_build", "Module software version", {"version": __version__})
    f.info(
        f"{p}_config",
        "Running configuration version and checksum",
        {"version": m.config.version, "checksum": m.config.checksum},
    )
    f.counter(f"{p}_config_reloads_total", "Configuration reloads", m.config.reloads)
    runs: dict[tuple[str, str], float] = {}
    running: dict[str, float] = {}
    for name, job in m.jobs.jobs.items():
        runs[(name, "SUCCESS")] = job.runs_total - job.failures_total - (1 if job.current else 0)
        runs[(name, "FAILED")] = job.failures_total
        running[name] = 1.0 if job.current else 0.0
    f.counter(f"{p}_job_runs_total", "Finished batch-job runs by result", runs, ["job", "result"])
    f.gauge(f"{p}_job_running", "1 while the job runs", running, ["job"])
    f.gauge(
        "simulator_fault_active",
        "1 for each fault switched on in this module (simulator only)",
        {name: 1.0 for name in m.faults.names()},
        ["scenario"],
    )
    f.histogram(
        "module_latency_seconds",
        "Time a record spends in this module (001, Runbook E.1)",
        m.module_latency,
    )


def alpha_metrics(f: Families, a: Alpha) -> None:
    s = a.sources
    f.counter(
        "alpha_records_ingested_total",
        "Total records ingested",
        {k: v.ingested for k, v in s.items()},
        ["source"],
    )
    f.counter(
        "alpha_records_validated_total",
        "Total records validated",
        {k: v.validated for k, v in s.items()},
        ["source"],
    )
    f.counter(
        "alpha_validation_failures_total",
        "Total validation failures",
        a.validation_failures,
        ["source", "reason"],
    )
    f.counter(
        "alpha_parse_errors_total",
        "Records that failed to parse",
        {k: v.parse_errors for k, v in s.items()},
        ["source"],
    )
    f.counter(
        "alpha_records_throttled_total",
        "Records refused by backpressure",
        {k: v.throttled for k, v in s.items()},
        ["source"],
    )
    f.counter(
        "alpha_source_connection_attempts_total",
        "Source polls",
        {k: v.polls for k, v in s.items()},
        ["source"],
    )
    f.counter(
        "alpha_source_connection_failures_total",
        "Failed source polls",
        {k: v.failures for k, v in s.items()},
        ["source"],
    )
    enabled = [k for k, item in a.config.items.items() if item["enabled"]]
    # Only enabled sources: a disabled one is not a failed connection (alert
    # alpha_source_connection_failed tests == 0).
    f.gauge(
        "alpha_source_connection_status",
        "1 connected, 0 failing (enabled sources)",
        {k: 1.0 if a.source_status_of(k) == "connected" else 0.0 for k in enabled},
        ["source"],
    )
    f.gauge(
        "alpha_source_enabled",
        "1 if the source is enabled",
        {k: 1.0 if item["enabled"] else 0.0 for k, item in a.config.items.items()},
        ["source"],
    )
    f.gauge(
        "alpha_active_connections",
        "Active source connections",
        sum(1 for k in enabled if a.source_status_of(k) == "connected"),
    )
    capacity = a.config.values["buffer_capacity"]
    # A ratio, not a percentage: alpha_buffer_critical alerts at > 0.9.
    f.gauge("alpha_buffer_utilization", "Buffer utilization, 0-1", a.queued() / capacity)
    f.gauge("alpha_buffer_depth", "Records in the input buffer", a.queued())
    f.gauge("alpha_buffer_capacity", "Input buffer capacity", capacity)
    f.gauge(
        "alpha_backpressure_active",
        "1 while sources are being throttled",
        1.0 if a.backpressure_active else 0.0,
    )
    f.gauge(
        "alpha_ingestion_rate_target",
        "Configured ingestion rate, records/s",
        a.config.values["ingestion_rate"],
    )
    f.histogram("alpha_parse_duration_seconds", "Parse time per record", a.parse_hist)
    f.histogram(
        "alpha_validation_duration_seconds", "Validation time per record", a.validation_hist
    )
    f.histogram(
        "alpha_source_fetch_duration_seconds",
        "Source fetch time per record",
        a.fetch_hist,
        ["source"],
    )


def beta_metrics(f: Families, b: Beta) -> None:
    c = b.caches
    f.counter("beta_records_transformed_total", "Total records transformed", b.transformed)
    f.counter(
        "beta_transform_errors_total", "Transformation failures by rule", b.rule_errors, ["rule"]
    )
    f.counter(
        "beta_enrichment_lookups_total",
        "Total enrichment lookups",
        {k: v.hits + v.misses for k, v in c.items()},
        ["cache"],
    )
    f.counter(
        "beta_enrichment_cache_hits_total",
        "Lookups answered from cache",
        {k: v.hits for k, v in c.items()},
        ["cache"],
    )
    f.counter(
        "beta_enrichment_cache_misses_total",
        "Lookups that went to the source",
        {k: v.misses for k, v in c.items()},
        ["cache"],
    )
    f.gauge(
        "beta_enrichment_cache_hit_rate", "Cache hit rate over the last minute, 0-1", b.hit_rate()
    )
    f.gauge(
        "beta_cache_size",
        "Enrichment cache entries",
        {k: int(v.entries) for k, v in c.items()},
        ["cache"],
    )
    f.gauge(
        "beta_cache_capacity",
        "Enrichment cache capacity",
        {k: item["capacity"] for k, item in b.config.items.items()},
        ["cache"],
    )
    f.gauge(
        "beta_cache_refreshing",
        "1 while a cache refresh runs",
        {k: 1.0 if v.refresh_started_at is not None else 0.0 for k, v in c.items()},
        ["cache"],
    )
    f.gauge("beta_queue_depth", "Transformation queue size", b.queue.depth)
    f.gauge(
        "beta_queue_capacity", "Transformation queue capacity", b.config.values["queue_capacity"]
    )
    f.gauge(
        "beta_queue_utilization", "Transformation queue utilization, 0-1", b.queue_utilization()
    )
    f.gauge("beta_quality_score", "Average quality score over the last minute", b.average_quality())
    f.counter(
        "beta_records_below_quality_threshold_total",
        "Records scored under quality_threshold_warn",
        b.below_threshold,
    )
    f.histogram("beta_transform_duration_seconds", "Transform time per record", b.transform_hist)
    f.histogram("beta_enrichment_duration_seconds", "Enrichment lookup time", b.enrichment_hist)
    f.histogram("beta_queue_wait_duration_seconds", "Time waiting in the queue", b.queue_wait_hist)
    f.histogram("beta_record_quality_score", "Distribution of quality scores", b.quality_hist)


def gamma_metrics(f: Families, g: Gamma) -> None:
    d = g.destinations
    failures = {(name, reason): n for name, x in d.items() for reason, n in x.failures.items()}
    f.counter(
        "gamma_records_delivered_total",
        "Total records delivered",
        {k: v.delivered for k, v in d.items()},
        ["destination"],
    )
    f.counter(
        "gamma_delivery_failures_total",
        "Total delivery failures",
        failures,
        ["destination", "reason"],
    )
    f.counter(
        "gamma_delivery_attempts_total",
        "Records sent, including retries",
        {k: v.attempts for k, v in d.items()},
        ["destination"],
    )
    f.counter(
        "gamma_delivery_retries_total",
        "Records scheduled for retry",
        {k: v.retries for k, v in d.items()},
        ["destination"],
    )
    f.counter(
        "gamma_ack_timeouts_total",
        "Deliveries whose acknowledgment timed out",
        {k: v.ack_timeouts for k, v in d.items()},
        ["destination"],
    )
    now = g.clock.now
    success = {}
    for name, dest in d.items():
        ok, failed = dest.outcomes.totals(now)
        success[name] = ok / (ok + failed) if ok + failed else 1.0
    f.gauge(
        "gamma_delivery_success_rate",
        "Delivery success over the last minute, 0-1",
        success,
        ["destination"],
    )
    f.gauge("gamma_pending_deliveries", "Deliveries awaiting acknowledgment", g.pending_depth)
    f.gauge(
        "gamma_delivery_queue_depth",
        "Records queued for delivery, incl. retries",
        g.in_flight() - g.pending_depth,
    )
    f.gauge(
        "gamma_destination_queue_depth",
        "Records queued per destination",
        {k: v.depth for k, v in d.items()},
        ["destination"],
    )
    f.gauge(
        "gamma_delivery_queue_capacity",
        "Delivery queue capacity",
        g.config.values["queue_capacity"],
    )
    f.gauge("gamma_replay_backlog", "Replayed DLQ records not yet queued", g.replay_queue.depth)
    f.gauge(
        "gamma_destination_status",
        "1 reachable, 0 unreachable",
        {k: 1.0 if g.reachable(k) else 0.0 for k in d},
        ["destination"],
    )
    f.gauge(
        "gamma_circuit_breaker_state",
        "0 CLOSED, 1 OPEN, 2 HALF_OPEN",
        {k: STATE_VALUE[v.breaker.state] for k, v in d.items()},
        ["destination"],
    )
    f.counter(
        "gamma_circuit_breaker_trips_total",
        "Times the breaker opened",
        {k: v.breaker.trips for k, v in d.items()},
        ["destination"],
    )
    f.gauge("gamma_dlq_size", "Dead letter queue size", len(g.dlq))
    f.gauge("gamma_dlq_capacity", "Dead letter queue capacity", g.dlq.capacity)
    f.counter(
        "gamma_dlq_entries_total",
        "Records added to the DLQ by reason",
        g.dlq.added_by_reason,
        ["reason"],
    )
    f.counter("gamma_dlq_replayed_total", "DLQ entries replayed", g.dlq.replayed_total)
    f.counter("gamma_dlq_purged_total", "DLQ entries purged", g.dlq.purged_total)
    f.histogram(
        "gamma_delivery_duration_seconds",
        "Delivery time per record",
        {k: v.duration for k, v in d.items()},
        ["destination"],
    )
    f.histogram("gamma_ack_wait_duration_seconds", "Time waiting for acknowledgment", g.ack_hist)
    f.histogram(
        "pipeline_end_to_end_latency_seconds", "Ingestion to acknowledged delivery", g.e2e_hist
    )


BUILDERS = {"alpha": alpha_metrics, "beta": beta_metrics, "gamma": gamma_metrics}


class ModuleCollector(Collector):
    """Reads one module's counts under its lock at scrape time."""

    def __init__(self, module: Module) -> None:
        self.module = module

    def collect(self) -> Iterator[Metric]:
        families = Families(self.module.name)
        with self.module.lock:
            common(families, self.module)
            BUILDERS[self.module.name](families, self.module)  # type: ignore[operator]
        return iter(families.metrics)


def registry_for(module: Module) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ModuleCollector(module))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
