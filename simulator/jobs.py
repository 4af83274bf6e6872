"""Each module's batch jobs, from the manual's schedule tables (000, "Batch Processing
Schedules"), run on the scaled manual clock with scaled-down durations.

The hourly tables and the "Module-Specific Daily Tasks" table name their module. The
system-wide daily, weekly and monthly jobs are given to the module whose data they touch;
the reason for each is beside it. A run takes the manual's expected duration divided by the
time scale (60 by default: a 2-5 minute job takes 2-5 seconds) and ends SUCCESS or FAILED
with record counts that the module reports.
"""

import calendar
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from random import Random
from typing import Any

from .clock import Clock
from .errors import Conflict, NotFound


@dataclass(frozen=True)
class JobSpec:
    """One row of a schedule table."""

    name: str
    module: str
    cadence: str  # hourly | daily | weekly | monthly
    at: str  # as the table writes it: ":05", "02:30", "Sun 02:00", "1st 01:00"
    description: str
    minutes: tuple[float, float]  # the table's "Expected Duration"
    table: str


_H = "000, Hourly Batch Jobs"
_D = "000, Daily Batch Jobs"
_W = "000, Weekly Batch Jobs"
_M = "000, Monthly Batch Jobs"
# "Module-Specific Daily Tasks" gives no durations; we assume 5-15 minutes.
_MODULE_DAILY = (5.0, 15.0)

