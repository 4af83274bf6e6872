from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from console.errors import Refused
from incidents.models import (
    ALLOWED_MOVES,
    Incident,
    Review,
    Status,
    TimelineEntry,
    add_business_days,
)

pytestmark = pytest.mark.django_db

ALL_PAIRS = [(a, b) for a in Status.values for b in Status.values]


def _at(incident, status):
    """Put an incident in `status` directly (fixture set-up, not a transition)."""
    incident.status = status
    if status in (Status.RESOLVED, Status.CLOSED):
        incident.resolved_at = timezone.now()
        incident.resolution_summary = "fixed"
    incident.save()
    return incident


@pytest.mark.parametrize(("frm", "to"), ALL_PAIRS)
def test_status_machine_allows_exactly_the_table(declare, operator, frm, to):
    incident = _at(declare("P3"), frm)
    entries = incident.timeline.count()
    if frm == to:
        assert incident.move_to(to, operator) is None  # a no-op
        assert incident.timeline.count() == entries
    elif to in ALLOWED_MOVES[frm]:
        entry = incident.move_to(to, operator)
        incident.refresh_from_db()
        assert incident.status == to
        assert entry.kind == TimelineEntry.Kind.STATUS
        assert entry.data == {"frm": frm, "to": to}
    else:
        with pytest.raises(Refused, match="cannot go from"):
            incident.move_to(to, operator)
        incident.refresh_from_db()
        assert incident.status == frm


def test_status_machine_closed_is_final():
    assert ALLOWED_MOVES[Status.CLOSED] == frozenset()


def test_number_format_and_sequence(declare):
    first, second = declare("P3"), declare("P4")
    day = timezone.localdate().strftime("%Y%m%d")
    assert first.number == f"INC-{day}-0001"
    assert second.number == f"INC-{day}-0002"


def test_number_day_is_the_console_time_zone(declare, settings):
    import time_machine

    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in November
    with time_machine.travel("2026-11-21 12:30:00+00:00", tick=False):
        incident = declare("P3")
    assert incident.number == "INC-20261122-0001"


def test_timeline_is_append_only(declare):
    entry = declare("P3").timeline.first()
    entry.text = "rewritten"
    with pytest.raises(PermissionDenied):
        entry.save()
    with pytest.raises(PermissionDenied):
        entry.delete()
    with pytest.raises(PermissionDenied):
        TimelineEntry.objects.all().update(text="x")
    with pytest.raises(PermissionDenied):
        TimelineEntry.objects.all().delete()


def test_deadlines_come_from_the_policy_copied_at_declaration(declare):
    incident = declare("P1")
    start = incident.declared_at
    assert incident.ack_due_at == start + timedelta(minutes=5)  # 000 Response Time Req.
    assert incident.response_due_at == start + timedelta(minutes=15)
    assert incident.update_due_at == start + timedelta(minutes=15)  # 001 P1 cadence
    # Nobody holds an executive role here, so nobody was told: the clock runs (001 P1, 30 min).
    assert incident.executive_due_at == start + timedelta(minutes=30)
    assert incident.next_escalation_at == start + timedelta(minutes=30)
    assert incident.next_timer_at == incident.ack_due_at


def test_p4_has_a_resolution_deadline_of_a_week(declare):
    incident = declare("P4")
    assert incident.resolution_due_at == incident.declared_at + timedelta(days=7)
    assert incident.update_due_at is None and incident.response_due_at is None


def test_resolving_stops_every_clock(declare, operator):
    incident = declare("P2")
    incident.move_to(Status.RESOLVED, operator)
    incident.refresh_from_db()
    assert incident.countdowns() == []
    assert incident.next_timer_at is None


def test_acknowledge_twice_is_refused_saying_by_whom(declare, operator):
    incident = declare("P2")
    incident.acknowledge(operator)
    with pytest.raises(Refused, match="already acknowledged by operator"):
        incident.acknowledge(operator)


def test_business_days_skip_weekends():
    from datetime import date

    assert add_business_days(date(2026, 11, 20), 5) == date(2026, 11, 27)  # Fri -> Fri
    assert add_business_days(date(2026, 11, 21), 5) == date(2026, 11, 27)  # Sat -> Fri


def test_review_missing_and_overdue(declare):
    incident = declare("P1")
    review = Review.objects.create(
        incident=incident, required=True, due_on=timezone.localdate() - timedelta(days=1)
    )
    assert review.overdue
    assert set(review.missing()) == set(Review.REQUIRED_FIELDS)


def test_str_and_labels(declare):
    incident = declare("P3", title="Beta backlog")
    assert str(incident).endswith("Beta backlog")
    assert Incident.objects.get(pk=incident.pk).rules()["ack_minutes"] == 30
