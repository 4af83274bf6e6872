import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from console.models import AuditEntry
from monitoring.models import Module
from monitoring.policy import load_capacity_and_backups
from reports import mailing
from reports.export import safe_cell, to_csv
from reports.models import ReportMailing
from reports.registry import REPORTS, ReportData, Table, get
from tests.monitoring.factories import ModuleFactory, write_hourly_counter

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(db):
    """Four months of Beta throughput at 5 %/month and a little of Alpha's."""
    load_capacity_and_backups()
    beta = ModuleFactory(name="beta", kind=Module.Kind.BETA)
    hours = 120 * 24
    rates = [3000 * 1.05 ** (i / 24 / 30.4375) for i in range(hours)]
    write_hourly_counter(beta, "beta_records_transformed_total", rates, NOW)
    alpha = ModuleFactory(name="alpha", kind=Module.Kind.ALPHA)
    write_hourly_counter(alpha, "alpha_records_ingested_total", [1000.0] * 24 * 10, NOW)
    write_hourly_counter(alpha, "alpha_parse_errors_total", [1.0] * 24 * 10, NOW)
    return beta


# --- CSV safety ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (None, ""),
        (42, "42"),
        (-1.5, "'-1.5"),
    ],
)
def test_safe_cell_quotes_what_a_spreadsheet_would_run(value, expected):
    assert safe_cell(value) == expected


def test_csv_quotes_every_formula_cell_including_headings():
    data = ReportData(
        "=title",
        NOW,
        NOW,
        tables=[Table("@heading", ["+col"], [["=1+1", "ok"]], note="-note")],
        notes=["=cmd|' /C calc'!A0"],
    )
    rows = list(csv.reader(io.StringIO(to_csv(data))))
    cells = [cell for row in rows for cell in row if cell]
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert ["'=1+1", "ok"] in rows


# --- the registry and the reports ----------------------------------------------------------


def test_registry_keys_are_unique_and_builders_import():
    keys = [r.key for r in REPORTS]
    assert len(keys) == len(set(keys))
    for report in REPORTS:
        assert callable(report.build)


def test_weekly_performance_summary_answers_from_data(history):
    from incidents.models import Incident  # noqa: F401  (the table exists even when empty)

    data = get("weekly-performance").build(NOW)
    tables = {t.heading: t for t in data.tables}
    assert set(tables) >= {"Throughput", "Quality", "Uptime", "Error rate", "Incidents"}
    beta_row = next(r for r in tables["Throughput"].rows if r[0].startswith("Beta"))
    expected_peak = 3000 * 1.05 ** ((120 * 24 - 1) / 24 / 30.4375)
    assert beta_row[2] == f"{expected_peak:,.0f}"
    errors = dict(tables["Error rate"].rows)
    assert errors["Alpha parse errors"] == "0.100 %"  # 1 error per 1,000 records
    assert errors["Gamma delivery failures"] == "no data"


def test_monthly_capacity_review_answers_every_checklist_item(history):
    data = get("monthly-capacity").build(NOW)
    headings = [t.heading for t in data.tables]
    assert headings == [
        "1. Review throughput trends",
        "2. Check storage utilization growth",
        "3. Analyze compute utilization patterns",
        "4. Compare actual vs. projected growth",
        "5. Identify bottlenecks or hot spots",
        "6. Update capacity forecast",
        "7. Findings and recommendations",
    ]
    tables = {t.heading: t for t in data.tables}
    trend = next(r for r in tables["1. Review throughput trends"].rows if r[0].startswith("Beta"))
    # 30-day averages a month apart at 5 %/month: about +5 %.
    assert trend[3] == f"{(1.05 ** (30 / 30.4375) - 1) * 100:+.1f} %"  # +4.9 %
    compare = next(
        r for r in tables["4. Compare actual vs. projected growth"].rows if r[0].startswith("Beta")
    )
    assert compare[1] == "5.0 %"
    assert abs(float(compare[4].split()[0])) <= 0.5  # steady growth: as projected
    alpha = next(
        r for r in tables["4. Compare actual vs. projected growth"].rows if r[0].startswith("Alpha")
    )
    assert "days of history a month ago" in alpha[4]  # short history: no comparison
    forecast = tables["6. Update capacity forecast"].rows
    assert any(r[0].startswith("Beta") and r[1] == "12 months" for r in forecast)
    assert any("only 9 days of history" in r[1] for r in forecast if r[0].startswith("Alpha"))


# --- views ---------------------------------------------------------------------------------

