"""Secrets are write-only (ASVS 5.0 8.2.x / 13.3.x): a module's bearer token, a webhook's URL
and an API token are never rendered back once stored — on no page, fragment, admin page, API
answer, timeline or audit entry a superuser can reach."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from console.models import ApiToken
from console.secrets import masked_url
from incidents import notify
from incidents.models import Notification, NotificationChannel
from monitoring.models import Module
from tests.factories import UserFactory
from tests.security.crawl import API_READS, crawl, follow_api

MODULE_TOKEN = "module-token-Qx7Zr2"
HOOK_SECRET = "T000/B000/hook-secret-Vb93k"


@pytest.fixture
def admin_client(client, roles):
    from incidents import policy

    policy.load()
    user = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def hook_server():
    """A local hook that answers 200 (never the internet)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_masked_url_keeps_scheme_and_host_only():
    assert masked_url("https://hooks.example/services/T0/B0/xyz?token=1") == (
        "https://hooks.example/…"
    )
    assert masked_url("http://127.0.0.1:9/a/b") == "http://127.0.0.1:9/…"
    assert masked_url("not a url") == "…"
    assert masked_url("") == ""


def _add_module_with_token(client):
    response = client.post(
        "/monitoring/modules/add/",
        {
            "name": "secretive",
            "kind": "alpha",
            "base_url": "http://127.0.0.1:1",
            "token": MODULE_TOKEN,
            "poll_interval": 5,
            "enabled": "on",
            "labels": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Module.objects.get(name="secretive").token == MODULE_TOKEN
    # A form that comes back with an error does not echo the token either.
    again = client.post(
        "/monitoring/modules/secretive/edit/",
        {"kind": "alpha", "base_url": "ftp://nope", "token": MODULE_TOKEN, "poll_interval": 5},
    )
    assert again.status_code == 200 and b"is-invalid" in again.content
    assert MODULE_TOKEN.encode() not in again.content
    # Saving with the token left empty keeps it.
    kept = client.post(
        "/monitoring/modules/secretive/edit/",
        {"kind": "alpha", "base_url": "http://127.0.0.1:1", "token": "", "poll_interval": 7},
    )
    assert kept.status_code == 302
    assert Module.objects.get(name="secretive").token == MODULE_TOKEN


def _add_hook_channels(client, hook_server) -> list[str]:
    """Two webhook channels through the admin: one that answers, one that refuses."""
    urls = [f"{hook_server}/services/{HOOK_SECRET}", f"http://127.0.0.1:9/services/{HOOK_SECRET}"]
    NotificationChannel.objects.update(enabled=False)
    for name, url in zip(("good hook", "dead hook"), urls, strict=True):
        response = client.post(
            "/admin/incidents/notificationchannel/add/",
            {
                "name": name,
                "kind": "webhook",
                "target": url,
                "enabled": "on",
                "severities": "[]",
                "events": "[]",
            },
        )
        assert response.status_code == 302, response.content.decode()[:3000]
    channel = NotificationChannel.objects.get(name="good hook")
    page = client.get(f"/admin/incidents/notificationchannel/{channel.pk}/change/")
    assert HOOK_SECRET.encode() not in page.content
    # Saving the form as shown (the URL field empty) keeps the stored URL.
    response = client.post(
        f"/admin/incidents/notificationchannel/{channel.pk}/change/",
        {
            "name": "good hook",
            "kind": "webhook",
            "target": "",
            "enabled": "on",
            "severities": "[]",
            "events": "[]",
        },
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.target == urls[0]
    return urls


def _declare_and_deliver(client):
    response = client.post(
        "/api/v1/incidents/",
        json.dumps({"title": "Hooks", "severity": "P2", "summary": "Checking secrets."}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    hooks = Notification.objects.filter(kind="webhook")
    assert {n.channel.name for n in hooks} == {"good hook", "dead hook"}
    for day in range(1, Notification.MAX_ATTEMPTS + 1):
        for pk, attempt in notify.claim_due(now=timezone.now() + timedelta(days=day)):
            notify.deliver(pk, attempt)
    states = set(hooks.values_list("channel__name", "state"))
    assert states == {("good hook", "sent"), ("dead hook", "failed")}
    assert hooks.filter(channel__name="dead hook")[0].last_error  # kept, masked
    return response.json()["id"]


def test_no_secret_is_ever_rendered_back(admin_client, hook_server):
    _add_module_with_token(admin_client)
    urls = _add_hook_channels(admin_client, hook_server)
    number = _declare_and_deliver(admin_client)
    token, raw = ApiToken.issue(admin_client.user, name="script")
    assert admin_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200

    pages = crawl(admin_client, ["/", f"/incidents/{number}/", "/admin/", *API_READS])
    pages.update(follow_api(admin_client, pages))
    assert len(pages) > 100
    secrets = {"module token": MODULE_TOKEN, "hook URL": HOOK_SECRET, "API token": raw}
    leaks = [
        f"{what} on {url}"
        for url, response in pages.items()
        for what, secret in secrets.items()
        if secret.encode() in getattr(response, "content", b"")
    ]
    assert leaks == []
    # The pages did show where the hooks are, masked, and that the module has a token.
    incident_page = pages[f"/incidents/{number}/"].content.decode()
    assert masked_url(urls[0]) in incident_page and masked_url(urls[1]) in incident_page
    module = admin_client.get("/api/v1/modules/secretive/").json()
    assert module["has_token"] is True and "token" not in module
