"""Fixtures for the job and action tests: the real simulator on free ports (stepped by hand,
no tick thread), registered as the console's modules, and the job catalogue."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitoring import actions, jobs
from monitoring.models import Module
from simulator.runtime import Simulator
from simulator.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "monitoring" / "fixtures"
START = datetime(2024, 1, 16, 10, 0, tzinfo=UTC)


@pytest.fixture
def sim():
    settings = Settings(rate=1000, seed=11, control_port=0, alpha_port=0, beta_port=0, gamma_port=0)
    simulator = Simulator(settings, START).start(tick=False)
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def modules(db, sim):
    urls = sim.urls()
    return {
        name: Module.objects.create(name=name, kind=name, base_url=urls[name])
        for name in ("alpha", "beta", "gamma")
    }


@pytest.fixture
def catalogue(db):
    rows = json.loads((FIXTURES / "jobs.json").read_text())["jobs"]
    jobs.load_catalogue(rows)
    return rows


@pytest.fixture
def action_roles(db):
    actions.load_roles_table(json.loads((FIXTURES / "actions.json").read_text())["roles"])


@pytest.fixture
def without_change_control(monkeypatch):
    """For tests of the action runner itself: the simulator's modules are production modules
    with no maintenance window, so change control (a PRECHECK_HOOKS entry) would refuse every
    disruptive action; it is tested on its own in tests/changes/test_action_control.py."""
    monkeypatch.setattr(actions, "PRECHECK_HOOKS", [])


def step(sim, seconds: float, dt: float = 0.25) -> None:
    for _ in range(int(seconds / dt)):
        sim.pipeline.step(dt)
