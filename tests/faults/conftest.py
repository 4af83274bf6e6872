"""Fault tests (issue 12 item 5): each injects one fault and says what was lost — a figure
that must be zero. Private servers (tests/faults/servers.py) are stopped, killed and restarted
here; the shared PostgreSQL and Redis never are. Missing binaries fail under CI=1."""

import os
import tempfile
from pathlib import Path

import pytest

from tests.faults.servers import (
    PG_BIN,
    REDIS_SERVER,
    PrivatePostgreSQL,
    PrivateRedis,
    free_port,
    require,
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.slow)


def report_lost(what: str, lost: int, **figures) -> None:
    """Print the figure each fault test exists for (`pytest -s` or the captured output)."""
    extra = ", ".join(f"{key} {value}" for key, value in figures.items())
    print(f"\nFAULT {what}: lost {lost}" + (f" ({extra})" if extra else ""))


@pytest.fixture
def private_redis():
    require(REDIS_SERVER, "apt-get install redis-server")
    server = PrivateRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def private_pg():
    """One private cluster per module (initdb takes seconds); the database is made afresh by
    the tests that need it. initdb refuses root, so as root the server runs as `postgres`."""
    require(PG_BIN / "initdb", "apt-get install postgresql-15")
    owner = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="faults-pg-"))
    server = PrivatePostgreSQL(free_port(), base / "data", owner)
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
