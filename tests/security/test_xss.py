"""User text is inert everywhere it is shown (ASVS 5.0 1.2.x, 3.2.x): markup and script typed
into every text field of the main records — through the real forms and the API — comes back
escaped on every page, fragment and admin page that shows it, never as markup."""

import json
from datetime import timedelta

import pytest
from django import forms
from django.core.management import call_command
from django.utils import timezone

from changes.forms import ChangeForm, LogForm
from incidents.forms import DeclareForm, EscalateForm, NoteForm, UpdateForm
from incidents.models import Incident
from monitoring.forms import AnnotationForm
from monitoring.models import Module
from shifts.forms import LogEntryForm
from tests.factories import UserFactory
from tests.security.crawl import API_READS, crawl, follow_api

# Breaks out of an attribute, then opens a script and an event handler.
PAYLOAD = "\"'><script>alert('xss')</script><img src=x onerror=alert('xss')>"
RAW = [b"<script>alert('xss')", b"<img src=x onerror"]
ESCAPED = b"&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;"
NOT_TEXT = (forms.ChoiceField, forms.DateField, forms.DateTimeField, forms.URLField)


def _fill(form_class, **given) -> dict:
    """The payload in every free-text field of the form; `given` for the rest."""
    data = {
        name: PAYLOAD
        for name, field in form_class.base_fields.items()
        if isinstance(field, forms.CharField) and not isinstance(field, NOT_TEXT)
    }
    data.update(given)
    return data


def _ok(response, what: str) -> None:
    assert response.status_code in (200, 201, 204, 302), (
        f"{what}: {response.status_code} {response.content[:1500]!r}"
    )


def _plant(client, when) -> dict:
    """Every main record, written with the payload through its form or API; returns where."""
    # Incident: declared through the page's form, then notes, an update, an escalation.
    response = client.post(
        "/incidents/declare/",
        _fill(DeclareForm, severity="P2", detection_source="observation", affected_modules=[]),
    )
    _ok(response, "declare")
    incident = Incident.objects.get(title=PAYLOAD)
    base = f"/incidents/{incident.number}"
    _ok(client.post(f"{base}/notes/", _fill(NoteForm)), "note")
    _ok(client.post(f"{base}/update/", _fill(UpdateForm)), "update")
    _ok(client.post(f"{base}/escalate/", _fill(EscalateForm, trigger="manual")), "escalate")
    _ok(client.post(f"{base}/severity/", {"severity": "P1", "reason": PAYLOAD}), "severity")
    # A second incident through the API, resolved with the payload as its summary.
    response = client.post(
        "/api/v1/incidents/",
        json.dumps({"title": PAYLOAD, "severity": "P3", "summary": PAYLOAD, "impact": PAYLOAD}),
        content_type="application/json",
    )
    _ok(response, "API declare")
    number = response.json()["id"]
    for action, body in [
        ("acknowledge", {}),
        ("notes", {"text": PAYLOAD}),
        ("resolve", {"resolution_summary": PAYLOAD}),
    ]:
        _ok(
            client.post(
                f"/api/v1/incidents/{number}/{action}/",
                json.dumps(body),
                content_type="application/json",
            ),
            f"API {action}",
        )
    # Change request: every text field of 001's form, then a log line.
    response = client.post(
        "/changes/new/",
        _fill(
            ChangeForm,
            type="normal",
            priority="medium",
            impact="low",
            likelihood="low",
            affected_modules=["alpha"],
            planned_start=(when + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            planned_end=(when + timedelta(days=3, hours=1)).strftime("%Y-%m-%dT%H:%M"),
        ),
    )
    _ok(response, "change")
    change = response["Location"].rstrip("/").split("/")[-1]
    _ok(client.post(f"/changes/{change}/log/", _fill(LogForm)), "change log")
    # Maintenance window through the API.
    start = when + timedelta(days=10)
    response = client.post(
        "/api/v1/maintenance-windows/",
        json.dumps(
            {
                "type": "emergency",
                "title": PAYLOAD,
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
                "modules": ["alpha"],
                "impact": PAYLOAD,
                "activities": PAYLOAD,
                "contact": PAYLOAD,
                "emergency_reason": PAYLOAD,
            }
        ),
        content_type="application/json",
    )
    _ok(response, "maintenance window")
    # Shift log entry (every field of the form), annotation, silence.
    _ok(
        client.post("/shifts/log/add/", _fill(LogEntryForm, kind="manual", incident="")),
        "shift log",
    )
    _ok(
        client.post(
            "/monitoring/annotations/add/",
            _fill(
                AnnotationForm,
                module=Module.objects.get(name="alpha").pk,
                metric="",
                starts_at=when.strftime("%Y-%m-%dT%H:%M"),
            ),
        ),
        "annotation",
    )
    response = client.post(
        "/api/v1/silences/",
        json.dumps(
            {
                "matchers": [{"name": "alertname", "value": PAYLOAD, "isRegex": False}],
                "startsAt": when.isoformat(),
                "endsAt": (when + timedelta(hours=2)).isoformat(),
                "comment": PAYLOAD,
            }
        ),
        content_type="application/json",
    )
    _ok(response, "silence")
    return {"incident": base + "/", "change": f"/changes/{change}/"}


@pytest.mark.slow
def test_script_and_markup_in_every_text_field_come_back_inert(client, db):
    call_command("load_policy", verbosity=0)
    call_command("seed_demo", "--allow-non-embedded", verbosity=0)
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    # A person's name is user text too (shown as actor, responder, author).
    root.first_name, root.last_name = PAYLOAD[:150], "x"
    root.save()
    client.force_login(root)
    where = _plant(client, timezone.now())

    pages = crawl(client, ["/", *where.values(), "/admin/", *API_READS])
    pages.update(follow_api(client, pages))
    html = {u: r for u, r in pages.items() if "html" in r.get("Content-Type", "")}
    live = [
        f"{url}: {raw.decode()}"
        for url, response in html.items()
        for raw in RAW
        if raw in response.content
    ]
    assert live == []
    showing = sorted(u for u, r in html.items() if ESCAPED in r.content)
    # The payload was shown (escaped) on the records' own pages and on many others.
    for url in where.values():
        assert url in showing
    assert len(showing) > 25, showing
    # JSON answers carry the text as data, for the client to insert as text.
    api = [u for u in pages if u.startswith("/api/")]
    assert any(PAYLOAD.encode() in json.dumps(pages[u].json()).encode() for u in api)
