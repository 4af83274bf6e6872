"""Seeds the incident policy from the manuals (incidents/fixtures/*.json): severity clocks,
the escalation matrix, the communication templates and the notification channels.

Idempotent and respectful of the admin: a row that exists is left as an administrator edited
it (the policy is data), only missing rows are created. `manage.py load_policy` calls `load()`.
"""

import json
from pathlib import Path

from django.db import transaction

from console import audit

from .models import CommunicationTemplate, EscalationStep, NotificationChannel, SeverityPolicy

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _read(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _seed(model, lookup: dict, values: dict) -> bool:
    obj, created = model.objects.get_or_create(**lookup, defaults=values)
    if created:
        audit.record("incident_policy.seeded", obj=obj, after={**lookup, **values})
    return created


@transaction.atomic
def load() -> str:
    created = 0
    for item in _read("severity_policy.json")["severities"]:
        item = dict(item)
        created += _seed(SeverityPolicy, {"severity": item.pop("severity")}, item)
    for item in _read("escalation_matrix.json")["steps"]:
        item = dict(item)
        lookup = {"severity": item.pop("severity"), "step": item.pop("step")}
        created += _seed(EscalationStep, lookup, item)
    for item in _read("communication_templates.json")["templates"]:
        item = dict(item)
        created += _seed(CommunicationTemplate, {"kind": item.pop("kind")}, item)
    for item in _read("channels.json")["channels"]:
        item = dict(item)
        created += _seed(NotificationChannel, {"name": item.pop("name")}, item)
    return (
        f"{SeverityPolicy.objects.count()} severities, {EscalationStep.objects.count()} matrix "
        f"steps, {CommunicationTemplate.objects.count()} templates, "
        f"{NotificationChannel.objects.count()} channels ({created} created)"
    )


def seed_channel(name: str, values: dict) -> NotificationChannel:
    """A notification channel another app's policy needs (alert receivers, issue 6): created
    when missing, left as the admin edited it otherwise."""
    _seed(NotificationChannel, {"name": name}, values)
    return NotificationChannel.objects.get(name=name)


def snapshot() -> dict:
    """The policy in force now, as copied onto an incident when it is declared."""
    matrix: dict[str, list[dict]] = {}
    for step in EscalationStep.objects.order_by("severity", "step"):
        matrix.setdefault(step.severity, []).append(
            {"step": step.step, "after_minutes": step.after_minutes, "role": step.role}
        )
    return {
        "severities": {p.severity: p.snapshot() for p in SeverityPolicy.objects.all()},
        "matrix": matrix,
    }
