"""Smoke test of the embedded mode: one process, SQLite, no Redis, in-memory broker and layer."""

import asyncio
import http.cookiejar
import json
import re
import signal
import urllib.parse
import urllib.request

import pytest
import websockets

from tests.servers import embedded_server, wait_until

pytestmark = pytest.mark.slow


def _login(url: str, username: str, password: str) -> http.cookiejar.CookieJar:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(url + "login/", data=data, headers={"Referer": url + "login/"})
    landing = opener.open(request)
    assert landing.url == url, "login did not land on the overview"
    return jar


def _cookie_header(jar) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _readyz(url):
    with urllib.request.urlopen(url + "readyz") as response:
        return json.loads(response.read())


async def _next_message(ws, topic: str, event: str, timeout: float) -> dict:
    """The next message of `event` on `topic` (other events share the topic)."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "message" and (message["topic"], message["event"]) == (
                topic,
                event,
            ):
                return message


def test_embedded_mode_serves_pages_runs_tasks_and_pushes_live(tmp_path):
    with embedded_server(tmp_path) as server:
        # Beat -> in-memory broker -> worker thread -> database: the heartbeat lands.
        body = wait_until(
            lambda: (r := _readyz(server.url))["checks"]["worker"]["ok"] and r,
            30,
            what="worker heartbeat",
        )
        assert body["checks"]["database"]["vendor"] == "sqlite"
        assert "redis" not in body["checks"]

        jar = _login(server.url, "operator", "demo")

        async def live_round_trip():
            headers = {"Cookie": _cookie_header(jar), "Origin": server.url.rstrip("/")}
            ws_url = server.url.replace("http", "ws") + "ws/live/"
            async with websockets.connect(ws_url, additional_headers=headers) as ws:
                await ws.send(json.dumps({"subscribe": ["overview", "audit"]}))
                # From the worker thread (heartbeat task) through the in-memory layer:
                heartbeat = await _next_message(ws, "overview", "worker.heartbeat", 15)
                assert heartbeat["seq"] > 0
                # From a web request (a sign-in is audited) through the same layer:
                await asyncio.to_thread(_login, server.url, "viewer", "demo")
                recorded = await _next_message(ws, "audit", "audit.recorded", 15)
                assert recorded["seq"] > 0

        asyncio.run(live_round_trip())

        # A socket from a foreign origin is refused (AllowedHostsOriginValidator).
        async def foreign_origin():
            headers = {"Cookie": _cookie_header(jar), "Origin": "http://evil.example"}
            with pytest.raises(websockets.exceptions.InvalidStatus):
                async with websockets.connect(
                    server.url.replace("http", "ws") + "ws/live/", additional_headers=headers
                ):
                    pass

        asyncio.run(foreign_origin())

        # One SIGINT (Ctrl-C) stops the whole process cleanly.
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(30) is not None

    # Set-up is idempotent: a second start on the same var/ works.
    with embedded_server(tmp_path) as server:
        assert _readyz(server.url)["status"] == "ready"
        assert server.manage("verify_audit").returncode == 0
