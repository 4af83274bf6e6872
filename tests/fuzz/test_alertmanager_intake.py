"""Properties of the Alertmanager intake (monitoring.intake and its endpoint): any JSON is
either a payload of alerts or a PayloadError saying what is wrong (a 400, never a 500), a
valid payload is read back as sent, and delivering the same payload twice changes nothing."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring import intake
from monitoring.alerting import fingerprint
from monitoring.models import Alert

from .conftest import DB_FUZZ_SETTINGS, FUZZ_SETTINGS

pytestmark = pytest.mark.slow

URL = "/api/v1/integrations/alertmanager/"

# Text as JSON can carry it, lone surrogates and NUL included.
any_text = st.text(st.characters(codec=None), max_size=12) | st.sampled_from(
    ["", "\x00", "a\x00b", "\ud800", "x\udfff"]
)
plain_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
rfc3339 = times.map(lambda t: t.isoformat().replace("+00:00", "Z"))
# Strings that look like times but are not: day 30 of February, hour 25, offset +99:00 ...
bad_times = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format,
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["Z", "+00:00", "+99:00", "-24:00", "+23:59", ""]),
)

labels = st.dictionaries(st.from_regex(r"\A[a-z_]{1,8}\Z"), plain_text, max_size=3).map(
    lambda d: {**d, "alertname": d.get("alertname") or "fuzzed"}
)
valid_alert = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": labels,
        "annotations": st.dictionaries(st.from_regex(r"\A[a-z]{1,8}\Z"), plain_text, max_size=2),
        "startsAt": rfc3339,
        "endsAt": st.one_of(rfc3339, st.just("0001-01-01T00:00:00Z")),
    }
)
valid_payload = st.fixed_dictionaries(
    {
        "version": st.just("4"),
        # One entry per alert, as Alertmanager sends them.
        "alerts": st.lists(
            valid_alert, min_size=1, max_size=4, unique_by=lambda a: fingerprint(a["labels"])
        ),
    }
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=10,
)
# A valid alert with some of its fields replaced by anything or dropped: each wrong field is
# then the one the intake must report.
wrong_fields = st.fixed_dictionaries(
    {},
    optional={
        "status": json_values,
        "labels": st.dictionaries(any_text, any_text, max_size=3).map(
            lambda d: {**d, "alertname": d.get("alertname", "fuzzed")}
        )
        | json_values,
        "annotations": st.dictionaries(any_text, any_text, max_size=2) | json_values,
        "startsAt": bad_times | json_values,
        "endsAt": bad_times | json_values,
        "fingerprint": st.from_regex(r"\A[0-9a-f]{16}\Z") | json_values,
    },
)
fuzzed_alert = st.builds(
    lambda alert, wrong, drop: {k: v for k, v in {**alert, **wrong}.items() if k not in drop},
    valid_alert,
    wrong_fields,
    st.sets(st.sampled_from(["status", "labels", "startsAt", "endsAt"]), max_size=1),
)
fuzzed_payload = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"version": st.sampled_from(["4", 4]), "alerts": st.lists(fuzzed_alert, max_size=3)}
    ),
)


@FUZZ_SETTINGS
@given(valid_payload)
def test_intake_reads_a_valid_payload_as_sent(payload):
    alerts = intake.validate(payload)
    assert len(alerts) == len(payload["alerts"])
    for sent, read in zip(payload["alerts"], alerts, strict=True):
        assert (read["status"], read["labels"]) == (sent["status"], sent["labels"])
        assert read["fingerprint"] == fingerprint(sent["labels"])
        assert read["starts_at"] == datetime.fromisoformat(sent["startsAt"])
        if sent["endsAt"].startswith("0001"):
            assert read["ends_at"] is None


@FUZZ_SETTINGS
@given(fuzzed_payload)
def test_intake_accepts_or_says_what_is_wrong(payload):
    try:
        alerts = intake.validate(payload)
    except intake.PayloadError as exc:
        assert str(exc)
        return
    assert len(alerts) == len(payload["alerts"])


@pytest.fixture
def alertmanager(client, db):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    # As README "Alerting" sets up Alertmanager's token: no role posts alerts, its user does.
    user = UserFactory(username="alertmanager")
    user.user_permissions.add(Permission.objects.get(codename="add_alert"))
    client.force_login(user)
    return client


def _post(client, body: str):
    return client.post(URL, body, content_type="application/json")


@pytest.mark.django_db
@DB_FUZZ_SETTINGS
@given(fuzzed_payload)
def test_intake_endpoint_answers_4xx_or_200_never_5xx(alertmanager, payload):
    # Encoded as a client may: lone surrogates travel as \ud800 escapes.
    response = _post(alertmanager, json.dumps(payload))
    assert response.status_code in (200, 400), response.content
    assert "detail" in response.json() or response.status_code == 200


@pytest.mark.django_db
@DB_FUZZ_SETTINGS
@given(valid_payload)
def test_intake_delivering_the_same_payload_twice_changes_nothing(alertmanager, payload):
    Alert.objects.all().delete()
    first = _post(alertmanager, json.dumps(payload))
    assert first.status_code == 200, first.content
    rows = list(Alert.objects.order_by("pk").values("fingerprint", "state", "labels"))
    again = _post(alertmanager, json.dumps(payload)).json()
    assert again["created"] == again["updated"] == again["resolved"] == 0
    assert list(Alert.objects.order_by("pk").values("fingerprint", "state", "labels")) == rows
