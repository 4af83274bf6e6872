"""Settings from flags and environment variables; a bad value fails loudly at start."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Settings:
    """Where the services listen and how the pipeline runs."""

    host: str = "127.0.0.1"
    control_port: int = 8080
    alpha_port: int = 8081
    beta_port: int = 8082
    gamma_port: int = 8083
    # Records per second offered by all sources together; 000's normal ingestion range is
    # 1,000-5,000 (Module Alpha Metrics).
    rate: float = 2000.0
    token: str | None = None
    # Manual seconds per simulated second for batch jobs and cache refreshes.
    time_scale: float = 60.0
    seed: int = 7
    # Seconds between ticks of the record flow.
    tick: float = 0.05
    access_log: bool = False

    def port_of(self, module: str) -> int:
        return int(getattr(self, f"{module}_port"))


ENVIRONMENT = {f.name: f"SIMULATOR_{f.name.upper()}" for f in fields(Settings)}


def from_environment(environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults overridden by SIMULATOR_* variables (SIMULATOR_HOST, SIMULATOR_ALPHA_PORT...)."""
    environ = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        raw = environ.get(ENVIRONMENT[f.name])
        if raw is None or raw == "":
            continue
        changes[f.name] = parse_value(f.name, raw, ENVIRONMENT[f.name])
    return validate(replace(Settings(), **changes))


def parse_value(name: str, raw: str, where: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is bool:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
    except ValueError:
        raise SystemExit(f"{where}: {raw!r} is not a valid {name}") from None
    return raw


def validate(settings: Settings) -> Settings:
    for name in ("control_port", "alpha_port", "beta_port", "gamma_port"):
        port = getattr(settings, name)
        if not 0 <= port <= 65535:
            raise SystemExit(f"{name} must be 0-65535 (0 picks a free port), got {port}")
    nonzero = [
        p
        for p in (
            settings.control_port,
            settings.alpha_port,
            settings.beta_port,
            settings.gamma_port,
        )
        if p
    ]
    if len(nonzero) != len(set(nonzero)):
        raise SystemExit("the control, alpha, beta and gamma ports must differ")
    if not 0 <= settings.rate <= 100000:
        raise SystemExit(f"rate must be 0-100000 records/s, got {settings.rate}")
    if settings.time_scale <= 0:
        raise SystemExit(f"time_scale must be positive, got {settings.time_scale}")
    if not 0.001 <= settings.tick <= 1.0:
        raise SystemExit(f"tick must be 0.001-1.0 seconds, got {settings.tick}")
    return settings
