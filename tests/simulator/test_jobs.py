"""Batch jobs from 000's schedule tables: who runs them, when, and how they end."""

from datetime import UTC, datetime

import pytest

from simulator.errors import Conflict, NotFound
from simulator.jobs import JOBS, JobSpec, RunResult, next_occurrence

from .support import run_checked

# The names in 000, "Batch Processing Schedules", in table order.
MANUAL_JOBS = """
alpha_source_sync alpha_buffer_flush alpha_metrics_aggregate alpha_error_report
beta_cache_refresh beta_rule_validation beta_quality_report beta_schema_sync
gamma_dlq_report gamma_ack_reconcile gamma_dest_health gamma_routing_sync
daily_audit_export daily_metrics_rollup daily_lineage_index daily_compliance_check
daily_capacity_report daily_backup_verify alpha_source_discovery alpha_credential_rotate
beta_enrichment_warmup beta_rule_optimize gamma_dlq_cleanup gamma_route_optimize
weekly_full_backup weekly_index_rebuild weekly_log_archive weekly_cert_check
midweek_perf_baseline midweek_config_audit monthly_capacity_forecast monthly_compliance_audit
monthly_dr_validation monthly_security_scan monthly_perf_analysis
""".split()


def test_every_scheduled_job_in_the_manual_belongs_to_exactly_one_module():
    assert sorted(j.name for j in JOBS) == sorted(MANUAL_JOBS)
    for job in JOBS:
        for module in ("alpha", "beta", "gamma"):
            if job.name.startswith(module + "_"):
                assert job.module == module


def spec(cadence: str, at: str) -> JobSpec:
    return JobSpec("j", "alpha", cadence, at, "", (1, 2), "")


@pytest.mark.parametrize(
    ("cadence", "at", "after", "expected"),
    [
        ("hourly", ":15", "2024-01-15 10:10", "2024-01-15 10:15"),
        ("hourly", ":15", "2024-01-15 10:15", "2024-01-15 11:15"),
        ("hourly", ":00", "2024-12-31 23:30", "2025-01-01 00:00"),
        ("daily", "02:30", "2024-01-15 01:00", "2024-01-15 02:30"),
        ("daily", "02:30", "2024-01-15 03:00", "2024-01-16 02:30"),
        ("weekly", "Sun 02:00", "2024-01-15 10:00", "2024-01-21 02:00"),  # a Monday
        ("weekly", "Wed 03:30", "2024-01-17 03:30", "2024-01-24 03:30"),
        ("monthly", "1st 01:00", "2024-01-15 10:00", "2024-02-01 01:00"),
        ("monthly", "15th 02:00", "2024-01-15 01:00", "2024-01-15 02:00"),
        ("monthly", "1st 03:00", "2024-12-02 00:00", "2025-01-01 03:00"),
    ],
)
def test_next_occurrence_follows_the_schedule_tables(cadence, at, after, expected):
    moment = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert next_occurrence(spec(cadence, at), moment) == datetime.fromisoformat(expected).replace(
        tzinfo=UTC
    )


def test_hourly_jobs_run_every_manual_hour(pipeline):
    # At time scale 60 a manual hour is one simulated minute.
    run_checked(pipeline, 125, dt=0.5)
    with pipeline.beta.lock:
        for name in ("beta_cache_refresh", "beta_rule_validation", "beta_quality_report"):
            job = pipeline.beta.jobs.get(name)
            assert job.runs_total >= 2, name
            assert job.history[-1].result is RunResult.SUCCESS


