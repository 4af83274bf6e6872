"""Alert rule pages and runbooks (issue 6): edit with validation (a bad PromQL expression is a
form error, never a 500), disable/enable, "test against the last hour" with the duration's
semantics, runbook pages rendered escaped, rules linking to them, and concurrent linking of
one alert on PostgreSQL."""

import json
import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEntry
from monitoring import rules, runbooks
from monitoring.alerting import evaluate_all
from monitoring.models import Alert, AlertRule, Runbook
from monitoring.policy import load as load_monitoring_policy
from monitoring.promql import MemorySource
from monitoring.store import store_samples
from tests.monitoring.factories import AlertFactory, ModuleFactory

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def seeded(db):
    load_monitoring_policy()


@pytest.fixture
def rule(seeded):
    return AlertRule.objects.get(name="gamma_destination_down")


def _url(name="gamma_destination_down", what="rule"):
    return reverse(f"monitoring:{what}", args=[name])


def _form(rule, **changes):
    data = {f: getattr(rule, f) for f in ("severity", "expr", "for_seconds", "summary", "runbook")}
    data.update(changes)
    return data


def _down_between(source, start, end, step=15):
    """gamma_destination_status: 0 in [start, end), 1 otherwise, over T0−1h … T0."""
    labels = {"__name__": "gamma_destination_status", "module": "gamma", "destination": "wh"}
    when = T0 - timedelta(hours=1, minutes=10)
    points = []
    while when <= T0:
        points.append((when.timestamp(), 0.0 if start <= when < end else 1.0))
        when += timedelta(seconds=step)
    source.add(labels, points)


# --- edit --------------------------------------------------------------------------------------


def test_opslead_edits_a_rule_and_it_is_audited_and_published(
    client, rule, opslead, django_capture_on_commit_callbacks
):
    client.force_login(opslead)
    with mock.patch("console.live.send_now") as send:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                _url(),
                _form(
                    rule,
                    severity="critical",
                    for_seconds=120,
                    expr=" gamma_destination_status < 1 ",
                ),
            )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.severity, rule.for_seconds, rule.expr) == (
        "critical",
        120,
        "gamma_destination_status < 1",
    )
    entry = AuditEntry.objects.get(action="alert_rule.update")
    assert entry.actor_name == "opslead"
    assert entry.before == {
        "severity": "high",
        "expr": "gamma_destination_status == 0",
        "for_seconds": 300,
    }
    assert ("alerts", "rules.changed") in [c.args[:2] for c in send.call_args_list]
    # Saving the same values again changes and records nothing.
    client.post(_url(), _form(rule))
    assert AuditEntry.objects.filter(action="alert_rule.update").count() == 1


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"expr": "gamma_destination_status =="}, "Not a usable PromQL expression"),
        ({"expr": "rate(gamma_x[5m]"}, "Not a usable PromQL expression"),
        ({"expr": "predict_linear(gamma_x[5m], 60) > 0"}, "not supported"),
        ({"expr": "rate(gamma_x)"}, "Not a usable PromQL expression"),
        ({"expr": ""}, "This field is required"),
        ({"severity": "apocalyptic"}, "Select a valid choice"),
        ({"for_seconds": "-5"}, "greater than or equal to 0"),
        ({"for_seconds": "ten"}, "Enter a whole number"),
        ({"for_seconds": "99999999"}, "At most a week"),
        ({"summary": "x" * 301}, "at most 300 characters"),
    ],
)
def test_rule_form_bad_input_is_a_form_error(client, rule, opslead, changes, error):
    client.force_login(opslead)
    response = client.post(_url(), _form(rule, **changes))
    assert response.status_code == 422
    assert error in response.content.decode()
    rule.refresh_from_db()
    assert rule.expr == "gamma_destination_status == 0" and rule.severity == "high"


