"""The dashboards in a real browser against the real embedded console and the simulator:
the Overview shows the three modules live, and "destination down" in the simulator turns
Gamma DEGRADED and a breaker OPEN on screen without a reload."""

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.servers import ROOT, embedded_server, free_port, wait_until


@pytest.fixture
def simulator(tmp_path):
    ports = {name: free_port() for name in ("control", "alpha", "beta", "gamma")}
    log = open(tmp_path / "simulator.log", "w")  # noqa: SIM115 — closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            *[arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))],
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def up():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports['gamma']}/health", timeout=2):
                return True
        except OSError:
            return process.poll() is not None

    try:
        wait_until(up, 30, what="the simulator")
        assert process.poll() is None, (tmp_path / "simulator.log").read_text()
        yield ports
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"{}")


def test_overview_goes_live_and_shows_a_destination_outage_without_reload(
    page, tmp_path, simulator
):
    env = {
        f"SIMULATOR_{name.upper()}_PORT": str(simulator[name])
        for name in ("alpha", "beta", "gamma")
    }
    with embedded_server(tmp_path, env) as server:
        page.goto(server.url + "login/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "demo")
        page.click("button[type=submit]")
        expect(page).to_have_url(server.url)
        expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")

        # The three simulator modules, polled and shown as current (not stale).
        for name in ("alpha", "beta", "gamma"):
            badge = page.locator(f"#module-status-{name}")
            expect(badge).not_to_have_attribute("data-status", "UNKNOWN", timeout=30_000)
            expect(badge).not_to_have_attribute("data-status", "STALE", timeout=30_000)
        expect(page.locator("#breaker-gamma-analytics_warehouse .breaker")).to_have_text(
            "CLOSED", timeout=30_000
        )
        # Every chart drew from its own JSON endpoint, as SVG: no WebGL context on the page.
        charts = page.locator(".chart[data-chart-url]")
        expect(charts).to_have_count(4)
        for i in range(4):
            expect(charts.nth(i)).to_have_attribute("data-drawn", "1", timeout=30_000)
        assert page.locator(".chart canvas.gl-canvas").count() == 0
        assert page.evaluate(
            "() => Array.from(document.querySelectorAll('.chart')).every("
            "e => (e.data || []).every(t => !String(t.type).endsWith('gl')))"
        )

        # A marker that a reload would lose.
        page.evaluate("() => { window.__noReload = true; }")

        # The range picker re-draws in place; at 1 h (5 s steps) the charts then extend live.
        page.click("#range-picker [data-range='1h']")
        expect(page).to_have_url(server.url + "?range=1h")
        last_x = (
            "() => { const gd = document.querySelector('#panel-pipeline-throughput .chart');"
            " const t = (gd.data || [])[0]; return t && t.x.length === 720 ? t.x[719] : null; }"
        )
        page.wait_for_function(f"() => ({last_x})() !== null", timeout=30_000)
        first = page.evaluate(last_x)
        page.wait_for_function(f"() => ({last_x})() > {first!r}", timeout=30_000)

        _post(
            f"http://127.0.0.1:{simulator['gamma']}/admin/faults",
            {"scenario": "destination-down", "destination": "analytics_warehouse"},
        )
        expect(page.locator("#module-status-gamma")).to_have_text("DEGRADED", timeout=60_000)
        expect(page.locator("#breaker-gamma-analytics_warehouse .breaker")).to_have_text(
            "OPEN", timeout=60_000
        )
        expect(page.locator("#pipeline-indicator")).not_to_have_text("HEALTHY")
        assert page.evaluate("() => window.__noReload === true")
        page.screenshot(path=str(tmp_path / "overview-destination-down.png"), full_page=True)

        # Gamma's own dashboard shows the destination down in its grid.
        page.click("#module-card-gamma")
        expect(page.locator("#destination-analytics_warehouse")).to_have_attribute(
            "data-state", "DOWN", timeout=30_000
        )
        expect(page.locator("body")).to_have_attribute("data-live-topics", "module.gamma")
        expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
