"""Fixtures for the simulator's tests. Nothing here needs Django: run them alone with
``pytest -p no:django --confcutdir=tests/simulator tests/simulator``."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from simulator.pipeline import Pipeline
from simulator.runtime import Simulator
from simulator.settings import Settings

TOKEN = "test-token"
# A Tuesday, on the hour: which batch jobs are due when does not depend on when tests run.
START = datetime(2024, 1, 16, 10, 0, tzinfo=UTC)


@pytest.fixture
def pipeline() -> Pipeline:
    """A pipeline with no threads: tests move it with ``step``."""
    return Pipeline(rate=1000, seed=11, wall_start=START)


def _settings(**changes: object) -> Settings:
    base = {"control_port": 0, "alpha_port": 0, "beta_port": 0, "gamma_port": 0}
    return Settings(rate=1000, seed=11, **(base | changes))  # type: ignore[arg-type]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """The whole simulator on free ports, without its tick thread (tests step it)."""
    simulator = Simulator(_settings(), START).start(tick=False)
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def guarded_sim() -> Iterator[Simulator]:
    """As ``sim``, with a bearer token on admin and control endpoints."""
    simulator = Simulator(_settings(token=TOKEN), START).start(tick=False)
    try:
        yield simulator
    finally:
        simulator.stop()