def test_check_expr_refuses_what_the_evaluator_cannot_run():
    with pytest.raises(rules.PromQLError):
        rules.check_expr("sum(rate(x[5m])) by")
    assert rules.check_expr("  sum by (module) (rate(x[5m])) == 0 ") == (
        "sum by (module) (rate(x[5m])) == 0"
    )


def test_update_rule_refuses_fields_that_are_not_editable(rule, opslead):
    with pytest.raises(ValueError, match="not editable"):
        rules.update_rule(opslead, rule.pk, name="renamed")


# --- disable / enable ------------------------------------------------------------------------


def test_disabling_resolves_firing_drops_pending_and_stops_evaluation(
    client, rule, opslead, operator
):
    from incidents import policy, services

    policy.load()
    incident = services.declare(operator, title="t", severity="P2", summary="s")
    firing = AlertFactory(rule=rule, incident=incident)
    pending = AlertFactory(rule=rule, state="pending", labels={"module": "gamma", "k": "p"})
    client.force_login(opslead)
    response = client.post(_url(what="rule_enabled"), {"enabled": "0"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert not rule.enabled
    firing.refresh_from_db()
    assert firing.state == "resolved" and firing.resolved_at is not None
    assert not Alert.objects.filter(pk=pending.pk).exists()
    assert incident.timeline.filter(text__startswith="Alert gamma_destination_down resolved")
    assert AuditEntry.objects.filter(action="alert_rule.disable", actor_name="opslead").exists()
    assert "gamma_destination_down" not in evaluate_all(source=MemorySource())
    # Disabling again is a no-op; enabling brings it back into evaluation.
    client.post(_url(what="rule_enabled"), {"enabled": "0"})
    assert AuditEntry.objects.filter(action="alert_rule.disable").count() == 1
    client.post(_url(what="rule_enabled"), {"enabled": "1"})
    rule.refresh_from_db()
    assert rule.enabled
    assert "gamma_destination_down" in evaluate_all(source=MemorySource())
    assert client.get(_url(what="rule_enabled")).status_code == 405


# --- test against the last hour --------------------------------------------------------------


def test_rule_test_shows_when_it_would_have_fired_and_resolved(rule):
    source = MemorySource()
    _down_between(source, T0 - timedelta(minutes=30), T0 - timedelta(minutes=10))
    result = rules.test_rule(rule, end=T0, source=source)
    assert result.error == ""
    [episode] = result.episodes
    assert episode.pending_at == T0 - timedelta(minutes=30)
    assert episode.fired_at == T0 - timedelta(minutes=25)  # held for the rule's 5 minutes
    # The instant selector looks back 5 minutes (Prometheus's lookback): the last 0 sample
    # at T0−10m15s still answers until a newer 1 replaces it, at T0−10m.
    assert episode.resolved_at == T0 - timedelta(minutes=10)
    assert episode.labels["alertname"] == "gamma_destination_down"
    assert episode.labels["destination"] == "wh"
    chart = result.chart()
    assert chart["threshold"] == 0.0
    assert [t["name"] for t in chart["traces"]] == ['{destination="wh", module="gamma"}']
    assert len(chart["traces"][0]["y"]) == len(result.times) == 241
    assert chart["shapes"][0]["x0"] == episode.fired_at.isoformat()


def test_rule_test_drops_a_blip_shorter_than_the_duration(rule):
    source = MemorySource()
    _down_between(source, T0 - timedelta(minutes=30), T0 - timedelta(minutes=28))
    result = rules.test_rule(rule, end=T0, source=source)
    assert result.episodes == [] and result.fired == []
    # With no duration the same blip fires at once.
    result = rules.test_rule(rule, for_seconds=0, end=T0, source=source)
    assert [e.fired_at for e in result.fired] == [T0 - timedelta(minutes=30)]


def test_rule_test_of_a_draft_expression(rule):
    source = MemorySource()
    _down_between(source, T0 - timedelta(minutes=30), T0 - timedelta(minutes=10))
    result = rules.test_rule(rule, expr="gamma_destination_status == 1", end=T0, source=source)
    assert result.threshold == 1.0
    assert [e.fired_at for e in result.fired] == [
        T0 - timedelta(hours=1) + timedelta(minutes=5),
        T0 - timedelta(minutes=5),
    ]


def test_rule_test_page_reads_the_store(client, rule, viewer):
    gamma = ModuleFactory(name="gamma", kind="gamma")
    now = timezone.now().replace(microsecond=0)
    for k in range(0, 20 * 4):
        ts = now - timedelta(seconds=15 * k)
        store_samples(
            gamma, [("gamma_destination_status", {"destination": "wh"}, 0.0, "gauge")], ts
        )
    client.force_login(viewer)
    response = client.get(_url(what="rule_test"), **HX)
    assert response.status_code == 200
    result = response.context["result"]
    assert len(result.fired) == 1
    assert result.fired[0].labels["module"] == "gamma"
    body = response.content.decode()
    assert 'id="rule-test-chart-data"' in body and "1</strong> alert would have fired" in body
    script = body.split('id="rule-test-chart-data"')[1]
    data = json.loads(script.split(">", 1)[1].split("</script>")[0])
    assert data["traces"][0]["name"] == '{destination="wh", module="gamma"}'


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("?expr=rate(", "parenthesis"),
        ("?expr=nope(x) > 1", "unknown function"),
        ("?for_seconds=abc", "whole number of seconds"),
        ("?for_seconds=-1", "whole number of seconds"),
    ],
)
def test_rule_test_bad_draft_is_shown_not_a_500(client, rule, viewer, query, error):
    client.force_login(viewer)
    response = client.get(_url(what="rule_test") + query, **HX)
    assert response.status_code == 200
    assert 'id="rule-test-error"' in response.content.decode()
    assert error.lower() in response.context["error"].lower()


