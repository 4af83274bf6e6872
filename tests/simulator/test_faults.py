"""Each fault produces the symptoms the manual lists, and bad fault requests are refused."""

import pytest

from simulator.errors import Invalid
from simulator.module import Health

from .support import run_checked


def health(module):
    with module.lock:
        return module.health()


def test_source_failure_stops_one_source_and_degrades_alpha(pipeline):
    alpha = pipeline.alpha
    run_checked(pipeline, 2)
    pipeline.apply_fault("alpha", {"scenario": "source-failure", "source": "file_source_1"})
    before = {k: s.ingested for k, s in alpha.sources.items()}
    run_checked(pipeline, 5)
    assert alpha.sources["file_source_1"].ingested == before["file_source_1"]
    assert alpha.sources["api_source_1"].ingested > before["api_source_1"]
    assert alpha.sources["file_source_1"].failures > 0
    assert health(alpha)["status"] == Health.DEGRADED
    with alpha.lock:
        assert alpha.describe_source("file_source_1")["status"] == "failing"
        assert alpha.test_source("file_source_1")["reachable"] is False


def test_source_failure_on_all_sources_makes_alpha_unhealthy(pipeline):
    pipeline.apply_fault("alpha", {"scenario": "source-failure", "source": "all"})
    run_checked(pipeline, 2)
    assert pipeline.books()["ingested"] == 0
    assert health(pipeline.alpha)["status"] == Health.UNHEALTHY


def test_parse_error_storm_passes_the_alert_line(pipeline):
    pipeline.apply_fault("alpha", {"scenario": "parse-error-storm"})
    books = run_checked(pipeline, 10)
    # 001: alpha_high_parse_error_rate fires above 5%.
    assert books["rejected"]["parse_error"] / books["ingested"] > 0.05


def test_validation_spike_passes_the_critical_line(pipeline):
    pipeline.apply_fault("alpha", {"scenario": "validation-spike"})
    books = run_checked(pipeline, 10)
    # 000, Module Alpha Metrics: validation failures critical above 3%.
    assert books["rejected"]["validation_failed"] / books["ingested"] > 0.03
    reasons = {reason for _, reason in pipeline.alpha.validation_failures}
    assert reasons == {
        "missing_required_field",
        "schema_violation",
        "invalid_timestamp",
        "duplicate_record",
    }


def test_transform_backlog_grows_the_queue_and_engages_backpressure(pipeline):
    pipeline.apply_fault("beta", {"scenario": "transform-backlog"})
    books = run_checked(pipeline, 15)
    assert books["queued"]["beta_queue"] > 5000
    assert health(pipeline.beta)["status"] == Health.DEGRADED
    run_checked(pipeline, 30)
    assert pipeline.alpha.backpressure_active
    # The manual's mitigation: enable stale fallback, and the queue drains.
    with pipeline.beta.lock:
        pipeline.beta.reload_config({"stale_fallback": True})
    books = run_checked(pipeline, 30)
    assert books["queued"]["beta_queue"] < 1000


def test_cache_degraded_drops_the_hit_rate_under_the_alert_line(pipeline):
    pipeline.apply_fault("beta", {"scenario": "cache-degraded"})
    run_checked(pipeline, 61)
    with pipeline.beta.lock:
        assert pipeline.beta.hit_rate() < 0.7


def test_quality_drop_passes_the_alert_line(pipeline):
    pipeline.apply_fault("beta", {"scenario": "quality-drop"})
    run_checked(pipeline, 61)
    with pipeline.beta.lock:
        assert pipeline.beta.average_quality() < 0.6
    assert pipeline.gamma.destinations["archive_store"].delivered > 0


def test_destination_down_retries_trips_the_breaker_and_grows_the_dlq(pipeline):
    gamma = pipeline.gamma
    pipeline.apply_fault("gamma", {"scenario": "destination-down"})
    books = run_checked(pipeline, 10)
    dest = gamma.destinations["analytics_warehouse"]
    assert dest.retries > 0
    assert dest.breaker.state.value == "OPEN"
    assert books["dlq"] > 1000
    assert not gamma.reachable("analytics_warehouse")
    assert gamma.destinations["partner_feed"].delivered > 0
    assert health(gamma)["status"] == Health.DEGRADED
    # Records wait locally up to the hold limit (001: "queue locally").
    assert dest.depth >= gamma.config.values["breaker_hold_limit"]


def test_rate_limited_destination_fills_the_dlq_and_a_lower_rate_fixes_it(pipeline):
    gamma = pipeline.gamma
    pipeline.apply_fault(
        "gamma", {"scenario": "rate-limited", "destination": "partner_feed", "limit_per_second": 50}
    )
    run_checked(pipeline, 20)
    dest = gamma.destinations["partner_feed"]
    assert dest.failures["rate_limited"] > 0
    assert len(gamma.dlq) > 0
    with gamma.lock:
        gamma.reload_config({"destinations": {"partner_feed": {"max_rate": 40}}})
        gamma.reset_breaker("partner_feed")
    run_checked(pipeline, 10)
    refused = dest.failures["rate_limited"]
    run_checked(pipeline, 20)
    assert dest.failures["rate_limited"] == refused


