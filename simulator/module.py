"""What the three modules share: run state, faults, jobs, config, memory and health."""

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import StrEnum
from random import Random
from typing import Any

from . import __version__
from .clock import Clock
from .config import ModuleConfig
from .errors import Conflict
from .faults import ActiveFaults
from .jobs import JobRun, JobScheduler, JobSpec, Outcome
from .stats import BulkHistogram


class RunState(StrEnum):
    """What an operator last asked of the module (001, State Backup: pause, resume, drain)."""

    RUNNING = "running"
    PAUSED = "paused"
    DRAINING = "draining"  # takes no new records, finishes what it holds
    DRAINED = "drained"  # empty; stays so until resumed


ALLOWED_MOVES = {
    (RunState.RUNNING, RunState.PAUSED),
    (RunState.RUNNING, RunState.DRAINING),
    (RunState.PAUSED, RunState.RUNNING),
    (RunState.PAUSED, RunState.DRAINING),
    (RunState.DRAINING, RunState.RUNNING),
    (RunState.DRAINING, RunState.PAUSED),
    (RunState.DRAINING, RunState.DRAINED),
    (RunState.DRAINED, RunState.RUNNING),
    (RunState.DRAINED, RunState.PAUSED),
}


class Health(StrEnum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"


HEALTH_VALUE = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.UNHEALTHY: 2}

# 000, Resource Utilization Review: memory must stay under 80%. The manual gives no second
# line; we call 90% UNHEALTHY, and there the module's work slows to half (GC pressure).
MEMORY_WARNING = 0.80
MEMORY_CRITICAL = 0.90
# 000, Resource Utilization Review: thread pool saturation delays work. Ours: 90% busy.
POOL_SATURATED = 0.90

# Time a record spends in one module, for the latency breakdown of Runbook E.1 (001),
# which queries module_latency_seconds by module. Buckets are ours, around the 500 ms and
# 2 s end-to-end lines (000, System-Wide Metrics).
MODULE_LATENCY_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


def worst(statuses: list[Health]) -> Health:
    return max(statuses, key=HEALTH_VALUE.__getitem__, default=Health.HEALTHY)


