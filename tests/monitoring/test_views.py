"""Monitoring pages: the permission triad (anonymous → login, no permission → 403/404,
permitted → OK, plus the HTMX fragment), staleness, module settings, annotations, chart JSON,
live topics, and the Overview's query count."""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from console import live
from console.models import AuditEntry
from monitoring.models import Annotation, MetricStatus, Module, Threshold
from monitoring.policy import load as load_thresholds
from monitoring.store import forget_series_cache, store_samples
from tests.monitoring.test_charts import feed, samples_for


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Charts are cached per aligned step; each test starts without any."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def modules(db):
    forget_series_cache()
    load_thresholds()
    now = timezone.now()
    found = {}
    for i, name in enumerate(("alpha", "beta", "gamma")):
        module = Module.objects.create(name=name, kind=name, base_url=f"http://127.0.0.1:1808{i}")
        feed(module, now, minutes=2)
        found[name] = module
    yield found
    forget_series_cache()


def _pages(modules):
    return [
        reverse("monitoring:index"),
        reverse("monitoring:module", args=["gamma"]),
        reverse("monitoring:chart", args=["pipeline-errors"]),
        reverse("monitoring:chart", args=["gamma-delivery"]) + "?module=gamma",
    ]


# --- the triad --------------------------------------------------------------------------------


def test_pages_send_anonymous_users_to_login(client, modules):
    for url in [reverse("overview"), *_pages(modules), reverse("monitoring:module_add")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))


def test_pages_refuse_users_without_the_view_permission(client, modules, outsider):
    client.force_login(outsider)
    for url in _pages(modules):
        assert client.get(url).status_code == 403, url
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 403, url
    assert client.get(reverse("overview"), {"fragment": "status"}).status_code == 403