def test_ack_timeouts_exceed_the_critical_rate(pipeline):
    pipeline.apply_fault("gamma", {"scenario": "ack-timeouts"})
    run_checked(pipeline, 20)
    dests = pipeline.gamma.destinations.values()
    timeouts = sum(d.ack_timeouts for d in dests)
    delivered = sum(d.delivered for d in dests)
    # 000, Module Gamma Metrics: acknowledgment timeouts critical above 0.5%.
    assert timeouts / delivered > 0.005


@pytest.mark.parametrize("module", ["alpha", "beta", "gamma"])
def test_latency_spike_breaks_the_sla_with_nothing_failing(pipeline, module):
    run_checked(pipeline, 5)
    since = pipeline.gamma.e2e_hist.snapshot()
    pipeline.apply_fault(module, {"scenario": "latency-spike"})
    books = run_checked(pipeline, 20)
    # 001, pipeline_latency_sla_breach: P99 over 2 s.
    assert pipeline.gamma.e2e_hist.quantile(0.99, since) > 2.0
    assert books["dlq"] == 0
    assert books["queued_total"] < 3000


@pytest.mark.parametrize("module", ["alpha", "beta", "gamma"])
def test_memory_pressure_degrades_then_makes_unhealthy(pipeline, module):
    target = pipeline.module(module)
    pipeline.apply_fault(module, {"scenario": "memory-pressure", "level": 0.95})
    statuses = []
    for _ in range(25):
        run_checked(pipeline, 1)
        statuses.append(health(target)["status"])
    assert Health.DEGRADED in statuses
    assert statuses[-1] == Health.UNHEALTHY
    assert health(target)["checks"]["memory"]["utilization"] == pytest.approx(0.95)


def test_memory_pressure_evicts_betas_caches(pipeline):
    pipeline.apply_fault("beta", {"scenario": "memory-pressure", "ramp_seconds": 0})
    run_checked(pipeline, 2)
    for name, cache in pipeline.beta.caches.items():
        # Evicted to half each tick; the tick's misses refill a little before the next.
        assert cache.entries < 0.55 * pipeline.beta.config.items[name]["capacity"]


def test_module_crash_stops_processing_and_revive_restarts(pipeline):
    run_checked(pipeline, 2)
    transformed = pipeline.beta.transformed
    pipeline.apply_fault("beta", {"scenario": "module-crash"})
    assert not pipeline.beta.up
    run_checked(pipeline, 5)
    assert pipeline.beta.transformed == transformed
    assert health(pipeline.alpha)["checks"]["dependencies"]["status"] == Health.DEGRADED
    assert pipeline.revive("beta")["revived"] is True
    run_checked(pipeline, 2)
    assert pipeline.beta.transformed > transformed
    assert pipeline.beta.restarts == 1


def test_reposting_a_fault_replaces_its_params(pipeline):
    first = pipeline.apply_fault("alpha", {"scenario": "parse-error-storm", "error_rate": 0.2})
    again = pipeline.apply_fault("alpha", {"scenario": "parse-error-storm", "error_rate": 0.3})
    assert first["created"] is True
    assert again["created"] is False
    assert [f["params"]["error_rate"] for f in again["active"]] == [0.3]


def test_faults_on_different_targets_stack_and_clear_together(pipeline):
    for dest in ("analytics_warehouse", "partner_feed", "archive_store"):
        pipeline.apply_fault("gamma", {"scenario": "destination-down", "destination": dest})
    run_checked(pipeline, 5)
    assert health(pipeline.gamma)["status"] == Health.UNHEALTHY
    assert pipeline.clear_faults("gamma", "destination-down")["cleared"] == ["destination-down"]
    assert pipeline.gamma.faults.names() == []


@pytest.mark.parametrize(
    ("module", "body", "message"),
    [
        ("alpha", None, "JSON object"),
        ("alpha", {"scenario": 3}, "JSON object"),
        ("alpha", {"scenario": "nope"}, "unknown scenario"),
        ("beta", {"scenario": "source-failure"}, "fault of alpha"),
        ("alpha", {"scenario": "source-failure", "source": "ghost"}, "source must be one of"),
        ("alpha", {"scenario": "parse-error-storm", "error_rate": 2}, "between"),
        ("alpha", {"scenario": "parse-error-storm", "error_rate": "high"}, "number"),
        ("alpha", {"scenario": "parse-error-storm", "extra": 1}, "unknown parameters"),
        ("gamma", {"scenario": "rate-limited", "limit_per_second": True}, "number"),
    ],
)
def test_bad_fault_requests_are_refused(pipeline, module, body, message):
    with pytest.raises(Invalid, match=message):
        pipeline.apply_fault(module, body)
    assert pipeline.module(module).faults.names() == []
