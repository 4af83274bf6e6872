"""Module Alpha: ingests from named sources into a bounded buffer, parses and validates.

Records that pass go to an outbox that the pipeline hands to Beta; the outbox counts
against the same buffer, so when Beta stops taking records the buffer fills and Alpha
refuses what sources offer (backpressure, 000 "Queue Depth Assessment").
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

from .clock import Clock
from .config import ModuleConfig, Setting
from .errors import NotFound
from .jobs import JobRun, JobSpec, Outcome
from .module import Health, Module, RunState
from .records import Batch, BatchQueue
from .stats import BulkHistogram

# 001, Capacity Metrics: Alpha's sustained maximum is 8,000 rec/s.
SUSTAINED_MAX = 8000.0
# 000, Module Alpha Metrics: normal parse error rate <0.1%, validation failures <1%,
# average parse latency <10 ms.
PARSE_ERROR_RATE = 0.0005
VALIDATION_FAILURE_RATE = 0.004
PARSE_SECONDS = 0.002
VALIDATION_SECONDS = 0.001
# Why records fail validation, and how often each: A.1's required fields (id, timestamp,
# payload) and schema_ref (001, Runbook A.1); the shares are ours.
VALIDATION_REASONS = (
    ("missing_required_field", 0.4),
    ("schema_violation", 0.3),
    ("invalid_timestamp", 0.2),
    ("duplicate_record", 0.1),
)
# Time to fetch from a source. 45 ms for an API is the latency in 001's log example.
FETCH_SECONDS = {"rest_api": 0.045, "file": 0.010, "message_queue": 0.005, "database": 0.020}
# 001, Histogram Metrics.
PARSE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1)
# alpha_source_fetch_duration_seconds is grepped for in Runbook E.1 but has no listed
# buckets; we use Gamma's delivery buckets, which span a network call.
FETCH_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
# Seconds after the last refusal during which backpressure is reported as active.
BACKPRESSURE_HOLD = 5.0

SETTINGS = (
    Setting("ingestion_rate", float, 2000.0, 0.0, 100000.0),
    # 000 wants the input buffer below 5,000 records; Runbook E.3 shrinks it to 5,000 under
    # memory pressure, so the normal capacity is larger: 10,000.
    Setting("buffer_capacity", int, 10000, 100, 1000000),
)
SOURCE_SETTINGS = (
    # A.1 starts new sources disabled, "for validation".
    Setting("enabled", bool, False),
    Setting("type", str, "rest_api", choices=tuple(FETCH_SECONDS)),
    # The source's share of ingestion_rate.
    Setting("share", float, 0.1, 0.0, 10.0),
)
DEFAULT_SOURCES = {
    "api_source_1": {"type": "rest_api", "share": 0.5, "enabled": True},
    "file_source_1": {"type": "file", "share": 0.3, "enabled": True},
    "queue_source_1": {"type": "message_queue", "share": 0.2, "enabled": True},
}


@dataclass
class SourceStats:
    """What Alpha knows about one source adapter."""

    polls: int = 0
    failures: int = 0
    ingested: int = 0
    validated: int = 0
    parse_errors: int = 0
    throttled: int = 0
    carry: float = 0.0
    last_success_at: float | None = None
    last_error: str = ""
    last_error_at: float | None = None


class Alpha(Module):
    """Ingestion."""

    name = "alpha"
    # 001, Capacity Metrics: Alpha's average memory is 45%.
    base_memory = 0.45
    pool_size = 16

    def __init__(
        self, clock: Clock, rng: Random, peer_up: Callable[[str], bool], rate: float
    ) -> None:
        config = ModuleConfig(
            "alpha",
            SETTINGS,
            {"ingestion_rate": float(rate)},
            item_kind="sources",
            item_settings=SOURCE_SETTINGS,
            items=DEFAULT_SOURCES,
            new_item_requires=("type",),
        )
        super().__init__(clock, rng, config, peer_up)
        self.buffer = BatchQueue()
        self.outbox = BatchQueue()
        self.next_record_id = 1
        self.sources: dict[str, SourceStats] = {}
        self.validation_failures: dict[tuple[str, str], int] = {}
        self.parse_hist = BulkHistogram(PARSE_BUCKETS)
        self.validation_hist = BulkHistogram(PARSE_BUCKETS)
        self.fetch_hist: dict[str, BulkHistogram] = {}
        self.last_refusal_at: float | None = None
        self._budget_carry = 0.0
        self._sync_sources()

    # -- books -------------------------------------------------------------------------

    @property
    def ingested(self) -> int:
        return sum(s.ingested for s in self.sources.values())

    def queued(self) -> int:
        return self.buffer.depth + self.outbox.depth

    def queue_utilization(self) -> float:
        return self.queued() / float(self.config.values["buffer_capacity"])

    @property
    def backpressure_active(self) -> bool:
        return (
            self.last_refusal_at is not None
            and self.clock.now - self.last_refusal_at <= BACKPRESSURE_HOLD
        )

    # -- sources -----------------------------------------------------------------------

    def _sync_sources(self) -> None:
        for source_id in self.config.items:
            self.sources.setdefault(source_id, SourceStats())
            self.fetch_hist.setdefault(source_id, BulkHistogram(FETCH_BUCKETS))

    def source_status_of(self, source_id: str) -> str:
        if not self.config.items[source_id]["enabled"]:
            return "disabled"
        if self.faults.lookup("source-failure", source_id):
            return "failing"
        return "connected"

    def fault_choices(self) -> dict[str, list[str]]:
        return {"source": sorted(self.config.items)}

    def _source(self, source_id: str) -> dict[str, Any]:
        if source_id not in self.config.items:
            raise NotFound(f"no source {source_id!r}", sources=sorted(self.config.items))
        return self.config.items[source_id]

    def describe_source(self, source_id: str) -> dict[str, Any]:
        item = self._source(source_id)
        stats = self.sources[source_id]
        now = self.clock.now
        success = 1.0 - stats.failures / stats.polls if stats.polls else None
        return {
            "source_id": source_id,
            "type": item["type"],
            "enabled": item["enabled"],
            "status": self.source_status_of(source_id),
            "share": item["share"],
            "rate_per_second": round(self.config.values["ingestion_rate"] * item["share"], 3),
            "records_ingested": stats.ingested,
            "records_validated": stats.validated,
            "parse_errors": stats.parse_errors,
            "records_throttled": stats.throttled,
            "connection_attempts": stats.polls,
            "connection_failures": stats.failures,
            "connection_success_rate": None if success is None else round(success, 4),
            "last_success_at": self._iso(stats.last_success_at),
            "last_error": stats.last_error or None,
            "last_error_at": self._iso(stats.last_error_at),
            "seconds_since_success": (
                None if stats.last_success_at is None else round(now - stats.last_success_at, 3)
            ),
        }

    def list_sources(self) -> dict[str, Any]:
        return {"sources": [self.describe_source(s) for s in sorted(self.config.items)]}

    def test_source(self, source_id: str) -> dict[str, Any]:
        item = self._source(source_id)
        failing = self.faults.lookup("source-failure", source_id)
        latency = FETCH_SECONDS[item["type"]] * self.slowdown
        return {
            "source_id": source_id,
            "reachable": failing is None,
            "latency_ms": None if failing else round(latency * 1000, 1),
            "error": "connection refused by source endpoint" if failing else None,
            "enabled": item["enabled"],
            "tested_at": self.clock.iso(),
        }

    def set_source_enabled(self, source_id: str, enabled: bool) -> dict[str, Any]:
        self._source(source_id)
        before = self.source_status_of(source_id)
        reload = self.config.set_item(source_id, "enabled", enabled)
        return {
            "source_id": source_id,
            "previous_status": before,
            "status": self.source_status_of(source_id),
            "config_version": reload["version"],
        }

    def reload_config(self, changes: Any) -> dict[str, Any]:
        result = self.config.reload(changes)
        self._sync_sources()
        return result

    # -- the tick ----------------------------------------------------------------------

    def process(self, now: float, dt: float) -> None:
        if self.state is RunState.RUNNING:
            self._ingest(now, dt)
        if self.processing:
            self._parse_and_validate(now, dt)
        else:
            self._track_pool(0, 1, dt)

    def _ingest(self, now: float, dt: float) -> None:
        """Poll every enabled source; admit what the buffer has room for, pro rata."""
        # A gentle five-minute swell of +-5% keeps dashboards from drawing flat lines.
        rate = self.config.values["ingestion_rate"] * (1 + 0.05 * math.sin(now * math.tau / 300))
        offers: list[tuple[str, int]] = []
        for source_id, item in self.config.items.items():
            if not item["enabled"]:
                continue
            stats = self.sources[source_id]
            stats.polls += 1
            if self.faults.lookup("source-failure", source_id):
                stats.failures += 1
                stats.last_error = "connection refused by source endpoint"
                stats.last_error_at = now
                continue
            stats.last_success_at = now
            wanted = stats.carry + rate * item["share"] * dt
            offered = int(wanted)
            stats.carry = wanted - offered
            offers.append((source_id, offered))
        total = sum(n for _, n in offers)
        room = max(self.config.values["buffer_capacity"] - self.queued(), 0)
        scale = 1.0 if total <= room else room / total
        shares = [int(offered * scale) for _, offered in offers]
        # Rounding down leaves a few places free; hand them out in order.
        spare = min(room, total) - sum(shares)
        for i, (_, offered) in enumerate(offers):
            extra = min(spare, offered - shares[i])
            shares[i] += extra
            spare -= extra
        for (source_id, offered), admitted in zip(offers, shares, strict=True):
            stats = self.sources[source_id]
            if admitted < offered:
                stats.throttled += offered - admitted
                self.last_refusal_at = now
            if admitted:
                self.buffer.push(Batch(source_id, self.next_record_id, admitted, now))
                self.next_record_id += admitted
                stats.ingested += admitted
                item_type = self.config.items[source_id]["type"]
                self.fetch_hist[source_id].observe_lognormal(
                    admitted, FETCH_SECONDS[item_type] * self.slowdown
                )

    def _parse_and_validate(self, now: float, dt: float) -> None:
        capacity = SUSTAINED_MAX * dt / self.slowdown
        allowed = capacity + self._budget_carry
        budget = int(allowed)
        self._budget_carry = min(allowed - budget, 1.0)
        storm = self.faults.lookup("parse-error-storm")
        spike = self.faults.lookup("validation-spike")
        parse_rate = storm.params["error_rate"] if storm else PARSE_ERROR_RATE
        invalid_rate = spike.params["failure_rate"] if spike else VALIDATION_FAILURE_RATE
        extra = self.extra_latency()
        used = 0
        for batch in self.buffer.pop(budget):
            used += batch.count
            stats = self.sources[batch.source]
            self.parse_hist.observe_lognormal(batch.count, PARSE_SECONDS * self.slowdown)
            errors = self._binomial(batch.count, parse_rate)
            if errors:
                self._drop(batch, errors)
                stats.parse_errors += errors
                self._reject("parse_error", errors)
            if not batch.count:
                continue
            self.validation_hist.observe_lognormal(batch.count, VALIDATION_SECONDS * self.slowdown)
            invalid = self._binomial(batch.count, invalid_rate)
            if invalid:
                self._drop(batch, invalid)
                self._count_invalid(batch.source, invalid)
                self._reject("validation_failed", invalid)
            if not batch.count:
                continue
            spent = (PARSE_SECONDS + VALIDATION_SECONDS) * self.slowdown + extra
            self.module_latency.observe_lognormal(batch.count, now - batch.entered_at + spent)
            batch.service_latency += spent
            batch.entered_at = now
            stats.validated += batch.count
            self.moved += batch.count
            self.outbox.push(batch)
        self._track_pool(used, capacity, dt)

    def _drop(self, batch: Batch, n: int) -> None:
        """Remove the first ``n`` records of a batch (they failed), keeping the rest."""
        if n >= batch.count:
            batch.count = 0
        else:
            batch.split(n)

    def _count_invalid(self, source: str, n: int) -> None:
        remaining = n
        for i, (reason, share) in enumerate(VALIDATION_REASONS):
            last = i == len(VALIDATION_REASONS) - 1
            left_share = sum(s for _, s in VALIDATION_REASONS[i:])
            k = remaining if last else self._binomial(remaining, share / left_share)
            if k:
                key = (source, reason)
                self.validation_failures[key] = self.validation_failures.get(key, 0) + k
                remaining -= k

    # -- health, status, jobs ----------------------------------------------------------

    def dependencies(self) -> tuple[Health, list[dict[str, Any]]]:
        items: list[dict[str, Any]] = []
        enabled = [s for s, item in self.config.items.items() if item["enabled"]]
        failing = [s for s in enabled if self.source_status_of(s) == "failing"]
        for source_id in sorted(enabled):
            up = source_id not in failing
            items.append({"name": source_id, "kind": "source", "status": "UP" if up else "DOWN"})
        beta_up = self.peer_up("beta")
        items.append({"name": "beta", "kind": "module", "status": "UP" if beta_up else "DOWN"})
        if not enabled or (failing and len(failing) == len(enabled)):
            status = Health.UNHEALTHY
        elif failing or not beta_up or self.backpressure_active:
            status = Health.DEGRADED
        else:
            status = Health.HEALTHY
        return status, items

    def status(self) -> dict[str, Any]:
        body = super().status()
        capacity = self.config.values["buffer_capacity"]
        body.update(
            {
                "ingestion_rate": self.config.values["ingestion_rate"],
                "buffer": {
                    "depth": self.queued(),
                    "capacity": capacity,
                    "utilization": round(self.queued() / capacity, 4),
                    "backpressure_active": self.backpressure_active,
                },
                "records_ingested": self.ingested,
                "records_validated": sum(s.validated for s in self.sources.values()),
            }
        )
        return body

    def job_outcome(self, spec: JobSpec, run: JobRun) -> Outcome | None:
        if spec.name in ("alpha_source_sync", "alpha_credential_rotate", "weekly_cert_check"):
            enabled = [s for s, item in self.config.items.items() if item["enabled"]]
            failing = [s for s in enabled if self.source_status_of(s) == "failing"]
            return Outcome(
                processed=len(enabled),
                failed=len(failing),
                failure=f"sources unreachable: {', '.join(failing)}" if failing else "",
                notes=[f"checked {len(enabled)} enabled sources"],
            )
        if spec.name == "alpha_buffer_flush":
            return Outcome(self.queued(), notes=[f"buffer holds {self.queued()} records"])
        return None

    def _iso(self, t: float | None) -> str | None:
        return None if t is None else self.clock.iso(t)
