"""Runbook C.2 in a real browser: after a "destination down" fault clears, an operator resets
the breaker if it is still OPEN (C.3) and replays the retry-eligible DLQ entries through the
console's guided pages; the DLQ size falls."""

import json
import re
import urllib.request

from playwright.sync_api import expect

from tests.e2e.test_dashboards import _post, simulator  # noqa: F401 — the fixture
from tests.servers import embedded_server, wait_until


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _breaker(gamma: str) -> str:
    items = _get(gamma + "/admin/circuit-breakers/status")["circuit_breakers"]
    return next(b["state"] for b in items if b["destination"] == "analytics_warehouse")


def test_operator_replays_the_dlq_after_a_destination_outage(page, tmp_path, simulator):  # noqa: F811
    gamma = f"http://127.0.0.1:{simulator['gamma']}"
    env = {
        f"SIMULATOR_{name.upper()}_PORT": str(simulator[name])
        for name in ("alpha", "beta", "gamma")
    }
    with embedded_server(tmp_path, env) as server:
        _post(gamma + "/admin/faults", {"scenario": "destination-down"})
        wait_until(
            lambda: _get(gamma + "/admin/dlq/stats")["retry_eligible"] > 0, 90, what="DLQ entries"
        )
        clear = urllib.request.Request(gamma + "/admin/faults/destination-down", method="DELETE")
        urllib.request.urlopen(clear, timeout=5).close()

        page.goto(server.url + "login/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "demo")
        page.click("button[type=submit]")

        # C.3: an OPEN breaker is reset from the console (the destination is back).
        if _breaker(gamma) == "OPEN":
            page.goto(
                server.url + "monitoring/actions/gamma/breaker_reset/?target=analytics_warehouse"
            )
            expect(page.locator("#action-impact")).to_contain_text("opens again")
            if page.locator("#precheck-result[data-ok='1']").count():
                page.check("#confirm")
                page.click("#run-action")
                expect(page.locator("#action-outcome")).to_contain_text("breaker now")
        wait_until(lambda: _breaker(gamma) != "OPEN", 60, what="the breaker to leave OPEN")

        # C.2: stats, analysis, then replay every retry-eligible entry.
        page.goto(server.url + "monitoring/actions/gamma/dlq_replay/")
        expect(page.locator("#dlq-stats")).to_be_visible()
        expect(page.locator("#precheck-result")).to_have_attribute("data-ok", "1")
        before = int(page.locator("#dlq-size").inner_text())
        assert before > 0
        page.check("#scope-eligible")
        page.check("#confirm")
        page.click("#run-action")
        outcome = page.locator("#action-outcome")
        expect(outcome).to_contain_text("replayed")
        replayed = int(re.search(r"replayed (\d+)", outcome.inner_text()).group(1))
        assert replayed > 0

        page.goto(server.url + "monitoring/actions/gamma/dlq_replay/")
        after = int(page.locator("#dlq-size").inner_text())
        assert after < before
        page.screenshot(path=str(tmp_path / "dlq-replayed.png"), full_page=True)