def test_rule_pages_link_each_rule_to_its_runbook(client, seeded, viewer):
    client.force_login(viewer)
    body = client.get(reverse("monitoring:rules")).content.decode()
    for rule in AlertRule.objects.all():
        link = runbooks.find(rule.runbook)
        assert link is not None, rule.runbook  # every seeded rule has a page
        href = reverse("monitoring:runbook", args=[link.runbook.slug])
        assert href in body
    body = client.get(_url("gamma_dlq_growing")).content.decode()
    assert reverse("monitoring:runbook", args=["runbook-c"]) + "#c-2" in body


# --- runbooks --------------------------------------------------------------------------------


def test_runbooks_are_seeded_once_from_001(seeded):
    slugs = set(Runbook.objects.values_list("slug", flat=True))
    assert {f"runbook-{c}" for c in "abcdef"} <= slugs
    assert {
        "scenario-alpha-source-failure",
        "scenario-beta-transformation-backlog",
        "scenario-gamma-delivery-failures",
        "scenario-end-to-end-latency-spike",
    } <= slugs
    Runbook.objects.filter(slug="runbook-a").update(title="Edited in the admin")
    assert "(0 new)" in runbooks.load()
    assert Runbook.objects.get(slug="runbook-a").title == "Edited in the admin"


def test_runbook_page_renders_sections_steps_and_code(client, seeded, viewer):
    client.force_login(viewer)
    body = client.get(reverse("monitoring:runbook", args=["runbook-c"])).content.decode()
    assert (
        '<h2 class="h5 mt-4 runbook-section" id="c-2">C.2 Processing Dead Letter Queue</h2>' in body
    )
    assert "<strong>" in body and "<pre" in body
    assert 'id="runbook-actions"' in body  # the slot runbook actions (issue 10) fill
    assert reverse("monitoring:rule", args=["gamma_dlq_growing"]) in body
    body = client.get(
        reverse("monitoring:runbook", args=["scenario-gamma-delivery-failures"])
    ).content.decode()
    assert "<li>Check destination connectivity" in body


