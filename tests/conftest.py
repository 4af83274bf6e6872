"""Shared fixtures: personas, service markers, fast password hashing.

Tests marked `postgres` or `redis` need those services (DATABASE_URL / REDIS_URL). Outside CI
they are skipped with the reason when the service is absent; with CI set they fail instead,
so a CI run can never pass by skipping them.
"""

import os

import pytest
from django.conf import settings

from tests.factories import UserFactory


def _service_missing(marker: str) -> str | None:
    if marker == "postgres":
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            return "needs PostgreSQL: set DATABASE_URL=postgres://…"
    if marker == "redis":
        if not settings.REDIS_URL:
            return "needs Redis: set REDIS_URL=redis://…"
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            return f"needs Redis at REDIS_URL, which does not answer: {exc}"
    return None


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API keeps an event loop running in the main
    thread for as long as its browser lives."""
    items.sort(key=lambda item: "tests/e2e/" in str(item.fspath))


def pytest_runtest_setup(item):
    for marker in ("postgres", "redis"):
        if item.get_closest_marker(marker) is None:
            continue
        reason = _service_missing(marker)
        if reason is None:
            continue
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so this test may not be skipped: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def roles(db):
    from console.policy import load_roles

    return {role.name: role for role in load_roles()}


def _persona(roles, username: str, role_name: str | None):
    user = UserFactory(username=username)
    if role_name:
        user.groups.add(roles[role_name].group)
    return user


@pytest.fixture
def operator(roles):
    return _persona(roles, "operator", "Operator")


@pytest.fixture
def opslead(roles):
    return _persona(roles, "opslead", "Operations Lead")


@pytest.fixture
def viewer(roles):
    return _persona(roles, "viewer", "Viewer")


@pytest.fixture
def outsider(roles):
    """Signed in, but holds no role at all."""
    return _persona(roles, "outsider", None)