JOBS: tuple[JobSpec, ...] = (
    JobSpec("alpha_source_sync", "alpha", "hourly", ":00",
            "Synchronize source adapter configurations", (2, 5), _H),
    JobSpec("alpha_buffer_flush", "alpha", "hourly", ":15",
            "Force flush of any stale buffer contents", (1, 3), _H),
    JobSpec("alpha_metrics_aggregate", "alpha", "hourly", ":30",
            "Aggregate hourly metrics for reporting", (3, 5), _H),
    JobSpec("alpha_error_report", "alpha", "hourly", ":45",
            "Generate hourly error summary", (2, 4), _H),
    JobSpec("beta_cache_refresh", "beta", "hourly", ":05",
            "Refresh enrichment cache entries nearing expiration", (5, 10), _H),
    JobSpec("beta_rule_validation", "beta", "hourly", ":20",
            "Validate transformation rule configurations", (2, 3), _H),
    JobSpec("beta_quality_report", "beta", "hourly", ":35",
            "Generate hourly quality score summary", (3, 5), _H),
    JobSpec("beta_schema_sync", "beta", "hourly", ":50",
            "Synchronize schema registry", (2, 4), _H),
    JobSpec("gamma_dlq_report", "gamma", "hourly", ":10",
            "Generate dead letter queue status report", (2, 3), _H),
    JobSpec("gamma_ack_reconcile", "gamma", "hourly", ":25",
            "Reconcile pending acknowledgments", (5, 8), _H),
    JobSpec("gamma_dest_health", "gamma", "hourly", ":40",
            "Health check all delivery destinations", (3, 5), _H),
    JobSpec("gamma_routing_sync", "gamma", "hourly", ":55",
            "Synchronize routing rule cache", (2, 3), _H),
    # System-wide daily tasks.
    # Audit logs leave the pipeline through Gamma's archive path.
    JobSpec("daily_audit_export", "gamma", "daily", "01:00",
            "Export audit logs to long-term storage", (15, 30), _D),
    # Rolls up what alpha_metrics_aggregate produces every hour.
    JobSpec("daily_metrics_rollup", "alpha", "daily", "02:00",
            "Roll up detailed metrics to daily summaries", (10, 20), _D),
    # Lineage is recorded where records are transformed and enriched.
    JobSpec("daily_lineage_index", "beta", "daily", "03:00",
            "Update data lineage search indexes", (20, 40), _D),
    # Compliance is about what is delivered, and to whom (001, Runbook C.1 authorization).
    JobSpec("daily_compliance_check", "gamma", "daily", "04:00",
            "Run compliance verification checks", (15, 25), _D),
    # Capacity follows ingestion volume (001, Capacity Metrics).
    JobSpec("daily_capacity_report", "alpha", "daily", "05:00",
            "Generate capacity utilization report", (5, 10), _D),
    # Beta holds the largest state to back up: the enrichment cache (001, State Backup).
    JobSpec("daily_backup_verify", "beta", "daily", "06:00",
            "Verify backup integrity", (30, 60), _D),
    JobSpec("alpha_source_discovery", "alpha", "daily", "00:30",
            "Discover new source endpoints", _MODULE_DAILY, _D),
    JobSpec("alpha_credential_rotate", "alpha", "daily", "01:30",
            "Check for credential rotation needs", _MODULE_DAILY, _D),
    JobSpec("beta_enrichment_warmup", "beta", "daily", "02:30",
            "Pre-warm enrichment caches", _MODULE_DAILY, _D),
    JobSpec("beta_rule_optimize", "beta", "daily", "03:30",
            "Optimize transformation rule execution", _MODULE_DAILY, _D),
    JobSpec("gamma_dlq_cleanup", "gamma", "daily", "04:30",
            "Archive expired DLQ entries", _MODULE_DAILY, _D),
    JobSpec("gamma_route_optimize", "gamma", "daily", "05:30",
            "Optimize delivery routing tables", _MODULE_DAILY, _D),
    # Weekly. The full backup's largest part is the DLQ snapshot (001, State Backup).
    JobSpec("weekly_full_backup", "gamma", "weekly", "Sun 02:00",
            "Full system backup", (120, 240), _W),
    # Enrichment lookups are the database's heaviest readers.
    JobSpec("weekly_index_rebuild", "beta", "weekly", "Sun 03:00",
            "Rebuild database indexes", (60, 120), _W),
    # Delivery logs are the bulk of what is archived.
    JobSpec("weekly_log_archive", "gamma", "weekly", "Sun 04:00",
            "Archive logs older than 30 days", (30, 60), _W),
    # Sources authenticate with certificates and tokens (000, Source Connectivity).
    JobSpec("weekly_cert_check", "alpha", "weekly", "Sun 05:00",
            "Check certificate expiration dates", (5, 10), _W),
    # Beta is the throughput bottleneck (001, Capacity Metrics: least headroom after Gamma).
    JobSpec("midweek_perf_baseline", "beta", "weekly", "Wed 03:00",
            "Generate performance baseline", (20, 30), _W),
    # Transformation rules are the configuration that drifts most.
    JobSpec("midweek_config_audit", "beta", "weekly", "Wed 03:30",
            "Audit configuration drift", (15, 20), _W),
    # Monthly.
    JobSpec("monthly_capacity_forecast", "alpha", "monthly", "1st 01:00",
            "Generate capacity forecast report", (30, 45), _M),
    JobSpec("monthly_compliance_audit", "gamma", "monthly", "1st 02:00",
            "Comprehensive compliance audit", (60, 120), _M),
    JobSpec("monthly_dr_validation", "gamma", "monthly", "1st 03:00",
            "Validate disaster recovery procedures", (120, 180), _M),
    # Source adapters hold the external credentials.
    JobSpec("monthly_security_scan", "alpha", "monthly", "15th 01:00",
            "Full security vulnerability scan", (60, 120), _M),
    JobSpec("monthly_perf_analysis", "beta", "monthly", "15th 02:00",
            "Monthly performance trend analysis", (30, 45), _M),
)  # fmt: skip

# Not calendar.day_abbr: that follows the process locale, the tables are in English.
WEEKDAYS = {name: i for i, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))}


def next_occurrence(spec: JobSpec, after: datetime) -> datetime:
    """The first moment strictly after ``after`` that the schedule table names."""
    if spec.cadence == "hourly":
        minute = int(spec.at.lstrip(":"))
        candidate = after.replace(minute=minute, second=0, microsecond=0)
        return candidate if candidate > after else candidate + timedelta(hours=1)
    day_part, _, clock_part = spec.at.rpartition(" ")
    hour, minute = (int(x) for x in clock_part.split(":"))
    base = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if spec.cadence == "daily":
        return base if base > after else base + timedelta(days=1)
    if spec.cadence == "weekly":
        ahead = (WEEKDAYS[day_part] - base.weekday()) % 7
        candidate = base + timedelta(days=ahead)
        return candidate if candidate > after else candidate + timedelta(days=7)
    day = int(day_part.rstrip("stndrh"))
    year, month = base.year, base.month
    while True:
        if day <= calendar.monthrange(year, month)[1]:
            candidate = base.replace(year=year, month=month, day=day)
            if candidate > after:
                return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


