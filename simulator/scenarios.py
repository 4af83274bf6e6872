"""Timed scripts that switch faults on and off, for demos and tests.

A script is a list of steps at simulated seconds from its start. The runner is driven by
the pipeline's steps, so a test plays a two-minute script by stepping, without sleeping.
``python -m simulator --scenario <name>`` plays one; so does ``POST /scenarios/<name>``
on the control port.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import NotFound, SimulatorError
from .pipeline import Pipeline


@dataclass(frozen=True)
class Step:
    """At ``at`` seconds, do ``action`` on ``module`` with ``body``."""

    at: float
    action: str  # fault | clear | reload | reset-breaker | replay-dlq | crash | revive
    module: str
    body: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Script:
    """A named scenario: what it shows, where the manual describes it, its steps."""

    name: str
    summary: str
    manual: str
    duration: float
    steps: tuple[Step, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "manual": self.manual,
            "duration_seconds": self.duration,
            "steps": [
                {
                    "at": s.at,
                    "action": s.action,
                    "module": s.module,
                    "body": dict(s.body),
                    "note": s.note,
                }
                for s in self.steps
            ],
        }


def _fault(at: float, module: str, scenario: str, note: str = "", **params: Any) -> Step:
    return Step(at, "fault", module, {"scenario": scenario, **params}, note)


SCRIPTS: dict[str, Script] = {
    s.name: s
    for s in (
        Script(
            "smoke",
            "a few seconds of every kind of step; for CI and a quick look",
            "-",
            8.0,
            (
                _fault(1, "alpha", "parse-error-storm"),
                Step(3, "clear", "alpha"),
                _fault(4, "gamma", "destination-down", destination="archive_store"),
                Step(6, "clear", "gamma"),
                Step(6.5, "reset-breaker", "gamma", {"destination": "archive_store"}),
                Step(7, "replay-dlq", "gamma", {"filter": {"retry_eligible": True}}),
            ),
        ),
        Script(
            "source-outage",
            "api_source_1 refuses connections for a minute, then recovers",
            "001, Scenario: Module Alpha Source Failure",
            100.0,
            (
                _fault(10, "alpha", "source-failure", source="api_source_1"),
                Step(70, "clear", "alpha", note="source back"),
            ),
        ),
        Script(
            "parse-error-storm",
            "8% of records fail to parse for a minute (alert threshold 5%)",
            "001, Alert Definitions (alpha_high_parse_error_rate)",
            100.0,
            (_fault(10, "alpha", "parse-error-storm"), Step(70, "clear", "alpha")),
        ),
        Script(
            "transform-backlog",
            "enrichment slows, Beta's queue fills, Alpha pushes back; stale fallback mitigates",
            "001, Scenario: Module Beta Transformation Backlog",
            150.0,
            (
                _fault(10, "beta", "transform-backlog"),
                Step(
                    70,
                    "reload",
                    "beta",
                    {"stale_fallback": True},
                    "mitigation: enable stale fallback",
                ),
                Step(110, "clear", "beta", note="enrichment source recovered"),
                Step(115, "reload", "beta", {"stale_fallback": False}),
            ),
        ),
        Script(
            "destination-outage",
            "analytics_warehouse goes down: retries, breaker OPEN, DLQ grows; then replay",
            "001, Scenario: Module Gamma Delivery Failures; Runbooks C.2, C.3",
            150.0,
            (
                _fault(10, "gamma", "destination-down", destination="analytics_warehouse"),
                Step(70, "clear", "gamma", note="destination back; breaker half-opens by itself"),
                Step(110, "replay-dlq", "gamma", {"filter": {"retry_eligible": True}}),
            ),
        ),
        Script(
            "partner-rate-limit",
            "partner_feed answers 429 above 50/s; lowering max_rate below that mitigates",
            "001, Scenario: Module Gamma Delivery Failures (rate limiting)",
            150.0,
            (
                _fault(
                    10, "gamma", "rate-limited", destination="partner_feed", limit_per_second=50
                ),
                Step(
                    60,
                    "reload",
                    "gamma",
                    {"destinations": {"partner_feed": {"max_rate": 45}}},
                    "mitigation: reduce delivery rate",
                ),
                Step(100, "clear", "gamma"),
                Step(101, "reload", "gamma", {"destinations": {"partner_feed": {"max_rate": 0}}}),
                Step(105, "reset-breaker", "gamma", {"destination": "partner_feed"}),
                Step(110, "replay-dlq", "gamma", {"filter": {"retry_eligible": True}}),
            ),
        ),
        Script(
            "latency-spike",
            "every record spends 1.5 s more in Gamma: P99 over 2 s, nothing failing",
            "001, Scenario: End-to-End Latency Spike",
            100.0,
            (_fault(10, "gamma", "latency-spike"), Step(70, "clear", "gamma")),
        ),
        Script(
            "memory-pressure",
            "Beta's memory climbs past 80% then 90%: DEGRADED, UNHEALTHY, caches evicted",
            "001, Runbook E.3: Memory Pressure Investigation",
            100.0,
            (_fault(10, "beta", "memory-pressure"), Step(70, "clear", "beta")),
        ),
        Script(
            "beta-crash",
            "Beta stops answering for 30 s: Alpha buffers, then pushes back; Beta revives",
            "001, Severity Level Definitions (complete failure of a single module)",
            90.0,
            (Step(10, "crash", "beta"), Step(40, "revive", "beta")),
        ),
        Script(
            "bad-night",
            "one thing after another: source outage, backlog, destination down, crash",
            "001, Common Incident Scenarios",
            240.0,
            (
                _fault(10, "alpha", "source-failure", source="file_source_1"),
                _fault(40, "beta", "transform-backlog"),
                Step(80, "clear", "alpha"),
                _fault(90, "gamma", "destination-down", destination="partner_feed"),
                Step(120, "clear", "beta"),
                Step(140, "crash", "alpha"),
                Step(160, "revive", "alpha"),
                Step(170, "clear", "gamma"),
                Step(210, "replay-dlq", "gamma", {"filter": {"retry_eligible": True}}),
            ),
        ),
    )
}


class ScenarioRunner:
    """Plays at most one script at a time, one step whenever the clock passes it."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self.script: Script | None = None
        self.state = "idle"  # idle | running | finished | stopped
        self.started_at = 0.0
        self._next = 0
        self.log: list[dict[str, Any]] = []
        self.finished = threading.Event()
        pipeline.after_step(self.on_step)

    def start(self, name: str) -> dict[str, Any]:
        script = SCRIPTS.get(name)
        if script is None:
            raise NotFound(f"no scenario {name!r}", scenarios=sorted(SCRIPTS))
        with self._lock:
            self.script = script
            self.state = "running"
            self.started_at = self.pipeline.clock.now
            self._next = 0
            self.log = []
            self.finished.clear()
        return self.status()

    def stop(self) -> dict[str, Any]:
        """Stop playing and clear every module's faults, leaving a calm pipeline."""
        with self._lock:
            if self.state == "running":
                self.state = "stopped"
                self.finished.set()
        self.pipeline.clear_all_faults()
        return self.status()

    def on_step(self, now: float) -> None:
        with self._lock:
            if self.state != "running" or self.script is None:
                return
            script = self.script
            due = []
            while self._next < len(script.steps) and now - self.started_at >= (
                script.steps[self._next].at
            ):
                due.append(script.steps[self._next])
                self._next += 1
            done = now - self.started_at >= script.duration and self._next == len(script.steps)
        for step in due:
            self._run(step, now)
        if done:
            with self._lock:
                self.state = "finished"
                self.finished.set()

    def _run(self, step: Step, now: float) -> None:
        entry: dict[str, Any] = {
            "at": round(now - self.started_at, 3),
            "action": step.action,
            "module": step.module,
            "note": step.note,
        }
        try:
            entry["result"] = self._perform(step)
        except SimulatorError as exc:  # a script must not stop the tick thread
            entry["error"] = exc.message
        with self._lock:
            self.log.append(entry)

    def _perform(self, step: Step) -> Any:
        p = self.pipeline
        if step.action == "fault":
            return p.apply_fault(step.module, dict(step.body))
        if step.action == "clear":
            return p.clear_faults(step.module)
        if step.action == "crash":
            return p.crash(step.module)
        if step.action == "revive":
            return p.revive(step.module)
        if step.action == "reload":
            module = p.module(step.module)
            with module.lock:
                return module.reload_config(dict(step.body))
        with p.gamma.lock:
            if step.action == "reset-breaker":
                return p.gamma.reset_breaker(step.body["destination"])
            if step.action == "replay-dlq":
                return p.gamma.replay(dict(step.body))
        raise SimulatorError(f"unknown action {step.action!r}")

    def status(self) -> dict[str, Any]:
        with self._lock:
            script = self.script
            return {
                "scenario": script.name if script else None,
                "state": self.state,
                "elapsed_seconds": (
                    round(self.pipeline.clock.now - self.started_at, 3) if script else None
                ),
                "duration_seconds": script.duration if script else None,
                "steps_done": self._next,
                "steps_total": len(script.steps) if script else 0,
                "log": list(self.log),
            }