def test_trigger_runs_a_job_for_its_scaled_duration_and_ends_with_counts(pipeline):
    jobs = pipeline.alpha.jobs
    with pipeline.alpha.lock:
        run = jobs.trigger("alpha_metrics_aggregate", pipeline.clock.now)
        assert run["status"] == "RUNNING"
        with pytest.raises(Conflict):
            jobs.trigger("alpha_metrics_aggregate", pipeline.clock.now)
    run_checked(pipeline, 6)
    with pipeline.alpha.lock:
        status = jobs.status("alpha_metrics_aggregate")
    last = status["history"][0]
    assert last["status"] == "SUCCESS"
    # 000 expects 3-5 minutes; at time scale 60 that is 3-5 seconds.
    assert 3.0 <= last["duration_seconds"] <= 5.1
    assert last["records_processed"] > 0
    assert status["status"] == "scheduled"


def test_suspended_jobs_do_not_run_until_resumed(pipeline):
    jobs = pipeline.gamma.jobs
    with pipeline.gamma.lock:
        assert jobs.suspend("gamma_dlq_report")["status"] == "suspended"
        with pytest.raises(Conflict):
            jobs.trigger("gamma_dlq_report", pipeline.clock.now)
    run_checked(pipeline, 65, dt=0.5)
    assert jobs.get("gamma_dlq_report").runs_total == 0
    with pipeline.gamma.lock:
        assert jobs.resume("gamma_dlq_report")["status"] == "scheduled"
    run_checked(pipeline, 62, dt=0.5)
    assert jobs.get("gamma_dlq_report").runs_total >= 1


def test_unknown_jobs_are_not_found(pipeline):
    with pytest.raises(NotFound):
        pipeline.alpha.jobs.get("beta_cache_refresh")


def test_job_failure_fault_fails_every_run(pipeline):
    pipeline.apply_fault("beta", {"scenario": "job-failure"})
    with pipeline.beta.lock:
        pipeline.beta.jobs.trigger("beta_schema_sync", pipeline.clock.now)
    run_checked(pipeline, 5)
    with pipeline.beta.lock:
        status = pipeline.beta.jobs.status("beta_schema_sync")
        logs = pipeline.beta.jobs.logs("beta_schema_sync", None, 50)
    assert status["last_result"] == "FAILED"
    assert status["failures_total"] == 1
    assert logs["lines"][-1]["level"] == "ERROR"
    assert "injected failure" in logs["lines"][-1]["message"]


def test_jobs_fail_when_what_they_check_is_broken(pipeline):
    pipeline.apply_fault("gamma", {"scenario": "destination-down"})
    pipeline.apply_fault("alpha", {"scenario": "source-failure"})
    with pipeline.gamma.lock, pipeline.alpha.lock:
        pipeline.gamma.jobs.trigger("gamma_dest_health", pipeline.clock.now)
        pipeline.alpha.jobs.trigger("alpha_source_sync", pipeline.clock.now)
    run_checked(pipeline, 6)
    dest = pipeline.gamma.jobs.get("gamma_dest_health").history[-1]
    sync = pipeline.alpha.jobs.get("alpha_source_sync").history[-1]
    assert (dest.result, dest.records_processed, dest.records_failed) == (RunResult.FAILED, 3, 1)
    assert (sync.result, sync.records_failed) == (RunResult.FAILED, 1)


def test_a_crash_fails_the_running_jobs(pipeline):
    with pipeline.beta.lock:
        pipeline.beta.jobs.trigger("daily_backup_verify", pipeline.clock.now)
    run_checked(pipeline, 1)
    pipeline.crash("beta")
    run = pipeline.beta.jobs.get("daily_backup_verify").history[-1]
    assert run.result is RunResult.FAILED
    assert "crashed" in run.logs[-1][2]


def test_job_logs_by_run_id_and_unknown_run(pipeline):
    jobs = pipeline.alpha.jobs
    with pipeline.alpha.lock:
        run = jobs.trigger("alpha_error_report", pipeline.clock.now)
        logs = jobs.logs("alpha_error_report", run["run_id"], 10)
        assert logs["lines"][0]["message"].startswith("started (manual)")
        with pytest.raises(NotFound):
            jobs.logs("alpha_error_report", 999, 10)
