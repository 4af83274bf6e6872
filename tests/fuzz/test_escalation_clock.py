"""Properties of the escalation clock (incidents: deadlines, the matrix, the periodic sweep
`scan_due`) under any sequence of sweeps, acknowledgements, severity changes and
resolutions at any times:

- after a sweep at t no matrix step due by t is left unfired (the sweep's index column
  `next_timer_at` never hides a due incident), and `next_timer_at` is past t;
- a second sweep at the same moment changes nothing (do-once), whatever came before;
- every breach was due by the sweep that recorded it, once per (timer, due);
- a resolved incident escalates no further."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from console import roles as role_names
from incidents import services
from incidents.models import Breach, Escalation, Incident, Status, step_key
from tests.factories import UserFactory

from .conftest import DB_FUZZ_SETTINGS

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEVERITIES = ["P1", "P2", "P3", "P4"]

events = st.lists(
    st.tuples(
        st.integers(0, 6 * 3600),  # seconds after the declaration
        st.sampled_from(["scan", "scan", "scan", "acknowledge", "severity", "resolve"]),
        st.sampled_from(SEVERITIES),
    ),
    min_size=1,
    max_size=8,
).map(sorted)


@pytest.fixture
def people(roles):
    from incidents import policy

    policy.load()
    people = {}
    for username, role in [
        ("operator", role_names.OPERATOR),
        ("opslead", role_names.OPS_LEAD),
        ("oncall", role_names.ONCALL),
        ("senior", role_names.SENIOR),
        ("engmanager", role_names.ENG_MANAGER),
        ("director", role_names.DIRECTOR),
        ("vp", role_names.VP),
    ]:
        people[username] = UserFactory(username=username)
        people[username].groups.add(roles[role].group)
    return people


def _counts(incident) -> tuple[int, int]:
    return incident.escalations.count(), incident.breaches.count()


def _act(people, incident, action, severity):
    """A person's move on the incident; a refusal (not allowed from this state) is fine."""
    from console.errors import Refused

    lead = people["opslead"]
    try:
        if action == "acknowledge":
            services.acknowledge(lead, incident.pk)
        elif action == "severity":
            services.change_severity(lead, incident.pk, severity, reason="Scope changed")
        elif action == "resolve":
            services.move(lead, incident.pk, Status.RESOLVED, resolution_summary="Restarted.")
    except Refused:
        pass


@DB_FUZZ_SETTINGS
@given(st.sampled_from(SEVERITIES), events)
def test_escalation_clock_never_misses_or_repeats_a_step(people, severity, events):
    Incident.objects.all().delete()
    with time_machine.travel(T0, tick=False):
        incident = services.declare(
            people["operator"], title="Beta stalled", severity=severity, summary="No records."
        )
    resolved_with = None
    for offset, action, new_severity in events:
        now = T0 + timedelta(seconds=offset)
        with time_machine.travel(now, tick=False):
            if action != "scan":
                _act(people, incident, action, new_severity)
                continue
            services.scan_due(now)
            incident.refresh_from_db()
            if incident.is_active:
                fired = incident.fired_keys()
                for step in incident.matrix():
                    if T0 + timedelta(minutes=step["after_minutes"]) <= now:
                        assert step_key(incident.severity, step["step"]) in fired, (now, step)
            assert incident.next_timer_at is None or incident.next_timer_at > now
            assert not incident.breaches.filter(due_at__gt=now).exists()
            before = _counts(incident)
            services.scan_due(now)
            assert _counts(incident) == before
        if incident.status == Status.RESOLVED and resolved_with is None:
            resolved_with = incident.escalations.count()
        if resolved_with is not None:
            assert incident.escalations.count() == resolved_with
    # Do-once, by the database's constraints: each step and each (timer, due) once.
    steps = Escalation.objects.filter(incident=incident)
    assert steps.values("key").distinct().count() == steps.count()
    breaches = Breach.objects.filter(incident=incident)
    assert breaches.values("timer", "due_at").distinct().count() == breaches.count()
