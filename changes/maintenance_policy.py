"""Seeds the maintenance policy from the manuals (changes/fixtures/maintenance.json): window
types, the notification timeline and the checklist items.

Idempotent and respectful of the admin: rows that exist are left as an administrator edited
them; only missing rows are created. `changes.policy.load()` calls `load()`.
"""

import json
from datetime import time
from pathlib import Path

from django.db import transaction

from console import audit

from .models import (
    MaintenanceChecklistTemplate,
    MaintenanceReminderStep,
    MaintenanceType,
)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "maintenance.json"


def data() -> dict:
    return json.loads(FIXTURE.read_text())


def _time(value):
    return time.fromisoformat(value) if value else None


def _seed(model, lookup: dict, values: dict) -> bool:
    obj, created = model.objects.get_or_create(**lookup, defaults=values)
    if created:
        audit.record(
            "maintenance_policy.seeded",
            obj=obj,
            after={**lookup, **{k: str(v) for k, v in values.items()}},
        )
    return created


def announcement_template() -> dict:
    """000 "Maintenance Announcement Template" (Django template syntax)."""
    return data()["announcement"]


def evidence_thresholds() -> dict[str, list[str]]:
    """Threshold keys that give the live evidence of each kind (errors, throughput,
    resources)."""
    return {k: v for k, v in data()["evidence"].items() if not k.startswith("_")}


@transaction.atomic
def load() -> str:
    seeds = data()
    created = 0
    for item in seeds["types"]:
        item = dict(item)
        item["slot_start"] = _time(item["slot_start"])
        item["slot_end"] = _time(item["slot_end"])
        created += _seed(MaintenanceType, {"key": item.pop("key")}, item)
    for item in seeds["reminders"]:
        item = dict(item, source=seeds["reminders_source"])
        created += _seed(MaintenanceReminderStep, {"key": item.pop("key")}, item)
    for phase, block in seeds["checklist"].items():
        for position, (text, evidence) in enumerate(block["items"], start=1):
            values = {
                "text": text,
                "evidence": evidence,
                "offset_minutes": block["offset_minutes"],
                "source": block["source"],
            }
            created += _seed(
                MaintenanceChecklistTemplate, {"phase": phase, "position": position}, values
            )
    return (
        f"{MaintenanceType.objects.count()} maintenance types, "
        f"{MaintenanceReminderStep.objects.count()} reminder steps, "
        f"{MaintenanceChecklistTemplate.objects.count()} checklist items ({created} created)"
    )
