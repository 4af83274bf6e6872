"""The issue's "Done when": an operator runs a day in the browser — the morning checklist with
live evidence from the simulator, log entries, a handoff pre-filled with the open incident,
and a dual sign-off with the incoming on-call engineer in a second browser."""

import re

from playwright.sync_api import expect

from tests.e2e.test_dashboards import simulator  # noqa: F401 — the same simulator fixture
from tests.servers import embedded_server

WAIT = 30_000  # bounds the test on a loaded machine; nothing asserts on time


def _login(page, url, username):
    page.goto(url + "login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    expect(page.locator("#user-badge")).to_contain_text(username)


def test_a_shift_day_with_two_operators(browser, tmp_path, simulator):  # noqa: F811
    env = {
        f"SIMULATOR_{name.upper()}_PORT": str(simulator[name])
        for name in ("alpha", "beta", "gamma")
    }
    with embedded_server(tmp_path, env) as server:
        out = browser.new_context().new_page()
        inc = browser.new_context().new_page()
        _login(out, server.url, "operator")
        _login(inc, server.url, "oncall")
        # The header says who is on call now (the demo rota).
        expect(out.locator("#oncall-now")).to_contain_text(re.compile(r"On call: (oncall|senior)"))

        # Morning checklist: the live evidence comes from the polled simulator modules.
        out.goto(server.url + "shifts/checklists/morning/")
        modules = out.locator("#evidence-modules-healthy")
        for name in ("alpha", "beta", "gamma"):
            expect(modules).to_contain_text(re.compile(name + r": HEALTHY"), timeout=WAIT)
        expect(out.locator("#evidence-modules-healthy [data-evidence-level]")).to_have_attribute(
            "data-evidence-level", "ok", timeout=WAIT
        )
        expect(out.locator("#evidence-circuit-breakers")).to_contain_text("CLOSED", timeout=WAIT)
        expect(out.locator("#evidence-queue-depths")).to_contain_text("Queue depth", timeout=WAIT)
        out.locator("#item-modules-healthy button[value=ok]").click()
        expect(out.locator("#item-modules-healthy .tick-done")).to_contain_text("by operator")
        # A deviation needs a note: refused without, recorded with.
        out.locator("#item-dlq button[value=deviation]").click()
        expect(out.locator("#action-result")).to_contain_text("needs a note")
        out.fill("#note-dlq", "DLQ growing overnight: 1,200 records")
        out.locator("#item-dlq button[value=deviation]").click()
        expect(out.locator("#item-dlq .tick-done")).to_contain_text("DLQ growing overnight")
        expect(out.locator("#item-dlq .tick-done")).to_contain_text("Raise incident")

        # Log entries.
        out.goto(server.url + "shifts/log/")
        out.select_option("#id_kind", "manual")
        out.fill("#id_text", "Replayed the Gamma DLQ")
        out.fill("#id_justification", "Records stuck after the overnight outage")
        out.fill("#id_actions", "Replayed 1,200 records")
        out.fill("#id_verification", "DLQ size back to 0")
        out.fill("#id_side_effects", "None seen")
        out.click("#log-form button")
        expect(out.locator("#log-entries")).to_contain_text("Replayed the Gamma DLQ")
        out.select_option("#id_kind", "anomaly")
        out.fill("#id_text", "Beta cache hit rate dipped at 06:40")
        out.click("#log-form button")
        expect(out.locator("#log-entries")).to_contain_text("cache hit rate dipped")

        # A change under way: the on-call engineer starts the demo's verbally approved hotfix.
        inc.goto(server.url + "changes/")
        inc.locator("tr", has_text="Hotfix Gamma destination timeout").locator("a").first.click()
        change_number = inc.url.rstrip("/").rsplit("/", 1)[1]
        inc.click("#action-start")
        expect(inc.locator("#change-status")).to_have_text("In Progress", timeout=WAIT)

        # An open incident.
        out.goto(server.url + "incidents/declare/")
        out.fill("#id_title", "Beta transformation stalled")
        out.fill("#id_summary", "Queue depth rising, no output from Beta.")
        out.check("input[name=severity][value=P2]")
        out.click("#declare-form button[type=submit]")
        expect(out.locator("#incident-status")).to_have_text("Open")
        number = out.url.rstrip("/").rsplit("/", 1)[1]

        # The handoff, pre-filled from live state.
        out.goto(server.url + "shifts/handoff/")
        out.select_option("#id_incoming", label="oncall")
        out.click("#handoff-start-form button")
        expect(out.locator("#state-incidents")).to_contain_text(number)
        expect(out.locator("#state-incidents")).to_contain_text("Beta transformation stalled")
        expect(out.locator("#state-incidents")).to_contain_text("Open")
        expect(out.locator("#state-log")).to_contain_text("Replayed the Gamma DLQ")
        expect(out.locator("#state-changes")).to_contain_text(f"{change_number} In Progress")
        expect(out.locator("#state-changes")).to_contain_text("Hotfix Gamma destination timeout")
        handoff_url = out.url

        # Drafts: what is typed is saved as it is typed and survives a reload.
        out.fill("#id_items_to_watch", "Beta queue after the restart; DLQ replay")
        expect(out.locator("#draft-note-out")).to_contain_text("Draft saved", timeout=WAIT)
        out.fill("#id_briefing_points", "INC is with the Beta team; next update 10:30")
        expect(out.locator("#draft-note-out")).to_contain_text("Draft saved", timeout=WAIT)
        out.reload()
        expect(out.locator("#id_items_to_watch")).to_have_value(
            "Beta queue after the restart; DLQ replay"
        )
        out.click("#sign-button")
        expect(out.locator("#handoff-state")).to_have_text(
            "Signed by the outgoing operator", timeout=WAIT
        )
        expect(out.locator("#ro-items-to-watch")).to_contain_text("Beta queue", timeout=WAIT)

        # The incoming on-call engineer, in the other browser.
        inc.goto(server.url + "shifts/")
        inc.locator("#my-handoffs li a").first.click()
        expect(inc).to_have_url(handoff_url)
        expect(inc.locator("#ro-items-to-watch")).to_contain_text("DLQ replay")
        # Signing before the verification is refused, with what is missing.
        inc.click("#sign-button")
        expect(inc.locator("#action-result")).to_contain_text("Before signing")
        inc.fill(
            "#id_incidents_summary",
            f"{number}: Beta stalled, Beta team restarting; escalate at 11:00",
        )
        expect(inc.locator("#draft-note-in")).to_contain_text("Draft saved", timeout=WAIT)
        inc.click("#verify-dashboard button")
        expect(inc.locator("#verify-dashboard")).to_contain_text("confirmed")
        inc.click("#send-test")
        expect(inc.locator("#test-received-box")).to_contain_text("Test notification for handoff")
        inc.click("#test-received-box button")
        expect(inc.locator("#verify-test")).to_contain_text("Test notification received")
        inc.click("#verify-contacts button")
        expect(inc.locator("#verify-contacts")).to_contain_text("confirmed")
        inc.click("#sign-button")
        expect(inc.locator("#handoff-state")).to_have_text("Signed by both", timeout=WAIT)
        # The outgoing operator's page follows live.
        expect(out.locator("#handoff-state")).to_have_text("Signed by both", timeout=WAIT)

        # Signed: read-only, and the first thing the incoming shift sees.
        inc.goto(server.url + "shifts/")
        expect(inc.locator("#taken-over")).to_contain_text("from operator")
        expect(inc.locator("#taken-over")).to_contain_text("DLQ replay")
        inc.goto(handoff_url)
        expect(inc.locator("#id_incidents_summary")).to_have_count(0)
        expect(inc.locator("#ro-incidents-summary")).to_contain_text("escalate at 11:00")
