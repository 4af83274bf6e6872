"""Alert routing (issue 6, 001 "Alert Routing"): the route tree with `continue`, grouping,
group_wait / group_interval / repeat_interval as Alertmanager defines them, send_resolved
(also for alerts muted since they were told), and the flush scan fired once under concurrency."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from incidents.models import Notification, NotificationChannel
from monitoring import routing
from monitoring.alerting import fingerprint
from monitoring.models import Alert, AlertGroup, Receiver, Route, Silence
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SEVERITY_M = {"severity": "critical"}


@pytest.fixture
def seeded(roles):
    """001's routes and receivers, every channel enabled, one on-call engineer with email."""
    call_command("load_policy", verbosity=0)
    NotificationChannel.objects.filter(events=["alert"]).update(enabled=True)
    oncall = UserFactory(username="oncall", email="oncall@example.com")
    oncall.groups.add(roles["On-call Engineer"].group)
    return oncall


def fire(name, severity, at, **labels):
    labels = {"alertname": name, "severity": severity, **labels}
    alert = Alert.objects.create(
        fingerprint=fingerprint(labels),
        name=name,
        severity=severity,
        labels=labels,
        annotations={"summary": f"{name} on {labels.get('module', '?')}"},
        state="firing",
        active_since=at,
        fired_at=at,
        last_evaluated_at=at,
    )
    routing.on_fired(alert, at)
    return alert


def resolve(alert, at):
    alert.state, alert.resolved_at = "resolved", at
    alert.save(update_fields=["state", "resolved_at"])
    routing.on_resolved(alert, at)


def scan(at, seconds=0):
    return routing.scan_due(at + timedelta(seconds=seconds))


def pages(user):
    """Subjects of the alert pages the user got in the console, oldest first."""
    return list(
        Notification.objects.filter(
            user=user, kind="console", audience=Notification.Audience.ALERTS
        )
        .order_by("created_at", "pk")
        .values_list("subject", flat=True)
    )


def messages(receiver_name):
    """Subjects sent to a receiver's channels (one row per channel per flush)."""
    channels = Receiver.objects.get(name=receiver_name).channels.all()
    return list(
        Notification.objects.filter(channel__in=channels)
        .order_by("created_at", "pk")
        .values_list("subject", flat=True)
    )


# --- matching ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "route", "receiver", "repeat"),
    [
        ("critical", "critical", "pagerduty-critical", 300),
        ("high", "high", "pagerduty-high", 900),
        ("medium", "medium", "slack-ops", 3600),
        ("low", "low", "email-ops", 4 * 3600),
        ("info", "info", "slack-info", 24 * 3600),
        ("warning", "root", "slack-ops", 4 * 3600),
    ],
)
def test_route_seeded_severity_routes_take_their_receiver(
    seeded, severity, route, receiver, repeat
):
    result = routing.test_route({"alertname": "x", "severity": severity, "module": "gamma"})
    [match] = result["matches"]
    assert (match["route"], match["receiver"], match["repeat_interval"]) == (
        route,
        receiver,
        repeat,
    )
    assert match["group_labels"] == {"module": "gamma"}
    assert (match["group_wait"], match["group_interval"]) == (30, 300)


def test_route_continue_tries_the_next_siblings(seeded):
    root = Route.objects.get(name="root")
    extra = Route.objects.create(
        name="gamma-email",
        parent=root,
        position=0,
        matchers=[{"name": "module", "value": "gam.*", "isRegex": True, "isEqual": True}],
        receiver=Receiver.objects.get(name="email-ops"),
        continue_matching=True,
    )
    labels = {"alertname": "x", "severity": "critical", "module": "gamma"}
    assert [m["route"] for m in routing.test_route(labels)["matches"]] == [
        "gamma-email",
        "critical",
    ]
    extra.continue_matching = False
    extra.save()
    assert [m["route"] for m in routing.test_route(labels)["matches"]] == ["gamma-email"]
    # Not matching the regex: the next sibling as before.
    other = {**labels, "module": "beta"}
    assert [m["route"] for m in routing.test_route(other)["matches"]] == ["critical"]


