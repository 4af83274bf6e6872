"""Seeds the change policy from the manuals (changes/fixtures/change_policy.json): 001 "Risk
Assessment Matrix", "Approval levels", the standard-change catalogue ("Change Types"), the
"Pre-Implementation Checklist", the emergency and review timers and the rollback triggers.

Idempotent and respectful of the admin: existing rows are left as edited; only missing rows
are created. `manage.py load_policy` calls `load()`.
"""

import json
from pathlib import Path

from django.db import transaction

from console import audit

from . import maintenance_policy
from .models import ApprovalLevel, ChangePolicy, ChecklistTemplateItem, RiskCell, StandardTemplate

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "change_policy.json"


def _seed(model, lookup: dict, values: dict) -> bool:
    obj, created = model.objects.get_or_create(**lookup, defaults=values)
    if created:
        audit.record("change_policy.seeded", obj=obj, after={**lookup, **values})
    return created


@transaction.atomic
def load() -> str:
    data = json.loads(FIXTURE.read_text())
    created = 0
    for cell in data["risk_matrix"]["cells"]:
        created += _seed(
            RiskCell,
            {"impact": cell["impact"], "likelihood": cell["likelihood"]},
            {"risk": cell["risk"]},
        )
    for item in data["approval_levels"]:
        item = dict(item)
        created += _seed(ApprovalLevel, {"risk": item.pop("risk")}, item)
    for item in data["standard_templates"]:
        item = dict(item)
        created += _seed(StandardTemplate, {"name": item.pop("name")}, item)
    for section, lines in data["checklist"].items():
        if section.startswith("_"):
            continue
        for position, text in enumerate(lines, 1):
            created += _seed(
                ChecklistTemplateItem, {"section": section, "text": text}, {"position": position}
            )
    created += _seed(ChangePolicy, {"pk": 1}, data["policy"])
    return (
        f"{RiskCell.objects.count()} risk cells, {ApprovalLevel.objects.count()} approval "
        f"levels, {StandardTemplate.objects.count()} standard templates, "
        f"{ChecklistTemplateItem.objects.count()} checklist lines ({created} created); "
        f"maintenance: {maintenance_policy.load()}"
    )
