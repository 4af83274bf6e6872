"""Fault tests (issue 12 item 5): each injects one fault and says what was lost — a figure
that must be zero. Private servers (tests/faults/support.py) are stopped, killed and restarted
here; the shared PostgreSQL and Redis never are. Missing binaries fail under CI=1."""

import pytest

from tests.faults.support import REPORTED, private_pg, private_redis  # noqa: F401  (fixtures)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter):
    if REPORTED:
        terminalreporter.section("what each fault lost")
        for line in REPORTED:
            terminalreporter.write_line(line)
