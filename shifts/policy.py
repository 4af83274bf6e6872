"""Seeds the daily checklists of 000 "Daily Operations Checklist" (shifts/fixtures/). Rows that
exist are left as an administrator edited them; only missing ones are created.
`manage.py load_policy` calls `load()`."""

import json
from datetime import time
from pathlib import Path

from django.db import transaction

from console import audit

from .models import ChecklistItem, ChecklistTemplate

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@transaction.atomic
def load() -> str:
    data = json.loads((FIXTURES / "checklists.json").read_text())
    created = 0
    for position, spec in enumerate(data["checklists"]):
        template, made = ChecklistTemplate.objects.get_or_create(
            key=spec["key"],
            defaults={
                "name": spec["name"],
                "window_start": time.fromisoformat(spec["window_start"]),
                "window_end": time.fromisoformat(spec["window_end"]),
                "source": spec["source"],
                "position": position,
            },
        )
        if made:
            created += 1
            audit.record("checklist.seeded", obj=template, after={"key": template.key})
        for index, item in enumerate(spec["items"]):
            _, made = ChecklistItem.objects.get_or_create(
                template=template,
                key=item["key"],
                defaults={
                    "position": index,
                    "title": item["title"],
                    "description": item["description"],
                    "evidence": item["evidence"],
                },
            )
            created += made
    return (
        f"{ChecklistTemplate.objects.count()} checklists, "
        f"{ChecklistItem.objects.count()} items ({created} created)"
    )
