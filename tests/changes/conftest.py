import pytest

from tests.factories import UserFactory


@pytest.fixture
def mpolicy(roles):
    """The maintenance policy (types, reminder steps, checklist items) from the manuals."""
    from changes import maintenance_policy

    maintenance_policy.load()


@pytest.fixture
def modules(db):
    from monitoring.models import Module

    return {
        name: Module.objects.create(name=name, kind=name, base_url=f"http://127.0.0.1:1/{name}")
        for name in ("alpha", "beta", "gamma")
    }


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
