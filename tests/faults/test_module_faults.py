"""A module that is down, one that is slow, one that answers garbage — beside a healthy one.

Four fake modules (local HTTP servers, tests/monitoring/fakes.py) are polled by the real scan
task (`monitoring.tasks.scan_module_polls`) round after round. The scan must never raise, the
healthy module must lose no poll to its neighbours, each bad module must turn UNHEALTHY with
the reason an operator can act on (shown on its page and the overview, which still load), and
every module must be polled successfully again once its fault is gone.
"""

import threading
from http.server import ThreadingHTTPServer

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import poller
from monitoring.models import Module, Poll, Sample
from monitoring.tasks import scan_module_polls
from tests.faults.support import report_lost
from tests.monitoring.fakes import HEALTHY, METRICS, FakeModule

pytestmark = pytest.mark.django_db

ROUNDS = 4  # past MONITORING_FAILURES_BEFORE_UNHEALTHY (3)
GARBAGE = (200, "text/plain; version=0.0.4", b"\x00\x01 this is {not prometheus\n")


def _round() -> int:
    Module.objects.update(next_poll_at=None)  # due now: each round is one beat tick
    return scan_module_polls()


def _revive(fake: FakeModule) -> None:
    """Listen again on the same port, as a module restarted on its host would."""
    port = fake.server.server_address[1]
    fake.server = ThreadingHTTPServer(("127.0.0.1", port), fake.server.RequestHandlerClass)
    fake.server.daemon_threads = True
    fake.thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    fake.thread.start()


def test_down_slow_and_garbage_modules_are_flagged_and_the_poller_carries_on(
    monkeypatch, client, operator
):
    monkeypatch.setattr(poller, "DEADLINE", 2.0)
    with FakeModule() as healthy, FakeModule() as down, FakeModule() as slow, FakeModule() as bad:
        kinds = {"alpha": healthy, "beta": down, "gamma": slow, "delta": bad}
        for name, fake in kinds.items():
            kind = name if name != "delta" else "other"
            Module.objects.create(name=name, kind=kind, base_url=fake.url, poll_interval=5)
        down.server.shutdown()
        down.server.server_close()
        slow.slow_drip = 0.05  # ~90 bytes of metrics take 4.5 s: cut off by the 2 s deadline
        bad.routes["/metrics"] = GARBAGE
        bad.routes["/health"] = (200, "application/json", b"{not json")

        polled = [_round() for _ in range(ROUNDS)]
        assert polled == [4] * ROUNDS  # every module polled every round; the scan never raised

        modules = {m.name: m for m in Module.objects.all()}
        reasons = {
            "beta": "cannot connect",
            "gamma": "no complete answer within",
            "delta": "malformed JSON",
        }
        for name, reason in reasons.items():
            assert modules[name].status == "UNHEALTHY", name
            assert modules[name].consecutive_failures == ROUNDS
            assert reason in Poll.objects.filter(module=modules[name]).latest("started_at").error
        assert modules["alpha"].status == "HEALTHY"
        healthy_ok = Poll.objects.filter(module=modules["alpha"], ok=True).count()
        assert Sample.objects.filter(series__module=modules["alpha"]).exists()

        client.force_login(operator)
        for name in ("beta", "gamma", "delta"):
            page = client.get(reverse("monitoring:module", args=[name]))
            assert page.status_code == 200
            assert reasons[name] in page.content.decode(), name
        assert client.get(reverse("overview")).status_code == 200

        # The faults end: the module restarts, the slow one speeds up, the garbage stops.
        _revive(down)
        slow.slow_drip = None
        bad.routes.update({"/health": HEALTHY, "/metrics": METRICS})
        since = timezone.now()
        assert _round() == 4
        back = {m.name: m.status for m in Module.objects.all()}
        recovered_ok = Poll.objects.filter(ok=True, started_at__gte=since).count()

    lost = (ROUNDS - healthy_ok) + (4 - recovered_ok)
    report_lost(
        "module down/slow/garbage",
        lost,
        healthy_polls=f"{healthy_ok}/{ROUNDS}",
        recovered=f"{recovered_ok}/4",
        statuses=back,
    )
    assert lost == 0
    assert set(back.values()) == {"HEALTHY"}
