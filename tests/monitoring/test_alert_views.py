"""Alert pages (issue 6): the permission matrix for operator/viewer/outsider, the live board's
groups, history filters, silences from the UI (form errors, "silence like this", expire), and
the war room's alerts panel with link/unlink."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEntry
from monitoring import alert_incidents
from monitoring.models import Alert, InhibitRule, Silence
from monitoring.policy import load as load_monitoring_policy
from monitoring.silences import create_silence
from tests.monitoring.factories import AlertFactory

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def seeded(db):
    load_monitoring_policy()


@pytest.fixture
def alert(seeded):
    from monitoring.models import AlertRule

    return AlertFactory(rule=AlertRule.objects.get(name="gamma_destination_down"))


@pytest.fixture
def incident(operator):
    from incidents import policy, services

    policy.load()
    return services.declare(
        operator, title="Gamma deliveries failing", severity="P2", summary="DLQ growing."
    )


def _read_pages(alert):
    return [
        reverse("monitoring:alerts"),
        reverse("monitoring:alert", args=[alert.pk]),
        reverse("monitoring:silences"),
        reverse("monitoring:rules"),
        reverse("monitoring:rule", args=["gamma_destination_down"]),
        reverse("monitoring:runbooks"),
        reverse("monitoring:runbook", args=["scenario-gamma-delivery-failures"]),
    ]


# --- the permission matrix --------------------------------------------------------------------


def test_pages_send_anonymous_users_to_login(client, alert):
    for url in [*_read_pages(alert), reverse("monitoring:silence_add")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))


def test_pages_refuse_a_user_without_a_role(client, alert, outsider):
    client.force_login(outsider)
    for url in [*_read_pages(alert), reverse("monitoring:silence_add")]:
        assert client.get(url).status_code == 403, url
    assert client.get(url, **HX).status_code == 403


def test_viewer_reads_every_page_but_changes_nothing(client, alert, viewer):
    client.force_login(viewer)
    for url in _read_pages(alert):
        assert client.get(url).status_code == 200, url
    assert client.get(reverse("monitoring:silence_add")).status_code == 403
    silence = create_silence(
        None,
        [{"name": "module", "value": "gamma"}],
        timezone.now(),
        timezone.now() + timedelta(hours=1),
        "maintenance",
    )
    assert client.post(reverse("monitoring:silence_expire", args=[silence.pk])).status_code == 403
    assert (
        client.post(
            reverse("monitoring:rule", args=["gamma_destination_down"]), {"severity": "low"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("monitoring:rule_enabled", args=["gamma_destination_down"]), {"enabled": "0"}
        ).status_code
        == 403
    )


def test_operator_reads_and_silences_but_does_not_edit_rules(client, alert, operator):
    client.force_login(operator)
    for url in [*_read_pages(alert), reverse("monitoring:silence_add")]:
        assert client.get(url).status_code == 200, url
    response = client.get(reverse("monitoring:rule", args=["gamma_destination_down"]))
    assert b'id="rule-form"' not in response.content
    assert (
        client.post(
            reverse("monitoring:rule_enabled", args=["gamma_destination_down"]), {"enabled": "0"}
        ).status_code
        == 403
    )


def test_fragments_answer_htmx_with_the_fragment_only(client, alert, viewer):
    client.force_login(viewer)
    for url, root in [
        (reverse("monitoring:alerts") + "?fragment=board", 'id="alert-board"'),
        (reverse("monitoring:alerts") + "?fragment=history", 'id="alert-history"'),
        (reverse("monitoring:alert", args=[alert.pk]) + "?fragment=detail", 'id="alert-panel"'),
        (reverse("monitoring:silences") + "?fragment=table", 'id="silence-table"'),
        (reverse("monitoring:rules") + "?fragment=table", 'id="rule-table"'),
    ]:
        body = client.get(url, **HX).content.decode()
        assert root in body and "<html" not in body, url
    # A fragment URL opened without htmx (a copied pagination link) is the whole page.
    body = client.get(reverse("monitoring:alerts") + "?fragment=history").content.decode()
    assert "<html" in body and 'id="alert-board"' in body


def test_alert_topic_needs_the_view_permission(alert, viewer, outsider):
    from console import live

    assert live.may_subscribe(viewer, "alerts")
    assert not live.may_subscribe(outsider, "alerts")


# --- the board -------------------------------------------------------------------------------


def test_board_groups_firing_pending_silenced_and_inhibited(client, seeded, viewer):
    now = timezone.now()
    firing = AlertFactory(name="beta_quality_score_low", labels={"module": "beta", "x": "1"})
    pending = AlertFactory(state="pending", fired_at=None, labels={"module": "beta", "x": "2"})
    silenced = AlertFactory(labels={"module": "alpha", "instance": "a-1"})
    create_silence(None, [{"name": "module", "value": "alpha"}], now, now + timedelta(hours=1), "m")
    InhibitRule.objects.all().delete()
    InhibitRule.objects.create(
        source_match={"alertname": "gamma_delivery_stopped"},
        target_match={"module": "gamma"},
        equal=["instance"],
    )
    AlertFactory(
        name="gamma_delivery_stopped",
        labels={"alertname": "gamma_delivery_stopped", "module": "gamma", "instance": "g-1"},
    )
    inhibited = AlertFactory(labels={"module": "gamma", "instance": "g-1", "destination": "d"})
    resolved = AlertFactory(state="resolved", resolved_at=now, labels={"module": "beta", "r": "1"})
    client.force_login(viewer)
    response = client.get(reverse("monitoring:alerts"))
    groups = response.context["groups"]
    assert firing in groups["firing"] and pending in groups["pending"]
    assert groups["silenced"] == [silenced] and groups["inhibited"] == [inhibited]
    assert all(resolved not in rows for rows in groups.values())
    body = response.content.decode()
    assert 'data-live-topic="alerts"' in body
    assert f'id="alert-row-{silenced.pk}"' in body and "silenced</span>" in body
    # History holds every episode, the resolved one too.
    assert resolved in response.context["page"].object_list


def test_board_shows_labels_value_rule_runbook_and_incident(client, alert, incident, viewer):
    Alert.objects.filter(pk=alert.pk).update(incident=incident, value=0.25)
    client.force_login(viewer)
    body = client.get(reverse("monitoring:alerts") + "?fragment=board", **HX).content.decode()
    row = body[body.index(f'id="alert-row-{alert.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "destination=<strong>analytics_warehouse</strong>" in row
    assert "0.25" in row
    assert reverse("monitoring:rule", args=["gamma_destination_down"]) in row
    assert reverse("monitoring:runbook", args=["scenario-gamma-delivery-failures"]) in row
    assert incident.number in row


def test_board_query_count_does_not_grow_with_alerts(
    client, seeded, viewer, django_assert_max_num_queries
):
    for i in range(30):
        AlertFactory(labels={"module": "gamma", "n": str(i)})
    client.force_login(viewer)
    with django_assert_max_num_queries(20):
        client.get(reverse("monitoring:alerts"))


# --- history filters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=quality", {"q"}),
        ("module=alpha", {"a"}),
        ("severity=critical", {"c"}),
        ("state=resolved", {"r"}),
        ("source=alertmanager", {"am"}),
        ("since=2026-01-01T00:00&until=2026-01-02T00:00", {"old"}),
    ],
)
def test_history_filters(client, seeded, viewer, query, expected):
    from datetime import UTC, datetime

    made = {
        "q": AlertFactory(name="beta_quality_score_low", labels={"module": "beta", "k": "q"}),
        "a": AlertFactory(labels={"module": "alpha", "k": "a"}),
        "c": AlertFactory(severity="critical", labels={"module": "beta", "k": "c"}),
        "r": AlertFactory(state="resolved", labels={"module": "beta", "k": "r"}),
        "am": AlertFactory(source="alertmanager", labels={"module": "beta", "k": "am"}),
        "old": AlertFactory(
            active_since=datetime(2026, 1, 1, 12, tzinfo=UTC), labels={"module": "beta", "k": "o"}
        ),
    }
    client.force_login(viewer)
    response = client.get(reverse("monitoring:alerts") + "?" + query)
    found = {key for key, a in made.items() if a in response.context["page"].object_list}
    assert found == expected


def test_history_bad_filter_is_a_form_error_not_a_500(client, seeded, viewer):
    AlertFactory()
    client.force_login(viewer)
    response = client.get(reverse("monitoring:alerts") + "?since=yesterday&state=exploded")
    assert response.status_code == 200
    assert list(response.context["page"].object_list) == []
    assert response.context["filter"].errors


def test_history_paginates(client, seeded, viewer):
    for i in range(30):
        AlertFactory(state="resolved", labels={"module": "gamma", "n": str(i)})
    client.force_login(viewer)
    response = client.get(reverse("monitoring:alerts") + "?state=resolved")
    assert len(response.context["page"].object_list) == 25
    assert "state=resolved&amp;page=2" in response.content.decode()


# --- alert detail ------------------------------------------------------------------------------


def test_alert_detail_shows_silence_and_episodes(client, alert, operator):
    now = timezone.now()
    silence = create_silence(
        operator, [{"name": "module", "value": "gamma"}], now, now + timedelta(hours=1), "deploy"
    )
    earlier = AlertFactory(
        fingerprint=alert.fingerprint, state="resolved", active_since=now - timedelta(days=1)
    )
    client.force_login(operator)
    body = client.get(reverse("monitoring:alert", args=[alert.pk])).content.decode()
    assert 'id="alert-silenced"' in body and f"silence {silence.pk}" in body
    assert reverse("monitoring:alert", args=[earlier.pk]) in body
    assert f"{reverse('monitoring:silence_add')}?alert={alert.pk}" in body


def test_alert_detail_of_a_missing_alert_is_404(client, seeded, viewer):
    client.force_login(viewer)
    assert client.get(reverse("monitoring:alert", args=[999])).status_code == 404


# --- silences --------------------------------------------------------------------------------


def _silence_post(matchers, **fields):
    now = timezone.localtime()
    data = {
        "m-TOTAL_FORMS": str(len(matchers)),
        "m-INITIAL_FORMS": "0",
        "m-MIN_NUM_FORMS": "0",
        "m-MAX_NUM_FORMS": "20",
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "comment": "Weekly maintenance window",
    }
    for i, (name, op, value) in enumerate(matchers):
        data.update({f"m-{i}-name": name, f"m-{i}-op": op, f"m-{i}-value": value})
    data.update(fields)
    return data


def test_operator_creates_a_silence_with_every_operator(client, alert, operator):
    client.force_login(operator)
    response = client.post(
        reverse("monitoring:silence_add"),
        _silence_post(
            [
                ("module", "=", "gamma"),
                ("destination", "!=", "x"),
                ("instance", "=~", "g-.*"),
                ("env", "!~", "stag.*"),
                ("", "=", ""),
            ]
        ),
    )
    assert response.status_code == 302
    silence = Silence.objects.get()
    assert silence.matchers == [
        {"name": "module", "value": "gamma", "isRegex": False, "isEqual": True},
        {"name": "destination", "value": "x", "isRegex": False, "isEqual": False},
        {"name": "instance", "value": "g-.*", "isRegex": True, "isEqual": True},
        {"name": "env", "value": "stag.*", "isRegex": True, "isEqual": False},
    ]
    assert silence.created_by == operator
    assert AuditEntry.objects.filter(action="silence.create", actor_name="operator").exists()


@pytest.mark.parametrize(
    ("matchers", "fields", "error"),
    [
        ([("module", "=~", "(unclosed")], {}, "Invalid regex"),
        ([("", "=", "")], {}, "At least one matcher"),
        ([("module", "=~", ".*")], {}, "match every alert"),
        ([("module", "=", "gamma")], {"comment": ""}, "This field is required"),
        ([("module", "=", "gamma")], {"ends_at": "2020-01-01T00:00"}, "after the start"),
        ([("module", "=", "gamma")], {"ends_at": "soon"}, "Enter a valid date/time"),
        ([("module", "==", "gamma")], {}, "Select a valid choice"),
    ],
)
def test_silence_form_bad_input_is_a_form_error(client, alert, operator, matchers, fields, error):
    client.force_login(operator)
    response = client.post(reverse("monitoring:silence_add"), _silence_post(matchers, **fields))
    assert response.status_code == 422
    assert error in response.content.decode()
    assert not Silence.objects.exists()


def test_silence_like_this_alert_prefills_its_labels(client, alert, operator):
    client.force_login(operator)
    response = client.get(reverse("monitoring:silence_add") + f"?alert={alert.pk}")
    formset = response.context["formset"]
    assert [f.initial for f in formset.forms if f.initial] == [
        {"name": k, "op": "=", "value": v} for k, v in sorted(alert.labels.items())
    ]
    assert 'id="silence-source"' in response.content.decode()
    # A missing or malformed alert id is just an empty form.
    assert client.get(reverse("monitoring:silence_add") + "?alert=abc").status_code == 200
    assert client.get(reverse("monitoring:silence_add") + "?alert=999").status_code == 200


def test_silences_page_lists_active_pending_and_expired(client, alert, operator):
    now = timezone.now()
    matchers = [{"name": "module", "value": "gamma"}]
    active = create_silence(operator, matchers, now, now + timedelta(hours=1), "active one")
    pending = create_silence(
        operator, matchers, now + timedelta(hours=1), now + timedelta(hours=2), "later"
    )
    expired = create_silence(operator, matchers, now, now + timedelta(hours=1), "old")
    Silence.objects.filter(pk=expired.pk).update(ends_at=now - timedelta(minutes=1))
    client.force_login(operator)
    groups = client.get(reverse("monitoring:silences")).context["groups"]
    assert [s.pk for s in groups["active"]] == [active.pk]
    assert [s.pk for s in groups["pending"]] == [pending.pk]
    assert [s.pk for s in groups["expired"]] == [expired.pk]
    assert groups["active"][0].silencing == 1  # the gamma alert
    assert groups["active"][0].matcher_texts == ['module="gamma"']


def test_operator_expires_a_silence_and_it_is_kept(client, alert, operator):
    now = timezone.now()
    silence = create_silence(
        operator, [{"name": "module", "value": "gamma"}], now, now + timedelta(hours=1), "m"
    )
    client.force_login(operator)
    url = reverse("monitoring:silence_expire", args=[silence.pk])
    assert client.get(url).status_code == 405
    response = client.post(url, **HX)
    assert response.status_code == 200
    assert "expired." in response.content.decode()
    silence.refresh_from_db()
    assert silence.state(timezone.now()) == "expired"
    assert AuditEntry.objects.filter(action="silence.expire").exists()
    # Expiring it again says why, without a 500.
    response = client.post(url, **HX)
    assert "already expired" in response.content.decode()
    response = client.post(url)
    assert response.status_code == 302
    assert client.post(reverse("monitoring:silence_expire", args=[999])).status_code == 404


def test_silence_changes_are_published_live(alert, operator, django_capture_on_commit_callbacks):
    from unittest import mock

    now = timezone.now()
    with mock.patch("console.live.send_now") as send:
        with django_capture_on_commit_callbacks(execute=True):
            create_silence(
                operator, [{"name": "module", "value": "gamma"}], now, now + timedelta(hours=1), "m"
            )
    assert send.call_args.args[:2] == ("alerts", "alerts.changed")


# --- the war room's alerts panel ------------------------------------------------------------


def test_war_room_includes_the_alerts_panel(client, alert, incident, operator):
    client.force_login(operator)
    body = client.get(reverse("incidents:detail", args=[incident.number])).content.decode()
    assert reverse("monitoring:incident_alerts", args=[incident.number]) in body
    assert f'data-live-topic="incident.{incident.pk} alerts"' in body


def test_panel_shows_linked_alerts_and_linkable_ones_to_the_commander(
    client, alert, incident, operator, viewer
):
    other = AlertFactory(labels={"module": "beta", "k": "other"})
    AlertFactory(state="pending", labels={"module": "beta", "k": "pending"})
    Alert.objects.filter(pk=alert.pk).update(incident=incident)
    url = reverse("monitoring:incident_alerts", args=[incident.number])
    client.force_login(operator)
    response = client.get(url, **HX)
    assert [a.pk for a in response.context["linked"]] == [alert.pk]
    assert [a.pk for a in response.context["linkable"]] == [other.pk]  # firing, unlinked only
    body = response.content.decode()
    assert 'id="link-alert-form"' in body and "Unlink" in body
    assert "destination=<strong>analytics_warehouse</strong>" in body
    client.force_login(viewer)
    body = client.get(url, **HX).content.decode()
    assert 'id="link-alert-form"' not in body and "Unlink" not in body


def test_commander_links_and_unlinks_an_alert(client, alert, incident, operator):
    from incidents.models import TimelineEntry

    client.force_login(operator)
    url = reverse("monitoring:incident_alert_link", args=[incident.number])
    response = client.post(url, {"alert": alert.pk}, **HX)
    assert response.status_code == 200 and "linked." in response.content.decode()
    alert.refresh_from_db()
    assert alert.incident == incident
    assert incident.timeline.filter(
        kind=TimelineEntry.Kind.ALERT, text__startswith="Alert gamma_destination_down linked"
    ).exists()
    assert AuditEntry.objects.filter(action="alert.link", actor_name="operator").exists()
    response = client.post(
        reverse("monitoring:incident_alert_unlink", args=[incident.number, alert.pk]), **HX
    )
    assert "unlinked." in response.content.decode()
    alert.refresh_from_db()
    assert alert.incident is None
    assert AuditEntry.objects.filter(action="alert.unlink").exists()


def test_link_refusals_say_why(client, alert, incident, operator):
    from incidents import services

    client.force_login(operator)
    url = reverse("monitoring:incident_alert_link", args=[incident.number])
    for data, text in [
        ({}, "Pick an alert"),
        ({"alert": "abc"}, "Pick an alert"),
        ({"alert": "999"}, "Pick an alert"),
    ]:
        response = client.post(url, data, **HX)
        assert text in response.content.decode()
        assert response["X-Refused-Status"] == "400"
    resolved = AlertFactory(state="resolved", labels={"module": "beta", "k": "r"})
    response = client.post(url, {"alert": resolved.pk}, **HX)
    assert "not firing" in response.content.decode()
    other = services.declare(operator, title="Other", severity="P3", summary="x")
    alert_incidents.link(operator, alert, other)
    response = client.post(url, {"alert": alert.pk}, **HX)
    assert "already linked to another incident" in response.content.decode()
    alert.refresh_from_db()
    assert alert.incident == other
    # Unlinking through the wrong incident's page is a 404, not a silent unlink.
    wrong = reverse("monitoring:incident_alert_unlink", args=[incident.number, alert.pk])
    assert client.post(wrong).status_code == 404
    # Without htmx a refusal is a message on the war room.
    response = client.post(url, {"alert": alert.pk})
    assert response.status_code == 302


def test_only_the_commander_and_responders_link(client, alert, incident, viewer, roles):
    from tests.factories import UserFactory

    url = reverse("monitoring:incident_alert_link", args=[incident.number])
    client.force_login(viewer)
    assert client.post(url, {"alert": alert.pk}).status_code == 403
    other_operator = UserFactory(username="operator2")
    other_operator.groups.add(roles["Operator"].group)
    client.force_login(other_operator)
    assert client.post(url, {"alert": alert.pk}).status_code == 403
    unlink = reverse("monitoring:incident_alert_unlink", args=[incident.number, alert.pk])
    assert client.post(unlink).status_code in (403, 404)
    alert.refresh_from_db()
    assert alert.incident is None


def test_panel_of_an_unknown_or_hidden_incident_is_404(client, alert, incident, outsider, viewer):
    client.force_login(viewer)
    assert (
        client.get(reverse("monitoring:incident_alerts", args=["INC-20200101-0001"])).status_code
        == 404
    )
    client.force_login(outsider)
    assert (
        client.get(reverse("monitoring:incident_alerts", args=[incident.number])).status_code == 403
    )


def test_a_resolved_incident_takes_no_new_links_and_keeps_its_alerts(
    client, alert, incident, operator
):
    from incidents import services
    from incidents.models import Status

    other = AlertFactory(labels={"module": "beta", "k": "o"})
    Alert.objects.filter(pk=alert.pk).update(incident=incident)
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="fixed")
    client.force_login(operator)
    response = client.post(
        reverse("monitoring:incident_alert_link", args=[incident.number]), {"alert": other.pk}, **HX
    )
    assert "no longer active" in response.content.decode()
    response = client.post(
        reverse("monitoring:incident_alert_unlink", args=[incident.number, alert.pk]), **HX
    )
    assert response["X-Refused-Status"] == "409"
    assert Alert.objects.get(pk=alert.pk).incident == incident
    assert Alert.objects.get(pk=other.pk).incident is None


def test_silence_and_rule_lists_query_count_is_bounded(
    client, seeded, operator, django_assert_max_num_queries
):
    now = timezone.now()
    for i in range(20):
        AlertFactory(labels={"module": "gamma", "n": str(i)})
        create_silence(
            None, [{"name": "n", "value": str(i)}], now, now + timedelta(hours=1), f"s{i}"
        )
    client.force_login(operator)
    with django_assert_max_num_queries(15):
        client.get(reverse("monitoring:silences"))
    with django_assert_max_num_queries(15):
        client.get(reverse("monitoring:rules"))
    with django_assert_max_num_queries(15):
        client.get(reverse("monitoring:runbooks"))
