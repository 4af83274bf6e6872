"""001 "Monthly Capacity Review": the Monthly Review Checklist, each item answered from the
stored history (monitoring/capacity.py does the arithmetic)."""

from datetime import datetime, timedelta

from monitoring import capacity
from monitoring.models import Alert, CapacityPlan, Module

from .data import fmt, pct, value_at
from .registry import ReportData, Table

MONTH = timedelta(days=30)
# Storage the modules report as a share of its capacity (001 "Storage Capacity").
STORAGE = [
    ("Alpha buffer", "avg(avg_over_time(alpha_buffer_utilization[30d]))"),
    ("Beta queue", "avg(avg_over_time(beta_queue_utilization[30d]))"),
    (
        "Beta cache",
        "avg(avg_over_time(beta_cache_size[30d])) / avg(avg_over_time(beta_cache_capacity[30d]))",
    ),
]


def _average(fig: capacity.Figures, since: float) -> float | None:
    values = [v for d, v in zip(fig.days, fig.day_average, strict=True) if d >= since]
    return sum(values) / len(values) if values else None


def _change(now: float | None, then: float | None) -> str:
    if now is None or then is None or then == 0:
        return "no data"
    return f"{(now / then - 1) * 100:+.1f} %"


def build(end: datetime) -> ReportData:
    start = end - MONTH
    report = ReportData("Monthly capacity review", start, end)
    threshold = capacity.headroom_threshold()
    plans = list(CapacityPlan.objects.all())
    now_figs = [capacity.figures(p, end, threshold=threshold) for p in plans]
    then_figs = [capacity.figures(p, start, threshold=threshold) for p in plans]
    modules = list(Module.objects.all())

    # 1. Review throughput trends.
    rows = []
    for fig, before in zip(now_figs, then_figs, strict=True):
        this_month = _average(fig, start.timestamp())
        last_month = _average(before, (start - MONTH).timestamp())
        rows.append(
            [
                fig.plan.get_kind_display(),
                fmt(last_month),
                fmt(this_month),
                _change(this_month, last_month),
                fmt(fig.peak),
            ]
        )
    report.tables.append(
        Table(
            "1. Review throughput trends",
            [
                "Module",
                "Previous 30 d avg (rec/s)",
                "Last 30 d avg (rec/s)",
                "Change",
                "Peak (7 d)",
            ],
            rows,
        )
    )

    # 2. Check storage utilization growth.
    rows = []
    for name, expr in STORAGE:
        now_value = value_at(expr, end, modules)
        then_value = value_at(expr, start, modules)
        rows.append([name, pct(then_value), pct(now_value), _change(now_value, then_value)])
    report.tables.append(
        Table(
            "2. Check storage utilization growth",
            ["Storage", "Previous 30 d avg", "Last 30 d avg", "Change"],
            rows,
            "Database and log storage are not measured by the console.",
        )
    )

    # 3. Analyze compute utilization patterns (throughput per instance; no CPU metric exists).
    rows = []
    for fig in now_figs:
        plan = fig.plan
        capacity_now = plan.instances * plan.capacity_per_instance
        used = None if fig.peak is None else fig.peak / capacity_now
        needed = fig.instances_now
        rows.append(
            [
                plan.get_kind_display(),
                plan.instances,
                pct(used),
                pct(plan.target_utilization, 0),
                "no data" if needed is None else needed[1],
            ]
        )
    report.tables.append(
        Table(
            "3. Analyze compute utilization patterns",
            ["Module", "Instances", "Peak use of instances", "Target", "Instances needed now"],
            rows,
            "Use = peak throughput / (instances × capacity per instance); the modules expose no "
            "CPU or memory metric.",
        )
    )

    # 4. Compare actual vs. projected growth: last month's fit, projected one month on.
    rows = []
    for fig, before in zip(now_figs, then_figs, strict=True):
        if before.growth is None or before.peak is None:
            reason = (
                f"only {before.history_days} days of history a month ago"
                if before.short_history
                else "no growth rate a month ago"
            )
            rows.append([fig.plan.get_kind_display(), "—", "—", fmt(fig.peak), reason])
            continue
        projected = capacity.project(before.peak, before.growth, 1)
        rows.append(
            [
                fig.plan.get_kind_display(),
                pct(before.growth),
                fmt(projected),
                fmt(fig.peak),
                _change(fig.peak, projected),
            ]
        )
    report.tables.append(
        Table(
            "4. Compare actual vs. projected growth",
            ["Module", "Growth then", "Projected peak", "Actual peak", "Actual vs projected"],
            rows,
        )
    )

    # 5. Identify bottlenecks or hot spots.
    ranked = sorted((f for f in now_figs if f.headroom is not None), key=lambda f: f.headroom)
    rows = [[f.plan.get_kind_display(), pct(f.headroom), f.level] for f in ranked]
    fired = Alert.objects.filter(
        name__startswith="capacity_", active_since__gte=start, active_since__lt=end
    ).values_list("name", "labels")
    note = (
        f"Capacity alerts raised in the period: {len(fired)} "
        f"({', '.join(sorted({f'{n} {lb.get("module", "")}'.strip() for n, lb in fired}))})."
        if fired
        else "No capacity alerts raised in the period."
    )
    report.tables.append(
        Table("5. Identify bottlenecks or hot spots", ["Module", "Headroom", "Level"], rows, note)
    )

    # 6. Update capacity forecast.
    rows = []
    for fig in now_figs:
        if fig.short_history:
            rows.append(
                [fig.plan.get_kind_display(), f"only {fig.history_days} days of history", "", ""]
            )
            continue
        for p in fig.projections:
            rows.append(
                [
                    fig.plan.get_kind_display(),
                    f"{p.months} months",
                    fmt(p.peak),
                    f"{pct(p.headroom, 0)} headroom, {p.instances} instances",
                ]
            )
    report.tables.append(
        Table(
            "6. Update capacity forecast",
            ["Module", "Horizon", "Projected peak (rec/s)", "Then"],
            rows,
        )
    )

    # 7. Document findings and recommendations.
    findings = []
    for fig in now_figs:
        name = fig.plan.get_kind_display()
        if fig.headroom is None:
            findings.append([name, "No throughput data in the last 7 days."])
            continue
        needed = fig.instances_now
        if fig.level in ("WARNING", "CRITICAL") and threshold is not None:
            action = (
                threshold.critical_action if fig.level == "CRITICAL" else threshold.warning_action
            )
            findings.append(
                [name, f"Headroom {pct(fig.headroom)}: {action}; {needed[1]} instances needed now."]
            )
        if fig.months_to_warning is not None and 0 < fig.months_to_warning <= 6:
            findings.append(
                [
                    name,
                    f"Headroom falls under the warning level in "
                    f"{fig.months_to_warning:.1f} months.",
                ]
            )
        if fig.projections and fig.projections[0].instances > fig.plan.instances:
            p = fig.projections[0]
            findings.append(
                [
                    name,
                    f"Plan capacity add: {p.instances} instances in {p.months} months "
                    f"(now {fig.plan.instances}).",
                ]
            )
        if fig.short_history:
            findings.append([name, f"Only {fig.history_days} days of history: no forecast yet."])
    if not findings:
        findings.append(["All", "Headroom above the warning level; no change recommended."])
    report.tables.append(Table("7. Findings and recommendations", ["Module", "Finding"], findings))
    return report