class RunResult(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class Schedule(StrEnum):
    """Whether scheduled runs fire (Runbook F.2 suspends and resumes them)."""

    SCHEDULED = "scheduled"
    SUSPENDED = "suspended"


@dataclass
class Outcome:
    """What a finished run reports: counts, and a reason if it failed."""

    processed: int
    failed: int = 0
    failure: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class JobRun:
    """One execution of a job."""

    run_id: int
    job: str
    trigger: str  # schedule | manual
    started_at: float
    ends_at: float
    result: RunResult | None = None
    finished_at: float | None = None
    records_processed: int = 0
    records_failed: int = 0
    # The module's records-moved counter when the run started; a run that just reports
    # on the flow counts the records that went by while it ran.
    progress_at_start: int = 0
    logs: list[tuple[float, str, str]] = field(default_factory=list)

    def log(self, at: float, level: str, message: str) -> None:
        self.logs.append((at, level, message))

    def describe(self, clock: Clock) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "job": self.job,
            "trigger": self.trigger,
            "status": self.result or "RUNNING",
            "started_at": clock.iso(self.started_at),
            "finished_at": clock.iso(self.finished_at) if self.finished_at is not None else None,
            "duration_seconds": round(
                (self.finished_at if self.finished_at is not None else clock.now) - self.started_at,
                3,
            ),
            "records_processed": self.records_processed,
            "records_failed": self.records_failed,
        }


@dataclass
class Job:
    """A job's schedule state, its current run and its recent history."""

    spec: JobSpec
    schedule: Schedule = Schedule.SCHEDULED
    next_run: float = 0.0
    current: JobRun | None = None
    history: deque[JobRun] = field(default_factory=lambda: deque(maxlen=20))
    runs_total: int = 0
    failures_total: int = 0

    @property
    def status(self) -> str:
        if self.schedule is Schedule.SUSPENDED:
            return Schedule.SUSPENDED
        return "running" if self.current else Schedule.SCHEDULED


OutcomeFn = Callable[[JobSpec, JobRun], Outcome]


