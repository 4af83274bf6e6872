"""Module Gamma: routes records to destinations, waits for acknowledgments, retries with
backoff, keeps a circuit breaker per destination, and parks what cannot be delivered in
the dead letter queue (001, "Scenario: Module Gamma Delivery Failures"; Runbooks C.2, C.3).
"""

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any

from .breaker import BreakerState, CircuitBreaker
from .clock import Clock
from .config import ModuleConfig, Setting
from .dlq import DeadLetterQueue, Filter, entries_to_batches
from .errors import Invalid, NotFound
from .jobs import JobRun, JobSpec, Outcome
from .module import Health, Module
from .records import Batch, BatchQueue
from .stats import BulkHistogram, RateWindow, RecentQuantile

# 001, Capacity Metrics: Gamma's sustained maximum is 5,500 rec/s.
SUSTAINED_MAX = 5500.0
# How long one delivery takes, by kind of destination (ours: all well under 000's
# 200 ms P99 for delivery latency). The manual's buckets jump from 0.1 to 0.5 s, so a P99 read
# from them is only "normal" when 99% of deliveries take under 100 ms: medians stay below
# 45 ms (lognormal, sigma 0.35: 0.8% over 100 ms at 45 ms).
DELIVERY_SECONDS = {"database": 0.040, "rest_api": 0.045, "object_store": 0.025, "queue": 0.010}
# Runbook C.1's destination example: timeout_ms 30000. An unreachable destination costs it.
DELIVERY_TIMEOUT_SECONDS = 30.0
# A 429 comes back at once.
REFUSAL_SECONDS = 0.005
ACK_SECONDS = 0.05
# 000, Module Gamma Metrics: success rate normal >99.5%, acknowledgment timeouts <0.1%,
# DLQ entry rate <10/hour. Permanent failures (bad payloads) arrive at 5 an hour.
TRANSIENT_FAILURE_RATE = 0.002
ACK_TIMEOUT_RATE = 0.0005
PERMANENT_PER_HOUR = 5.0
# DLQ_RETENTION_DAYS (000, Module Gamma Deployment); the manual gives no value.
DLQ_RETENTION_DAYS = 7
# 001, Histogram Metrics.
DELIVERY_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
# Ours, around 000's end-to-end lines: 500 ms (warning) and 2 s (critical).
E2E_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# Lognormal spread of one batch's end-to-end latencies around its measured value: the
# queueing part is already measured, so less spread than a single stage's.
E2E_SPREAD = 0.2

SETTINGS = (
    # 000 wants the delivery queue below 2,000 records; capacity 5,000 is ours.
    Setting("queue_capacity", int, 5000, 100, 1000000),
    # 001, Storage Capacity gives the DLQ 5 GB; we count entries instead.
    Setting("dlq_capacity", int, 100000, 10, 10000000),
    # Records held per destination while its breaker is OPEN; 000 wants the delivery queue
    # under 2,000 records.
    Setting("breaker_hold_limit", int, 2000, 0, 1000000),
    # Runbook C.1: retry_count 3, retry_delay_ms 1000 (doubled on each retry here).
    Setting("max_delivery_retries", int, 3, 0, 20),
    Setting("retry_delay_ms", float, 1000.0, 0.0, 600000.0),
    # ACK_WAIT_TIMEOUT_MS (000, Module Gamma Deployment); the manual gives no value.
    Setting("ack_wait_timeout_ms", float, 5000.0, 10.0, 600000.0),
)
DESTINATION_SETTINGS = (
    Setting("type", str, "rest_api", choices=tuple(DELIVERY_SECONDS)),
    # Records per second Gamma sends at most; 0 is no limit. "If rate limited: reduce
    # delivery rate" (001, Gamma Delivery Failures mitigation) is a reload of this.
    Setting("max_rate", float, 0.0, 0.0, 1e6),
)
DEFAULT_DESTINATIONS = {
    "analytics_warehouse": {"type": "database"},
    "partner_feed": {"type": "rest_api"},
    "archive_store": {"type": "object_store"},
}
# Runbook C.1's ROUTE_TO_ANALYTICS: api_source_1 and file_source_1 with quality >= 0.7.
ANALYTICS_SOURCES = ("api_source_1", "file_source_1")