class Module(ABC):
    """Base of Alpha, Beta and Gamma (each implements the abstract hooks: how it processes a
    tick, what it holds queued, its dependencies). Every public method expects ``self.lock``
    held."""

    name = ""
    base_memory = 0.5
    pool_size = 16

    def __init__(
        self, clock: Clock, rng: Random, config: ModuleConfig, peer_up: Callable[[str], bool]
    ) -> None:
        # One lock per module: HTTP handler threads and the tick thread both take it.
        # Steps that touch two modules take them in pipeline order (alpha, beta, gamma).
        self.lock = threading.RLock()
        self.clock = clock
        self.rng = rng
        self.config = config
        self.peer_up = peer_up
        self.state = RunState.RUNNING
        self.faults = ActiveFaults()
        self.jobs = JobScheduler(self.name, clock, rng, self._job_outcome, lambda: self.moved)
        self.started_at = clock.now
        self.restarts = 0
        self.memory = self.base_memory
        self.pool_utilization = 0.0
        # Records this module threw away, by reason; part of the pipeline's books.
        self.rejected: dict[str, int] = {}
        # Records this module has finished with (passed on, delivered or rejected).
        self.moved = 0
        self.module_latency = BulkHistogram(MODULE_LATENCY_BUCKETS)

    # -- run state ---------------------------------------------------------------------

    @property
    def up(self) -> bool:
        return "module-crash" not in self.faults

    def pause(self) -> dict[str, Any]:
        return self._move(RunState.PAUSED, "pause")

    def resume(self) -> dict[str, Any]:
        return self._move(RunState.RUNNING, "resume")

    def drain(self) -> dict[str, Any]:
        if self.state is RunState.DRAINED:
            return self._move(RunState.DRAINED, "drain")
        return self._move(RunState.DRAINING, "drain")

    def _move(self, to: RunState, action: str) -> dict[str, Any]:
        before = self.state
        if to is not before:
            if (before, to) not in ALLOWED_MOVES:
                raise Conflict(f"cannot {action} {self.name} while {before}")
            self.state = to
        return {
            "module": self.name,
            "action": action,
            "previous_state": before,
            "state": self.state,
            "queued": self.queued(),
        }

    @property
    def processing(self) -> bool:
        return self.state in (RunState.RUNNING, RunState.DRAINING)

    @property
    def accepting(self) -> bool:
        """Whether the upstream module may hand records over (paused still queues them)."""
        return self.up and self.state in (RunState.RUNNING, RunState.PAUSED)

    # -- the tick ----------------------------------------------------------------------

    def tick(self, now: float, dt: float) -> None:
        if not self.up:
            return
        self.jobs.failing = "job-failure" in self.faults
        self.jobs.tick(now)
        self.process(now, dt)
        self._update_memory(now)
        if self.state is RunState.DRAINING and self.queued() == 0:
            self.state = RunState.DRAINED

    @abstractmethod
    def process(self, now: float, dt: float) -> None: ...

    @abstractmethod
    def queued(self) -> int: ...

    @abstractmethod
    def queue_utilization(self) -> float: ...

    def on_crash(self, now: float) -> None:
        self.jobs.abort_running(now, "module crashed")
        self.pool_utilization = 0.0

    def on_revive(self, now: float) -> None:
        self.started_at = now
        self.restarts += 1

    # -- shared models -----------------------------------------------------------------

    @property
    def slowdown(self) -> float:
        """How much slower work is: doubled under critical memory pressure (GC pauses)."""
        return 2.0 if self.memory >= MEMORY_CRITICAL else 1.0

    def extra_latency(self) -> float:
        fault = self.faults.lookup("latency-spike")
        return fault.params["extra_latency_ms"] / 1000.0 if fault else 0.0

    def _update_memory(self, now: float) -> None:
        # Resting level from 001, Capacity Metrics ("Memory Avg"), plus what the queues hold.
        normal = self.base_memory + 0.15 * self.queue_utilization()
        fault = self.faults.lookup("memory-pressure")
        if fault is None:
            self.memory = normal
            return
        ramp = fault.params["ramp_seconds"]
        share = 1.0 if ramp <= 0 else min((now - fault.since) / ramp, 1.0)
        self.memory = max(normal, normal + (fault.params["level"] - normal) * share)

    def _track_pool(self, used: float, capacity: float, dt: float) -> None:
        busy = used / capacity if capacity > 0 else 0.0
        smoothing = min(dt / 5.0, 1.0)
        self.pool_utilization += (min(busy, 1.0) - self.pool_utilization) * smoothing

    def _binomial(self, n: int, p: float) -> int:
        if n <= 0 or p <= 0.0:
            return 0
        if p >= 1.0:
            return n
        return self.rng.binomialvariate(n, p)

    # -- health and status -------------------------------------------------------------

    @abstractmethod
    def dependencies(self) -> tuple[Health, list[dict[str, Any]]]: ...

    def health(self) -> dict[str, Any]:
        memory_status = (
            Health.UNHEALTHY
            if self.memory >= MEMORY_CRITICAL
            else Health.DEGRADED
            if self.memory >= MEMORY_WARNING
            else Health.HEALTHY
        )
        pool_status = Health.DEGRADED if self.pool_utilization >= POOL_SATURATED else Health.HEALTHY
        dependency_status, items = self.dependencies()
        status = worst([memory_status, pool_status, dependency_status])
        now = self.clock.now
        return {
            "module": self.name,
            "status": status,
            "state": self.state,
            "version": __version__,
            "config_version": self.config.version,
            "config_checksum": self.config.checksum,
            "uptime_seconds": round(now - self.started_at, 3),
            "started_at": self.clock.iso(self.started_at),
            "checked_at": self.clock.iso(now),
            "checks": {
                "memory": {
                    "status": memory_status,
                    "utilization": round(self.memory, 4),
                    "warning_at": MEMORY_WARNING,
                    "critical_at": MEMORY_CRITICAL,
                },
                "thread_pool": {
                    "status": pool_status,
                    "size": self.pool_size,
                    "active": math.ceil(self.pool_utilization * self.pool_size),
                    "utilization": round(self.pool_utilization, 4),
                    "saturated_at": POOL_SATURATED,
                },
                "dependencies": {"status": dependency_status, "items": items},
            },
            "faults": self.faults.names(),
        }

    def health_status(self) -> Health:
        return Health(self.health()["status"])

    def status(self) -> dict[str, Any]:
        return {
            "module": self.name,
            "state": self.state,
            "health": self.health()["status"],
            "config_version": self.config.version,
            "uptime_seconds": round(self.clock.now - self.started_at, 3),
            "restarts": self.restarts,
            "queued": self.queued(),
            "rejected": dict(self.rejected),
            "faults": self.faults.describe(self.clock.now, self.clock.iso),
        }

    def fault_choices(self) -> dict[str, list[str]]:
        return {}

    def reload_config(self, changes: Any) -> dict[str, Any]:
        """Apply a ``POST /admin/config/reload`` body (subclasses also sync their items)."""
        return self.config.reload(changes)

    # -- jobs --------------------------------------------------------------------------

    def _job_outcome(self, spec: JobSpec, run: JobRun) -> Outcome:
        return self.job_outcome(spec, run) or Outcome(self.moved - run.progress_at_start)

    def job_outcome(self, spec: JobSpec, run: JobRun) -> Outcome | None:
        """A module-specific result for jobs that look at its state; None for the default."""
        return None

    def _reject(self, reason: str, n: int) -> None:
        if n:
            self.rejected[reason] = self.rejected.get(reason, 0) + n
            self.moved += n
