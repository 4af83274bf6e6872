"""Seeds the threshold table from monitoring/fixtures/thresholds.json.

Rows are created when missing and never overwritten: once seeded, the admin owns them.
"""

import json
from pathlib import Path

from django.db import transaction

from console import audit

from . import runbooks
from .models import AlertIncidentPolicy, AlertRule, InhibitRule, Receiver, Route, Threshold

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE = FIXTURES / "thresholds.json"
FIELDS = {f.name for f in Threshold._meta.get_fields()} - {"id", "key", "statuses"}
RULE_FIELDS = {f.name for f in AlertRule._meta.get_fields()} - {"id", "name", "alert"}


@transaction.atomic
def load() -> str:
    return (
        f"{load_thresholds()}, {load_alert_rules()}, {load_inhibit_rules()}, "
        f"{load_alert_incident_policy()}, {runbooks.load()}, {load_capacity_and_backups()}, "
        f"{load_jobs()}, {load_routing()}"
    )


def load_jobs() -> str:
    """000 "Batch Processing Schedules" and the runbook actions' role table (issue 10)."""
    from . import actions, jobs

    catalogue = json.loads((FIXTURES / "jobs.json").read_text())["jobs"]
    table = json.loads((FIXTURES / "actions.json").read_text())["roles"]
    return f"{jobs.load_catalogue(catalogue)}, {actions.load_roles_table(table)}"


def load_routing() -> str:
    """001 "Alert Routing": receivers (and the channels they post to) and the route tree.
    Receivers are created when missing; the tree is seeded once (no route exists yet), then
    the admin and the routes page own it."""
    from incidents.policy import seed_channel

    data = json.loads((FIXTURES / "routing.json").read_text())
    channels = {
        row["name"]: seed_channel(row["name"], {k: v for k, v in row.items() if k != "name"})
        for row in data["channels"]
    }
    created = 0
    for row in data["receivers"]:
        row = dict(row)
        names = row.pop("channels")
        receiver, was_created = Receiver.objects.get_or_create(
            name=row.pop("name"), defaults={**row, "source": "001, Alert Routing"}
        )
        if was_created:
            receiver.channels.set([channels[n] for n in names])
            audit.record("receiver.seed", obj=receiver, after={**row, "channels": names})
            created += 1
    if Route.objects.exists():
        return f"{Receiver.objects.count()} receivers ({created} new), routes kept"
    routes: dict[str, Route] = {}
    for position, row in enumerate(data["routes"]):
        row = dict(row)
        parent, receiver = row.pop("parent"), row.pop("receiver", None)
        route = Route.objects.create(
            **row,
            parent=routes[parent] if parent else None,
            receiver=Receiver.objects.get(name=receiver) if receiver else None,
            position=position,
            source="001, Alert Routing",
        )
        routes[route.name] = route
        audit.record("route.seed", obj=route, after={**row, "receiver": receiver})
    return f"{Receiver.objects.count()} receivers ({created} new), {len(routes)} routes"


# Issue 6: "critical → P1, high → P2, medium → P3 by default".
DEFAULT_ALERT_INCIDENTS = {"critical": "P1", "high": "P2", "medium": "P3"}


def load_alert_incident_policy() -> str:
    policy, created = AlertIncidentPolicy.objects.get_or_create(
        pk=1, defaults={"mapping": DEFAULT_ALERT_INCIDENTS}
    )
    if created:
        audit.record("alert_incident_policy.seed", obj=policy, after=policy.mapping)
    return f"alert → incident: {policy}"


def load_inhibit_rules() -> str:
    """001 inhibition rules; seeded once (none exist yet), then the admin owns them."""
    data = json.loads((FIXTURES / "inhibit_rules.json").read_text())
    if InhibitRule.objects.exists():
        return f"{InhibitRule.objects.count()} inhibition rules (0 new)"
    for row in data["rules"]:
        rule = InhibitRule.objects.create(**row, source="001, Inhibition Rules")
        audit.record("inhibit_rule.seed", obj=rule, after=row)
    return f"{len(data['rules'])} inhibition rules ({len(data['rules'])} new)"


def load_alert_rules() -> str:
    """001 "Alert Definitions": created when missing, never overwritten."""
    data = json.loads((FIXTURES / "alert_rules.json").read_text())
    created = 0
    for position, row in enumerate(data["rules"]):
        defaults = {k: v for k, v in row.items() if k in RULE_FIELDS}
        defaults["position"] = position
        rule, was_created = AlertRule.objects.get_or_create(name=row["name"], defaults=defaults)
        if was_created:
            created += 1
            audit.record("alert_rule.seed", obj=rule, after={"expr": rule.expr})
    return f"{len(data['rules'])} alert rules ({created} new)"


def load_thresholds() -> str:
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


# --- capacity, backups and DR (issue 11) ------------------------------------------------------


def _durations(row: dict, names: tuple[str, ...]) -> dict:
    from django.utils.dateparse import parse_duration

    return {k: (parse_duration(v) if k in names and v is not None else v) for k, v in row.items()}


def load_capacity_and_backups() -> str:
    """001 "Capacity Planning", "Backup and Recovery", "Disaster Recovery": created when
    missing, never overwritten (the admin owns them once seeded)."""
    from django.utils import timezone

    from .backups import set_schedule_start
    from .models import BackupClass, CapacityPlan, CapacityThreshold, DrillType, DrPolicy

    capacity = json.loads((FIXTURES / "capacity.json").read_text())
    backups = json.loads((FIXTURES / "backups.json").read_text())
    created = 0
    for row in capacity["plans"]:
        plan, new = CapacityPlan.objects.get_or_create(kind=row["kind"], defaults=row)
        created += new
    for position, row in enumerate(capacity["thresholds"]):
        _, new = CapacityThreshold.objects.get_or_create(
            key=row["key"], defaults={**row, "position": position}
        )
        created += new
    now = timezone.now()
    for position, row in enumerate(backups["classes"]):
        fields = _durations(row, ("interval", "grace", "rto", "rpo"))
        backup_class, new = BackupClass.objects.get_or_create(
            key=row["key"], defaults={**fields, "position": position}
        )
        if new:
            set_schedule_start(backup_class, now)
        created += new
    for position, row in enumerate(backups["drill_types"]):
        fields = _durations(row, ("interval", "duration"))
        _, new = DrillType.objects.get_or_create(
            key=row["key"],
            defaults={**fields, "position": position, "source": "001, DR Testing Schedule"},
        )
        created += new
    if not DrPolicy.objects.exists():
        fields = _durations(
            backups["dr_policy"], ("rto_target", "rpo_target", "max_since_last_drill")
        )
        DrPolicy.objects.create(**fields, source="001, DR Metrics")
        created += 1
    if created:
        audit.record("capacity_backups.seed", after={"created": created})
    return f"capacity, backups and DR targets ({created} new rows)"