def route(batch: Batch) -> str:
    """Where a batch goes. Low-quality records are archived, not sent to consumers."""
    if batch.low_quality:
        return "archive_store"
    if batch.source in ANALYTICS_SOURCES:
        return "analytics_warehouse"
    if batch.source.startswith("queue_source"):
        return "partner_feed"
    return "archive_store"


@dataclass
class Destination:
    """Gamma's side of one destination: its queues, breaker, counters and histogram."""

    breaker: CircuitBreaker
    queue: BatchQueue = field(default_factory=BatchQueue)
    # Retries wait in a heap until due, then move to ``retry_ready``.
    waiting: list[tuple[float, int, Batch]] = field(default_factory=list)
    waiting_depth: int = 0
    retry_ready: BatchQueue = field(default_factory=BatchQueue)
    attempts: int = 0
    delivered: int = 0
    retries: int = 0
    ack_timeouts: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    limit_tokens: float = 0.0
    cap_tokens: float = 0.0
    duration: BulkHistogram = field(default_factory=lambda: BulkHistogram(DELIVERY_BUCKETS))
    outcomes: RateWindow = field(default_factory=lambda: RateWindow(width=2))

    @property
    def depth(self) -> int:
        return self.queue.depth + self.waiting_depth + self.retry_ready.depth


