"""Deliveries: email, JSON webhook and Slack-compatible webhook against a local HTTP server
(never the internet), retries with backoff driven by the due-time scan, the delivery log."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from incidents import notify, services, tasks
from incidents.models import CommunicationTemplate, Notification, NotificationChannel, Status

pytestmark = pytest.mark.django_db


class Hook:
    """A local webhook receiver answering with the next status in `statuses` (then 200)."""

    def __init__(self):
        self.received: list[dict] = []
        self.statuses: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                hook.received.append(
                    {"path": self.path, "body": json.loads(self.rfile.read(length))}
                )
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    server = Hook()
    yield server
    server.close()


@pytest.fixture
def channels(policy, hook, operator):
    # The operator is engaged as Operations Team on P3/P4; no email keeps the counts to the
    # channels under test.
    operator.email = ""
    operator.save(update_fields=["email"])
    stakeholder_events = ["initial", "update", "resolution"]
    NotificationChannel.objects.filter(kind="webhook").update(
        target=hook.url + "/incidents", enabled=True, events=stakeholder_events
    )
    NotificationChannel.objects.filter(kind="slack").update(
        target=hook.url + "/slack", enabled=True, events=stakeholder_events
    )


def _deliver_due(when):
    """What the scan and the delivery tasks do, at `when`."""
    with time_machine.travel(when, tick=False):
        claimed = notify.claim_due()
        return [notify.deliver(pk, attempt) for pk, attempt in claimed]


def test_initial_notification_goes_to_every_channel(declare, channels, hook):
    incident = declare("P2", impact="Deliveries to two destinations fail")
    results = _deliver_due(timezone.now())
    assert sorted(results) == ["sent", "sent", "sent"]
    by_path = {r["path"]: r["body"] for r in hook.received}
    assert by_path["/incidents"]["incident"] == incident.number
    assert by_path["/incidents"]["event"] == "initial"
    assert by_path["/slack"]["text"].startswith("*INCIDENT ALERT: P2 - P2 trouble*")
    assert "Impact: Deliveries to two destinations fail" in by_path["/slack"]["text"]
    assert [m.to for m in mail.outbox] == [["stakeholders@example.com"]]
    assert mail.outbox[0].subject == "INCIDENT ALERT: P2 - P2 trouble"
    incident.refresh_from_db()
    assert incident.stakeholder_notified_at is not None  # stops the 1 h stakeholder clock
    assert incident.stakeholder_due_at is None
    assert incident.timeline.filter(kind="notification", text__contains="sent").count() == 3


def test_failed_delivery_retries_with_backoff_then_gives_up(declare, channels, hook):
    NotificationChannel.objects.exclude(kind="webhook").update(enabled=False)
    hook.statuses = [500] * 10
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        incident = declare("P3")
    row = Notification.objects.get(incident=incident, kind="webhook")
    assert _deliver_due(start) == ["retry"]
    row.refresh_from_db()
    assert row.attempts == 1 and row.next_attempt_at == start + timedelta(seconds=30)
    assert "HTTP Error 500" in row.last_error
    assert _deliver_due(start + timedelta(seconds=10)) == []  # not due yet
    when = start
    for attempt, wait in [(2, 30), (3, 60), (4, 120)]:
        when = when + timedelta(seconds=wait)
        assert _deliver_due(when) == ["retry"]
        row.refresh_from_db()
        assert row.attempts == attempt
    when += timedelta(seconds=240)
    assert _deliver_due(when) == ["failed"]
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("failed", Notification.MAX_ATTEMPTS)
    assert len(hook.received) == Notification.MAX_ATTEMPTS
    assert incident.timeline.filter(kind="notification", text__contains="failed after 5").exists()
    assert _deliver_due(when + timedelta(hours=1)) == []


def test_recovering_hook_is_delivered_on_retry(declare, channels, hook):
    NotificationChannel.objects.exclude(kind="slack").update(enabled=False)
    hook.statuses = [503]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        declare("P3")
    assert _deliver_due(start) == ["retry"]
    assert _deliver_due(start + timedelta(seconds=31)) == ["sent"]


def test_a_claim_lost_with_its_worker_is_claimed_again(declare, channels, hook):
    NotificationChannel.objects.exclude(kind="webhook").update(enabled=False)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        declare("P3")
        claimed = notify.claim_due()  # the worker that took it dies before sending
    assert len(claimed) == 1
    assert _deliver_due(start + timedelta(seconds=30)) == []  # still leased
    assert _deliver_due(start + notify.LEASE + timedelta(seconds=1)) == ["sent"]
    pk, attempt = claimed[0]
    assert notify.deliver(pk, attempt) == "stale"  # the late original does nothing
    assert len(hook.received) == 1


def test_scan_task_claims_due_deliveries(declare, channels, django_capture_on_commit_callbacks):
    from unittest import mock

    declare("P3")
    with mock.patch("incidents.tasks.deliver_notification.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            result = tasks.scan_incident_timers()
    assert result["deliveries"] == 3
    assert delay.call_count == 3


def test_escalations_reach_hooks_that_want_them(declare, channels, hook):
    NotificationChannel.objects.filter(kind="slack").update(events=["escalation"])
    declare("P2")
    _deliver_due(timezone.now())
    slack = [r["body"]["text"] for r in hook.received if r["path"] == "/slack"]
    assert len(slack) == 1 and "engaged On-call Engineer" in slack[0]


def test_escalation_emails_role_holders(declare, staff):
    declare("P2")
    _deliver_due(timezone.now())
    assert ["oncall@example.com"] in [m.to for m in mail.outbox]


def test_resolution_notification_uses_its_template(declare, operator, channels, hook):
    incident = declare("P2")
    _deliver_due(timezone.now())
    hook.received.clear()
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="Replayed the DLQ")
    _deliver_due(timezone.now())
    slack = next(r["body"] for r in hook.received if r["path"] == "/slack")
    assert f"INCIDENT RESOLVED: {incident.number}" in slack["text"]
    assert "Resolution: Replayed the DLQ" in slack["text"]


def test_templates_are_editable_data(declare):
    incident = declare("P3")
    CommunicationTemplate.objects.filter(kind="update").update(
        body="UPDATE {{ incident.number }} is {{ incident.get_status_display }}"
    )
    subject, body = notify.render("update", incident)
    assert subject == f"INCIDENT UPDATE: {incident.number} - P3"
    assert body == f"UPDATE {incident.number} is Open"


def test_update_template_renders_the_manual_fields(declare):
    incident = declare("P1")
    _, body = notify.render("update", incident)
    for line in ("Current Status:", "Progress:", "Next Steps:", "ETA:"):
        assert line in body


def test_channel_filters_by_severity_and_event(declare, policy):
    email = NotificationChannel.objects.get(kind="email")
    assert email.wants("P2", "initial") and not email.wants("P4", "initial")
    assert not email.wants("P2", "escalation")
