import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from console.models import ApiToken, AuditEntry
from monitoring.models import Alert, InhibitRule, Silence
from tests.factories import UserFactory

NOW = timezone.now


def _alert(name="gamma_destination_down", state="firing", **labels):
    labels = {"alertname": name, "module": "gamma", "instance": "gamma-1", **labels}
    from monitoring.alerting import fingerprint

    return Alert.objects.create(
        fingerprint=fingerprint(labels),
        name=name,
        severity="high",
        labels=labels,
        state=state,
        active_since=NOW(),
        fired_at=NOW(),
        last_evaluated_at=NOW(),
    )


def _silence_payload(**overrides):
    payload = {
        "matchers": [{"name": "module", "value": "gamma", "isRegex": False, "isEqual": True}],
        "startsAt": (NOW() - timedelta(minutes=1)).isoformat(),
        "endsAt": (NOW() + timedelta(hours=2)).isoformat(),
        "comment": "Weekly maintenance window",
    }
    payload.update(overrides)
    return payload


def test_alerts_list_has_the_contract_fields(client, viewer):
    _alert(destination="partner_feed")
    client.force_login(viewer)
    row = client.get("/api/v1/alerts/").json()["results"][0]
    for key in (
        "fingerprint",
        "name",
        "labels",
        "state",
        "silenced",
        "inhibited",
        "source",
        "incident",
    ):
        assert key in row
    assert (row["state"], row["silenced"], row["inhibited"], row["source"]) == (
        "firing",
        False,
        False,
        "rule",
    )


