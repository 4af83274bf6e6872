import math
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitoring import capacity
from monitoring.models import Alert, AlertState, CapacityPlan, CapacityThreshold, Module
from monitoring.policy import load_capacity_and_backups
from monitoring.store import store_samples

from .factories import ModuleFactory, write_hourly_counter

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# --- the arithmetic ------------------------------------------------------------------------


def test_required_instances_matches_the_manuals_worked_example():
    # 001 "Scaling Calculations": (4,000 × 1.5) / (0.7 × 1,000) = 8.6 → 9 instances.
    exact, instances = capacity.required_instances(4000, 1.5, 0.7, 1000)
    assert exact == pytest.approx(8.5714, abs=1e-4)
    assert instances == 9


def test_required_instances_does_not_round_up_an_exact_fit():
    # 700 / (0.7 × 1,000) is 0.99999… in floating point: still one instance, not two.
    assert capacity.required_instances(700, 1.0, 0.7, 1000)[1] == 1
    assert capacity.required_instances(701, 1.0, 0.7, 1000)[1] == 2


def test_required_instances_refuses_a_zero_divisor():
    with pytest.raises(ValueError):
        capacity.required_instances(100, 1.0, 0.0, 1000)


def test_headroom_matches_the_capacity_metrics_table():
    # 001 "Capacity Metrics": Alpha 37 %, Beta 33 %, Gamma 27 %.
    assert capacity.headroom(5000, 8000) == pytest.approx(0.375)
    assert capacity.headroom(4000, 6000) == pytest.approx(1 / 3)
    assert capacity.headroom(4000, 5500) == pytest.approx(0.2727, abs=1e-4)


def test_compound_growth_matches_the_historical_growth_table():
    # 001 "Historical Growth Analysis": 50M → 75M daily records in 6 months = 7 %/month,
    # peaks 3,500 → 5,000 rec/s = 6 %/month.
    assert capacity.compound_growth(50, 75, 6) == pytest.approx(0.0699, abs=1e-4)
    assert capacity.compound_growth(3500, 5000, 6) == pytest.approx(0.0612, abs=1e-4)


def test_fitted_growth_recovers_a_compound_rate_from_daily_points():
    day = 86400.0
    points = [(i * day, 1000 * 1.07 ** (i / capacity.DAYS_PER_MONTH)) for i in range(120)]
    assert capacity.fitted_growth(points) == pytest.approx(0.07, abs=1e-9)


def test_fitted_growth_of_a_flat_series_is_zero_and_of_too_little_is_none():
    assert capacity.fitted_growth([(0, 5.0), (86400, 5.0), (172800, 5.0)]) == pytest.approx(0)
    assert capacity.fitted_growth([(0, 5.0)]) is None
    assert capacity.fitted_growth([(0, 0.0), (86400, 0.0)]) is None


def test_projection_and_months_until_a_limit():
    assert capacity.project(5000, 0.07, 6) == pytest.approx(5000 * 1.07**6)
    assert capacity.project(5000, 0.07, 12) == pytest.approx(11260.96, abs=0.01)
    months = capacity.months_until(4000, 0.05, 5600)
    assert months == pytest.approx(math.log(1.4) / math.log(1.05))
    assert capacity.months_until(6000, 0.05, 5600) == 0.0
    assert capacity.months_until(4000, 0.0, 5600) is None


def test_hourly_rates_counts_a_counter_reset_and_skips_long_gaps():
    hour = 3600.0
    points = [(hour, 0.0), (2 * hour, 3600.0), (3 * hour, 100.0), (9 * hour, 500.0)]
    rates = capacity.hourly_rates([points])
    # A point on the hour closes the hour before it.
    assert rates[hour] == pytest.approx(1.0)
    assert rates[2 * hour] == pytest.approx(100 / 3600)  # reset: restarted from zero
    assert 8 * hour not in rates  # a six-hour gap is not smeared into one hour


# --- figures from the store ----------------------------------------------------------------


@pytest.fixture
def plans(db):
    load_capacity_and_backups()
    return {p.kind: p for p in CapacityPlan.objects.all()}


