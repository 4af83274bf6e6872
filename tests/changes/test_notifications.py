"""Approvers and requesters are told (issue 8): a change that starts waiting for someone's
review or approval notifies the holders of that role; the requester hears the decision. Queued
after commit through incidents.notify (console inbox, and email when the user has one)."""

import pytest

from changes import services
from console.errors import Refused
from incidents.models import Notification


def _told(event: str) -> dict[str, Notification]:
    rows = Notification.objects.filter(event=event, kind=Notification.Kind.CONSOLE)
    return {n.user.get_username(): n for n in rows}


def test_submission_tells_the_technical_reviewers_not_the_requester(
    raise_change, people, django_capture_on_commit_callbacks
):
    change = raise_change()
    with django_capture_on_commit_callbacks(execute=True):
        services.submit(people["operator"], change.pk)
    told = _told("review_requested")
    assert set(told) == {"senior"}  # the policy's reviewer role (Senior Engineer)
    note = told["senior"]
    assert note.incident is None and note.audience == Notification.Audience.CHANGES
    assert note.link == f"/changes/{change.number}/"
    assert change.number in note.subject and "Senior Engineer" in note.subject
    # With an address, by email as well (delivered by the notification scan).
    email = Notification.objects.get(event="review_requested", kind=Notification.Kind.EMAIL)
    assert email.user == people["senior"] and email.state == Notification.State.PENDING


@pytest.mark.parametrize(
    ("impact", "likelihood", "expected"),
    [
        ("low", "medium", {"engmanager"}),  # Normal → Engineering Manager
        ("high", "medium", {"director", "cab1", "cab2"}),  # High → Director and the CAB
        ("high", "high", {"vp", "cab1", "cab2"}),  # Critical → VP and the full CAB
    ],
)
def test_passing_the_review_tells_the_approval_levels_roles(
    raise_change, people, django_capture_on_commit_callbacks, impact, likelihood, expected
):
    change = raise_change(impact=impact, likelihood=likelihood)
    services.submit(people["operator"], change.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.review(people["senior"], change.pk, comment="ok")
    assert set(_told("approval_requested")) == expected


def test_a_cab_member_who_requested_the_change_is_not_asked_to_approve_it(
    raise_change, people, roles, django_capture_on_commit_callbacks
):
    people["cab1"].groups.add(roles["Operator"].group)  # a CAB member who also raises changes
    change = raise_change(impact="high", likelihood="medium", by=people["cab1"])
    services.submit(people["cab1"], change.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.review(people["senior"], change.pk, comment="ok")
    assert set(_told("approval_requested")) == {"director", "cab2"}


def test_the_requester_hears_the_approval(raise_change, people, django_capture_on_commit_callbacks):
    change = raise_change()
    services.submit(people["operator"], change.pk)
    services.review(people["senior"], change.pk, comment="ok")
    with django_capture_on_commit_callbacks(execute=True):
        services.decide(people["engmanager"], change.pk, "approve", "fine by me")
    note = _told("approved")["operator"]
    assert note.link == f"/changes/{change.number}/"
    assert "approved" in note.subject and "fine by me" in note.body


def test_the_requester_hears_a_rejection_with_its_reason(
    raise_change, people, django_capture_on_commit_callbacks
):
    change = raise_change()
    services.submit(people["operator"], change.pk)
    services.review(people["senior"], change.pk, comment="ok")
    with django_capture_on_commit_callbacks(execute=True):
        services.decide(people["engmanager"], change.pk, "reject", "no rollback test")
    assert "no rollback test" in _told("rejected")["operator"].body
    # A failed technical review is a rejection too.
    again = raise_change()
    services.submit(people["operator"], again.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.review(people["senior"], again.pk, passed=False, comment="untested")
    rejected = Notification.objects.filter(event="rejected", kind=Notification.Kind.CONSOLE)
    assert [n.user for n in rejected] == [people["operator"]] * 2


def test_a_cab_vote_that_does_not_decide_tells_no_one(
    raise_change, people, django_capture_on_commit_callbacks
):
    change = raise_change(impact="high", likelihood="medium")
    services.submit(people["operator"], change.pk)
    services.review(people["senior"], change.pk, comment="ok")
    with django_capture_on_commit_callbacks(execute=True):
        services.decide(people["director"], change.pk, "approve", "ok")
        services.decide(people["cab1"], change.pk, "approve", "ok")
    assert not Notification.objects.filter(event__in=["approved", "rejected"]).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.decide(people["cab2"], change.pk, "approve", "ok")
    assert set(_told("approved")) == {"operator"}


def test_nothing_is_queued_before_commit_nor_for_a_refused_move(
    raise_change, people, django_capture_on_commit_callbacks
):
    change = raise_change()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.submit(people["operator"], change.pk)
    assert not Notification.objects.exists()  # nothing until the transaction commits
    for callback in callbacks:
        callback()
    assert set(_told("review_requested")) == {"senior"}
    Notification.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Refused):
        services.submit(people["operator"], change.pk)  # already submitted
    assert not Notification.objects.exists()


def test_a_change_that_moved_on_before_the_callback_ran_is_not_announced(raise_change, people):
    change = raise_change()
    services.submit(people["operator"], change.pk)
    services.review(people["senior"], change.pk, comment="ok")
    assert services.notify_status(change.pk, "submitted") == 0
    assert services.notify_status(change.pk, "cab_review") == 1
