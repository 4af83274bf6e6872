"""CSV exports are safe to open in a spreadsheet (OWASP "CSV injection", ASVS 5.0 1.2.10):
every text cell that starts with = + - @ tab or CR is prefixed with ', on every CSV the
console produces — report downloads, report mail attachments, the daily summary and a
module's DLQ export passed through from the module."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from console.exports import defuse_csv
from monitoring import actions
from reports import mailing, registry
from reports.models import ReportMailing
from shifts.models import LogEntry
from tests.factories import UserFactory
from tests.monitoring.jobs_support import (  # noqa: F401 (fixtures)
    action_roles,
    modules,
    sim,
    step,
    without_change_control,
)
from tests.shifts.factories import LogEntryFactory
from tests.simulator.support import call

ROOT = Path(__file__).resolve().parents[2]
FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]
APPS = ["console", "incidents", "changes", "shifts", "monitoring", "reports"]


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _assert_inert(text: str, planted: list[str]) -> None:
    cells = _cells(text)
    for formula in planted:
        assert "'" + formula in cells, f"{formula!r} not found defused"
    dangerous = [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    assert dangerous == []


def test_every_csv_the_console_produces_is_covered_here():
    """A new CSV writer or download would escape these tests: name it here and test it."""
    writers, downloads = set(), set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            name = str(path.relative_to(ROOT))
            if re.search(r"csv\.(writer|DictWriter)\(", text):
                writers.add(name)
            if "text/csv" in text:
                downloads.add(name)
    assert writers == {"console/exports.py", "reports/export.py"}
    assert downloads == {
        "console/exports.py",
        "reports/views.py",
        "reports/mailing.py",
        "monitoring/action_views.py",
    }


def test_defuse_csv_prefixes_every_formula_cell():
    out = io.StringIO()
    csv.writer(out).writerows([["a", "b"], *([f, "x"] for f in FORMULAS)])
    _assert_inert(defuse_csv(out.getvalue()), FORMULAS)


@pytest.fixture
def superuser(roles):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def _plant(user):
    """User text starting with a formula where reports pick it up: incident titles (weekly and
    monthly reports), manual interventions (the daily summary)."""
    from incidents import policy, services

    policy.load()
    for formula in FORMULAS:
        services.declare(user, severity="P3", title=formula, summary="s")
    LogEntryFactory(
        kind=LogEntry.Kind.MANUAL,
        text=FORMULAS[0],
        author=user,
        justification="j",
        actions="a",
        verification="v",
        side_effects="none",
    )


def test_report_downloads_and_attachments_are_defused(client, superuser):
    _plant(superuser)
    client.force_login(superuser)
    found = {}
    for report in registry.REPORTS:
        response = client.get(f"/reports/{report.key}.csv")
        assert response.status_code == 200, report.key
        text = response.content.decode()
        found[report.key] = [f for f in FORMULAS if "'" + f in _cells(text)]
        _assert_inert(text, found[report.key])
    # Titles are stripped when saved, so the tab and CR ones arrive as "cmd" and "=1".
    assert set(found["weekly-performance"]) >= set(FORMULAS[:4])  # the titles reached it
    assert found["daily-operations"] == [FORMULAS[0]]  # and the manual intervention
    # The same CSV mailed as an attachment.
    subscription = ReportMailing.objects.create(
        report="weekly-performance",
        recipients="a@example.com",
        cadence=ReportMailing.Cadence.WEEKLY,
        next_send_at=timezone.now(),
        created_by=superuser,
    )
    mailing.send(subscription, timezone.now())
    (attachment,) = [a for m in mail.outbox for a in m.attachments]
    _assert_inert(attachment[1], FORMULAS[:4])


def test_daily_summary_csv_is_defused(client, superuser):
    _plant(superuser)
    client.force_login(superuser)
    response = client.get("/shifts/summary/?format=csv")
    assert response.status_code == 200
    _assert_inert(response.content.decode(), [FORMULAS[0]])


@pytest.mark.usefixtures("without_change_control", "action_roles")
def test_dlq_export_passed_through_from_a_module_is_defused(client, opslead, sim, modules):  # noqa: F811
    call("POST", sim.urls()["gamma"] + "/admin/faults", {"scenario": "destination-down"})
    step(sim, 30)
    # What a module writes in a DLQ cell comes from the records it carries.
    entry = next(iter(sim.pipeline.gamma.dlq._entries.values()))
    entry.source, entry.destination = FORMULAS[0], FORMULAS[3]
    client.force_login(opslead)
    response = client.post(
        "/monitoring/actions/gamma/dlq_export/run/",
        {"format": "csv", "confirm": "yes", "idempotency_key": actions.new_key()},
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    _assert_inert(response.content.decode(), [FORMULAS[0], FORMULAS[3]])
