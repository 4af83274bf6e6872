"""002 "Weekly Performance Summary": throughput, quality, uptime, error rate and incidents of
the 7 days up to `end`. (Its resource-usage block — CPU, memory, temperature — has no metric
here: the modules expose none, and the report says so rather than invent one.)"""

from datetime import datetime

from django.db.models import Count, Q

from incidents.models import Incident
from monitoring import capacity
from monitoring.models import CapacityPlan, Module, Poll

from .data import WEEK, fmt, pct, value_at
from .registry import ReportData, Table

# 000 "Module Alpha/Beta/Gamma Metrics": the error ratios the threshold table watches, over
# the whole week.
ERROR_RATES = [
    (
        "Alpha parse errors",
        "sum(increase(alpha_parse_errors_total[7d])) "
        "/ sum(increase(alpha_records_ingested_total[7d]))",
    ),
    (
        "Alpha validation failures",
        "sum(increase(alpha_validation_failures_total[7d])) "
        "/ sum(increase(alpha_records_ingested_total[7d]))",
    ),
    (
        "Beta transform errors",
        "sum(increase(beta_transform_errors_total[7d])) "
        "/ (sum(increase(beta_records_transformed_total[7d])) "
        "+ sum(increase(beta_transform_errors_total[7d])))",
    ),
    (
        "Gamma delivery failures",
        "1 - sum(increase(gamma_records_delivered_total[7d])) "
        "/ sum(increase(gamma_delivery_attempts_total[7d]))",
    ),
]
QUALITY = "avg(avg_over_time(beta_quality_score[7d]))"
BELOW_QUALITY = (
    "sum(increase(beta_records_below_quality_threshold_total[7d])) "
    "/ sum(increase(beta_records_transformed_total[7d]))"
)


def build(end: datetime) -> ReportData:
    start = end - WEEK
    report = ReportData("Weekly performance summary", start, end)
    modules = list(Module.objects.all())

    rows = []
    for plan in CapacityPlan.objects.all():
        fig = capacity.figures(plan, end, span=WEEK)
        average = sum(fig.day_average) / len(fig.day_average) if fig.day_average else None
        rows.append([plan.get_kind_display(), fmt(average), fmt(fig.peak), pct(fig.headroom, 0)])
    report.tables.append(
        Table(
            "Throughput",
            ["Module", "Average (rec/s)", "Peak hour (rec/s)", "Headroom"],
            rows,
            "Average of hourly rates; headroom against the sustained maximum (001).",
        )
    )

    report.tables.append(
        Table(
            "Quality",
            ["Measure", "Value"],
            [
                ["Average quality score (Beta)", fmt(value_at(QUALITY, end, modules), ".3f")],
                [
                    "Records below the quality threshold",
                    pct(value_at(BELOW_QUALITY, end, modules), 2),
                ],
            ],
        )
    )

    polls = (
        Poll.objects.filter(started_at__gte=start, started_at__lt=end)
        .values("module__name")
        .annotate(total=Count("id"), ok=Count("id", filter=Q(ok=True)))
        .order_by("module__name")
    )
    report.tables.append(
        Table(
            "Uptime",
            ["Module", "Polls", "Answered healthy", "Uptime"],
            [
                [p["module__name"], p["total"], p["ok"], pct(p["ok"] / p["total"], 2)]
                for p in polls
                if p["total"]
            ],
            "Share of the console's polls the module answered (polls are kept 7 days).",
        )
    )

    report.tables.append(
        Table(
            "Error rate",
            ["Measure", "Rate"],
            [[name, pct(value_at(expr, end, modules), 3)] for name, expr in ERROR_RATES],
        )
    )

    declared = Incident.objects.filter(declared_at__gte=start, declared_at__lt=end)
    by_severity = dict(
        declared.values_list("severity").annotate(n=Count("id")).values_list("severity", "n")
    )
    resolved = Incident.objects.filter(resolved_at__gte=start, resolved_at__lt=end)
    rows = [[sev, by_severity.get(sev, 0)] for sev in ("P1", "P2", "P3", "P4")]
    rows.append(["Resolved in the week", resolved.count()])
    report.tables.append(Table("Incidents", ["Severity", "Declared"], rows))
    report.tables.append(
        Table(
            "Incident list",
            ["Number", "Severity", "Status", "Title", "Declared"],
            [
                [i.number, i.severity, i.status, i.title, f"{i.declared_at:%Y-%m-%d %H:%M}"]
                for i in declared.order_by("declared_at")
            ],
        )
    )
    report.notes.append(
        "Resource usage (CPU, memory) is not reported: the modules expose no such metric."
    )
    return report
