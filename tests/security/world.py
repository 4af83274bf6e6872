"""A world for the authorisation matrix: the seeded policy, one user per role (and one with
none), and one of every object a URL names, so that every pattern's kwargs resolve.

Objects are owned by people outside the matrix (`commander`, `requester`, `owner`): what a
matrix persona may do then comes from its role alone, never from owning the object.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.core import signing
from django.core.management import call_command
from django.utils import timezone

from console import roles
from tests.factories import UserFactory

# Every seeded role group, lowest rank first (console/fixtures/roles.json).
ROLES = [
    roles.VIEWER,
    roles.CAB,
    roles.OPERATOR,
    roles.ONCALL,
    roles.SENIOR,
    roles.OPS_LEAD,
    roles.ENG_MANAGER,
    roles.DIRECTOR,
    roles.VP,
]
# Personas of the matrix: each role, a signed-in user with no role, and nobody signed in.
NO_ROLE = "no role"
ANONYMOUS = "anonymous"
PERSONAS = [ANONYMOUS, NO_ROLE, *ROLES]


@dataclass
class World:
    users: dict = field(default_factory=dict)  # persona → user (ANONYMOUS absent)
    objects: dict = field(default_factory=dict)  # name → object or value, for kwargs
    clients: dict = field(default_factory=dict)  # persona → signed-in test client


def _user(username: str, role: str | None):
    from django.contrib.auth.models import Group

    user = UserFactory(username=username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def build() -> World:
    """Build the world (inside the caller's transaction)."""
    from changes import maintenance
    from changes import services as changes
    from changes.models import MaintenanceType
    from incidents import services as incidents
    from monitoring import backups, charts
    from monitoring.models import (
        ActionRun,
        AlertGroup,
        AlertRule,
        CapacityPlan,
        DrillType,
        Job,
        Module,
        Route,
        Runbook,
        Silence,
    )
    from monitoring.services import create_annotation
    from shifts import services as shifts
    from shifts.models import ChecklistTemplate
    from shifts.views import FEED_SALT
    from tests.monitoring.factories import AlertFactory

    call_command("load_policy", verbosity=0)
    world = World()
    for role in ROLES:
        world.users[role] = _user("authz-" + role.lower().replace(" ", "-").replace("/", "-"), role)
    world.users[NO_ROLE] = _user("authz-nobody", None)
    commander = _user("commander", roles.OPERATOR)
    requester = _user("requester", roles.OPERATOR)
    owner = _user("owner", roles.OPS_LEAD)
    incoming = _user("incoming", roles.OPERATOR)

    # Unreachable modules: an allowed action must fail cleanly, never reach a real process.
    for name in ("alpha", "beta", "gamma"):
        Module.objects.create(name=name, kind=name, base_url="http://127.0.0.1:9/" + name)
    now = timezone.now()
    o = world.objects
    o["module"] = "gamma"
    o["chart"] = next(iter(charts.PANELS))

    incident = incidents.declare(
        commander, title="Gamma stalls", severity="P3", summary="Deliveries stopped."
    )
    o["incident"] = incident.number
    # A resolved incident with its review and one action item (the review pages need them).
    reviewed = incidents.declare(
        commander, title="Beta backlog", severity="P3", summary="Queue grew."
    )
    incidents.acknowledge(commander, reviewed.pk)
    for status in ("investigating", "mitigating"):
        incidents.move(commander, reviewed.pk, status)
    incidents.move(commander, reviewed.pk, "resolved", resolution_summary="Scaled Beta.")
    incidents.start_review(commander, reviewed.pk)
    o["reviewed"] = reviewed.number
    o["action_item"] = incidents.add_action_item(
        commander,
        reviewed.pk,
        description="Alert on queue growth",
        owner=commander,
        due_on=timezone.localdate() + timedelta(days=7),
    ).pk
    change = changes.create(
        requester,
        title="Raise queue capacity",
        impact="low",
        likelihood="medium",
        affected_modules=["beta"],
        description="Raise Beta's queue capacity.",
        business_justification="Backlog during peaks.",
        technical_details="queue_capacity 10000 → 20000",
        risk_assessment="Memory use grows; watched.",
        testing_performed="Load test in staging.",
        implementation_plan="1. Reload config. 2. Watch.",
        rollback_plan="Reload the previous value.",
    )
    o["change"] = change.number
    start = now + timedelta(days=3)
    window = maintenance.schedule_window(
        owner,
        type=MaintenanceType.objects.get(key="weekly"),
        title="Patch Gamma",
        start=start,
        end=start + timedelta(hours=2),
        modules=list(Module.objects.filter(name="gamma")),
    )
    o["window"] = window.pk

    shift = shifts.create_shift(
        None, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=7), primary=owner
    )
    o["shift"] = shift.pk
    o["rota"] = shifts.add_rota_week(None, starts_at=now - timedelta(days=1), primary=owner).pk
    o["log"] = shifts.add_log_entry(owner, kind="note", text="Quiet night.").pk
    o["handoff"] = shifts.start_handoff(owner, incoming=incoming).pk
    o["checklist"] = ChecklistTemplate.objects.order_by("pk").first().key
    o["ical"] = signing.dumps(owner.pk, salt=FEED_SALT)

    o["annotation"] = create_annotation(
        owner, "Deploy", now, module=Module.objects.get(name="gamma")
    ).pk
    alert = AlertFactory()
    o["alert"] = alert.pk
    o["fingerprint"] = alert.fingerprint
    o["silence"] = Silence.objects.create(
        matchers=[{"name": "module", "value": "gamma", "isRegex": False, "isEqual": True}],
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        created_by=owner,
        created_by_name=owner.username,
        comment="Planned work",
    ).pk
    o["rule"] = AlertRule.objects.order_by("pk").first().name
    o["runbook"] = Runbook.objects.order_by("pk").first().slug
    route = Route.objects.order_by("pk").first()
    o["route"] = route.pk
    o["alert_group"] = AlertGroup.objects.create(
        route=route, key="0" * 64, labels={"alertname": alert.name}, created_at=now
    ).pk
    o["job"] = Job.objects.order_by("name").first().name
    o["action_run"] = ActionRun.objects.create(
        action="pause",
        module="gamma",
        idempotency_key="authz-world",
        requested_by=owner,
        requested_by_name=owner.username,
        started_at=now,
    ).pk
    o["capacity"] = CapacityPlan.objects.order_by("pk").first().kind
    o["drill"] = backups.schedule_drill(
        owner, DrillType.objects.order_by("pk").first(), now + timedelta(days=5)
    ).pk
    return world
