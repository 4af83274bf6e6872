"""Degraded mode (000 "Degraded Mode Operations"): operators record that a module runs without
its partner, buffering at its boundary, and when that ends. The buffering status is never
stored: it is read from the module's latest metrics each time it is shown, so it is live."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from console import audit, live
from console.errors import Refused

from .models import DegradedMode, Module
from .promql import Evaluator, PromQLError, single
from .store import DbSource

PERMISSION = "monitoring.add_degradedmode"

# Where each kind buffers (000: "queue buffering activation ... monitor buffer utilization
# carefully to prevent overflow"): the fill of its boundary queue, 0-1, and its depth.
BUFFERS = {
    "alpha": ("alpha_buffer_utilization", "alpha_buffer_depth", "input buffer"),
    "beta": ("beta_queue_utilization", "beta_queue_depth", "transformation queue"),
    "gamma": (
        "sum(gamma_delivery_queue_depth) / sum(gamma_delivery_queue_capacity)",
        "sum(gamma_delivery_queue_depth)",
        "delivery queue",
    ),
}
# 001 "Dashboard Configuration": queue depth lines at 60 % (warning) and 80 % (critical).
WARN, CRITICAL = 0.6, 0.8


@dataclass
class Buffering:
    what: str
    utilization: float | None
    depth: float | None
    level: str  # OK | WARNING | CRITICAL | UNKNOWN


def buffering(module: Module, now=None) -> Buffering:
    now = now or timezone.now()
    spec = BUFFERS.get(module.kind)
    if spec is None:
        return Buffering("no known buffer", None, None, "UNKNOWN")
    util_expr, depth_expr, what = spec
    values = []
    for expr in (util_expr, depth_expr):
        try:
            values.append(single(Evaluator(expr, DbSource(), {"module": module.name}).at(now)))
        except PromQLError:
            values.append(None)
    utilization, depth = values
    if utilization is None:
        level = "UNKNOWN"
    else:
        level = (
            "CRITICAL" if utilization >= CRITICAL else "WARNING" if utilization >= WARN else "OK"
        )
    return Buffering(what, utilization, depth, level)


def _require(by) -> None:
    if not by.has_perm(PERMISSION):
        raise PermissionDenied("Your role may not record degraded mode.")


def activate(by, module: Module, reason: str, incident=None) -> DegradedMode:
    _require(by)
    if not reason.strip():
        raise Refused("Say which partner is unavailable and why.", 400)
    try:
        with transaction.atomic():
            record = DegradedMode.objects.create(
                module=module.name,
                reason=reason.strip(),
                started_at=timezone.now(),
                started_by=by.get_username(),
                incident=incident,
            )
            audit.record("degraded.activate", actor=by, obj=record, after={"reason": reason})
    except IntegrityError:
        raise Refused(f"{module} is already in degraded mode.") from None
    live.publish(f"module.{module.name}", "module.degraded", module=module.name)
    return record


def end(by, module: Module, note: str = "") -> DegradedMode:
    _require(by)
    with transaction.atomic():
        record = (
            DegradedMode.objects.select_for_update()
            .filter(module=module.name, ended_at__isnull=True)
            .first()
        )
        if record is None:
            raise Refused(f"{module} is not in degraded mode.")
        record.ended_at, record.ended_by, record.end_note = timezone.now(), by.get_username(), note
        record.save(update_fields=["ended_at", "ended_by", "end_note"])
        audit.record("degraded.end", actor=by, obj=record, after={"note": note})
    live.publish(f"module.{module.name}", "module.degraded", module=module.name)
    return record


def current(module_name: str) -> DegradedMode | None:
    return DegradedMode.objects.filter(module=module_name, ended_at__isnull=True).first()
