"""Faults that can be switched on in a module: the manual's incident scenarios and more.

Each fault is a named scenario with typed parameters. ``POST /admin/faults`` on a module
switches one on, ``DELETE /admin/faults`` clears them; the module's tick reads the active
ones and misbehaves accordingly, so the symptoms the manual lists (001, "Common Incident
Scenarios") show up in ``/metrics`` and ``/health`` by themselves.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Invalid

MODULES = ("alpha", "beta", "gamma")


@dataclass(frozen=True)
class Param:
    """A fault parameter; ``target`` names the collection it picks from (or "all")."""

    name: str
    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    target: str = ""


@dataclass(frozen=True)
class FaultSpec:
    """A scenario that can be switched on: where, what it does, which manual section."""

    name: str
    modules: tuple[str, ...]
    summary: str
    manual: str
    params: tuple[Param, ...] = ()

    @property
    def target_param(self) -> Param | None:
        return next((p for p in self.params if p.target), None)

    def describe(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "modules": list(self.modules),
            "summary": self.summary,
            "manual": self.manual,
            "params": {p.name: p.default for p in self.params},
        }


CATALOG: dict[str, FaultSpec] = {
    spec.name: spec
    for spec in (
        FaultSpec(
            "source-failure",
            ("alpha",),
            "a source refuses connections: no records from it, its error rate at 100%",
            "001, Scenario: Module Alpha Source Failure",
            (Param("source", str, "api_source_1", target="source"),),
        ),
        FaultSpec(
            "parse-error-storm",
            ("alpha",),
            "malformed records from every source; alpha_high_parse_error_rate fires above 5%",
            "001, Alert Definitions (alpha_high_parse_error_rate)",
            (Param("error_rate", float, 0.08, 0.0, 1.0),),
        ),
        FaultSpec(
            "validation-spike",
            ("alpha",),
            "records fail validation (missing fields, bad timestamps) far above the 1% norm",
            "000, Module Alpha Metrics; 001, alpha_validation_failure_spike",
            (Param("failure_rate", float, 0.06, 0.0, 1.0),),
        ),
        FaultSpec(
            "transform-backlog",
            ("beta",),
            "enrichment lookups slow down, Beta's queue grows, Alpha's backpressure engages",
            "001, Scenario: Module Beta Transformation Backlog",
            (Param("enrichment_latency_ms", float, 400.0, 1.0, 60000.0),),
        ),
        FaultSpec(
            "cache-degraded",
            ("beta",),
            "the enrichment cache hit rate falls below the 70% alert line",
            "000, Module Beta Metrics; 001, beta_enrichment_degraded",
            (Param("hit_rate", float, 0.6, 0.0, 1.0),),
        ),
        FaultSpec(
            "quality-drop",
            ("beta",),
            "quality scores fall; beta_quality_score_low fires below 0.6",
            "000, Module Beta Metrics; 001, beta_quality_score_low",
            (Param("mean_score", float, 0.55, 0.0, 1.0),),
        ),
        FaultSpec(
            "destination-down",
            ("gamma",),
            "a destination refuses deliveries: retries, breaker trips, DLQ grows",
            "001, Scenario: Module Gamma Delivery Failures",
            (Param("destination", str, "analytics_warehouse", target="destination"),),
        ),
        FaultSpec(
            "rate-limited",
            ("gamma",),
            "a destination answers 429 above a rate: retries, DLQ grows, breaker may trip",
            "001, Scenario: Module Gamma Delivery Failures (rate limiting)",
            (
                Param("destination", str, "partner_feed", target="destination"),
                Param("limit_per_second", float, 50.0, 0.0, 1e6),
            ),
        ),
        FaultSpec(
            "ack-timeouts",
            ("gamma",),
            "acknowledgments stop arriving for a share of deliveries; they are retried",
            "000, Module Gamma Metrics (acknowledgment timeout rate)",
            (Param("timeout_rate", float, 0.05, 0.0, 1.0),),
        ),
        FaultSpec(
            "latency-spike",
            MODULES,
            "every record spends longer in this module; no failures, queues moderate",
            "001, Scenario: End-to-End Latency Spike",
            (Param("extra_latency_ms", float, 1500.0, 0.0, 600000.0),),
        ),
        FaultSpec(
            "memory-pressure",
            MODULES,
            "memory climbs past 80% then 90%: health DEGRADED then UNHEALTHY, work slows",
            "000, Resource Utilization Review (80% memory); 001, Runbook E.3",
            (
                Param("level", float, 0.93, 0.0, 0.999),
                Param("ramp_seconds", float, 20.0, 0.0, 3600.0),
            ),
        ),
        FaultSpec(
            "job-failure",
            MODULES,
            "every batch-job run of this module ends FAILED",
            "000, Morning Health Verification (failed or timed-out batch jobs)",
        ),
        FaultSpec(
            "module-crash",
            MODULES,
            "the module stops answering HTTP and stops processing until revived",
            "001, Severity Level Definitions (complete failure of a single module)",
        ),
    )
}


@dataclass(frozen=True)
class ActiveFault:
    """A fault that is switched on, with its parameters and when it started."""

    spec: FaultSpec
    target: str
    params: Mapping[str, Any]
    since: float

    def describe(self, now: float, iso: Callable[[float], str]) -> dict[str, Any]:
        return {
            "scenario": self.spec.name,
            "target": self.target or None,
            "params": dict(self.params),
            "since": iso(self.since),
            "active_seconds": round(now - self.since, 3),
        }


def parse(
    module: str, body: Any, choices: Mapping[str, Iterable[str]]
) -> tuple[FaultSpec, str, dict[str, Any]]:
    """Validate a ``POST /admin/faults`` body; return the spec, its target and params."""
    if not isinstance(body, Mapping) or not isinstance(body.get("scenario"), str):
        raise Invalid('body must be a JSON object like {"scenario": "<name>"}')
    spec = CATALOG.get(body["scenario"])
    if spec is None:
        raise Invalid(f"unknown scenario {body['scenario']!r}", available=available(module))
    if module not in spec.modules:
        raise Invalid(
            f"{spec.name} is a fault of {'/'.join(spec.modules)}, not {module}",
            modules=list(spec.modules),
        )
    known = {p.name for p in spec.params}
    unknown = sorted(set(body) - known - {"scenario"})
    if unknown:
        raise Invalid(f"unknown parameters {unknown} for {spec.name}", allowed=sorted(known))
    params: dict[str, Any] = {}
    target = ""
    for p in spec.params:
        value = body.get(p.name, p.default)
        params[p.name] = _check(p, value, choices)
        if p.target:
            target = params[p.name]
    return spec, target, params


def _check(p: Param, value: Any, choices: Mapping[str, Iterable[str]]) -> Any:
    if p.kind is str:
        allowed = list(choices.get(p.target, ())) + ["all"] if p.target else []
        if not isinstance(value, str) or (p.target and value not in allowed):
            raise Invalid(f"{p.name} must be one of {allowed}", got=value)
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{p.name} must be a number", got=value)
    if (p.minimum is not None and value < p.minimum) or (
        p.maximum is not None and value > p.maximum
    ):
        raise Invalid(f"{p.name} must be between {p.minimum} and {p.maximum}", got=value)
    return float(value)


def available(module: str) -> list[str]:
    return [name for name, spec in CATALOG.items() if module in spec.modules]


class ActiveFaults:
    """The faults switched on in one module, keyed by scenario and target."""

    def __init__(self) -> None:
        self._active: dict[tuple[str, str], ActiveFault] = {}

    def activate(self, spec: FaultSpec, target: str, params: dict[str, Any], now: float) -> bool:
        """Switch a fault on; return False if it was already on (its params are replaced)."""
        key = (spec.name, target)
        existed = key in self._active
        since = self._active[key].since if existed else now
        self._active[key] = ActiveFault(spec, target, params, since)
        return not existed

    def lookup(self, name: str, target: str = "") -> ActiveFault | None:
        """The fault ``name`` aimed at ``target`` (or at "all", or untargeted)."""
        return (
            self._active.get((name, target))
            or self._active.get((name, "all"))
            or (self._active.get((name, "")) if target else None)
        )

    def clear(self, name: str | None = None) -> list[str]:
        keys = [k for k in self._active if name is None or k[0] == name]
        for key in keys:
            del self._active[key]
        return sorted({k[0] for k in keys})

    def names(self) -> list[str]:
        return sorted({k[0] for k in self._active})

    def describe(self, now: float, iso: Callable[[float], str]) -> list[dict[str, Any]]:
        return [fault.describe(now, iso) for fault in self._active.values()]

    def __contains__(self, name: str) -> bool:
        return any(k[0] == name for k in self._active)