class Gamma(Module):
    """Delivery."""

    name = "gamma"
    # 001, Capacity Metrics: Gamma's average memory is 50%.
    base_memory = 0.50
    pool_size = 16

    def __init__(self, clock: Clock, rng: Random, peer_up: Callable[[str], bool]) -> None:
        config = ModuleConfig(
            "gamma",
            SETTINGS,
            item_kind="destinations",
            item_settings=DESTINATION_SETTINGS,
            items=DEFAULT_DESTINATIONS,
            new_item_requires=("type",),
        )
        super().__init__(clock, rng, config, peer_up)
        self.destinations: dict[str, Destination] = {}
        self.pending: list[tuple[float, int, Batch, bool]] = []
        self.pending_depth = 0
        self.replay_queue = BatchQueue()
        self.dlq = DeadLetterQueue(config.values["dlq_capacity"])
        self.delivered = 0
        self.dlq_holds = 0
        self.e2e_hist = BulkHistogram(E2E_BUCKETS)
        self.e2e_recent = RecentQuantile(self.e2e_hist)
        self.ack_hist = BulkHistogram(DELIVERY_BUCKETS)
        self._seq = 0
        self._permanent_due = 0.0
        self._budget_carry = 0.0
        self._sync_destinations()

    # -- books -------------------------------------------------------------------------

    def queued(self) -> int:
        return self.in_flight() + self.replay_queue.depth

    def in_flight(self) -> int:
        return sum(d.depth for d in self.destinations.values()) + self.pending_depth

    def queue_utilization(self) -> float:
        return self.in_flight() / float(self.config.values["queue_capacity"])

    def free_capacity(self) -> int:
        return max(int(self.config.values["queue_capacity"]) - self.in_flight(), 0)

    def accept(self, batches: list[Batch], now: float) -> None:
        for batch in batches:
            batch.destination = route(batch)
            batch.entered_at = now
            self._destination(batch.destination).queue.push(batch)

    # -- destinations and breakers -----------------------------------------------------

    def _sync_destinations(self) -> None:
        for name in self.config.items:
            if name not in self.destinations:
                self.destinations[name] = Destination(CircuitBreaker(name))
        self.dlq.capacity = self.config.values["dlq_capacity"]

    def reload_config(self, changes: Any) -> dict[str, Any]:
        result = self.config.reload(changes)
        self._sync_destinations()
        return result

    def fault_choices(self) -> dict[str, list[str]]:
        return {"destination": sorted(self.destinations)}

    def _destination(self, name: str) -> Destination:
        if name not in self.destinations:
            raise NotFound(f"no destination {name!r}", destinations=sorted(self.destinations))
        return self.destinations[name]

    def reachable(self, name: str) -> bool:
        """What Gamma's destination health probe sees (000, gamma_dest_health)."""
        return self.faults.lookup("destination-down", name) is None

    def destination_status(self, name: str) -> str:
        if not self.reachable(name):
            return "down"
        if self.faults.lookup("rate-limited", name):
            return "rate_limited"
        return "up"

    def describe_destination(self, name: str) -> dict[str, Any]:
        dest = self._destination(name)
        ok, failed = dest.outcomes.totals(self.clock.now)
        return {
            "destination_id": name,
            "type": self.config.items[name]["type"],
            "status": self.destination_status(name),
            "circuit_breaker": dest.breaker.state,
            "max_rate": self.config.items[name]["max_rate"],
            "queue_depth": dest.queue.depth,
            "retry_depth": dest.waiting_depth + dest.retry_ready.depth,
            "attempts_total": dest.attempts,
            "delivered_total": dest.delivered,
            "retries_total": dest.retries,
            "ack_timeouts_total": dest.ack_timeouts,
            "failures_total": dict(dest.failures),
            "success_rate_1m": round(ok / (ok + failed), 4) if ok + failed else None,
        }

    def list_destinations(self) -> dict[str, Any]:
        return {"destinations": [self.describe_destination(n) for n in sorted(self.destinations)]}

    def breakers_status(self) -> dict[str, Any]:
        now = self.clock.now
        items = [
            self.destinations[n].breaker.status(now, self.clock.iso)
            for n in sorted(self.destinations)
        ]
        return {
            "circuit_breakers": items,
            "open": sum(1 for b in items if b["state"] == BreakerState.OPEN),
        }

    def reset_breaker(self, name: str) -> dict[str, Any]:
        return self._destination(name).breaker.reset(self.clock.now)

    # -- dead letter queue -------------------------------------------------------------

    def replay(self, body: Any) -> dict[str, Any]:
        """Move DLQ entries back into delivery (Runbook C.2, step 4)."""
        now = self.clock.now
        entries, missing = self._select_entries(body, allow_all=False)
        self.dlq.remove(entries)
        self.dlq.replayed_total += len(entries)
        for batch in entries_to_batches(entries, now):
            if batch.destination not in self.destinations:
                batch.destination = route(batch)
            self.replay_queue.push(batch)
        return {
            "replayed": len(entries),
            "not_found": missing,
            "dlq_size": len(self.dlq),
            "awaiting_delivery": self.replay_queue.depth,
        }

    def purge(self, body: Any) -> dict[str, Any]:
        """Delete DLQ entries for good (Runbook C.2, step 7); they count as rejected."""
        entries, missing = self._select_entries(body, allow_all=True)
        removed = self.dlq.remove(entries)
        self.dlq.purged_total += removed
        self._reject("dlq_purged", removed)
        return {"purged": removed, "not_found": missing, "dlq_size": len(self.dlq)}

    def _select_entries(self, body: Any, allow_all: bool) -> tuple[list[Any], list[str]]:
        if not isinstance(body, dict):
            raise Invalid('body must be a JSON object with "entry_ids" or "filter"')
        chosen = [k for k in ("entry_ids", "filter", "all") if k in body]
        if len(chosen) != 1 or (chosen == ["all"] and not allow_all):
            options = '"entry_ids", "filter"' + (' or "all": true' if allow_all else "")
            raise Invalid(f"give exactly one of {options}")
        now = self.clock.now
        if chosen == ["entry_ids"]:
            return self.dlq.find(body["entry_ids"])
        if chosen == ["all"]:
            if body["all"] is not True:
                raise Invalid('"all" must be true')
            return list(self.dlq.select(Filter(), now)), []
        return list(self.dlq.select(Filter.parse(body["filter"]), now)), []

    def _to_dlq(self, dest: Destination, batch: Batch, reason: str, now: float) -> None:
        accepted = self.dlq.add(batch, reason, now)
        self.moved += accepted
        if accepted == batch.count:
            return
        # The DLQ is full: hold the rest and try again later, so nothing is lost and the
        # delivery queue fills, pushing back on Beta and then Alpha.
        if accepted:
            batch.split(accepted)
        self.dlq_holds += batch.count
        self._wait(dest, batch, now + self.config.values["retry_delay_ms"] / 1000.0)

    # -- the tick ----------------------------------------------------------------------

    def process(self, now: float, dt: float) -> None:
        self._settle_acks(now)
        self._feed_replay(now)
        for dest in self.destinations.values():
            self._release_due(dest, now)
        if self.processing:
            self._deliver(now, dt)
        else:
            self._track_pool(0, 1, dt)
        self.e2e_recent.update(now)

    def _deliver(self, now: float, dt: float) -> None:
        """Share this tick's delivery capacity among destinations by what each can take.

        1. Refill rate-limit token buckets; an OPEN breaker's destination only overflows
           to the DLQ and takes no capacity.
        2. What each destination can take: its ready records, capped by a HALF_OPEN
           breaker's trial allowance and by its max_rate.
        3. Split the tick's budget in proportion, then attempt.
        """
        capacity = SUSTAINED_MAX * dt / self.slowdown
        allowed = capacity + self._budget_carry
        budget = int(allowed)
        self._budget_carry = min(allowed - budget, 1.0)
        self._permanent_due += PERMANENT_PER_HOUR * dt / 3600.0
        wants: dict[str, int] = {}
        for name, dest in self.destinations.items():
            self._refill_tokens(name, dest, dt)
            allowance = dest.breaker.allowance(now)
            if allowance == 0:
                self._fail_fast(dest, now)
                continue
            want = dest.queue.depth + dest.retry_ready.depth
            if allowance is not None:
                want = min(want, allowance)
            if self.config.items[name]["max_rate"] > 0:
                want = min(want, int(dest.cap_tokens))
            if want:
                wants[name] = want
        total = sum(wants.values())
        used = 0
        for name, want in wants.items():
            dest = self.destinations[name]
            limit = int(budget * want / total) if total > budget else want
            if self.config.items[name]["max_rate"] > 0:
                dest.cap_tokens -= limit
            batches = dest.retry_ready.pop(limit)
            batches += dest.queue.pop(limit - sum(b.count for b in batches))
            for batch in batches:
                used += batch.count
                self._attempt(name, dest, batch, now)
        self._track_pool(used, capacity, dt)

    def _refill_tokens(self, name: str, dest: Destination, dt: float) -> None:
        limited = self.faults.lookup("rate-limited", name)
        if limited:
            rate = limited.params["limit_per_second"]
            dest.limit_tokens = min(dest.limit_tokens + rate * dt, max(rate, 1.0))
        cap = self.config.items[name]["max_rate"]
        if cap > 0:
            dest.cap_tokens = min(dest.cap_tokens + cap * dt, max(cap, 1.0))

    def _fail_fast(self, dest: Destination, now: float) -> None:
        """An OPEN breaker sends nothing. Records wait locally up to ``breaker_hold_limit``
        (001, Gamma Delivery Failures: "enable circuit breaker, queue locally"); the oldest
        beyond that go to the DLQ as circuit_open, so one dead destination does not stall
        the others behind a full queue."""
        overflow = (
            dest.queue.depth + dest.retry_ready.depth - self.config.values["breaker_hold_limit"]
        )
        if overflow <= 0:
            return
        for queue in (dest.retry_ready, dest.queue):
            batches = queue.pop(min(overflow, self.dlq.free))
            for batch in batches:
                overflow -= batch.count
                dest.failures["circuit_open"] = dest.failures.get("circuit_open", 0) + batch.count
                self._to_dlq(dest, batch, "circuit_open", now)

    def _attempt(self, name: str, dest: Destination, batch: Batch, now: float) -> None:
        n = batch.count
        dest.attempts += n
        seconds = DELIVERY_SECONDS[self.config.items[name]["type"]] * self.slowdown
        seconds += self.extra_latency()
        if not self.reachable(name):
            dest.duration.observe_lognormal(n, DELIVERY_TIMEOUT_SECONDS, 0.1)
            dest.breaker.record(now, 0, n)
            dest.outcomes.add(now, 0, n)
            self._fail(dest, batch, "destination_unavailable", now)
            return
        refused = 0
        limited = self.faults.lookup("rate-limited", name)
        if limited:
            allowed = min(n, int(dest.limit_tokens))
            dest.limit_tokens -= allowed
            refused = n - allowed
        transient = self._binomial(n - refused, TRANSIENT_FAILURE_RATE)
        permanent = 0
        if self._permanent_due >= 1.0 and n - refused - transient > 0:
            permanent = 1
            self._permanent_due -= 1.0
        ok = n - refused - transient - permanent
        dest.duration.observe_lognormal(refused, REFUSAL_SECONDS)
        dest.duration.observe_lognormal(n - refused, seconds)
        dest.breaker.record(now, ok + permanent, refused + transient)
        dest.outcomes.add(now, ok, refused + transient + permanent)
        for count, reason in (
            (refused, "rate_limited"),
            (transient, "transient_error"),
            (permanent, "payload_rejected"),
        ):
            if count:
                part = batch if count == batch.count else batch.split(count)
                self._fail(dest, part, reason, now)
        if ok:
            self._send(dest, batch, now, seconds)

    def _send(self, dest: Destination, batch: Batch, now: float, seconds: float) -> None:
        """Delivered records wait for their acknowledgment; a few never get one."""
        fault = self.faults.lookup("ack-timeouts")
        rate = fault.params["timeout_rate"] if fault else ACK_TIMEOUT_RATE
        lost = self._binomial(batch.count, rate)
        if lost:
            part = batch if lost == batch.count else batch.split(lost)
            self._pend(part, now + self.config.values["ack_wait_timeout_ms"] / 1000.0, True)
            if part is batch:
                return
        # ``seconds`` already holds any latency-spike extra; the ack itself is not slower.
        batch.service_latency += seconds
        self._pend(batch, now + ACK_SECONDS, False)

    def _pend(self, batch: Batch, due: float, timed_out: bool) -> None:
        self._seq += 1
        heapq.heappush(self.pending, (due, self._seq, batch, timed_out))
        self.pending_depth += batch.count

    def _settle_acks(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            _, _, batch, timed_out = heapq.heappop(self.pending)
            self.pending_depth -= batch.count
            dest = self._destination(batch.destination)
            if timed_out:
                dest.ack_timeouts += batch.count
                self._fail(dest, batch, "ack_timeout", now)
                continue
            ack = ACK_SECONDS
            dest.delivered += batch.count
            self.delivered += batch.count
            self.moved += batch.count
            self.ack_hist.observe_lognormal(batch.count, ack)
            self.e2e_hist.observe_lognormal(
                batch.count, now - batch.ingested_at + batch.service_latency, E2E_SPREAD
            )
            self.module_latency.observe_lognormal(batch.count, now - batch.entered_at + ack)

    def _fail(self, dest: Destination, batch: Batch, reason: str, now: float) -> None:
        dest.failures[reason] = dest.failures.get(reason, 0) + batch.count
        if reason == "payload_rejected":
            self._to_dlq(dest, batch, reason, now)
            return
        batch.attempts += 1
        if batch.attempts > self.config.values["max_delivery_retries"]:
            self._to_dlq(dest, batch, reason, now)
            return
        dest.retries += batch.count
        # Exponential backoff from retry_delay_ms: 1 s, 2 s, 4 s with the defaults.
        delay = self.config.values["retry_delay_ms"] / 1000.0 * 2 ** (batch.attempts - 1)
        self._wait(dest, batch, now + delay)

    def _wait(self, dest: Destination, batch: Batch, ready_at: float) -> None:
        self._seq += 1
        heapq.heappush(dest.waiting, (ready_at, self._seq, batch))
        dest.waiting_depth += batch.count

    def _release_due(self, dest: Destination, now: float) -> None:
        while dest.waiting and dest.waiting[0][0] <= now:
            _, _, batch = heapq.heappop(dest.waiting)
            dest.waiting_depth -= batch.count
            dest.retry_ready.push(batch)

    def _feed_replay(self, now: float) -> None:
        for batch in self.replay_queue.pop(self.free_capacity()):
            batch.entered_at = now
            self._destination(batch.destination).queue.push(batch)

    # -- health, status, jobs ----------------------------------------------------------

    def dependencies(self) -> tuple[Health, list[dict[str, Any]]]:
        items: list[dict[str, Any]] = []
        down = degraded = 0
        for name in sorted(self.destinations):
            breaker = self.destinations[name].breaker.state
            status = self.destination_status(name)
            if status == "down" or breaker is BreakerState.OPEN:
                label, down = "DOWN", down + 1
            elif status == "rate_limited" or breaker is BreakerState.HALF_OPEN:
                label, degraded = "DEGRADED", degraded + 1
            else:
                label = "UP"
            items.append(
                {"name": name, "kind": "destination", "status": label, "circuit_breaker": breaker}
            )
        half_full = len(self.dlq) >= self.dlq.capacity / 2
        dlq_status = "DEGRADED" if half_full else "UP"
        items.append({"name": "dlq", "kind": "storage", "status": dlq_status})
        if down == len(self.destinations):
            return Health.UNHEALTHY, items
        if down or degraded or half_full:
            return Health.DEGRADED, items
        return Health.HEALTHY, items

    def status(self) -> dict[str, Any]:
        body = super().status()
        capacity = self.config.values["queue_capacity"]
        body.update(
            {
                "queue": {
                    "depth": self.in_flight(),
                    "pending_acknowledgment": self.pending_depth,
                    "capacity": capacity,
                    "utilization": round(self.in_flight() / capacity, 4),
                    "replay_backlog": self.replay_queue.depth,
                },
                "records_delivered": self.delivered,
                "dlq_size": len(self.dlq),
                "dlq_full_holds_total": self.dlq_holds,
                "circuit_breakers_open": sum(
                    1 for d in self.destinations.values() if d.breaker.state is BreakerState.OPEN
                ),
                "end_to_end_latency_p99_seconds": round(self.e2e_recent.value(0.99), 4),
            }
        )
        return body

    def job_outcome(self, spec: JobSpec, run: JobRun) -> Outcome | None:
        if spec.name == "gamma_dlq_report":
            top = self.dlq.analysis(self.clock.now)["failure_reasons"][:3]
            summary = ", ".join(f"{r['reason']}={r['count']}" for r in top) or "empty"
            return Outcome(len(self.dlq), notes=[f"DLQ holds {len(self.dlq)}: {summary}"])
        if spec.name == "gamma_dest_health":
            bad = [
                n
                for n, d in self.destinations.items()
                if not self.reachable(n) or d.breaker.state is BreakerState.OPEN
            ]
            return Outcome(
                len(self.destinations),
                failed=len(bad),
                failure=f"unhealthy destinations: {', '.join(bad)}" if bad else "",
            )
        if spec.name == "gamma_ack_reconcile":
            return Outcome(self.pending_depth, notes=[f"{self.pending_depth} awaiting ack"])
        if spec.name == "gamma_dlq_cleanup":
            return Outcome(self._archive_expired(), notes=[f"retention {DLQ_RETENTION_DAYS} days"])
        return None

    def _archive_expired(self) -> int:
        """Remove entries older than the retention period, on the manual clock."""
        now = self.clock.now
        horizon = DLQ_RETENTION_DAYS * 86400.0 / self.clock.time_scale
        expired = list(self.dlq.select(Filter(older_than_seconds=horizon), now))
        removed = self.dlq.remove(expired)
        self._reject("dlq_expired", removed)
        return removed
