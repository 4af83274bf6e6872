"""The risk matrix, approval levels as data, numbering and the table of allowed moves."""

import pytest
from django.utils import timezone

from changes import services
from changes.models import ALLOWED_MOVES, ApprovalLevel, Change, Status
from console.errors import Refused

# 001 "Risk Assessment Matrix", every cell.
MATRIX = [
    ("low", "low", "standard"),
    ("low", "medium", "normal"),
    ("low", "high", "normal"),
    ("medium", "low", "normal"),
    ("medium", "medium", "normal"),
    ("medium", "high", "high_risk"),
    ("high", "low", "normal"),
    ("high", "medium", "high_risk"),
    ("high", "high", "critical"),
]


@pytest.mark.parametrize(("impact", "likelihood", "risk"), MATRIX)
def test_risk_matrix_every_cell(policy, impact, likelihood, risk):
    assert services.compute_risk(impact, likelihood) == risk


def test_risk_matrix_refuses_unknown_levels(policy):
    with pytest.raises(Refused) as exc:
        services.compute_risk("huge", "low")
    assert exc.value.code == 400


def test_risk_matrix_is_data_edited_in_the_database(policy):
    from changes.models import RiskCell

    RiskCell.objects.filter(impact="low", likelihood="high").update(risk="high_risk")
    assert services.compute_risk("low", "high") == "high_risk"


def test_approval_levels_follow_the_manual(policy):
    levels = {level.risk: level for level in ApprovalLevel.objects.all()}
    assert levels["standard"].approver_role == "Operations Lead"
    assert levels["normal"].approver_role == "Engineering Manager"
    assert (levels["high_risk"].approver_role, levels["high_risk"].cab) == ("Director", "quorum")
    assert (levels["critical"].approver_role, levels["critical"].cab) == ("VP/CTO", "full")


@pytest.mark.parametrize(
    ("cab", "percent", "members", "needed"),
    [
        ("quorum", 50, 2, 2),  # a majority of two is both
        ("quorum", 50, 3, 2),
        ("quorum", 50, 5, 3),
        ("quorum", 33, 6, 2),
        ("full", 50, 4, 4),
        ("none", 50, 4, 0),
    ],
)
def test_quorum_rule(cab, percent, members, needed):
    level = ApprovalLevel(risk="high_risk", cab=cab, quorum_percent=percent)
    assert level.votes_needed(members) == needed


def test_change_numbers_are_per_day_and_without_gaps(raise_change):
    first, second = raise_change(), raise_change()
    day = timezone.localdate()
    assert first.number == f"CHG-{day:%Y}-{day:%m%d}-001"
    assert second.number == f"CHG-{day:%Y}-{day:%m%d}-002"


@pytest.mark.parametrize("frm", list(Status))
@pytest.mark.parametrize("to", list(Status))
def test_move_table_every_pair(raise_change, frm, to):
    change = raise_change()
    Change.objects.filter(pk=change.pk).update(status=frm)
    change.refresh_from_db()
    if frm == to:
        assert change.move_to(to, None) is None
    elif to in ALLOWED_MOVES[frm]:
        change.move_to(to, None)
        change.refresh_from_db()
        assert change.status == to
    else:
        with pytest.raises(Refused):
            change.move_to(to, None)
        change.refresh_from_db()
        assert change.status == frm
