"""Seeds the threshold table from monitoring/fixtures/thresholds.json.

Rows are created when missing and never overwritten: once seeded, the admin owns them.
"""

import json
from pathlib import Path

from django.db import transaction

from console import audit

from .models import AlertIncidentPolicy, AlertRule, InhibitRule, Receiver, Route, Threshold

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE = FIXTURES / "thresholds.json"
FIELDS = {f.name for f in Threshold._meta.get_fields()} - {"id", "key", "statuses"}
RULE_FIELDS = {f.name for f in AlertRule._meta.get_fields()} - {"id", "name", "alert"}


@transaction.atomic
def load() -> str:
    return (
        f"{load_thresholds()}, {load_alert_rules()}, {load_inhibit_rules()}, "
        f"{load_alert_incident_policy()}, {load_routing()}"
    )


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