def test_runbook_page_links_the_guided_actions_that_carry_out_its_steps(client, seeded, viewer):
    from monitoring.models import Module

    for name in ("alpha", "gamma"):
        Module.objects.create(name=name, kind=name, base_url=f"http://127.0.0.1:1/{name}")
    client.force_login(viewer)
    body = client.get(reverse("monitoring:runbook", args=["runbook-a"])).content.decode()
    panel = body[body.index('id="runbook-actions"') :]
    panel = panel[: panel.index("</section>")]
    assert reverse("monitoring:action", args=["alpha", "source_disable"]) in panel
    assert reverse("monitoring:action", args=["alpha", "source_test"]) in panel
    assert "dlq_replay" not in panel  # Runbook C's
    body = client.get(reverse("monitoring:runbook", args=["runbook-c"])).content.decode()
    assert reverse("monitoring:action", args=["gamma", "dlq_replay"]) in body
    body = client.get(reverse("monitoring:runbook", args=["runbook-f"])).content.decode()
    assert reverse("monitoring:jobs") in body


def test_runbook_text_is_escaped(client, seeded, viewer):
    Runbook.objects.create(
        slug="evil",
        title="<img src=x onerror=alert(1)>",
        kind="procedure",
        body=(
            "#### X.1 <script>alert(1)</script>\n"
            "**<b>Purpose:</b>** do `<i>` things\n"
            "1. **Step <em>one</em>**\n"
            "   ```bash\n   echo '</pre><script>x()</script>'\n   ```\n"
            "- [ ] <a href=javascript:alert(1)>check</a>\n"
        ),
    )
    client.force_login(viewer)
    body = client.get(reverse("monitoring:runbook", args=["evil"])).content.decode()
    for raw in (
        "<script>alert",
        "<img src=x",
        "<b>Purpose",
        "<em>one",
        "<i>",
        "<a href=java",
        "</pre><script>",
    ):
        assert raw not in body, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "<strong>Step &lt;em&gt;one&lt;/em&gt;</strong>" in body


def test_runbook_blocks_nest_code_under_their_step():
    parsed = runbooks.blocks("1. **Do it**\n   ```bash\n   curl x\n   ```\n2. Then\n")
    [ol] = parsed
    assert ol["kind"] == "ol" and len(ol["items"]) == 2
    assert ol["items"][0].children == [{"kind": "code", "lang": "bash", "text": "curl x"}]


def test_unknown_runbook_is_404(client, seeded, viewer):
    client.force_login(viewer)
    assert client.get(reverse("monitoring:runbook", args=["nope"])).status_code == 404


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_commanders_linking_one_alert_at_once_one_wins(operator, opslead):
    from django.test import Client

    from incidents import policy, services

    policy.load()
    load_monitoring_policy()
    first = services.declare(operator, title="a", severity="P3", summary="s")
    second = services.declare(opslead, title="b", severity="P3", summary="s")
    alert = AlertFactory()
    barrier = threading.Barrier(2)
    results = {}

    def link(user, incident):
        client = Client()
        client.force_login(user)
        barrier.wait()
        try:
            response = client.post(
                reverse("monitoring:incident_alert_link", args=[incident.number]),
                {"alert": alert.pk},
                HTTP_HX_REQUEST="true",
            )
            results[incident.number] = response.get("X-Refused-Status", "200")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=link, args=(operator, first)),
        threading.Thread(target=link, args=(opslead, second)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["200", "409"], results
    winner = next(number for number, code in results.items() if code == "200")
    alert.refresh_from_db()
    assert alert.incident.number == winner
    assert AuditEntry.objects.filter(action="alert.link").count() == 1


def test_rule_test_of_an_expression_failing_on_the_data_is_shown(rule):
    source = MemorySource()
    source.add(
        {"__name__": "gamma_x", "module": "gamma"},
        [((T0 - timedelta(minutes=m)).timestamp(), -1.0) for m in range(70)],
    )
    result = rules.test_rule(rule, expr="ln(gamma_x) > 0", end=T0, source=source)
    assert "failed on the stored data" in result.error
