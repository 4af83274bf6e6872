"""The pipeline: three modules, the hand-offs between them, and the books.

``step(dt)`` advances the simulated clock and moves records one tick's worth. The tick
thread calls it in real time; tests call it directly and never sleep. After every step
(indeed at every instant another thread can observe) the books balance:

    ingested = delivered + queued + in the DLQ + rejected
"""

import threading
from collections.abc import Callable
from datetime import datetime
from random import Random
from typing import Any

from .alpha import Alpha
from .beta import Beta
from .clock import Clock
from .errors import NotFound
from .faults import parse as parse_fault
from .gamma import Gamma
from .module import Module

CrashListener = Callable[[str, bool], None]


class Pipeline:
    """Alpha -> Beta -> Gamma, stepped by a simulated clock."""

    def __init__(
        self,
        rate: float = 2000.0,
        seed: int = 7,
        time_scale: float = 60.0,
        wall_start: datetime | None = None,
    ) -> None:
        # wall_start fixes where the manual clock starts (and so which jobs are due when),
        # for tests that must not depend on the time of day they run at.
        self.clock = Clock(time_scale, wall_start)
        seeds = Random(seed)
        self.alpha = Alpha(self.clock, Random(seeds.random()), self.is_up, rate)
        self.beta = Beta(self.clock, Random(seeds.random()), self.is_up)
        self.gamma = Gamma(self.clock, Random(seeds.random()), self.is_up)
        self.modules: dict[str, Module] = {
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": self.gamma,
        }
        # Serialises steps; module state is guarded by each module's own lock.
        self._step_lock = threading.Lock()
        self._crash_listeners: list[CrashListener] = []
        self._after_step: list[Callable[[float], None]] = []

    def module(self, name: str) -> Module:
        if name not in self.modules:
            raise NotFound(f"no module {name!r}", modules=list(self.modules))
        return self.modules[name]

    def is_up(self, name: str) -> bool:
        # Read without the peer's lock: a module asking whether its neighbour answers is
        # asking what a health probe would see, and a stale answer is what a probe gets.
        return self.modules[name].up

    def after_step(self, hook: Callable[[float], None]) -> None:
        self._after_step.append(hook)

    def on_crash_change(self, listener: CrashListener) -> None:
        self._crash_listeners.append(listener)

    # -- the tick ----------------------------------------------------------------------

    def step(self, dt: float) -> None:
        """Advance ``dt`` simulated seconds: each module works, then hands records on.

        1. Alpha polls its sources and parses and validates what its buffer holds.
        2. Alpha's outbox goes to Beta's queue, as far as Beta has room and is up.
        3. Beta enriches, transforms and scores.
        4. Beta's outbox goes to Gamma, as far as Gamma has room and is up.
        5. Gamma settles acknowledgments, retries, and delivers.
        6. Hooks run (the scenario runner), outside every module lock.

        Hand-offs hold both modules' locks (in pipeline order), so a record is never seen
        in two places, or in none, by ``books()``.
        """
        with self._step_lock:
            now = self.clock.advance(dt)
            with self.alpha.lock:
                self.alpha.tick(now, dt)
            with self.alpha.lock, self.beta.lock:
                self._hand_off_alpha_to_beta(now)
            with self.beta.lock:
                self.beta.tick(now, dt)
            with self.beta.lock, self.gamma.lock:
                self._hand_off_beta_to_gamma(now)
            with self.gamma.lock:
                self.gamma.tick(now, dt)
        for hook in self._after_step:
            hook(now)

    def run_for(self, seconds: float, dt: float = 0.05) -> None:
        """Step repeatedly; for tests and the bench."""
        steps = max(round(seconds / dt), 1)
        for _ in range(steps):
            self.step(dt)

    def _hand_off_alpha_to_beta(self, now: float) -> None:
        if not (self.alpha.up and self.beta.accepting):
            return
        for batch in self.alpha.outbox.pop(self.beta.free_capacity()):
            batch.entered_at = now
            self.beta.queue.push(batch)

    def _hand_off_beta_to_gamma(self, now: float) -> None:
        if not (self.beta.up and self.gamma.accepting):
            return
        self.gamma.accept(self.beta.outbox.pop(self.gamma.free_capacity()), now)

    # -- the books ---------------------------------------------------------------------

    def books(self) -> dict[str, Any]:
        """Where every ingested record is now, read under all three locks at once."""
        with self.alpha.lock, self.beta.lock, self.gamma.lock:
            queued = {
                "alpha_buffer": self.alpha.queued(),
                "beta_queue": self.beta.queued(),
                "gamma_queue": self.gamma.in_flight() - self.gamma.pending_depth,
                "gamma_awaiting_ack": self.gamma.pending_depth,
                "gamma_replay": self.gamma.replay_queue.depth,
            }
            rejected: dict[str, int] = {}
            for module in self.modules.values():
                for reason, n in module.rejected.items():
                    rejected[reason] = rejected.get(reason, 0) + n
            ingested = self.alpha.ingested
            delivered = self.gamma.delivered
            dlq = len(self.gamma.dlq)
            at = self.clock.now
        accounted = delivered + sum(queued.values()) + dlq + sum(rejected.values())
        return {
            "at": round(at, 3),
            "ingested": ingested,
            "delivered": delivered,
            "queued": queued,
            "queued_total": sum(queued.values()),
            "dlq": dlq,
            "rejected": rejected,
            "rejected_total": sum(rejected.values()),
            "balanced": accounted == ingested,
            "difference": ingested - accounted,
        }

    # -- faults ------------------------------------------------------------------------

    def apply_fault(self, name: str, body: Any) -> dict[str, Any]:
        module = self.module(name)
        with module.lock:
            spec, target, params = parse_fault(name, body, module.fault_choices())
            crashing = spec.name == "module-crash" and module.up
            created = module.faults.activate(spec, target, params, self.clock.now)
            if crashing:
                module.on_crash(self.clock.now)
            active = module.faults.describe(self.clock.now, self.clock.iso)
        if crashing:
            self._notify(name, up=False)
        return {
            "module": name,
            "scenario": spec.name,
            "target": target or None,
            "params": params,
            "created": created,
            "active": active,
        }

    def clear_faults(self, name: str, scenario: str | None = None) -> dict[str, Any]:
        module = self.module(name)
        with module.lock:
            was_up = module.up
            cleared = module.faults.clear(scenario)
            revived = not was_up and module.up
            if revived:
                module.on_revive(self.clock.now)
        if revived:
            self._notify(name, up=True)
        return {"module": name, "cleared": cleared, "revived": revived}

    def crash(self, name: str) -> dict[str, Any]:
        return self.apply_fault(name, {"scenario": "module-crash"})

    def revive(self, name: str) -> dict[str, Any]:
        return self.clear_faults(name, "module-crash")

    def clear_all_faults(self) -> dict[str, Any]:
        return {"modules": [self.clear_faults(name) for name in self.modules]}

    def _notify(self, name: str, up: bool) -> None:
        for listener in self._crash_listeners:
            listener(name, up)

    # -- overview ----------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        modules = {}
        for name, module in self.modules.items():
            with module.lock:
                modules[name] = {
                    "up": module.up,
                    "state": module.state,
                    "health": module.health_status() if module.up else None,
                    "faults": module.faults.names(),
                    "config_version": module.config.version,
                    "moved_total": module.moved,
                }
        with self.alpha.lock:
            modules["alpha"]["records_ingested"] = self.alpha.ingested
        with self.beta.lock:
            modules["beta"]["records_transformed"] = self.beta.transformed
        with self.gamma.lock:
            modules["gamma"]["records_delivered"] = self.gamma.delivered
            modules["gamma"]["dlq_size"] = len(self.gamma.dlq)
        return {
            "simulated_seconds": round(self.clock.now, 3),
            "time_scale": self.clock.time_scale,
            "modules": modules,
            "books": self.books(),
        }
