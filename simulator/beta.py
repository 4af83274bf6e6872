"""Module Beta: enriches records through caches, applies transformation rules, scores
quality. How fast it works depends on the caches: a miss waits on the enrichment source,
so slow sources or a cold cache shrink its throughput and the transformation queue grows
(001, "Scenario: Module Beta Transformation Backlog").
"""

from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

from .clock import Clock
from .config import ModuleConfig, Setting
from .errors import NotFound
from .jobs import JobRun, JobSpec, Outcome
from .module import MEMORY_CRITICAL, Health, Module
from .records import Batch, BatchQueue
from .stats import BulkHistogram, RateWindow, normal_cdf

# 001, Capacity Metrics: Beta's sustained maximum is 6,000 rec/s, reached at the nominal
# per-record cost below; a dearer record lowers it in proportion.
SUSTAINED_MAX = 6000.0
TRANSFORM_SECONDS = 0.001
HIT_SECONDS = 0.0005
MISS_SECONDS = 0.020
# A lookup that outlives this falls back to the stale entry when stale_fallback is on
# (001, Beta backlog mitigation: "increase cache TTL, enable stale fallback").
STALE_FALLBACK_SECONDS = 0.050
# A warm cache answers 95% of lookups: above the 85% target (000, Midday Operational Check).
HIT_CEILING = 0.95
# Share of a cache's capacity that is the working set: filled to this, it is warm.
WORKING_SET = 0.8
# 000, Module Beta Metrics: transform error rate normal <0.5%; quality score >0.8.
TRANSFORM_ERROR_RATE = 0.001
QUALITY_MEAN = 0.88
QUALITY_SD = 0.08
# Rules that can fail, and their shares of failures. TRX_042 is Runbook B.1's example.
RULES = (
    ("TRX_001_MAP_FIELDS", 0.5),
    ("TRX_017_CURRENCY_CONVERT", 0.3),
    ("TRX_042_NORMALIZE_PHONE", 0.2),
)
# Enrichment sources; customer_db is the one Runbook B.2 refreshes.
DEFAULT_CACHES = {
    "customer_db": {"capacity": 20000},
    "product_catalog": {"capacity": 20000},
    "geo_reference": {"capacity": 5000},
}
# Runbook B.2: "Full cache refresh may take 30-60 minutes" (manual time; scaled).
REFRESH_MINUTES = 45.0
# 001, Histogram Metrics.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0)
# Queue wait (Runbook E.1 greps queue_wait_duration) and quality buckets are ours; the
# quality ones hold B.3's thresholds (0.3 reject, 0.5 error, 0.7 warn) and 000's 0.6/0.8.
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0)
QUALITY_BUCKETS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

SETTINGS = (
    # 000 wants the queue under 3,000, warns to 5,000; 001's dashboard warns at 60% and
    # goes critical at 80% of capacity. A 10,000 capacity fits both.
    Setting("queue_capacity", int, 10000, 100, 1000000),
    # ENRICHMENT_CACHE_TTL (000, Module Beta Deployment); the manual gives no value.
    Setting("cache_ttl_seconds", float, 3600.0, 1.0, 604800.0),
    Setting("stale_fallback", bool, False),
    # QUALITY_THRESHOLD_WARN (000) and B.3's warn threshold.
    Setting("quality_threshold_warn", float, 0.7, 0.0, 1.0),
)
CACHE_SETTINGS = (Setting("capacity", int, 10000, 0, 10000000),)


@dataclass
class Cache:
    """One enrichment cache: how full it is, how it has been answering, any refresh."""

    entries: float = 0.0
    hits: int = 0
    misses: int = 0
    refresh_started_at: float | None = None
    refresh_seconds: float = 0.0
    refreshed_at: float | None = None


