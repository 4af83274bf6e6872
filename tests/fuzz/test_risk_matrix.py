"""Properties of the risk matrix (001 "Risk Assessment Matrix", changes.services.compute_risk):
every impact × likelihood has exactly one level, raising either never lowers it, the corners
are the manual's Standard and Critical, anything else is a 400 refusal, and the change takes
the level its matrix gives."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changes.models import Level, Risk
from changes.models.policy import RISK_ORDER
from changes.services import compute_risk
from console.errors import Refused

from .conftest import DB_FUZZ_SETTINGS

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

LEVELS = [Level.LOW, Level.MEDIUM, Level.HIGH]  # in order
levels = st.sampled_from(LEVELS)


@pytest.fixture
def matrix(db):
    from changes import policy

    policy.load()


def _rank(level: str) -> int:
    return LEVELS.index(level)


@DB_FUZZ_SETTINGS
@given(levels, levels, levels, levels)
def test_risk_never_falls_when_impact_or_likelihood_rises(matrix, i1, l1, i2, l2):
    if _rank(i1) <= _rank(i2) and _rank(l1) <= _rank(l2):
        lower, higher = compute_risk(i1, l1), compute_risk(i2, l2)
        assert RISK_ORDER[Risk(lower)] <= RISK_ORDER[Risk(higher)]


def test_risk_matrix_is_total_with_the_manuals_corners(matrix):
    cells = {(i, lk): compute_risk(i, lk) for i in LEVELS for lk in LEVELS}
    assert set(cells.values()) <= set(Risk.values)
    assert cells[Level.LOW, Level.LOW] == Risk.STANDARD
    assert cells[Level.HIGH, Level.HIGH] == Risk.CRITICAL


@DB_FUZZ_SETTINGS
@given(st.text(max_size=10) | levels, st.text(max_size=10) | levels)
def test_risk_of_anything_else_is_a_400_refusal(matrix, impact, likelihood):
    if impact in Level.values and likelihood in Level.values:
        assert compute_risk(impact, likelihood) in Risk.values
        return
    with pytest.raises(Refused) as refused:
        compute_risk(impact, likelihood)
    assert refused.value.code == 400


@DB_FUZZ_SETTINGS
@given(levels, levels)
def test_a_change_takes_the_level_its_matrix_gives(matrix, roles, impact, likelihood):
    from changes import services
    from changes.demo import FORM
    from monitoring.models import Module
    from tests.factories import UserFactory

    Module.objects.get_or_create(name="alpha", defaults={"kind": "alpha", "base_url": "http://a"})
    requester = UserFactory(username="requester")
    requester.groups.add(roles["Operator"].group)
    change = services.create(
        requester,
        title="Rotate certificates",
        description="Rotate.",
        impact=impact,
        likelihood=likelihood,
        affected_modules=["alpha"],
        **FORM,
    )
    assert change.risk == compute_risk(impact, likelihood)