def test_overview_without_the_view_permission_is_the_home_page_without_dashboards(
    client, modules, outsider
):
    client.force_login(outsider)
    response = client.get(reverse("overview"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "does not include the monitoring dashboards" in html
    assert 'id="status-board"' not in html and "plotly" not in html


@pytest.mark.parametrize("persona", ["viewer", "operator", "opslead"])
def test_overview_shows_status_board_and_lazy_charts(client, modules, persona, request):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("overview"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="status-board"' in html and 'data-live-topic="overview"' in html
    for name in ("alpha", "beta", "gamma"):
        assert f'id="module-status-{name}" >HEALTHY<' in html.replace('">', '" >')
    # Charts are not computed here: each loads from its own JSON endpoint.
    for key in ("pipeline-throughput", "pipeline-latency", "pipeline-errors", "queue-depths"):
        assert reverse("monitoring:chart", args=[key]) in html
    assert "vendor/plotly-3.7.0.min.js" in html and "monitoring/charts.js" in html
    assert "scattergl" not in html
    assert 'id="activity-panel"' in html  # the console's own panel stays on the home page


def test_overview_status_fragment_for_htmx(client, modules, viewer):
    client.force_login(viewer)
    response = client.get(reverse("overview"), {"fragment": "status"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="status-board"')
    assert "<nav" not in html


def test_overview_status_board_is_rendered_once_per_version(
    client, modules, viewer, django_assert_max_num_queries
):
    # Every open Overview re-fetches the board after each `overview` message: one rendering
    # per second and data version serves them all; a new message is a new version.
    client.force_login(viewer)
    url, htmx = reverse("overview"), {"HTTP_HX_REQUEST": "true"}
    with time_machine.travel(timezone.now(), tick=False):
        first = client.get(url, {"fragment": "status"}, **htmx).content
        # Session, user, its permissions (2), modules; none of the board's own queries.
        with django_assert_max_num_queries(5):
            assert client.get(url, {"fragment": "status"}, **htmx).content == first
        Module.objects.filter(name="gamma").update(status="DEGRADED")
        live.next_seq("overview")  # what the status change publishes after commit
        again = client.get(url, {"fragment": "status"}, **htmx).content.decode()
    assert 'data-status="DEGRADED"' in again


def test_overview_console_fragments_still_served(client, modules, operator):
    client.force_login(operator)
    response = client.get(reverse("overview"), {"fragment": "activity"}, HTTP_HX_REQUEST="true")
    assert response.content.decode().lstrip().startswith('<section class="card panel" id="activity')


def test_module_page_and_fragments(client, modules, viewer):
    client.force_login(viewer)
    url = reverse("monitoring:module", args=["gamma"])
    html = client.get(url).content.decode()
    assert 'data-live-topics="module.gamma"' in html
    assert 'id="destinations-grid"' in html and 'id="destination-warehouse"' in html
    for key in ("gamma-delivery", "gamma-ack", "gamma-dlq", "gamma-latency", "gamma-retries"):
        assert reverse("monitoring:chart", args=[key]) in html
    assert 'data-chart-module="gamma"' in html
    assert "Edit settings" not in html  # the viewer may not change modules
    assert "Add annotation" not in html
    for fragment, root in (
        ("status", '<section id="module-status"'),
        ("destinations", '<section class="card panel h-100" id="destinations-grid"'),
        ("annotations", '<section class="card panel mb-3" id="annotations-panel"'),
    ):
        response = client.get(url, {"fragment": fragment}, HTTP_HX_REQUEST="true")
        assert response.content.decode().lstrip().startswith(root), fragment
    assert client.get(reverse("monitoring:module", args=["nope"])).status_code == 404


def test_alpha_page_has_the_source_grid(client, modules, operator):
    client.force_login(operator)
    html = client.get(reverse("monitoring:module", args=["alpha"])).content.decode()
    assert 'id="sources-grid"' in html and 'id="source-api"' in html
    assert "Add annotation" in html


def test_other_module_page_lists_latest_values(client, modules, viewer):
    other = Module.objects.create(name="exporter", kind="other", base_url="http://127.0.0.1:9100")
    store_samples(other, [("node_load1", {}, 0.42, "gauge")], timezone.now())
    client.force_login(viewer)
    html = client.get(reverse("monitoring:module", args=["exporter"])).content.decode()
    assert "node_load1" in html and "0.42" in html
    assert reverse("monitoring:chart", args=["module-polls"]) in html


def test_index_lists_modules_with_status(client, modules, viewer):
    client.force_login(viewer)
    html = client.get(reverse("monitoring:index")).content.decode()
    assert 'id="module-row-gamma"' in html and "http://127.0.0.1:18082" in html
    assert "Add module" not in html
    fragment = client.get(
        reverse("monitoring:index"), {"fragment": "table"}, HTTP_HX_REQUEST="true"
    )
    assert (
        fragment.content.decode()
        .lstrip()
        .startswith('<section class="card panel" id="module-table"')
    )


# --- staleness, status changes ----------------------------------------------------------------


def test_stale_module_is_never_shown_as_current(client, modules, viewer):
    gamma = modules["gamma"]
    gamma.status = "DEGRADED"
    gamma.last_success_at = timezone.now() - timedelta(seconds=11)  # > 2 × 5 s
    gamma.save()
    client.force_login(viewer)
    html = client.get(reverse("overview"), {"fragment": "status"}, HTTP_HX_REQUEST="true")
    html = html.content.decode()
    assert (
        'id="module-status-gamma" title="No fresh data: last known status DEGRADED">STALE' in html
    )
    assert 'id="module-status-gamma">DEGRADED' not in html
    # The pipeline counts a stale module as unknown: DEGRADED, not HEALTHY.
    assert 'id="pipeline-indicator">DEGRADED<' in html
    assert "no fresh data from gamma" in html


def test_open_breaker_and_degraded_gamma_show_on_the_overview(client, modules, viewer):
    gamma = modules["gamma"]
    now = timezone.now()
    store_samples(gamma, samples_for("gamma", 30, breaker=1.0), now)
    Module.objects.filter(pk=gamma.pk).update(status="DEGRADED", last_success_at=now)
    client.force_login(viewer)
    html = client.get(reverse("overview"), {"fragment": "status"}, HTTP_HX_REQUEST="true")
    html = html.content.decode()
    assert 'id="module-status-gamma">DEGRADED<' in html
    assert 'id="breaker-gamma-warehouse"' in html
    assert '<span class="breaker" data-state="OPEN">OPEN</span>' in html
    assert 'id="breakers-open">1 open<' in html


def test_overview_query_count_is_flat(client, modules, viewer, django_assert_max_num_queries):
    threshold = Threshold.objects.get(key="gamma-delivery-rate")
    for module in modules.values():
        MetricStatus.objects.create(
            threshold=threshold,
            module=module,
            value=1.0,
            evaluated_at=timezone.now(),
            changed_at=timezone.now(),
        )
    client.force_login(viewer)
    client.get(reverse("overview"))  # warm the permission caches of the session
    # 9 for the page, 2 for the header's "on call now" badge (rota week and its overrides).
    with django_assert_max_num_queries(11):
        assert client.get(reverse("overview")).status_code == 200
    with django_assert_max_num_queries(10):
        client.get(reverse("overview"), {"fragment": "status"}, HTTP_HX_REQUEST="true")


def test_module_page_query_count(client, modules, viewer, django_assert_max_num_queries):
    client.force_login(viewer)
    with django_assert_max_num_queries(15):
        assert client.get(reverse("monitoring:module", args=["gamma"])).status_code == 200


# --- module settings --------------------------------------------------------------------------


def test_module_add_needs_the_permission(client, modules, operator, opslead):
    client.force_login(operator)
    assert client.get(reverse("monitoring:module_add")).status_code == 403
    assert client.post(reverse("monitoring:module_add"), {}).status_code == 403
    client.force_login(opslead)
    assert client.get(reverse("monitoring:module_add")).status_code == 200


def test_module_add_rejects_invalid_urls_and_stores_the_token_unseen(client, modules, opslead):
    client.force_login(opslead)
    url = reverse("monitoring:module_add")
    data = {"name": "delta", "kind": "other", "token": "s3cret-token", "poll_interval": 5}
    data["enabled"] = "on"
    for bad in ("ftp://host:21", "http://user:pw@host:1", "http://host:1/?q=1", "not a url"):
        response = client.post(url, {**data, "base_url": bad})
        assert response.status_code == 200, bad
        assert "base_url-error" in response.content.decode(), bad
        assert "s3cret-token" not in response.content.decode()
    response = client.post(
        url, {**data, "base_url": "http://127.0.0.1:9100/", "labels": "team=data"}
    )
    assert response.status_code == 302
    module = Module.objects.get(name="delta")
    assert module.base_url == "http://127.0.0.1:9100" and module.token == "s3cret-token"
    assert module.labels == {"team": "data"} and module.next_poll_at is None
    entry = AuditEntry.objects.filter(action="module.create").latest("seq")
    assert entry.after["token"] == "set" and "s3cret" not in str(entry.after)
    page = client.get(reverse("monitoring:module_edit", args=["delta"])).content.decode()
    assert "s3cret-token" not in page and "A token is stored" in page


def test_module_edit_keeps_changes_or_clears_the_token(client, modules, opslead, viewer):
    gamma = modules["gamma"]
    Module.objects.filter(pk=gamma.pk).update(token="old-token")
    url = reverse("monitoring:module_edit", args=["gamma"])
    client.force_login(viewer)
    assert client.get(url).status_code == 403
    client.force_login(opslead)
    base = {"kind": "gamma", "base_url": "http://127.0.0.1:18083", "poll_interval": 10}
    response = client.post(url, {**base, "enabled": "on", "name": "renamed"})
    assert response.status_code == 302
    gamma.refresh_from_db()
    assert (gamma.name, gamma.token, gamma.poll_interval) == ("gamma", "old-token", 10)
    entry = AuditEntry.objects.filter(action="module.update").latest("seq")
    assert entry.before["poll_interval"] == 5 and entry.after["poll_interval"] == 10
    client.post(url, {**base, "enabled": "on", "token": "new-token"})
    gamma.refresh_from_db()
    assert gamma.token == "new-token"
    assert (
        AuditEntry.objects.filter(action="module.update").latest("seq").after["token"] == "changed"
    )
    client.post(url, {**base, "clear_token": "on"})
    gamma.refresh_from_db()
    assert gamma.token == "" and gamma.enabled is False


# --- annotations --------------------------------------------------------------------------------


def test_annotation_add_needs_post_and_permission(client, modules, viewer, operator):
    url = reverse("monitoring:annotation_add")
    client.force_login(operator)
    assert client.get(url).status_code == 405
    client.force_login(viewer)
    assert client.post(url, {}).status_code == 403


def test_annotation_add_shows_on_the_module_page_and_charts(
    client, modules, operator, django_capture_on_commit_callbacks
):
    gamma = modules["gamma"]
    client.force_login(operator)
    start = timezone.localtime() - timedelta(minutes=10)
    data = {
        "module": gamma.pk,
        "text": "threshold raised during backfill",
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "metric": "",
    }
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("monitoring:annotation_add"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card panel mb-3" id="annotations-panel"')
    assert "threshold raised during backfill" in html
    assert len(callbacks) >= 2  # live pushes to module.gamma and overview (and the audit)
    note = Annotation.objects.get()
    assert note.author == operator and note.module == gamma and note.ends_at is None
    assert AuditEntry.objects.filter(action="annotation.create").exists()
    chart = client.get(reverse("monitoring:chart", args=["gamma-delivery"]), {"module": "gamma"})
    assert [a["text"] for a in chart.json()["annotations"]] == ["threshold raised during backfill"]


def test_annotation_with_end_before_start_is_refused(client, modules, operator):
    client.force_login(operator)
    data = {
        "module": modules["beta"].pk,
        "text": "x",
        "starts_at": "2026-11-20T10:00",
        "ends_at": "2026-11-20T09:00",
    }
    response = client.post(reverse("monitoring:annotation_add"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "must not be before the start" in response.content.decode()
    assert not Annotation.objects.exists()


# --- chart JSON -----------------------------------------------------------------------------


def test_chart_json_shape_and_point_budget(client, modules, viewer):
    client.force_login(viewer)
    response = client.get(reverse("monitoring:chart", args=["pipeline-latency"]), {"range": "1h"})
    data = response.json()
    assert response["Cache-Control"] == "no-store"
    assert data["resolution"] == "raw" and data["step"] == 5
    assert [t["name"] for t in data["traces"]] == ["P50", "P95", "P99"]
    assert all(len(t["x"]) <= 2000 for t in data["traces"])
    assert {line["value"] for line in data["thresholds"]} == {500.0, 2000.0}
    assert data["stale"] is False
    more = client.get(
        reverse("monitoring:chart", args=["pipeline-latency"]),
        {"range": "1h", "since": data["end_ts"]},
    ).json()
    assert more["append"] is True and all(len(t["x"]) <= 1 for t in more["traces"])


def test_chart_json_errors(client, modules, viewer):
    client.force_login(viewer)
    assert client.get(reverse("monitoring:chart", args=["no-such-chart"])).status_code == 404
    # A module's panel needs its module.
    assert client.get(reverse("monitoring:chart", args=["gamma-delivery"])).status_code == 404
    url = reverse("monitoring:chart", args=["gamma-delivery"])
    assert client.get(url, {"module": "nope"}).status_code == 404
    # A bad range falls back to the default, a bad `since` to a full answer.
    data = client.get(url, {"module": "gamma", "range": "99y", "since": "x"}).json()
    assert data["range"] == "1h" and "append" not in data


# --- live topics --------------------------------------------------------------------------------


def test_module_topics_need_the_view_permission(modules, viewer, outsider):
    assert live.may_subscribe(viewer, "module.gamma")
    assert not live.may_subscribe(outsider, "module.gamma")
    assert not live.may_subscribe(viewer, "module")


# --- admin --------------------------------------------------------------------------------------


def test_admin_module_token_is_write_only(admin_client, modules):
    gamma = modules["gamma"]
    Module.objects.filter(pk=gamma.pk).update(token="admin-secret")
    url = reverse("admin:monitoring_module_change", args=[gamma.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b"admin-secret" not in page.content
    data = {
        "kind": "gamma",
        "base_url": "http://127.0.0.1:18083",
        "token": "",
        "poll_interval": 7,
        "enabled": "on",
        "labels": "{}",
    }
    assert admin_client.post(url, data).status_code == 302
    gamma.refresh_from_db()
    assert (gamma.token, gamma.poll_interval) == ("admin-secret", 7)
    entry = AuditEntry.objects.filter(action="monitoring.module.update").latest("seq")
    assert "admin-secret" not in str(entry.before) + str(entry.after)
    response = admin_client.post(url, {**data, "base_url": "ftp://x"})
    assert response.status_code == 200 and b"http://" in response.content
    for name in ("threshold", "annotation", "statuschange", "metricstatus", "poll"):
        assert admin_client.get(reverse(f"admin:monitoring_{name}_changelist")).status_code == 200


def test_overview_and_charts_without_any_module(client, viewer):
    client.force_login(viewer)
    html = client.get(reverse("overview")).content.decode()
    assert "No modules are enabled" in html and 'id="pipeline-indicator">UNKNOWN<' in html
    for key in ("pipeline-throughput", "queue-depths"):
        data = client.get(reverse("monitoring:chart", args=[key])).json()
        assert all(v is None for trace in data["traces"] for v in trace["y"])


def test_annotation_end_now_by_its_author(client, modules, operator, roles):
    from tests.factories import UserFactory

    gamma = modules["gamma"]
    note = Annotation.objects.create(
        module=gamma, text="backfill", author=operator, starts_at=timezone.now()
    )
    url = reverse("monitoring:annotation_end", args=[note.pk])
    other = UserFactory(username="operator2")
    other.groups.add(roles["Operator"].group)
    client.force_login(other)
    assert client.post(url).status_code == 403
    client.force_login(operator)
    assert client.get(url).status_code == 405
    page = client.get(reverse("monitoring:module", args=["gamma"])).content.decode()
    assert "End now" in page
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "End now" not in response.content.decode()
    note.refresh_from_db()
    assert note.ends_at is not None
    assert AuditEntry.objects.filter(action="annotation.end").count() == 1
    client.post(url)  # already ended: nothing changes
    assert AuditEntry.objects.filter(action="annotation.end").count() == 1
