from datetime import UTC, datetime

import pytest

from console import roles as role_names
from tests.factories import UserFactory

# A Monday, 09:00 UTC: tests travel here with time-machine.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _person(roles, username, role):
    user = UserFactory(username=username)
    user.groups.add(roles[role].group)
    return user


@pytest.fixture
def checklists(db):
    from shifts import policy

    policy.load()


@pytest.fixture
def oncall(roles):
    return _person(roles, "oncall", role_names.ONCALL)


@pytest.fixture
def senior(roles):
    return _person(roles, "senior", role_names.SENIOR)


@pytest.fixture
def operator2(roles):
    return _person(roles, "operator2", role_names.OPERATOR)


@pytest.fixture
def incident_policy(roles):
    from incidents import policy

    policy.load()
