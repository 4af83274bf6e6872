from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.utils import timezone
from icalendar import Calendar

from shifts import services
from shifts.models import Handoff, LogEntry

from .conftest import T0
from .factories import RotaWeekFactory, ShiftFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "/shifts/",
    "/shifts/calendar/",
    "/shifts/checklists/morning/",
    "/shifts/log/",
    "/shifts/handoff/",
    "/shifts/oncall/",
    "/shifts/summary/",
]


@pytest.mark.parametrize("url", PAGES)
def test_pages_triad(client, url, checklists, operator, outsider):
    assert client.get(url).status_code == 302  # anonymous -> sign in
    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.force_login(operator)
    assert client.get(url).status_code == 200


def test_index_board_fragment_for_htmx(client, checklists, operator):
    client.force_login(operator)
    response = client.get("/shifts/?fragment=board", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'id="shift-board"' in response.content and b"<html" not in response.content


def test_header_shows_who_is_on_call(client, operator, oncall, senior):
    RotaWeekFactory(starts_at=timezone.now() - timedelta(days=1), primary=oncall, secondary=senior)
    client.force_login(operator)
    html = client.get("/shifts/log/").content.decode()
    badge = html[html.index('id="oncall-now"') :][:800]
    assert "oncall</a>" in badge and "/ senior" in badge


def test_header_says_gap_without_rota(client, operator):
    client.force_login(operator)
    html = client.get("/shifts/log/").content.decode()
    assert "nobody (rota gap)" in html


def test_checklist_shows_live_evidence_from_monitoring(client, checklists, operator):
    from monitoring.models import MetricStatus, Module, Threshold
    from monitoring.policy import load

    load()
    beta = Module.objects.create(
        name="beta",
        kind="beta",
        base_url="http://b:1",
        status="HEALTHY",
        last_success_at=timezone.now(),
        last_polled_at=timezone.now(),
    )
    threshold = Threshold.objects.get(key="beta-queue-depth")
    now = timezone.now()
    MetricStatus.objects.create(
        threshold=threshold,
        module=beta,
        value=4200,
        level="WARNING",
        evaluated_at=now,
        changed_at=now,
    )
    client.force_login(operator)
    html = client.get("/shifts/checklists/morning/").content.decode()
    queue_item = html[html.index('id="item-queue-depths"') :][:3000]
    assert "beta Queue depth" in queue_item and "4,200" in queue_item
    assert 'data-evidence-level="warning"' in queue_item
    modules_item = html[html.index('id="item-modules-healthy"') :][:2000]
    assert "beta" in modules_item and "HEALTHY" in modules_item


def test_tick_through_the_page_and_refusal_message(client, checklists, operator):
    from shifts.models import ChecklistTemplate

    item = ChecklistTemplate.objects.get(key="morning").items.get(key="dlq")
    client.force_login(operator)
    response = client.post(
        "/shifts/checklists/morning/tick/",
        {"item": item.pk, "result": "deviation", "note": ""},
        HTTP_HX_REQUEST="true",
    )
    assert b"needs a note" in response.content and response["X-Refused-Status"] == "400"
    response = client.post(
        "/shifts/checklists/morning/tick/",
        {"item": item.pk, "result": "ok"},
        HTTP_HX_REQUEST="true",
    )
    assert b"Ticked." in response.content


def test_viewer_cannot_tick(client, checklists, viewer):
    client.force_login(viewer)
    from shifts.models import ChecklistRun, ChecklistTick

    response = client.post("/shifts/checklists/morning/tick/", {"item": 1, "result": "ok"})
    assert response.status_code == 302
    assert not ChecklistRun.objects.exists() and not ChecklistTick.objects.exists()


def test_log_form_errors_are_shown(client, operator):
    client.force_login(operator)
    response = client.post(
        "/shifts/log/add/", {"kind": "manual", "text": "x"}, HTTP_HX_REQUEST="true"
    )
    assert b"justification" in response.content
    response = client.post(
        "/shifts/log/add/", {"kind": "note", "text": "all calm"}, HTTP_HX_REQUEST="true"
    )
    assert b"Logged." in response.content
    assert LogEntry.objects.get().author == operator


def test_get_never_changes_data(client, operator, oncall):
    client.force_login(operator)
    client.get("/shifts/handoff/")
    assert not Handoff.objects.exists()


def test_handoff_autosave_endpoint(client, operator, oncall):
    handoff = services.start_handoff(operator, incoming=oncall)
    client.force_login(operator)
    url = f"/shifts/handoffs/{handoff.pk}/draft/"
    response = client.post(url, {"items_to_watch": "beta queue creeping"}, HTTP_HX_REQUEST="true")
    assert b"Draft saved" in response.content
    handoff.refresh_from_db()
    assert handoff.items_to_watch == "beta queue creeping"
    page = client.get(f"/shifts/handoffs/{handoff.pk}/").content.decode()
    assert "beta queue creeping" in page  # a reload shows what was typed


def test_handoff_page_refuses_non_incoming_signature(client, operator, oncall, opslead):
    handoff = services.start_handoff(operator, incoming=oncall)
    client.force_login(opslead)
    response = client.post(f"/shifts/handoffs/{handoff.pk}/sign/", HTTP_HX_REQUEST="true")
    assert b"Only the outgoing or the incoming" in response.content
    assert response["X-Refused-Status"] == "403"


def test_ical_feed_lists_the_persons_shifts_and_weeks(client, operator, oncall):
    now = timezone.now().replace(microsecond=0)
    shift = ShiftFactory(starts_at=now, primary=operator, notes="Day shift")
    RotaWeekFactory(starts_at=now, primary=oncall, secondary=operator)
    ShiftFactory(starts_at=now, primary=oncall)  # not operator's
    token = signing.dumps(operator.pk, salt="shifts.ical")
    response = client.get(f"/shifts/ical/{token}.ics")  # no sign-in: the token is the key
    assert response["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(response.content)
    events = {str(e["summary"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {"Shift (primary)", "On call (secondary)"}
    assert events["Shift (primary)"].decoded("dtstart") == shift.starts_at
    assert str(events["Shift (primary)"]["description"]) == "Day shift"
    assert client.get("/shifts/ical/forged.ics").status_code == 404


def test_summary_csv_and_print(client, operator):
    LogEntry.objects.create(
        kind="manual", text="Restarted beta", actions="restart", author=operator
    )
    client.force_login(operator)
    response = client.get("/shifts/summary/?format=csv")
    assert response["Content-Disposition"].startswith("attachment")
    rows = response.content.decode().splitlines()
    assert rows[0] == "section,item,value"
    assert any(r.startswith("manual intervention,operator,Restarted beta") for r in rows)
    printable = client.get("/shifts/summary/?format=print")
    assert (
        b"Daily operations summary" in printable.content and b"Restarted beta" in printable.content
    )
    assert client.get("/shifts/summary/?day=not-a-date").status_code == 200


def test_summary_lists_the_days_job_runs_and_defuses_formulas_in_the_csv(client, operator):
    with time_machine.travel("2026-11-21 12:00:00Z", tick=False):
        from django.utils import timezone

        from monitoring.models import Job, JobRun
        from monitoring.policy import load_jobs

        load_jobs()
        job = Job.objects.get(name="alpha_source_sync")
        now = timezone.now()
        for minutes, status, error in [(5, "failed", '=HYPERLINK("http://x")'), (6, "success", "")]:
            JobRun.objects.create(
                job=job,
                trigger="schedule",
                scheduled_for=now - timedelta(minutes=minutes),
                status=status,
                error=error,
            )
        LogEntry.objects.create(
            kind="manual",
            text="@SUM(1)",
            actions="x",
            author=operator,
            at=now - timedelta(minutes=1),
        )
        client.force_login(operator)
        page = client.get("/shifts/summary/").content.decode()
        assert "Batch jobs · 1 failed · 1 success" in page or "1 success · 1 failed" in page
        assert "alpha_source_sync" in page
        rows = client.get("/shifts/summary/?format=csv").content.decode().splitlines()
        job_rows = [r for r in rows if r.startswith("job run,alpha_source_sync")]
        assert len(job_rows) == 1 and "Failed" in job_rows[0]
        assert any(r.startswith("manual intervention,operator,'@SUM(1)") for r in rows)


def test_summary_counts_records_from_the_store(client, operator):
    from monitoring.models import Module, Sample, Series

    module = Module.objects.create(name="gamma", kind="gamma", base_url="http://g:1")
    series = Series.objects.create(
        module=module, name="gamma_records_delivered_total", labels={}, labels_key=""
    )
    with time_machine.travel(T0.replace(hour=12), tick=False):
        for minutes, value in [(0, 100), (1, 250), (2, 40), (3, 90)]:  # a reset at minute 2
            Sample.objects.create(
                series=series, ts=T0.replace(hour=10, minute=minutes), value=value
            )
        from shifts.summary import build

        report = build(T0.date())
    delivered = dict(report.records)["Records delivered (Gamma)"]
    assert delivered == 150 + 40 + 50


def test_calendar_forms(client, opslead, operator, oncall):
    client.force_login(opslead)
    start = timezone.localtime().replace(second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M"
    response = client.post(
        "/shifts/calendar/shifts/add/",
        {
            "starts_at": start.strftime(fmt),
            "ends_at": (start + timedelta(hours=8)).strftime(fmt),
            "primary": operator.pk,
        },
        HTTP_HX_REQUEST="true",
    )
    assert b"Shift added." in response.content
    response = client.post(
        "/shifts/calendar/shifts/add/",
        {"starts_at": start.strftime(fmt), "ends_at": start.strftime(fmt), "primary": operator.pk},
        HTTP_HX_REQUEST="true",
    )
    assert b"end must be after" in response.content
    client.force_login(operator)
    response = client.post(
        "/shifts/calendar/rota/add/",
        {"starts_at": start.strftime(fmt), "primary": operator.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response["X-Refused-Status"] == "403"


def test_swap_through_the_calendar(client, operator, oncall):
    a = ShiftFactory(starts_at=T0, primary=operator)
    b = ShiftFactory(starts_at=T0 + timedelta(days=1), primary=oncall)
    client.force_login(operator)
    response = client.post(
        "/shifts/calendar/shifts/swap/", {"first": a.pk, "second": b.pk}, HTTP_HX_REQUEST="true"
    )
    assert b"Shifts swapped." in response.content
    a.refresh_from_db()
    assert a.primary == oncall
    response = client.post(
        "/shifts/calendar/shifts/swap/", {"first": "x", "second": b.pk}, HTTP_HX_REQUEST="true"
    )
    assert b"Give two shift numbers" in response.content


def test_calendar_and_index_queries_are_bounded(
    client, checklists, operator, oncall, django_assert_max_num_queries
):
    now = timezone.now()
    RotaWeekFactory(starts_at=now - timedelta(days=1), primary=oncall)
    for day in range(14):
        ShiftFactory(starts_at=now + timedelta(days=day), primary=operator)
    client.force_login(operator)
    with django_assert_max_num_queries(30):
        assert client.get("/shifts/calendar/").status_code == 200
    with django_assert_max_num_queries(30):
        assert client.get("/shifts/").status_code == 200


def test_live_topics_need_the_view_permission(operator, outsider):
    from console import live

    assert live.may_subscribe(operator, "shifts")
    assert live.may_subscribe(operator, "handoff.3")
    assert not live.may_subscribe(outsider, "shifts")
    assert not live.may_subscribe(operator, "handoff.x")


def test_sign_publishes_to_the_handoff_page(operator, oncall, django_capture_on_commit_callbacks):
    from unittest import mock

    handoff = services.start_handoff(operator, incoming=oncall)
    with mock.patch("console.live.send_now") as send:
        with django_capture_on_commit_callbacks(execute=True):
            services.sign(operator, handoff.pk)
    topics = {call.args[0] for call in send.call_args_list}
    assert {f"handoff.{handoff.pk}", "shifts"} <= topics


def test_tasks_call_the_scans(opslead, operator):
    from shifts import tasks

    services.create_shift(opslead, starts_at=T0, ends_at=T0 + timedelta(hours=8), primary=operator)
    with time_machine.travel(T0 + timedelta(hours=7, minutes=50), tick=False):
        assert tasks.scan_shift_reminders() == 1
        assert tasks.scan_rota_gaps() == {"gaps": 1, "raised": 1}


def test_admin_pages(client, checklists, operator, oncall):
    from tests.factories import UserFactory

    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    services.start_handoff(operator, incoming=oncall)
    LogEntry.objects.create(kind="note", text="t", author=operator)
    client.force_login(admin)
    for model in [
        "checklisttemplate",
        "escalationcontact",
        "shift",
        "rotaweek",
        "override",
        "rotagap",
        "notice",
        "checklistrun",
        "checklisttick",
        "logentry",
        "handoff",
    ]:
        assert client.get(f"/admin/shifts/{model}/").status_code == 200, model
    template = services.ChecklistTemplate.objects.get(key="morning")
    assert client.get(f"/admin/shifts/checklisttemplate/{template.pk}/change/").status_code == 200


def test_past_checklist_is_shown_without_tick_forms(client, checklists, operator):
    client.force_login(operator)
    today = client.get("/shifts/checklists/midday/").content
    past = client.get("/shifts/checklists/midday/?day=2020-01-01").content
    assert b"tick-form" in today and b"tick-form" not in past
    assert b"Late: not completed" in past
