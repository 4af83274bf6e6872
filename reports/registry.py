"""The reports the console produces: one line each in REPORTS.

A report is built on request from the other apps' data (nothing is stored) as a `ReportData`:
a title, a period, and tables. The same data renders as a printable page, a CSV download and
a mailed report (reports/views.py, reports/mailing.py). To add one, write a `build(end)`
function returning ReportData and add a `Report(...)` line below.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.utils.module_loading import import_string


@dataclass
class Table:
    heading: str
    columns: list[str]
    rows: list[list]
    note: str = ""


@dataclass
class ReportData:
    title: str
    start: datetime
    end: datetime
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    key: str
    title: str
    description: str
    builder: str  # dotted path of `build(end: datetime) -> ReportData`
    permission: str = "reports.view_reports"
    source: str = ""

    @cached_property
    def build(self) -> Callable[[datetime], ReportData]:
        return import_string(self.builder)

    def allowed(self, user) -> bool:
        return user.has_perm(self.permission)


REPORTS: list[Report] = [
    Report(
        "daily-operations",
        "Daily operations summary",
        "Today so far (mailed at midnight: the day that ended): records, errors, queue "
        "high-water marks, threshold violations, incidents, manual interventions, checklists "
        "and batch jobs. The shifts pages show any day.",
        "shifts.summary.report",
        permission="shifts.view_shift",
        source='000 "End of Day Procedures"; 002 "Daily Operations Report"',
    ),
    Report(
        "weekly-performance",
        "Weekly performance summary",
        "Throughput, quality, uptime, error rate and incidents of the last 7 days.",
        "reports.weekly.build",
        source="002, Weekly Performance Summary",
    ),
    Report(
        "weekly-change-review",
        "Weekly change review",
        "Changes finished this week (Monday to Sunday; mailed on Monday at midnight: the week "
        "that ended): success rate, rollback frequency, emergency share and the changes that "
        "caused incidents. The changes pages show any week, with charts.",
        "changes.services.weekly_report",
        permission="changes.view_change",
        source='001 "Weekly Change Review"',
    ),
    Report(
        "monthly-capacity",
        "Monthly capacity review",
        "001's Monthly Review Checklist, each item answered from the stored history.",
        "reports.monthly.build",
        source="001, Monthly Capacity Review",
    ),
]


def get(key: str) -> Report | None:
    return next((r for r in REPORTS if r.key == key), None)
