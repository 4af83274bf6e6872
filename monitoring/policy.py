"""Seeds the threshold table from monitoring/fixtures/thresholds.json.

Rows are created when missing and never overwritten: once seeded, the admin owns them.
"""

import json
from pathlib import Path

from django.db import transaction

from console import audit

from .models import Threshold

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "thresholds.json"
FIELDS = {f.name for f in Threshold._meta.get_fields()} - {"id", "key", "statuses"}


@transaction.atomic
def load() -> str:
    data = json.loads(FIXTURE.read_text())
    created = 0
    for position, row in enumerate(data["thresholds"]):
        defaults = {k: v for k, v in row.items() if k in FIELDS}
        defaults["position"] = position
        threshold, was_created = Threshold.objects.get_or_create(key=row["key"], defaults=defaults)
        if was_created:
            created += 1
            audit.record("threshold.seed", obj=threshold, after={"expr": threshold.expr})
    return f"{len(data['thresholds'])} thresholds ({created} new)"
