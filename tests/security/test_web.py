"""Browser-facing protections (ASVS 5.0 3.3.x, 3.4.x, 3.5.1): CSRF on every unsafe method of
every URL, security headers and the Content Security Policy, no inline script on any page,
session and CSRF cookie flags under the production settings."""

import itertools
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from tests.factories import UserFactory
from tests.security.crawl import API_READS, crawl

ROOT = Path(__file__).resolve().parents[2]
# Values tried for each URL argument, the first that reverses wins: ids, slugs, the incident
# and change numbers of the custom converters, an admin app label.
SAMPLES = ["1", "x", "INC-20260101-0001", "CHG-2026-0101-001", "auth"]


def _named_patterns(resolver=None, namespace=""):
    """(name, pattern) for every named URL of the URL conf, admin and API included."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _named_patterns(entry, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry


def _sample_url(name: str, pattern: URLPattern) -> str | None:
    args = list(pattern.pattern.regex.groupindex)
    for values in itertools.product(SAMPLES, repeat=len(args)):
        try:
            return reverse(name, kwargs=dict(zip(args, values, strict=True)))
        except NoReverseMatch:
            continue
    return None


def _is_csrf_refusal(name: str, response) -> bool:
    if response.status_code != 403:
        return False
    if name == "api-docs":  # Swagger UI (GET only): DRF's CSRF refusal shown as the 403 page
        return True
    # Django's failure page, or DRF's "CSRF Failed: …" in whatever format the view renders.
    return b"CSRF verification failed" in response.content or b"CSRF Failed" in response.content


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def test_every_url_refuses_an_unsafe_request_without_a_csrf_token(root):
    client = Client(enforce_csrf_checks=True)
    client.force_login(root)
    client.get("/")  # the CSRF cookie is set: the refusal is for the missing token alone
    urls = {}
    unreachable = []
    for name, pattern in _named_patterns():
        url = _sample_url(name, pattern)
        if url is None:
            unreachable.append(name)
        else:
            urls[name] = url
    # Admin's own catch-alls aside, every named URL got a sample: none escapes the check.
    assert [n for n in unreachable if not n.startswith("admin:")] == []
    assert len(urls) > 200
    accepted = []
    for name, url in sorted(urls.items()):
        methods = ["post", "put", "patch", "delete"] if url.startswith("/api/") else ["post"]
        for method in methods:
            response = getattr(client, method)(url, {}, content_type="application/json")
            if not _is_csrf_refusal(name, response):
                accepted.append(f"{method.upper()} {url} ({name}): {response.status_code}")
    assert accepted == [], "\n".join(accepted)


def test_a_mutation_with_its_token_passes_the_check(root):
    """The refusals above are CSRF's: the same kind of request with the token goes through."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(root)
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post("/incidents/inbox/read/", {}, headers={"X-CSRFToken": token})
    assert response.status_code in (200, 204, 302)


def test_bearer_token_api_calls_need_no_csrf_token(root):
    from console.models import ApiToken

    _, raw = ApiToken.issue(root)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/incidents/",
        {"title": "x"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 400  # validation, not CSRF: no cookie, no ambient authority


def test_security_headers_on_pages(client, root, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    anonymous = Client()
    client.force_login(root)
    for who, url in [
        (anonymous, "/login/"),
        (anonymous, "/status/"),
        (client, "/"),
        (client, "/incidents/"),
        (client, "/api/v1/me/"),
    ]:
        response = who.get(url, secure=True)
        assert response.status_code == 200, url
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )
        csp = dict(
            (d.split()[0], d.split()[1:]) for d in response["Content-Security-Policy"].split("; ")
        )
        assert csp["script-src"] == ["'self'"]
        assert csp["default-src"] == ["'self'"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["object-src"] == ["'none'"]
        assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def test_no_page_has_inline_script(client, root):
    """The CSP forbids inline script; a page that had some would be broken, or would need the
    policy loosened. Checked on every page reachable from the overview with the demo data."""
    call_command("load_policy", verbosity=0)
    call_command("seed_demo", "--allow-non-embedded", verbosity=0)
    client.force_login(root)
    pages = crawl(client, ["/", "/login/", "/status/", "/admin/", *API_READS])
    html = {u: r for u, r in pages.items() if "html" in r.get("Content-Type", "")}
    assert len(html) > 150
    errors = [u for u, r in pages.items() if r.status_code >= 500]
    assert errors == []
    offenders = [
        f"{url}: {m.group(0)[:80]}"
        for url, response in html.items()
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, JS_URL)
        for m in pattern.finditer(response.content.decode())
    ]
    assert offenders == []


def _production_settings(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DEBUG",
            "HTTPS",
            "REDIS_URL",
            "SECURE_HSTS_SECONDS",
            "SESSION_COOKIE_AGE",
            "SESSION_IDLE_TIMEOUT",
        }
    }
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="ops.example.com")
    env.update(extra)
    code = (
        "import json, django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'console.settings'; "
        "django.setup(); from django.conf import settings as s; print(json.dumps({k: getattr(s, k)"
        " for k in ['SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE',"
        " 'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_SAMESITE', 'SECURE_SSL_REDIRECT', "
        "'SECURE_HSTS_SECONDS', 'SESSION_COOKIE_AGE', 'SESSION_IDLE_TIMEOUT']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_cookies_are_secure_httponly_and_samesite_under_production_settings(
    client, root, settings, tmp_path
):
    production = _production_settings(VAR_DIR=str(tmp_path))
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert production["SESSION_IDLE_TIMEOUT"] > 0
    for name, value in production.items():
        setattr(settings, name, value)
    client.get("/login/", secure=True)
    root.set_password("correct horse battery")
    root.save()
    response = client.post(
        "/login/", {"username": "root", "password": "correct horse battery"}, secure=True
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert int(session["max-age"]) == production["SESSION_COOKIE_AGE"]
    csrf = client.cookies["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    # Plain http is sent to https first.
    assert client.get("/login/").status_code == 301