class JobScheduler:
    """Starts and finishes one module's jobs as the clock advances."""

    def __init__(
        self,
        module: str,
        clock: Clock,
        rng: Random,
        outcome: OutcomeFn,
        progress: Callable[[], int],
    ) -> None:
        self.module = module
        self.clock = clock
        self.rng = rng
        self.outcome = outcome
        self.progress = progress
        self.failing = False  # set each tick from the module's job-failure fault
        self.jobs = {s.name: Job(s) for s in JOBS if s.module == module}
        self._run_ids = 0
        for job in self.jobs.values():
            self._plan(job)

    def tick(self, now: float) -> None:
        for job in self.jobs.values():
            if job.current is not None and now >= job.current.ends_at:
                self._finish(job, now)
            if now >= job.next_run:
                if job.schedule is Schedule.SCHEDULED:
                    if job.current is None:
                        self._start(job, "schedule", now)
                    else:
                        # Still busy from the last slot: skip this one, as a cron lock would.
                        job.current.log(now, "WARN", "scheduled run skipped: previous run busy")
                self._plan(job)

    def trigger(self, name: str, now: float) -> dict[str, Any]:
        job = self.get(name)
        if job.schedule is Schedule.SUSPENDED:
            raise Conflict(f"{name} is suspended; resume it before triggering (Runbook F.2)")
        if job.current is not None:
            raise Conflict(f"{name} is already running", run=job.current.describe(self.clock))
        run = self._start(job, "manual", now)
        return run.describe(self.clock)

    def suspend(self, name: str) -> dict[str, Any]:
        job = self.get(name)
        before, job.schedule = job.schedule, Schedule.SUSPENDED
        return {"job": name, "previous_status": before, "status": job.status}

    def resume(self, name: str) -> dict[str, Any]:
        job = self.get(name)
        before, job.schedule = job.schedule, Schedule.SCHEDULED
        # Plan from now, so that a long suspension does not fire a burst of missed runs.
        self._plan(job)
        return {"job": name, "previous_status": before, "status": job.status}

    def abort_running(self, now: float, reason: str) -> None:
        for job in self.jobs.values():
            if job.current is not None:
                self._close(job, job.current, now, RunResult.FAILED, reason)

    def get(self, name: str) -> Job:
        job = self.jobs.get(name)
        if job is None:
            raise NotFound(f"no job {name!r} on {self.module}", jobs=sorted(self.jobs))
        return job

    def describe(self, job: Job) -> dict[str, Any]:
        last = job.history[-1] if job.history else None
        lo, hi = job.spec.minutes
        return {
            "name": job.spec.name,
            "module": job.spec.module,
            "description": job.spec.description,
            "schedule": {"cadence": job.spec.cadence, "at": job.spec.at},
            "expected_duration_minutes": [lo, hi],
            "manual": job.spec.table,
            "status": job.status,
            "last_result": last.result if last else None,
            "last_run": last.describe(self.clock) if last else None,
            "current_run": job.current.describe(self.clock) if job.current else None,
            "next_run_at": self.clock.iso(job.next_run),
            "runs_total": job.runs_total,
            "failures_total": job.failures_total,
        }

    def status(self, name: str) -> dict[str, Any]:
        job = self.get(name)
        body = self.describe(job)
        body["history"] = [run.describe(self.clock) for run in reversed(job.history)]
        return body

    def logs(self, name: str, run_id: int | None, limit: int) -> dict[str, Any]:
        job = self.get(name)
        runs = list(job.history) + ([job.current] if job.current else [])
        if run_id is None:
            run = runs[-1] if runs else None
        else:
            run = next((r for r in runs if r.run_id == run_id), None)
            if run is None:
                raise NotFound(f"no run {run_id} of {name} is kept")
        lines = run.logs[-limit:] if run else []
        return {
            "job": name,
            "run_id": run.run_id if run else None,
            "lines": [
                {"at": self.clock.iso(at), "level": level, "message": message}
                for at, level, message in lines
            ],
        }

    def _plan(self, job: Job) -> None:
        after = self.clock.manual()
        job.next_run = self.clock.sim_at_manual(next_occurrence(job.spec, after))

    def _start(self, job: Job, trigger: str, now: float) -> JobRun:
        self._run_ids += 1
        lo, hi = job.spec.minutes
        seconds = self.rng.uniform(lo, hi) * 60.0 / self.clock.time_scale
        run = JobRun(self._run_ids, job.spec.name, trigger, now, now + seconds)
        run.progress_at_start = self.progress()
        run.log(now, "INFO", f"started ({trigger}); expected {lo:g}-{hi:g} minutes")
        job.current = run
        job.runs_total += 1
        return run

    def _finish(self, job: Job, now: float) -> None:
        run = job.current
        assert run is not None
        outcome = self.outcome(job.spec, run)
        if self.failing and not outcome.failure:
            outcome.failure = "injected failure (job-failure fault)"
        run.records_processed = outcome.processed
        run.records_failed = outcome.failed
        for note in outcome.notes:
            run.log(now, "INFO", note)
        result = RunResult.FAILED if outcome.failure else RunResult.SUCCESS
        self._close(job, run, now, result, outcome.failure)

    def _close(self, job: Job, run: JobRun, now: float, result: RunResult, why: str) -> None:
        run.result = result
        run.finished_at = now
        level = "ERROR" if result is RunResult.FAILED else "INFO"
        run.log(
            now,
            level,
            f"finished {result}: processed {run.records_processed}, "
            f"failed {run.records_failed}" + (f" ({why})" if why else ""),
        )
        if result is RunResult.FAILED:
            job.failures_total += 1
        job.history.append(run)
        job.current = None