def test_a_silence_marks_matching_alerts_silenced_and_expiring_it_unmarks(client, operator):
    alert = _alert(destination="partner_feed")
    _alert(name="alpha_ingestion_stopped", module="alpha", instance="alpha-1")
    client.force_login(operator)
    response = client.post("/api/v1/silences/", _silence_payload(), content_type="application/json")
    assert response.status_code == 201, response.json()
    silence = response.json()
    assert silence["createdBy"] == "operator" and silence["status"]["state"] == "active"
    rows = {r["name"]: r for r in client.get("/api/v1/alerts/").json()["results"]}
    assert rows["gamma_destination_down"]["silenced"] is True
    assert rows["gamma_destination_down"]["silenced_by"] == [silence["id"]]
    assert rows["alpha_ingestion_stopped"]["silenced"] is False
    expired = client.delete(f"/api/v1/silences/{silence['id']}/")
    assert expired.status_code == 200 and expired.json()["status"]["state"] == "expired"
    assert client.get(f"/api/v1/alerts/{alert.fingerprint}/").json()["silenced"] is False
    # Kept for history, and expiring twice is refused.
    assert Silence.objects.count() == 1
    assert client.delete(f"/api/v1/silences/{silence['id']}/").status_code == 409
    assert AuditEntry.objects.filter(action__in=["silence.create", "silence.expire"]).count() == 2


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"matchers": []}, "matchers"),
        ({"matchers": [{"name": "module", "value": "(", "isRegex": True}]}, "matchers"),
        ({"matchers": [{"name": "module", "value": ".*", "isRegex": True}]}, "matchers"),
        ({"comment": " "}, "comment"),
        ({"endsAt": "2020-01-01T00:00:00Z"}, "endsAt"),
        ({"startsAt": "not a time"}, "startsAt"),
    ],
)
def test_bad_silences_are_refused_with_the_field(client, operator, overrides, field):
    client.force_login(operator)
    response = client.post(
        "/api/v1/silences/", _silence_payload(**overrides), content_type="application/json"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Silence.objects.exists()


def test_silences_need_a_role_that_may_make_them(client, viewer):
    client.force_login(viewer)
    response = client.post("/api/v1/silences/", _silence_payload(), content_type="application/json")
    assert response.status_code == 403


def test_regex_and_negative_matchers_follow_alertmanager():
    silence = Silence(
        matchers=[
            {"name": "module", "value": "gam.*", "isRegex": True, "isEqual": True},
            {"name": "destination", "value": "archive_store", "isRegex": False, "isEqual": False},
        ],
        starts_at=NOW(),
        ends_at=NOW(),
    )
    assert silence.matches({"module": "gamma", "destination": "partner_feed"})
    assert not silence.matches({"module": "gamma", "destination": "archive_store"})
    assert not silence.matches({"module": "xgamma", "destination": "partner_feed"})


def test_inhibition_mutes_targets_sharing_the_equal_labels(db):
    from monitoring.alerting import annotate

    InhibitRule.objects.create(
        source_match={"alertname": "alpha_ingestion_stopped"},
        target_match={"module": "alpha"},
        equal=["instance"],
    )
    source = _alert(name="alpha_ingestion_stopped", module="alpha", instance="alpha-1")
    same = _alert(name="alpha_buffer_critical", module="alpha", instance="alpha-1")
    other = _alert(name="alpha_buffer_critical", module="alpha", instance="alpha-2")
    annotate([source, same, other])
    assert (source.inhibited, same.inhibited, other.inhibited) == (False, True, False)


# --- Alertmanager intake -------------------------------------------------------------------

URL = "/api/v1/integrations/alertmanager/"


@pytest.fixture
def token(db):
    user = UserFactory(username="alertmanager")
    user.user_permissions.add(Permission.objects.get(codename="add_alert"))
    return ApiToken.issue(user, name="alertmanager")[1]


def _payload(status="firing", fingerprint="a1b2c3d4e5f60718", **extra):
    alert = {
        "status": status,
        "labels": {"alertname": "HighLatency", "module": "gamma", "severity": "critical"},
        "annotations": {"summary": "latency high"},
        "startsAt": "2026-11-21T10:00:00Z",
        "endsAt": "2026-11-21T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
        **extra,
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "console",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "alerts": [alert],
    }


def _post(client, token, body):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(
        URL, data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_intake_creates_then_redelivery_changes_nothing_then_resolves(client, token):
    assert _post(client, token, _payload()).json()["created"] == 1
    assert _post(client, token, _payload()).json() == {
        "created": 0,
        "updated": 0,
        "resolved": 0,
        "unchanged": 1,
    }
    alert = Alert.objects.get()
    assert (alert.source, alert.state, alert.fingerprint) == (
        "alertmanager",
        "firing",
        "a1b2c3d4e5f60718",
    )
    assert _post(client, token, _payload(status="resolved")).json()["resolved"] == 1
    alert.refresh_from_db()
    assert (
        alert.state == "resolved" and alert.resolved_at.isoformat() == "2026-11-21T10:05:00+00:00"
    )
    assert _post(client, token, _payload(status="resolved")).json()["unchanged"] == 1


@pytest.mark.parametrize(
    "body, reason",
    [
        ("{not json", "JSON"),
        ({"version": "3", "alerts": []}, "unsupported version"),
        ({"version": "4", "alerts": []}, "non-empty list"),
        (_payload(status="exploded"), "must be firing or resolved"),
        (_payload(labels={"module": "gamma"}), "alertname is required"),
        (_payload(labels={"alertname": "x", "n": 1}), "object of strings"),
        (_payload(startsAt="yesterday"), "RFC 3339"),
        (_payload(fingerprint="not-hex!"), "hexadecimal"),
    ],
)
def test_intake_refuses_malformed_payloads_and_stores_nothing(client, token, body, reason):
    response = _post(client, token, body)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert not Alert.objects.exists()


def test_intake_refuses_an_oversized_payload(client, token):
    body = _payload()
    body["alerts"][0]["annotations"]["description"] = "x" * (1024 * 1024 + 10)
    response = _post(client, token, body)
    assert response.status_code == 400 and "at most" in response.json()["detail"]
    assert not Alert.objects.exists()


def test_intake_needs_a_token_allowed_to_post_alerts(client, operator):
    assert client.post(URL, _payload(), content_type="application/json").status_code == 401
    raw = ApiToken.issue(operator)[1]
    assert _post(client, raw, _payload()).status_code == 403