@pytest.fixture
def beta(db):
    return ModuleFactory(name="beta", kind=Module.Kind.BETA)


def _grow(days: int, start_rate: float, monthly: float) -> list[float]:
    hours = days * 24
    return [start_rate * (1 + monthly) ** (i / 24 / capacity.DAYS_PER_MONTH) for i in range(hours)]


def test_figures_from_hourly_rollups_give_growth_headroom_and_projections(plans, beta):
    write_hourly_counter(beta, "beta_records_transformed_total", _grow(150, 3000, 0.05), NOW)
    fig = capacity.figures(plans["beta"], NOW, threshold=capacity.headroom_threshold())
    assert not fig.short_history
    # The first hour has no earlier point to take a rate from: 149 days and 23 hours.
    assert fig.history_days == 149
    assert fig.growth == pytest.approx(0.05, abs=1e-3)
    last = 3000 * 1.05 ** ((150 * 24 - 1) / 24 / capacity.DAYS_PER_MONTH)
    assert fig.peak == pytest.approx(last, rel=1e-6)
    assert fig.current == pytest.approx(last, rel=1e-6)
    assert fig.headroom == pytest.approx(1 - last / 6000, rel=1e-6)
    six, twelve = fig.projections
    assert (six.months, twelve.months) == (6, 12)
    assert six.peak == pytest.approx(last * (1 + fig.growth) ** 6)
    # The scaling formula at the plan's 70 % and 1,000 rec/s per instance.
    assert six.instances == math.ceil(six.peak / 700)
    assert twelve.headroom == pytest.approx(1 - twelve.peak / 6000)
    assert fig.months_to_warning == pytest.approx(
        capacity.months_until(last, fig.growth, 6000 * 0.7)
    )


def test_figures_refuse_to_extrapolate_short_history(plans, beta):
    write_hourly_counter(beta, "beta_records_transformed_total", _grow(30, 3000, 0.2), NOW)
    fig = capacity.figures(plans["beta"], NOW)
    assert fig.short_history
    assert fig.history_days == 29
    assert fig.growth is None
    assert fig.projections == []
    assert fig.peak is not None  # headroom is still known
    data = capacity.chart(fig)
    assert data["short_history"] is True
    assert [t["name"] for t in data["traces"]] == ["Daily peak", "Daily average"]


def test_figures_without_data_are_empty(plans, beta):
    fig = capacity.figures(plans["beta"], NOW)
    assert fig.peak is None and fig.headroom is None and fig.growth is None


def test_chart_has_history_projection_and_threshold_lines(plans, beta):
    write_hourly_counter(beta, "beta_records_transformed_total", _grow(90, 3000, 0.05), NOW)
    fig = capacity.figures(plans["beta"], NOW, threshold=capacity.headroom_threshold())
    data = capacity.chart(fig)
    names = [t["name"] for t in data["traces"]]
    assert names[:2] == ["Daily peak", "Daily average"]
    assert names[2].startswith("Projection (+5.0%/month)")
    assert len(data["traces"][2]["x"]) == 13
    assert {line["level"]: line["value"] for line in data["lines"]} == {
        "max": 6000,
        "warning": pytest.approx(4200),
        "critical": pytest.approx(5100),
    }


# --- thresholds as alerts ------------------------------------------------------------------


def _capacity_alerts(state=AlertState.FIRING):
    return list(
        Alert.objects.filter(name="capacity_throughput_headroom", state=state).values_list(
            "labels__capacity_level", "severity", "source"
        )
    )


