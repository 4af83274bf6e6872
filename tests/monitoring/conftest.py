import pytest

from monitoring.services import forget_baselines
from monitoring.store import forget_series_cache

# The real simulator and the job catalogue for the job and action tests (issue 10).
from tests.monitoring.jobs_support import (  # noqa: F401
    action_roles,
    catalogue,
    modules,
    sim,
    without_change_control,
)


@pytest.fixture(autouse=True)
def _fresh_series_cache():
    """Series ids and baselines are cached per process; each test's database starts afresh."""
    forget_series_cache()
    forget_baselines()
    yield
    forget_series_cache()
    forget_baselines()
