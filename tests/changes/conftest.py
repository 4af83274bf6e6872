from datetime import timedelta

import pytest
from django.utils import timezone

from console import roles as role_names
from tests.factories import UserFactory


@pytest.fixture
def policy(roles):
    from changes import policy
    from incidents import policy as incident_policy

    policy.load()
    incident_policy.load()


@pytest.fixture
def modules(db):
    from monitoring.models import Module

    return {
        name: Module.objects.create(name=name, kind=name, base_url=f"http://127.0.0.1:1/{name}")
        for name in ("alpha", "beta", "gamma")
    }


def _person(roles, username, role):
    user = UserFactory(username=username)
    user.groups.add(roles[role].group)
    return user


@pytest.fixture
def people(roles):
    """One holder of each role the change process involves (the demo's two CAB members)."""
    return {
        username: _person(roles, username, role)
        for username, role in [
            ("operator", role_names.OPERATOR),
            ("oncall", role_names.ONCALL),
            ("senior", role_names.SENIOR),
            ("opslead", role_names.OPS_LEAD),
            ("engmanager", role_names.ENG_MANAGER),
            ("director", role_names.DIRECTOR),
            ("vp", role_names.VP),
            ("cab1", role_names.CAB),
            ("cab2", role_names.CAB),
            ("viewer", role_names.VIEWER),
        ]
    }


FORM = {
    "description": "Raise Beta's queue capacity.",
    "business_justification": "Backlog during peaks.",
    "technical_details": "queue_capacity 10000 → 20000",
    "risk_assessment": "Memory use grows; watched.",
    "testing_performed": "Load test in staging.",
    "implementation_plan": "1. Reload config. 2. Watch.",
    "rollback_plan": "Reload the previous value.",
}


@pytest.fixture
def raise_change(policy, modules, people):
    from changes import services

    def _raise(impact="low", likelihood="medium", by=None, modules_=("beta",), **kwargs):
        fields = {**FORM, **kwargs}
        fields.setdefault("title", "Raise queue capacity")
        return services.create(
            by or people["operator"],
            impact=impact,
            likelihood=likelihood,
            affected_modules=list(modules_),
            **fields,
        )

    return _raise


@pytest.fixture
def approved(raise_change, people):
    """A change taken through submission, technical review and approval (Normal risk →
    Engineering Manager)."""
    from changes import services

    def _approved(**kwargs):
        change = raise_change(**kwargs)
        services.submit(people["operator"], change.pk)
        services.review(people["senior"], change.pk, comment="ok")
        level_approver = {
            "standard": "opslead",
            "normal": "engmanager",
            "high_risk": "director",
            "critical": "vp",
        }[change.risk]
        services.decide(people[level_approver], change.pk, "approve", "fine")
        for member in ("cab1", "cab2"):
            change.refresh_from_db()
            if change.status == "cab_review":
                services.decide(people[member], change.pk, "approve", "fine")
        change.refresh_from_db()
        assert change.status == "approved", change.status
        return change

    return _approved


def window(hours_from_now=2, length=1):
    start = timezone.now() + timedelta(hours=hours_from_now)
    return start, start + timedelta(hours=length)


# --- maintenance windows (issue 9) ---------------------------------------------------------
@pytest.fixture
def mpolicy(roles):
    """The maintenance policy (types, reminder steps, checklist items) from the manuals."""
    from changes import maintenance_policy

    maintenance_policy.load()


@pytest.fixture
def engmanager(roles):
    user = UserFactory(username="engmanager")
    user.groups.add(roles["Engineering Manager"].group)
    return user


@pytest.fixture
def ipolicy(roles):
    """The incident policy (to declare incidents)."""
    from incidents import policy

    policy.load()
