import pytest

from console import roles as role_names
from tests.factories import UserFactory


@pytest.fixture
def policy(roles):
    from incidents import policy

    policy.load()


@pytest.fixture
def modules(db):
    from monitoring.models import Module

    return {
        name: Module.objects.create(name=name, kind=name, base_url=f"http://127.0.0.1:1/{name}")
        for name in ("alpha", "beta", "gamma")
    }


@pytest.fixture
def staff(roles):
    """One holder of each role the matrix engages (the people escalations notify)."""
    people = {}
    for username, role in [
        ("oncall", role_names.ONCALL),
        ("senior", role_names.SENIOR),
        ("engmanager", role_names.ENG_MANAGER),
        ("director", role_names.DIRECTOR),
        ("vp", role_names.VP),
    ]:
        user = UserFactory(username=username)
        user.groups.add(roles[role].group)
        people[username] = user
    return people


@pytest.fixture
def declare(policy, operator):
    from incidents import services

    def _declare(severity="P2", by=None, **kwargs):
        kwargs.setdefault("title", f"{severity} trouble")
        kwargs.setdefault("summary", "Records stopped flowing.")
        return services.declare(by or operator, severity=severity, **kwargs)

    return _declare
