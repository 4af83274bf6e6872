"""The weekly change review in the reports index (issue 11 item 4; 001 "Weekly Change Review"):
built from changes.services.weekly_figures, rendered, downloaded as CSV and mailed like the
other reports."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from changes import services
from reports import mailing
from reports.models import ReportMailing
from reports.registry import get
from tests.changes.conftest import window

WEDNESDAY = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)  # TIME_ZONE is UTC in the tests
NEXT_MONDAY = datetime(2026, 6, 8, 0, 0, tzinfo=UTC)


def _in_progress(approved, people, **kwargs):
    change = approved(**kwargs)
    start, end = window()
    services.schedule(people["operator"], change.pk, start, end)
    for item in change.checklist.all():
        services.set_checklist_item(people["operator"], change.pk, item.pk, True)
    services.start(people["operator"], change.pk)
    return change


@pytest.fixture
def week(approved, people):
    """One change completed and one rolled back on Wednesday."""
    with time_machine.travel(WEDNESDAY, tick=False):
        good = _in_progress(approved, people, title='=HYPERLINK("http://evil","click")')
        services.complete(people["operator"], good.pk)
        bad = _in_progress(approved, people, modules_=("gamma",), title="Gamma routes")
        services.rollback(people["operator"], bad.pk, "errors")
    good.refresh_from_db()
    bad.refresh_from_db()
    return good, bad


def _tables(data) -> dict:
    return {t.heading: t for t in data.tables}


def test_report_counts_the_week_holding_the_instant_before_end(week):
    good, bad = week
    report = get("weekly-change-review")
    for end in (WEDNESDAY + timedelta(hours=1), NEXT_MONDAY):  # so far; the week that ended
        data = report.build(end)
        assert (data.start, data.end) == (datetime(2026, 6, 1, tzinfo=UTC), NEXT_MONDAY)
        outcomes = dict(map(tuple, _tables(data)["Outcomes"].rows))
        assert outcomes["Changes finished"] == 2
        assert outcomes["Success rate"] == "50.0 %"
        assert outcomes["Rolled back"] == 1 and outcomes["Emergency share"] == "0.0 %"
        rows = _tables(data)["Changes finished this week"].rows
        assert [r[0] for r in rows] == [good.number, bad.number]
        assert rows[1][4] == "Rolled Back"
    following = report.build(NEXT_MONDAY + timedelta(days=2))
    assert dict(map(tuple, _tables(following)["Outcomes"].rows))["Changes finished"] == 0
    assert _tables(following)["Changes finished this week"].note


def test_report_page_and_csv(client, week, people):
    good, _ = week
    client.force_login(people["viewer"])
    with time_machine.travel(NEXT_MONDAY - timedelta(hours=1), tick=False):
        assert 'id="report-weekly-change-review"' in client.get("/reports/").content.decode()
        page = client.get("/reports/weekly-change-review/")
        download = client.get("/reports/weekly-change-review.csv")
    assert page.status_code == 200 and good.number in page.content.decode()
    text = download.content.decode()
    assert download.status_code == 200 and good.number in text
    # A change's title is user input: a formula in it is neutralised in the CSV.
    assert "'=HYPERLINK(" in text and ",=HYPERLINK(" not in text


def test_report_needs_the_change_read_permission(client, week, roles):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="nobody"))
    assert client.get("/reports/weekly-change-review/").status_code == 403


def test_report_is_mailed_on_monday_with_the_week_that_ended(week):
    good, _ = week
    ReportMailing.objects.create(
        report="weekly-change-review",
        recipients="cab@example.com",
        cadence=ReportMailing.Cadence.WEEKLY,
        next_send_at=NEXT_MONDAY,
    )
    with time_machine.travel(NEXT_MONDAY, tick=False):
        assert mailing.scan_report_mailings() == 1
    [message] = mail.outbox
    assert message.subject.startswith("Weekly change review")
    assert message.attachments[0][0] == "weekly-change-review-2026-06-08.csv"
    assert good.number in message.attachments[0][1]