URLS = ["/reports/", "/reports/weekly-performance/", "/reports/monthly-capacity.csv"]


@pytest.mark.parametrize("url", URLS)
def test_report_views_need_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("url", URLS)
def test_report_views_refuse_users_without_permission(client, outsider, url):
    client.force_login(outsider)
    assert client.get(url).status_code == 403


def test_report_index_lists_the_registry(client, viewer):
    client.force_login(viewer)
    body = client.get("/reports/").content.decode()
    for report in REPORTS:
        assert f'id="report-{report.key}"' in body
    assert "Scheduled mailings" not in body  # a viewer does not see the mailing list


def test_unknown_report_is_404(client, viewer):
    client.force_login(viewer)
    assert client.get("/reports/nope/").status_code == 404
    assert client.get("/reports/nope.csv").status_code == 404


@pytest.mark.parametrize("key", [r.key for r in REPORTS])
def test_each_report_renders_and_downloads(client, history, viewer, key):
    client.force_login(viewer)
    with time_machine.travel(NOW, tick=False):
        page = client.get(f"/reports/{key}/")
        download = client.get(f"/reports/{key}.csv")
    assert page.status_code == 200
    assert 'id="report-body"' in page.content.decode() and "data-print" in page.content.decode()
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert f'filename="{key}-2026-06-01.csv"' in download["Content-Disposition"]


def test_weekly_csv_neutralises_a_formula_in_an_incident_title(client, history, viewer, operator):
    from incidents import services
    from incidents.policy import load as load_incident_policy

    load_incident_policy()
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        services.declare(
            operator, title='=HYPERLINK("http://evil","click")', severity="P2", summary="x"
        )
    client.force_login(viewer)
    with time_machine.travel(NOW, tick=False):
        text = client.get("/reports/weekly-performance.csv").content.decode()
    assert "'=HYPERLINK(" in text
    assert ",=HYPERLINK(" not in text and '"=HYPERLINK(' not in text


# --- scheduled mailing ---------------------------------------------------------------------


def test_due_mailing_is_sent_once_and_moves_on(history):
    mailing_row = ReportMailing.objects.create(
        report="weekly-performance",
        recipients="ops@example.com,\nlead@example.com",
        cadence=ReportMailing.Cadence.WEEKLY,
        next_send_at=NOW - timedelta(days=15),  # two periods missed: sent once, not three times
    )
    with time_machine.travel(NOW, tick=False):
        assert mailing.scan_report_mailings() == 1
        assert mailing.scan_report_mailings() == 0
    [message] = mail.outbox
    assert message.to == ["ops@example.com", "lead@example.com"]
    assert message.subject.startswith("Weekly performance summary")
    assert message.attachments[0][0] == "weekly-performance-2026-06-01.csv"
    assert 'id="report-body"' in message.alternatives[0][0]
    mailing_row.refresh_from_db()
    assert mailing_row.last_sent_at == NOW
    assert mailing_row.next_send_at == NOW - timedelta(days=15) + timedelta(days=21)
    assert AuditEntry.objects.filter(action="report.mailed").count() == 1


def test_mailing_not_due_or_disabled_is_not_sent(history):
    ReportMailing.objects.create(
        report="weekly-performance",
        recipients="a@example.com",
        cadence="weekly",
        next_send_at=NOW + timedelta(minutes=1),
    )
    ReportMailing.objects.create(
        report="weekly-performance",
        recipients="b@example.com",
        cadence="weekly",
        next_send_at=NOW - timedelta(days=1),
        enabled=False,
    )
    with time_machine.travel(NOW, tick=False):
        assert mailing.scan_report_mailings() == 0
    assert mail.outbox == []


def test_monthly_cadence_keeps_the_day_or_the_months_last():
    assert mailing.next_time(datetime(2026, 1, 31, 6, tzinfo=UTC), "monthly") == datetime(
        2026, 2, 28, 6, tzinfo=UTC
    )
    assert mailing.next_time(datetime(2026, 12, 5, tzinfo=UTC), "monthly") == datetime(
        2027, 1, 5, tzinfo=UTC
    )


@pytest.mark.django_db
def test_mailing_clean_checks_report_and_addresses():
    from django.core.exceptions import ValidationError

    row = ReportMailing(
        report="nope", recipients="x@example.com", cadence="weekly", next_send_at=NOW
    )
    with pytest.raises(ValidationError, match="Unknown report"):
        row.clean()
    row.report = "weekly-performance"
    row.recipients = "x@example.com, not-an-address"
    with pytest.raises(ValidationError, match="not-an-address"):
        row.clean()
