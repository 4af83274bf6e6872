from datetime import timedelta

import pytest
import time_machine

from console import roles as role_names
from shifts import services
from shifts.models import Notice, RotaGap, Slot

from .conftest import T0
from .factories import RotaWeekFactory

pytestmark = pytest.mark.django_db


def test_on_call_now_reads_the_rota_week(oncall, senior):
    RotaWeekFactory(starts_at=T0, primary=oncall, secondary=senior)
    now = services.on_call_now(T0 + timedelta(days=1))
    assert (now.primary, now.secondary, now.until) == (oncall, senior, T0 + timedelta(days=7))


def test_on_call_now_until_skips_a_week_with_the_same_people(oncall, senior):
    RotaWeekFactory(starts_at=T0, primary=oncall, secondary=senior)
    RotaWeekFactory(starts_at=T0 + timedelta(days=7), primary=oncall, secondary=senior)
    RotaWeekFactory(starts_at=T0 + timedelta(days=14), primary=senior, secondary=oncall)
    assert services.on_call_now(T0).until == T0 + timedelta(days=14)


def test_on_call_now_without_rota_is_uncovered(db):
    now = services.on_call_now(T0)
    assert not now.covered and now.primary is None and now.until is None


def test_override_takes_the_primary_slot_for_its_span(oncall, senior, opslead):
    RotaWeekFactory(starts_at=T0, primary=oncall, secondary=senior)
    services.add_override(
        oncall,
        starts_at=T0 + timedelta(hours=2),
        ends_at=T0 + timedelta(hours=4),
        user=opslead,
        slot=Slot.PRIMARY,
        reason="dentist",
    )
    during = services.on_call_now(T0 + timedelta(hours=3))
    assert (during.primary, during.secondary) == (opslead, senior)
    assert during.until == T0 + timedelta(hours=4)
    assert services.on_call_now(T0 + timedelta(hours=1)).until == T0 + timedelta(hours=2)
    assert services.on_call_now(T0 + timedelta(hours=5)).primary == oncall


def test_override_by_someone_else_is_refused(oncall, senior, operator):
    from django.core.exceptions import PermissionDenied

    RotaWeekFactory(starts_at=T0, primary=oncall, secondary=senior)
    with pytest.raises(PermissionDenied):
        services.add_override(
            operator,
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            user=operator,
            reason="taking over",
        )


def test_gap_scan_raises_a_gap_before_it_happens_once(oncall, opslead):
    RotaWeekFactory(starts_at=T0, primary=oncall)
    # One day missing, and the rota ends two days before the two-week horizon.
    RotaWeekFactory(
        starts_at=T0 + timedelta(days=8), ends_at=T0 + timedelta(days=12), primary=oncall
    )
    with time_machine.travel(T0, tick=False):
        first = services.scan_rota_gaps()
        again = services.scan_rota_gaps()
    assert first == {"gaps": 2, "raised": 2}
    assert again["raised"] == 0
    gap = RotaGap.objects.get(starts_at=T0 + timedelta(days=7))
    assert gap.ends_at == T0 + timedelta(days=8)
    notices = Notice.objects.filter(user=opslead, kind=Notice.Kind.GAP)
    assert notices.count() == 2
    assert "Nobody is primary on call" in notices.first().text


def test_gap_scan_marks_a_filled_gap_resolved(oncall, opslead):
    RotaWeekFactory(starts_at=T0, primary=oncall)
    RotaWeekFactory(
        starts_at=T0 + timedelta(days=8), ends_at=T0 + timedelta(days=30), primary=oncall
    )
    with time_machine.travel(T0, tick=False):
        services.scan_rota_gaps()
        services.add_override(
            opslead,
            starts_at=T0 + timedelta(days=7),
            ends_at=T0 + timedelta(days=8),
            user=opslead,
            reason="covering the hole",
        )
        assert services.scan_rota_gaps()["gaps"] == 0
    assert RotaGap.objects.get(starts_at=T0 + timedelta(days=7)).resolved_at == T0


def test_gap_already_under_way_is_raised_once_across_scans(oncall, opslead):
    RotaWeekFactory(
        starts_at=T0 + timedelta(days=1), ends_at=T0 + timedelta(days=20), primary=oncall
    )
    with time_machine.travel(T0, tick=False):
        assert services.scan_rota_gaps()["raised"] == 1
    with time_machine.travel(T0 + timedelta(minutes=15), tick=False):
        assert services.scan_rota_gaps()["raised"] == 0
    assert RotaGap.objects.count() == 1


def test_role_members_for_oncall_come_from_the_rota(oncall, senior, roles):
    from incidents.notify import role_members

    RotaWeekFactory(starts_at=T0, primary=senior, secondary=oncall)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert role_members(role_names.ONCALL) == [senior, oncall]
        # Other roles are untouched.
        assert role_members(role_names.SENIOR) == [senior]


def test_role_members_for_oncall_fall_back_to_the_role_without_rota(oncall, senior):
    from incidents.notify import role_members

    with time_machine.travel(T0, tick=False):
        assert role_members(role_names.ONCALL) == [oncall]


def test_alert_commander_is_the_primary_on_call(oncall, senior, opslead):
    from monitoring.alert_incidents import _commander

    RotaWeekFactory(starts_at=T0, primary=senior, secondary=oncall)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert _commander() == senior
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        assert _commander() == oncall  # no rota then: the first On-call Engineer


def test_escalation_pages_the_rota_primary(incident_policy, operator, oncall, senior):
    """Matrix step 0 engages the On-call Engineer: the rota's people, not the role holders."""
    from incidents import services as incidents
    from incidents.models import Responder

    other = senior
    other.groups.add(oncall.groups.get(name=role_names.ONCALL))  # senior also holds the role
    RotaWeekFactory(starts_at=T0, primary=oncall)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        incident = incidents.declare(operator, title="t", severity="P1", summary="s")
    engaged = set(
        Responder.objects.filter(incident=incident).values_list("user__username", flat=True)
    )
    assert "oncall" in engaged and "senior" not in engaged
