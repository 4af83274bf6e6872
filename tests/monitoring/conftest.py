import pytest

from monitoring.store import forget_series_cache


@pytest.fixture(autouse=True)
def _fresh_series_cache():
    """Series ids are cached per process; each test's database starts afresh."""
    forget_series_cache()
    yield
    forget_series_cache()