def test_route_child_inherits_and_not_equal_matcher(seeded):
    critical = Route.objects.get(name="critical")
    Route.objects.create(
        name="critical-not-alpha",
        parent=critical,
        matchers=[{"name": "module", "value": "alpha", "isRegex": False, "isEqual": False}],
        group_by=["module", "instance"],
    )
    [match] = routing.test_route({"severity": "critical", "module": "beta", "instance": "b1"})[
        "matches"
    ]
    assert match["path"] == ["root", "critical", "critical-not-alpha"]
    assert match["receiver"] == "pagerduty-critical" and match["repeat_interval"] == 300
    assert match["group_labels"] == {"module": "beta", "instance": "b1"}
    # alpha does not match the child: the parent itself is the match.
    [match] = routing.test_route({"severity": "critical", "module": "alpha"})["matches"]
    assert match["route"] == "critical"


def test_route_disabled_route_is_skipped(seeded):
    Route.objects.filter(name="critical").update(enabled=False)
    [match] = routing.test_route({"severity": "critical"})["matches"]
    assert match["route"] == "root"


# --- grouping, group_wait, group_interval -----------------------------------------------


def test_group_wait_then_a_storm_is_one_notification(seeded):
    for i in range(5):
        fire(
            "gamma_destination_down",
            "critical",
            T0 + timedelta(seconds=i),
            module="gamma",
            destination=f"d{i}",
        )
    assert AlertGroup.objects.count() == 1
    assert scan(T0, 29) == 0 and pages(seeded) == []
    assert scan(T0, 30) == 1
    [subject] = pages(seeded)
    assert subject.startswith("[FIRING:5] gamma_destination_down (module=gamma)")
    # And by email to the on-call, queued for the delivery scan.
    assert Notification.objects.filter(kind="email", target="oncall@example.com").count() == 1


def test_groups_split_by_group_by_labels(seeded):
    fire("a", "critical", T0, module="gamma")
    fire("b", "critical", T0, module="beta")
    scan(T0, 30)
    assert sorted(pages(seeded)) == ["[FIRING:1] a (module=gamma)", "[FIRING:1] b (module=beta)"]


def test_group_interval_tells_new_alerts_at_the_next_flush(seeded):
    fire("a", "critical", T0, module="gamma")
    scan(T0, 30)
    fire("b", "critical", T0 + timedelta(seconds=60), module="gamma")
    # A new alert in a group already notified waits for group_interval (30 + 300 s).
    scan(T0, 60 + 30)
    scan(T0, 329)
    assert len(pages(seeded)) == 1
    scan(T0, 330)
    assert pages(seeded)[-1].startswith("[FIRING:2] a, b")


# --- repeat_interval per severity --------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "repeat"),
    [("critical", 300), ("high", 900), ("medium", 3600), ("low", 4 * 3600), ("info", 24 * 3600)],
)
def test_repeat_interval_per_severity(seeded, severity, repeat):
    fire("x", severity, T0, module="gamma")
    group = AlertGroup.objects.get()

    def sent():
        return Notification.objects.filter(alert_group=group, kind__in=["slack", "email"]).count()

    scan(T0, 30)
    first = sent()
    assert first >= 1
    # Flushes every group_interval (300 s) send nothing new until repeat_interval has passed.
    at = 30 + 300
    while at < 30 + repeat:
        scan(T0, at)
        at += 300
    assert sent() == first
    scan(T0, 30 + repeat)
    assert sent() == 2 * first


# --- send_resolved, silences, inhibition -------------------------------------------------


def test_send_resolved_tells_the_resolution_at_the_next_flush(seeded):
    alert = fire("a", "critical", T0, module="gamma")
    scan(T0, 30)
    resolve(alert, T0 + timedelta(seconds=100))
    scan(T0, 329)
    assert len(pages(seeded)) == 1
    scan(T0, 330)
    assert pages(seeded)[-1] == "[RESOLVED] a (module=gamma)"
    # The group is idle now: empty, no flush due.
    group = AlertGroup.objects.get()
    assert group.next_flush_at is None and not group.members.exists()


