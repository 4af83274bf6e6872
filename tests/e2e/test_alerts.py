"""The Alerts page in a browser: an alert arriving from Alertmanager shows up live, is silenced
from the page ("silence like this alert"), and another operator's open page moves it to
Silenced live; the incident it opened shows it in the war room's alerts panel."""

import json
import urllib.request

from playwright.sync_api import expect

from tests.servers import embedded_server

LIVE_WAIT = 15_000  # bounds the wait; the test waits for conditions, never for a fixed time
FINGERPRINT = "e2e0000000000001"


def _login(page, url, username):
    page.goto(url + "login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    expect(page.locator("#user-badge")).to_contain_text(username)


def _post_alert(server, token):
    payload = {
        "version": "4",
        "groupKey": '{}:{alertname="gamma_partner_feed_down"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "ops-console",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "gamma_partner_feed_down",
                    "module": "gamma",
                    "destination": "partner_feed",
                    "severity": "high",
                },
                "annotations": {"summary": "partner_feed refuses deliveries"},
                "startsAt": "2026-11-21T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": FINGERPRINT,
            }
        ],
    }
    request = urllib.request.Request(
        server.url + "api/v1/integrations/alertmanager/",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["created"] == 1


def test_alert_shows_live_is_silenced_from_the_page_and_shows_as_silenced(browser, tmp_path):
    with embedded_server(tmp_path) as server:
        made = server.manage("create_api_token", "admin", "--name", "e2e-alertmanager")
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()

        operator = browser.new_context().new_page()
        watcher = browser.new_context().new_page()
        _login(operator, server.url, "operator")
        _login(watcher, server.url, "viewer")
        for page in (operator, watcher):
            page.goto(server.url + "monitoring/alerts/")
            # The demo data has its own alerts firing (an overdue backup): look for this one.
            expect(page.locator("#alerts-firing")).to_be_visible()
            expect(
                page.locator(f"#alerts-firing tr[data-fingerprint={FINGERPRINT}]")
            ).to_have_count(0)
            expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")

        # Alertmanager posts a firing alert: both pages show it without a reload.
        _post_alert(server, token)
        for page in (operator, watcher):
            row = page.locator(f"#alerts-firing tr[data-fingerprint={FINGERPRINT}]")
            expect(row).to_contain_text("gamma_partner_feed_down", timeout=LIVE_WAIT)
            expect(row).to_contain_text("destination=partner_feed")
        # It opened an incident (high → P2), linked on its row.
        incident_link = operator.locator(
            f"#alerts-firing tr[data-fingerprint={FINGERPRINT}] a[href^='/incidents/INC-']"
        )
        expect(incident_link).to_be_visible(timeout=LIVE_WAIT)
        war_room = incident_link.get_attribute("href")

        # Silence it from its row: the form comes pre-filled with its labels.
        operator.click(f"#alerts-firing tr[data-fingerprint={FINGERPRINT}] a.silence-like")
        expect(operator.locator("#silence-source")).to_contain_text("gamma_partner_feed_down")
        expect(operator.locator("input[value=partner_feed]")).to_be_visible()
        operator.fill("#id_comment", "Partner maintenance, they called")
        operator.click("#create-silence")
        expect(operator.locator("#silences-active")).to_contain_text('destination="partner_feed"')
        expect(operator.locator("#silences-active")).to_contain_text("Partner maintenance")

        # The other page, still open, moves it to Silenced live; it is still shown.
        silenced = watcher.locator(f"#alerts-silenced tr[data-fingerprint={FINGERPRINT}]")
        expect(silenced).to_contain_text("silenced", timeout=LIVE_WAIT)
        expect(watcher.locator(f"#alerts-firing tr[data-fingerprint={FINGERPRINT}]")).to_have_count(
            0
        )
        expect(watcher.locator("#count-silenced")).to_have_text("1 silenced")

        # Expire the silence from the silences page: the alert is firing again, live.
        operator.locator("#silences-active .expire-silence").first.click()
        # (The message may already be gone: the live refresh re-renders the table.)
        expect(operator.locator("#silences-expired")).to_contain_text("Partner maintenance")
        expect(watcher.locator(f"#alerts-firing tr[data-fingerprint={FINGERPRINT}]")).to_be_visible(
            timeout=LIVE_WAIT
        )

        # The incident's war room lists the alert in its alerts panel.
        watcher.goto(server.url.rstrip("/") + war_room)
        expect(watcher.locator("#alerts")).to_contain_text(
            "gamma_partner_feed_down", timeout=LIVE_WAIT
        )
