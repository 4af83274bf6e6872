import pytest

from monitoring import poller
from monitoring.poller import poll
from tests.monitoring.fakes import METRICS, FakeModule


@pytest.fixture
def fake():
    with FakeModule() as module:
        yield module


def _poll(fake, token=""):
    return poll([(1, fake.url, token)])[0]


def test_poll_parses_health_and_samples_and_sends_the_token(fake):
    result = _poll(fake, token="s3cret")
    assert result.ok, result.error
    assert result.health_status == "HEALTHY"
    assert ("demo_total", {"source": "a"}, 5.0, "counter") in result.samples
    assert ("demo_gauge", {}, 0.5, "gauge") in result.samples
    assert {auth for _, auth in fake.requests} == {"Bearer s3cret"}


@pytest.mark.parametrize(
    "route, answer, reason",
    [
        ("/metrics", (200, "text/plain", b"this is {not prometheus\n"), "unparseable metrics"),
        ("/metrics", (200, "text/html", b"<html>"), "not Prometheus text"),
        ("/metrics", (200, "text/plain", b"demo_total 1\n\xff\xfe\n"), "invalid UTF-8"),
        ("/metrics", (500, "text/plain", b"boom"), "HTTP 500"),
        ("/health", (200, "application/json", b"{not json"), "malformed JSON"),
        ("/health", (200, "application/json", b'{"status": "FINE"}'), "no HEALTHY/DEGRADED"),
        ("/health", (200, "text/plain", b"OK"), "not JSON"),
        ("/health", (404, "text/plain", b""), "HTTP 404"),
    ],
)
def test_bad_answers_fail_the_poll_with_a_reason_and_no_samples(fake, route, answer, reason):
    fake.routes[route] = answer
    result = _poll(fake)
    assert not result.ok
    assert reason in result.error
    assert result.samples == []


def test_an_enormous_body_is_cut_off(fake, monkeypatch):
    monkeypatch.setattr(poller, "MAX_BODY", 1024)
    fake.routes["/metrics"] = (200, "text/plain", b"demo_total 1\n" * 200)
    result = _poll(fake)
    assert not result.ok and "more than" in result.error


def test_a_slow_loris_is_cut_off_by_the_deadline(fake, monkeypatch):
    monkeypatch.setattr(poller, "DEADLINE", 0.5)
    fake.slow_drip = 0.05
    result = _poll(fake)
    assert not result.ok
    assert "no complete answer within" in result.error
    assert result.duration_ms < 2000


def test_a_module_that_is_not_listening_fails_with_a_reason():
    with FakeModule() as gone:
        url = gone.url
    result = poll([(1, url, "")])[0]
    assert not result.ok and "cannot connect" in result.error


def test_an_unhealthy_module_answering_503_is_a_successful_poll(fake):
    fake.routes["/health"] = (503, "application/json", b'{"status": "UNHEALTHY"}')
    result = _poll(fake)
    assert result.ok and result.health_status == "UNHEALTHY"


def test_nan_samples_are_skipped(fake):
    fake.routes["/metrics"] = (200, "text/plain", METRICS[2] + b"demo_nan NaN\n")
    assert all(name != "demo_nan" for name, *_ in _poll(fake).samples)