def test_without_send_resolved_the_resolution_is_not_sent(seeded):
    alert = fire("i", "info", T0, module="gamma")
    scan(T0, 30)
    resolve(alert, T0 + timedelta(seconds=100))
    scan(T0, 330)
    assert messages("slack-info") == ["[FIRING:1] i (module=gamma)"]


def test_resolution_of_a_new_alert_in_a_notified_group_is_sent_with_the_rest(seeded):
    a = fire("a", "critical", T0, module="gamma")
    fire("b", "critical", T0, module="gamma")
    scan(T0, 30)
    resolve(a, T0 + timedelta(seconds=60))
    scan(T0, 330)
    assert pages(seeded)[-1] == "[FIRING:1] b (module=gamma); 1 resolved"


def test_an_alert_resolved_before_group_wait_notifies_no_one(seeded):
    alert = fire("a", "critical", T0, module="gamma")
    resolve(alert, T0 + timedelta(seconds=10))
    scan(T0, 30)
    assert pages(seeded) == []


def _silence(at, **labels):
    return Silence.objects.create(
        matchers=[
            {"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in labels.items()
        ],
        starts_at=at,
        ends_at=at + timedelta(hours=2),
        created_by_name="operator",
        comment="maintenance",
    )


def test_a_silenced_alert_notifies_no_one(seeded):
    _silence(T0, module="gamma")
    alert = fire("a", "critical", T0, module="gamma")
    for at in range(30, 3600, 300):
        scan(T0, at)
    resolve(alert, T0 + timedelta(hours=1))
    scan(T0, 3630)
    assert pages(seeded) == []


def test_resolution_is_sent_for_an_alert_silenced_after_it_was_told(seeded):
    alert = fire("a", "critical", T0, module="gamma")
    scan(T0, 30)
    _silence(T0 + timedelta(seconds=40), module="gamma")
    # Silenced: no repeats while it fires.
    for at in range(330, 1800, 300):
        scan(T0, at)
    assert len(pages(seeded)) == 1
    resolve(alert, T0 + timedelta(seconds=1800))
    scan(T0, 1830)
    assert pages(seeded) == ["[FIRING:1] a (module=gamma)", "[RESOLVED] a (module=gamma)"]


def test_resolution_is_sent_for_an_alert_inhibited_after_it_was_told(seeded):
    target = fire("alpha_high_parse_error_rate", "high", T0, module="alpha", instance="a1")
    scan(T0, 30)
    # 001's inhibition: alpha_ingestion_stopped mutes the other Alpha alerts of its instance.
    fire(
        "alpha_ingestion_stopped",
        "critical",
        T0 + timedelta(seconds=40),
        module="alpha",
        instance="a1",
    )
    scan(T0, 70)  # the critical group's first flush
    scan(T0, 30 + 900)  # the high group's repeat is due, but its only alert is inhibited
    high = [s for s in pages(seeded) if "parse_error" in s]
    assert high == ["[FIRING:1] alpha_high_parse_error_rate (module=alpha)"]
    resolve(target, T0 + timedelta(seconds=1000))
    scan(T0, 30 + 1200)
    high = [s for s in pages(seeded) if "parse_error" in s]
    assert high[-1] == "[RESOLVED] alpha_high_parse_error_rate (module=alpha)"


def test_an_unsilenced_alert_that_was_never_told_is_told(seeded):
    silence = _silence(T0, module="gamma")
    fire("a", "critical", T0, module="gamma")
    scan(T0, 30)
    assert pages(seeded) == []
    Silence.objects.filter(pk=silence.pk).update(ends_at=T0 + timedelta(seconds=100))
    scan(T0, 330)
    assert pages(seeded) == ["[FIRING:1] a (module=gamma)"]


# --- the pipeline feeds it -----------------------------------------------------------------


def test_rule_evaluation_feeds_routing(seeded):
    from monitoring.alerting import evaluate_rule
    from monitoring.models import AlertRule
    from monitoring.promql import MemorySource

    labels = {"module": "gamma", "instance": "gamma-1", "destination": "analytics_warehouse"}
    rule = AlertRule.objects.get(name="gamma_circuit_breaker_open")
    for seconds in (0, 60, 75):
        source = MemorySource()
        at = T0 + timedelta(seconds=seconds)
        source.add({"__name__": "gamma_circuit_breaker_state", **labels}, [(at.timestamp(), 1.0)])
        evaluate_rule(rule, at, source)
    group = AlertGroup.objects.get()
    assert group.route.name == rule.severity and group.labels == {"module": "gamma"}
    assert group.next_flush_at == T0 + timedelta(seconds=60 + 30)


def test_alertmanager_intake_feeds_routing(seeded):
    from monitoring import intake

    alerts = intake.validate(
        {
            "version": "4",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "ext", "severity": "high", "module": "beta"},
                    "startsAt": "2026-11-21T12:00:00Z",
                }
            ],
        }
    )
    intake.apply(alerts)
    group = AlertGroup.objects.get()
    assert group.route.name == "high" and group.members.count() == 1


def test_webhook_receiver_gets_alertmanagers_payload(seeded):
    from incidents import notify
    from tests.incidents.test_notifications import Hook

    hook = Hook()
    try:
        hook_channel = NotificationChannel.objects.create(
            name="hook", kind="webhook", target=hook.url + "/am", events=["alert"]
        )
        Receiver.objects.get(name="pagerduty-critical").channels.add(hook_channel)
        fire("a", "critical", T0, module="gamma", instance="g1")
        scan(T0, 30)
        row = Notification.objects.get(channel=hook_channel)
        assert row.incident is None and row.alert_group is not None
        # Delivered by the incidents' machinery (claim, fenced attempt); no timeline to write.
        outcomes = [notify.deliver(pk, attempt) for pk, attempt in notify.claim_due()]
        assert "sent" in outcomes
        [received] = hook.received
    finally:
        hook.close()
    body = received["body"]
    assert received["path"] == "/am"
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["receiver"] == "pagerduty-critical" and body["groupLabels"] == {"module": "gamma"}
    assert body["alerts"][0]["labels"]["instance"] == "g1"
    assert Notification.objects.get(pk=row.pk).state == "sent"


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_scans_at_once_send_each_flush_once(seeded):
    for i in range(12):
        fire(f"a{i}", "critical", T0, module=f"m{i}")
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            barrier.wait()
            routing.scan_due(T0 + timedelta(seconds=30))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    subjects = pages(seeded)
    assert len(subjects) == 12 and len(set(subjects)) == 12


# --- evaluation cadence ----------------------------------------------------------------------


def test_evaluation_time_keeps_the_cadence_through_task_jitter(settings):
    from monitoring.alerting import EVALUATION_CLOCK, evaluation_time

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache

    cache.delete(EVALUATION_CLOCK)
    assert evaluation_time(T0 + timedelta(seconds=0.2), 15) == T0 + timedelta(seconds=0.2)
    # Late by 3 s: still the cadence's time, so "held for 5 min" counts whole evaluations.
    late = evaluation_time(T0 + timedelta(seconds=18.2), 15)
    assert late == T0 + timedelta(seconds=15.2)
    assert evaluation_time(T0 + timedelta(seconds=30.3), 15) == T0 + timedelta(seconds=30.2)
    # Never ahead of the clock: an earlier task restarts the cadence at its own time.
    assert evaluation_time(T0 + timedelta(seconds=45.1), 15) == T0 + timedelta(seconds=45.1)
    # After a gap (a worker was down) a time off the cadence restarts it.
    assert evaluation_time(T0 + timedelta(seconds=207), 15) == T0 + timedelta(seconds=207)
