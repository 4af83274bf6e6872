"""Live topics for change pages, the beat task for timers, and the demo data."""

from datetime import timedelta
from unittest import mock

from django.utils import timezone

from changes import services
from console import live


def test_actions_publish_the_change_and_list_topics(
    raise_change, people, django_capture_on_commit_callbacks
):
    change = raise_change()
    with mock.patch.object(live, "send_now") as send:
        with django_capture_on_commit_callbacks(execute=True):
            services.submit(people["operator"], change.pk)
    topics = {call.args[0] for call in send.call_args_list}
    assert {f"change.{change.pk}", "changes", "audit"} <= topics


def test_who_may_subscribe(raise_change, people, outsider):
    change = raise_change()
    assert live.may_subscribe(people["viewer"], f"change.{change.pk}")
    assert live.may_subscribe(people["cab1"], "changes")
    assert not live.may_subscribe(outsider, f"change.{change.pk}")
    assert not live.may_subscribe(outsider, "changes")


def test_timer_task_notes_overdue_reviews(approved, people):
    import time_machine

    from changes.tasks import scan_change_timers

    change = approved()
    start = timezone.now() + timedelta(hours=1)
    services.schedule(people["operator"], change.pk, start, start + timedelta(hours=1))
    change.checklist.update(done_at=timezone.now())
    services.start(people["operator"], change.pk)
    services.complete(people["operator"], change.pk)
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        assert scan_change_timers() == {"formal": 0, "review": 1}


def test_demo_data_in_various_states_and_freezes_clear_of_the_weekly_window(
    policy, modules, people
):
    from changes.demo import seed
    from changes.models import Change, Freeze

    seed()
    statuses = set(Change.objects.values_list("status", flat=True))
    assert {"draft", "cab_review", "scheduled", "reviewed", "rolled_back", "approved"} <= statuses
    assert Change.objects.filter(type="emergency", formal_due_at__isnull=False).exists()
    scheduled = Change.objects.get(status="scheduled")
    local = timezone.localtime(scheduled.scheduled_start)
    assert (local.weekday(), local.hour) == (6, 2)  # Sunday 02:00 (000 weekly window)
    freezes = list(Freeze.objects.all())
    assert freezes
    for freeze in freezes:
        at = freeze.starts_at
        while at < freeze.ends_at:
            local = timezone.localtime(at)
            assert not (local.weekday() == 6 and 2 <= local.hour < 6), freeze.name
            at += timedelta(hours=1)
    seed()  # idempotent
    assert Change.objects.count() == 6
