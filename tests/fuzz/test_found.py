"""The server errors the fuzzers found, kept as plain examples (fast, and on both databases:
all but the impossible date were 500s on PostgreSQL only). A lone surrogate was already a
400 where a CharField read it, but with no reason given ("Invalid input.")."""

import json

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, fuzz_world):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {fuzz_world['token']}"
    return client


def _refused(response, words: str):
    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]


@pytest.mark.parametrize("url", ["/api/v1/audit/", "/api/v1/incidents/"])
def test_found_a_time_filter_with_an_impossible_utc_offset_is_a_400(api, url):
    # +20:00 is a valid offset to Python, out of range to PostgreSQL.
    response = api.get(url, {"since": "2026-01-01T00:00:00+20:00"})
    assert response.status_code == 400, response.content
    assert "UTC offset" in json.dumps(response.json())
    assert api.get(url, {"since": "2026-01-01T00:00:00+14:00"}).status_code == 200


def test_found_a_nul_character_in_a_json_body_is_a_400(api):
    body = {"starts_at": "2027-01-04T09:00:00Z", "primary": "oncall\x00"}
    _refused(api.post("/api/v1/rota/", body, content_type="application/json"), "NUL")


def test_found_a_nul_character_in_a_form_body_is_a_400(api):
    _refused(
        api.post("/api/v1/rota/", {"starts_at": "2027-01-04T09:00:00Z", "primary": "\x00"}), "NUL"
    )


def test_found_a_lone_surrogate_in_a_json_body_is_a_400(api):
    body = '{"title": "Beta \\ud800 stalled", "severity": "P3", "summary": "x"}'
    _refused(api.post("/api/v1/incidents/", body, content_type="application/json"), "surrogate")


def test_found_a_nul_character_in_the_url_is_a_400(api):
    _refused(api.get("/api/v1/changes/", {"status": "draft\x00"}), "NUL")
    _refused(api.get("/api/v1/changes/CHG-\x00/"), "NUL")


def _alert(**fields):
    alert = {
        "status": "firing",
        "labels": {"alertname": "BetaDown"},
        "startsAt": "2026-03-02T09:00:00Z",
    }
    return json.dumps({"version": "4", "alerts": [{**alert, **fields}]})


INTAKE = "/api/v1/integrations/alertmanager/"


def test_found_the_intake_refuses_an_impossible_date_with_a_400(api):
    response = api.post(
        INTAKE, _alert(startsAt="2026-02-30T09:00:00Z"), content_type="application/json"
    )
    _refused(response, "alerts[0].startsAt")


def test_found_the_intake_stores_a_far_offset_in_utc(api):
    from monitoring.models import Alert

    response = api.post(
        INTAKE, _alert(startsAt="2026-03-02T21:00:00+20:00"), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert (
        Alert.objects.get(name="BetaDown").active_since.isoformat() == "2026-03-02T01:00:00+00:00"
    )


def test_found_the_intake_refuses_nul_in_a_label_with_a_400(api):
    body = _alert(labels={"alertname": "BetaDown", "module": "beta\x00"})
    _refused(api.post(INTAKE, body, content_type="application/json"), "NUL")


def test_found_a_huge_limit_or_offset_is_bounded(api):
    # Beyond a bigint: PostgreSQL refused the LIMIT (a 500).
    response = api.get("/api/v1/incidents/", {"limit": str(10**38)})
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1
    response = api.get("/api/v1/incidents/", {"offset": str(10**38)})
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []
