"""/metrics: every metric the manual names, with its type, buckets and labels."""

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from simulator.metrics import exposition, registry_for

from .support import run_checked

# 001, "Metric Types": name -> (module, type, buckets).
MANUAL_METRICS = {
    "alpha_records_ingested_total": ("alpha", "counter", None),
    "alpha_records_validated_total": ("alpha", "counter", None),
    "alpha_validation_failures_total": ("alpha", "counter", None),
    "beta_records_transformed_total": ("beta", "counter", None),
    "beta_enrichment_lookups_total": ("beta", "counter", None),
    "gamma_records_delivered_total": ("gamma", "counter", None),
    "gamma_delivery_failures_total": ("gamma", "counter", None),
    "alpha_buffer_utilization": ("alpha", "gauge", None),
    "alpha_active_connections": ("alpha", "gauge", None),
    "beta_queue_depth": ("beta", "gauge", None),
    "beta_cache_size": ("beta", "gauge", None),
    "gamma_pending_deliveries": ("gamma", "gauge", None),
    "gamma_dlq_size": ("gamma", "gauge", None),
    "alpha_parse_duration_seconds": ("alpha", "histogram", [0.001, 0.005, 0.01, 0.05, 0.1]),
    "alpha_validation_duration_seconds": ("alpha", "histogram", [0.001, 0.005, 0.01, 0.05, 0.1]),
    "beta_transform_duration_seconds": ("beta", "histogram", [0.01, 0.05, 0.1, 0.5, 1.0]),
    "beta_enrichment_duration_seconds": ("beta", "histogram", [0.01, 0.05, 0.1, 0.5, 1.0]),
    "gamma_delivery_duration_seconds": ("gamma", "histogram", [0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
}

# What 001's alert definitions and 000's threshold tables query, beyond the table above.
NEEDED = {
    "alpha": [
        "alpha_parse_errors_total",
        "alpha_source_connection_status",
        "alpha_source_connection_failures_total",
        "alpha_buffer_depth",
        "alpha_config_info",
    ],
    "beta": [
        "beta_enrichment_cache_hit_rate",
        "beta_quality_score",
        "beta_transform_errors_total",
        "beta_queue_wait_duration_seconds",
        "beta_config_info",
    ],
    "gamma": [
        "gamma_destination_status",
        "gamma_circuit_breaker_state",
        "gamma_ack_timeouts_total",
        "gamma_delivery_success_rate",
        "gamma_delivery_attempts_total",
        "gamma_delivery_queue_depth",
        "pipeline_end_to_end_latency_seconds",
        "gamma_config_info",
    ],
}


def scrape(module) -> dict[str, Metric]:
    """Each sample name in a module's exposition, mapped to the family it belongs to."""
    text = exposition(registry_for(module)).decode()
    families: dict[str, Metric] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            families.setdefault(sample.name, family)
    return families


@pytest.fixture
def scraped(pipeline):
    pipeline.apply_fault("gamma", {"scenario": "destination-down"})
    run_checked(pipeline, 5)
    return {name: scrape(module) for name, module in pipeline.modules.items()}


@pytest.mark.parametrize("name", sorted(MANUAL_METRICS))
def test_every_metric_in_the_manuals_tables_is_exposed(scraped, name):
    module, kind, buckets = MANUAL_METRICS[name]
    sample_name = f"{name}_bucket" if kind == "histogram" else name
    family = scraped[module][sample_name]
    assert family.type == kind
    if buckets:
        les = sorted({float(s.labels["le"]) for s in family.samples if s.name == sample_name})
        assert les == buckets + [float("inf")]


@pytest.mark.parametrize(("module", "name"), [(m, n) for m, ns in NEEDED.items() for n in ns])
def test_what_alerts_and_thresholds_query_is_exposed(scraped, module, name):
    assert any(s == name or s.startswith(name + "_") for s in scraped[module]), name


def test_labels_follow_the_manual(scraped):
    connection = scraped["alpha"]["alpha_source_connection_status"]
    assert {s.labels["source"] for s in connection.samples} == {
        "api_source_1",
        "file_source_1",
        "queue_source_1",
    }
    breaker = scraped["gamma"]["gamma_circuit_breaker_state"]
    states = {s.labels["destination"]: s.value for s in breaker.samples}
    assert states == {"analytics_warehouse": 1.0, "partner_feed": 0.0, "archive_store": 0.0}
    status = scraped["gamma"]["gamma_destination_status"]
    assert {s.labels["destination"]: s.value for s in status.samples}["analytics_warehouse"] == 0
    for module, families in scraped.items():
        for family in families.values():
            for sample in family.samples:
                assert sample.labels["module"] == module
                assert sample.labels["instance"] == f"{module}-1"


def test_counters_agree_with_the_books(pipeline):
    run_checked(pipeline, 5)
    books = pipeline.books()
    alpha = scrape(pipeline.alpha)["alpha_records_ingested_total"]
    gamma = scrape(pipeline.gamma)["gamma_records_delivered_total"]
    assert sum(s.value for s in alpha.samples if s.name.endswith("_total")) == books["ingested"]
    assert sum(s.value for s in gamma.samples if s.name.endswith("_total")) == books["delivered"]


def test_histogram_buckets_are_cumulative_and_end_at_the_count(pipeline):
    run_checked(pipeline, 5)
    family = scrape(pipeline.gamma)["pipeline_end_to_end_latency_seconds_bucket"]
    buckets = [s.value for s in family.samples if s.name.endswith("_bucket")]
    count = next(s.value for s in family.samples if s.name.endswith("_count"))
    assert buckets == sorted(buckets)
    assert buckets[-1] == count == pipeline.gamma.delivered


def test_config_version_in_metrics_follows_a_reload(pipeline):
    with pipeline.beta.lock:
        pipeline.beta.reload_config({"cache_ttl_seconds": 7200})
    info = scrape(pipeline.beta)["beta_config_info"]
    assert info.samples[0].labels["version"] == "1.0.1"


def test_each_module_has_its_own_registry_and_the_global_one_is_untouched(pipeline):
    names = {m.name for m in REGISTRY.collect()}
    assert not any(n.startswith(("alpha_", "beta_", "gamma_")) for n in names)
    alpha = scrape(pipeline.alpha)
    assert not any(name.startswith("gamma_") for name in alpha)