def test_headroom_threshold_raises_warning_then_critical_then_resolves(plans, beta):
    write_hourly_counter(beta, "beta_records_transformed_total", [4000.0] * 48, NOW)
    plan = plans["beta"]
    with time_machine.travel(NOW, tick=False):
        plan.sustained_max = 5000  # headroom 20 %: warning (< 30 %)
        plan.save()
        capacity.evaluate_thresholds(NOW)
        assert _capacity_alerts() == [("warning", "low", "console")]
        capacity.evaluate_thresholds(NOW)  # again: nothing new
        assert Alert.objects.filter(name="capacity_throughput_headroom").count() == 1

        plan.sustained_max = 4500  # 11 %: critical (< 15 %); the warning resolves
        plan.save()
        capacity.evaluate_thresholds(NOW)
        assert _capacity_alerts() == [("critical", "high", "console")]
        assert _capacity_alerts(AlertState.RESOLVED) == [("warning", "low", "console")]

        plan.sustained_max = 10000  # 60 %: fine
        plan.save()
        capacity.evaluate_thresholds(NOW)
        assert _capacity_alerts() == []


def test_promql_capacity_threshold_alerts_per_module(plans, beta):
    store_samples(beta, [("beta_queue_utilization", {}, 0.85, "gauge")], NOW - timedelta(seconds=5))
    capacity.evaluate_thresholds(NOW)
    alert = Alert.objects.get(name="capacity_queue_depth")
    assert alert.labels["module"] == "beta"
    assert alert.labels["capacity_level"] == "critical"
    assert "Enable throttling" in alert.annotations["summary"]


def test_disabled_threshold_rows_are_not_evaluated(plans, beta):
    row = CapacityThreshold.objects.get(key="cpu-utilization")
    assert not row.enabled and row.expr == ""
    capacity.evaluate_thresholds(NOW)
    assert not Alert.objects.filter(name="capacity_cpu_utilization").exists()


def test_threshold_clean_rejects_inverted_levels(plans):
    from django.core.exceptions import ValidationError

    row = CapacityThreshold.objects.get(key="throughput-headroom")
    row.critical = 0.5  # "below" with critical above warning
    with pytest.raises(ValidationError):
        row.clean()


# --- views ---------------------------------------------------------------------------------

PAGES = ["/capacity/", "/capacity/charts/beta.json", "/capacity/calculator/?throughput=1"]


@pytest.mark.parametrize("url", PAGES)
def test_capacity_views_need_sign_in(client, plans, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("url", PAGES)
def test_capacity_views_refuse_users_without_permission(client, plans, outsider, url):
    client.force_login(outsider)
    assert client.get(url).status_code == 403


def test_capacity_page_shows_headroom_growth_and_projection(
    client, plans, beta, viewer, django_assert_max_num_queries
):
    write_hourly_counter(beta, "beta_records_transformed_total", _grow(120, 3000, 0.05), NOW)
    client.force_login(viewer)
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(40):
        response = client.get("/capacity/")
    assert response.status_code == 200
    row = response.content.decode().split('id="capacity-beta"')[1].split("</tr>")[0]
    assert "5.0 %" in row  # growth per month
    assert "instances" in row  # projections with instance counts
    assert "data-capacity-chart" in response.content.decode()


def test_capacity_page_says_when_history_is_short(client, plans, beta, viewer):
    write_hourly_counter(beta, "beta_records_transformed_total", [3000.0] * 24 * 20, NOW)
    client.force_login(viewer)
    with time_machine.travel(NOW, tick=False):
        body = client.get("/capacity/").content.decode()
    assert "Only 19 days of history" in body


def test_calculator_fragment_computes_the_worked_example(client, plans, viewer):
    client.force_login(viewer)
    response = client.get(
        "/capacity/calculator/",
        {"throughput": 4000, "growth_factor": 1.5, "target_utilization": 70, "per_instance": 1000},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.strip().startswith('<div id="calculator-result"')
    assert "8.57" in body and "<strong>9 instances</strong>" in body


def test_calculator_fragment_reports_bad_input(client, plans, viewer):
    client.force_login(viewer)
    response = client.get(
        "/capacity/calculator/",
        {"throughput": "lots", "growth_factor": 1.5, "target_utilization": 0, "per_instance": 1},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Current throughput (rec/s): Enter a number." in body
    assert "Target utilization (%)" in body


def test_chart_json_of_unknown_plan_is_404(client, plans, viewer):
    client.force_login(viewer)
    assert client.get("/capacity/charts/nope.json").status_code == 404