class Beta(Module):
    """Transformation."""

    name = "beta"
    # 001, Capacity Metrics: Beta's average memory is 60%.
    base_memory = 0.60
    pool_size = 32

    def __init__(self, clock: Clock, rng: Random, peer_up: Callable[[str], bool]) -> None:
        config = ModuleConfig(
            "beta",
            SETTINGS,
            item_kind="caches",
            item_settings=CACHE_SETTINGS,
            items=DEFAULT_CACHES,
            new_item_requires=("capacity",),
        )
        super().__init__(clock, rng, config, peer_up)
        self.queue = BatchQueue()
        self.outbox = BatchQueue()
        self.caches: dict[str, Cache] = {}
        self.transformed = 0
        self.below_threshold = 0
        self.rule_errors: dict[str, int] = dict.fromkeys((r for r, _ in RULES), 0)
        self.transform_hist = BulkHistogram(DURATION_BUCKETS)
        self.enrichment_hist = BulkHistogram(DURATION_BUCKETS)
        self.queue_wait_hist = BulkHistogram(QUEUE_WAIT_BUCKETS)
        self.quality_hist = BulkHistogram(QUALITY_BUCKETS)
        # (hits, lookups) and (score sum, scored) over the last minute, for the gauges.
        self.lookup_window = RateWindow(width=2)
        self.quality_window = RateWindow(width=2)
        self._budget_carry = 0.0
        self._sync_caches(warm=True)

    # -- books -------------------------------------------------------------------------

    def queued(self) -> int:
        return self.queue.depth + self.outbox.depth

    def queue_utilization(self) -> float:
        return self.queue.depth / float(self.config.values["queue_capacity"])

    def free_capacity(self) -> int:
        return max(int(self.config.values["queue_capacity"]) - self.queued(), 0)

    # -- caches ------------------------------------------------------------------------

    def _sync_caches(self, warm: bool = False) -> None:
        for name, item in self.config.items.items():
            if name not in self.caches:
                # Caches start warm, as after the deployment's warmup step (000, Beta Step 4).
                start = item["capacity"] * WORKING_SET if warm else 0.0
                self.caches[name] = Cache(entries=start)

    def hit_probability(self, name: str) -> float:
        capacity = self.config.items[name]["capacity"]
        coverage = min(self.caches[name].entries / (WORKING_SET * capacity), 1.0) if capacity else 0
        p = HIT_CEILING * coverage
        degraded = self.faults.lookup("cache-degraded")
        return min(p, degraded.params["hit_rate"]) if degraded else p

    def miss_seconds(self) -> float:
        slow = self.faults.lookup("transform-backlog")
        seconds = slow.params["enrichment_latency_ms"] / 1000.0 if slow else MISS_SECONDS
        if self.config.values["stale_fallback"]:
            seconds = min(seconds, STALE_FALLBACK_SECONDS)
        return seconds

    def record_cost(self) -> float:
        """Seconds of worker time per record: transform plus one lookup per cache."""
        miss = self.miss_seconds()
        cost = TRANSFORM_SECONDS
        for name in self.caches:
            p = self.hit_probability(name)
            cost += p * HIT_SECONDS + (1 - p) * miss
        return cost * self.slowdown

    def nominal_cost(self) -> float:
        return TRANSFORM_SECONDS + len(self.caches) * (
            HIT_CEILING * HIT_SECONDS + (1 - HIT_CEILING) * MISS_SECONDS
        )

    def hit_rate(self) -> float:
        return self.lookup_window.ratio(self.clock.now, 0, 1, default=HIT_CEILING)

    def average_quality(self) -> float:
        return self.quality_window.ratio(self.clock.now, 0, 1, default=QUALITY_MEAN)

    def _cache(self, name: str) -> Cache:
        if name not in self.caches:
            raise NotFound(f"no cache {name!r}", caches=sorted(self.caches))
        return self.caches[name]

    def describe_cache(self, name: str) -> dict[str, Any]:
        cache = self._cache(name)
        now = self.clock.now
        capacity = self.config.items[name]["capacity"]
        lookups = cache.hits + cache.misses
        return {
            "name": name,
            "entries": int(cache.entries),
            "capacity": capacity,
            "fill": round(cache.entries / capacity, 4) if capacity else 0.0,
            "hit_probability": round(self.hit_probability(name), 4),
            "hits_total": cache.hits,
            "misses_total": cache.misses,
            "hit_rate_lifetime": round(cache.hits / lookups, 4) if lookups else None,
            "ttl_seconds": self.config.values["cache_ttl_seconds"],
            "refresh": self._refresh_state(cache, now),
        }

    def _refresh_state(self, cache: Cache, now: float) -> dict[str, Any]:
        if cache.refresh_started_at is None:
            return {
                "status": "idle",
                "last_completed_at": (
                    self.clock.iso(cache.refreshed_at) if cache.refreshed_at else None
                ),
            }
        elapsed = now - cache.refresh_started_at
        return {
            "status": "refreshing",
            "started_at": self.clock.iso(cache.refresh_started_at),
            "progress": round(min(elapsed / cache.refresh_seconds, 1.0), 4),
            "eta_seconds": round(max(cache.refresh_seconds - elapsed, 0.0), 3),
        }

    def cache_status(self) -> dict[str, Any]:
        return {
            "hit_rate": round(self.hit_rate(), 4),
            "target_hit_rate": 0.85,
            "enrichment_latency_ms": round(self.miss_seconds() * 1000, 1),
            "stale_fallback": self.config.values["stale_fallback"],
            "caches": [self.describe_cache(name) for name in sorted(self.caches)],
        }

    def refresh_status(self) -> dict[str, Any]:
        now = self.clock.now
        return {
            "caches": {name: self._refresh_state(c, now) for name, c in sorted(self.caches.items())}
        }

    def refresh(self, name: str) -> dict[str, Any]:
        """Drop a cache's entries and reload them from the source (Runbook B.2)."""
        names = sorted(self.caches) if name == "all" else [name]
        for n in names:
            cache = self._cache(n)
            cache.entries = 0.0
            cache.refresh_started_at = self.clock.now
            cache.refresh_seconds = REFRESH_MINUTES * 60.0 / self.clock.time_scale
        return {
            "refreshing": names,
            "expected_seconds": round(REFRESH_MINUTES * 60.0 / self.clock.time_scale, 3),
            "note": "hit rates dip while caches refill (Runbook B.2)",
        }

    def fault_choices(self) -> dict[str, list[str]]:
        return {"cache": sorted(self.caches)}

    def reload_config(self, changes: Any) -> dict[str, Any]:
        result = self.config.reload(changes)
        self._sync_caches()
        return result

    # -- the tick ----------------------------------------------------------------------

    def process(self, now: float, dt: float) -> None:
        self._maintain_caches(now, dt)
        if not self.processing:
            self._track_pool(0, 1, dt)
            return
        cost = self.record_cost()
        capacity = SUSTAINED_MAX * self.nominal_cost() / cost * dt
        allowed = capacity + self._budget_carry
        budget = int(allowed)
        self._budget_carry = min(allowed - budget, 1.0)
        used = 0
        for batch in self.queue.pop(budget):
            used += batch.count
            self._transform(batch, now, cost)
        self._track_pool(used, capacity, dt)

    def _maintain_caches(self, now: float, dt: float) -> None:
        ttl = self.config.values["cache_ttl_seconds"]
        for name, cache in self.caches.items():
            capacity = self.config.items[name]["capacity"]
            cache.entries -= cache.entries * min(dt / ttl, 1.0)
            if cache.refresh_started_at is not None:
                cache.entries += WORKING_SET * capacity * dt / cache.refresh_seconds
                if now - cache.refresh_started_at >= cache.refresh_seconds:
                    cache.refresh_started_at = None
                    cache.refreshed_at = now
            if self.memory >= MEMORY_CRITICAL:
                # Runbook E.3 clears caches under memory pressure; we evict down to half.
                cache.entries = min(cache.entries, capacity * 0.5)
            cache.entries = min(max(cache.entries, 0.0), float(capacity))

    def _transform(self, batch: Batch, now: float, cost: float) -> None:
        n = batch.count
        miss_seconds = self.miss_seconds() * self.slowdown
        hits_all = 0
        for name, cache in self.caches.items():
            hits = self._binomial(n, self.hit_probability(name))
            misses = n - hits
            cache.hits += hits
            cache.misses += misses
            cache.entries = min(cache.entries + misses, float(self.config.items[name]["capacity"]))
            hits_all += hits
            self.enrichment_hist.observe_lognormal(hits, HIT_SECONDS * self.slowdown)
            self.enrichment_hist.observe_lognormal(misses, miss_seconds)
        self.lookup_window.add(now, hits_all, n * len(self.caches))
        self.queue_wait_hist.observe_lognormal(n, max(now - batch.entered_at, 0.0005))
        extra = self.extra_latency()
        self.transform_hist.observe_lognormal(n, cost + extra)

        errors = self._binomial(n, TRANSFORM_ERROR_RATE)
        if errors:
            self._count_rule_errors(errors)
            if errors >= batch.count:
                batch.count = 0
            else:
                batch.split(errors)
            self._reject("transform_error", errors)
        if not batch.count:
            return
        self._score(batch, now)
        spent = cost + extra
        self.module_latency.observe_lognormal(batch.count, now - batch.entered_at + spent)
        self.transformed += batch.count
        self.moved += batch.count
        for part in self._split_by_quality(batch):
            part.service_latency += spent
            part.entered_at = now
            self.outbox.push(part)

    def _score(self, batch: Batch, now: float) -> None:
        drop = self.faults.lookup("quality-drop")
        mean = drop.params["mean_score"] if drop else QUALITY_MEAN
        self.quality_hist.observe_normal(batch.count, mean, QUALITY_SD)
        self.quality_window.add(now, batch.count * mean, batch.count)
        batch.quality = mean

    def _split_by_quality(self, batch: Batch) -> list[Batch]:
        """Records under the warn threshold travel apart: Gamma routes them to the archive."""
        threshold = self.config.values["quality_threshold_warn"]
        low = self._binomial(batch.count, normal_cdf(threshold, batch.quality, QUALITY_SD))
        self.below_threshold += low
        if not low:
            return [batch]
        if low == batch.count:
            batch.low_quality = True
            return [batch]
        head = batch.split(low)
        head.low_quality = True
        head.quality = min(head.quality, threshold - QUALITY_SD / 2)
        return [head, batch]

    def _count_rule_errors(self, n: int) -> None:
        remaining = n
        for i, (rule, share) in enumerate(RULES):
            left = sum(s for _, s in RULES[i:])
            k = remaining if i == len(RULES) - 1 else self._binomial(remaining, share / left)
            self.rule_errors[rule] += k
            remaining -= k

    # -- health, status, jobs ----------------------------------------------------------

    def dependencies(self) -> tuple[Health, list[dict[str, Any]]]:
        slow = self.faults.lookup("transform-backlog") is not None
        items: list[dict[str, Any]] = []
        status = Health.HEALTHY
        for name in sorted(self.caches):
            weak = slow or self.hit_probability(name) < 0.7
            items.append(
                {
                    "name": name,
                    "kind": "enrichment_source",
                    "status": "DEGRADED" if weak else "UP",
                    "latency_ms": round(self.miss_seconds() * 1000, 1),
                }
            )
            if weak:
                status = Health.DEGRADED
        gamma_up = self.peer_up("gamma")
        items.append({"name": "gamma", "kind": "module", "status": "UP" if gamma_up else "DOWN"})
        if not gamma_up:
            status = Health.DEGRADED
        return status, items

    def status(self) -> dict[str, Any]:
        body = super().status()
        capacity = self.config.values["queue_capacity"]
        body.update(
            {
                "queue": {
                    "depth": self.queue.depth,
                    "awaiting_handoff": self.outbox.depth,
                    "capacity": capacity,
                    "utilization": round(self.queue.depth / capacity, 4),
                },
                "records_transformed": self.transformed,
                "throughput_capacity_per_second": round(
                    SUSTAINED_MAX * self.nominal_cost() / self.record_cost(), 1
                ),
                "cache_hit_rate": round(self.hit_rate(), 4),
                "average_quality_score": round(self.average_quality(), 4),
            }
        )
        return body

    def job_outcome(self, spec: JobSpec, run: JobRun) -> Outcome | None:
        if spec.name == "beta_cache_refresh":
            # Entries nearing expiry are renewed in place: no dip, unlike a full refresh.
            renewed = int(sum(c.entries for c in self.caches.values()) * 0.1)
            return Outcome(renewed, notes=[f"renewed {renewed} entries nearing expiry"])
        if spec.name == "beta_enrichment_warmup":
            added = 0
            for name, cache in self.caches.items():
                target = WORKING_SET * self.config.items[name]["capacity"]
                if cache.entries < target:
                    added += int(target - cache.entries)
                    cache.entries = target
            return Outcome(added, notes=[f"pre-warmed {added} entries"])
        if spec.name == "beta_rule_validation":
            return Outcome(len(RULES), notes=[f"validated {len(RULES)} rules"])
        if spec.name == "beta_quality_report":
            average = self.average_quality()
            return Outcome(
                self.moved - run.progress_at_start,
                notes=[f"average quality score {average:.3f}"],
            )
        return None
