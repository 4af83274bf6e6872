"""Redis stopped while pages are open, in production mode: Daphne with Redis as channel layer
and cache (a private redis-server the test kills and restarts; the shared one is never
touched). The open page shows "reconnecting" and polls; pages still load and changes still
commit; when Redis returns the page goes live again and shows what happened meanwhile."""

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.faults.support import private_redis, report_lost  # noqa: F401  (fixture)
from tests.servers import ROOT, free_port, stop_group, wait_until

PASSWORD = "faults-password"  # tests/faults/worker.py seeds the demo users with it
# Outage and return are bounded by live.js's back-off (at most 30 s between attempts) and
# its 10 s polling; these only bound the test.
RECONNECT_WAIT = 75_000


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "healthz", timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def production_server(private_redis, tmp_path):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'console.sqlite3'}",
        VAR_DIR=str(tmp_path),
        SECRET_KEY="redis-outage-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        DEBUG="0",
        HTTPS="0",
        LOG_LEVEL="WARNING",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DJANGO_SETTINGS_MODULE="console.settings",
    )
    subprocess.run(
        [sys.executable, "-m", "tests.faults.worker", "setup"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    env["REDIS_URL"] = private_redis.url
    port = free_port()
    log_path = tmp_path / "daphne.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("daphne")),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "--access-log",
                str(tmp_path / "access.log"),
                "console.asgi:application",
            ],  # fmt: skip
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: process.poll() is not None or _answers(url), 60, what="daphne")
        assert process.poll() is None, log_path.read_text()
        yield url, private_redis, tmp_path
    finally:
        stop_group(process, signal.SIGTERM, 15)


def _login(page, url, username):
    page.goto(url + "login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#user-badge")).to_contain_text(username)


def _declare(page, url, title):
    page.goto(url + "incidents/declare/")
    page.fill("#id_title", title)
    page.fill("#id_summary", "Declared while Redis was away.")
    page.check("input[name=severity][value=P3]")
    page.click("#declare-form button[type=submit]")
    expect(page.locator("#incident-status")).to_have_text("Open")


def test_pages_survive_a_redis_outage_and_catch_up_when_it_returns(browser, production_server):
    url, redis_server, var_dir = production_server
    watcher = browser.new_context().new_page()
    actor = browser.new_context().new_page()
    _login(watcher, url, "operator")
    _login(actor, url, "opslead")
    watcher.goto(url + "incidents/")
    indicator = watcher.locator("#live-indicator")
    expect(indicator).to_have_attribute("data-state", "live")

    redis_server.stop()

    # The open page notices (its socket needed Redis) and falls back to polling.
    expect(indicator).to_have_attribute("data-state", "reconnecting", timeout=RECONNECT_WAIT)
    expect(indicator).to_contain_text("reconnecting")
    # Pages still load, and a change made now commits (its live push fails quietly).
    _declare(actor, url, "Declared during the Redis outage")
    reloaded = browser.new_context().new_page()
    _login(reloaded, url, "viewer")
    response = reloaded.goto(url + "incidents/")
    assert response is not None and response.status == 200
    expect(reloaded.locator("#incident-table")).to_contain_text("Declared during the Redis outage")

    redis_server.start()

    # Back live, and the open page shows what happened meanwhile (resync on reconnect, or
    # the polling before it), without a reload.
    expect(indicator).to_have_attribute("data-state", "live", timeout=RECONNECT_WAIT)
    expect(watcher.locator("#incident-table")).to_contain_text(
        "Declared during the Redis outage", timeout=RECONNECT_WAIT
    )
    # And live pushes flow again: a change now reaches the open page over the socket.
    _declare(actor, url, "Declared after Redis returned")
    expect(watcher.locator("#incident-table")).to_contain_text(
        "Declared after Redis returned", timeout=RECONNECT_WAIT
    )
    access = (var_dir / "access.log").read_text().splitlines()
    errors = [line for line in access if re.search(r'" 5\d\d ', line)]
    lost = 0  # both changes are on the open page (asserted above)
    report_lost("redis outage with pages open", lost, http_500=len(errors))
    assert errors == []
