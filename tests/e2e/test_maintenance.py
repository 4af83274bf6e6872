"""An Operations Lead schedules a weekly window for Gamma from the calendar page."""

import re

from playwright.sync_api import expect

from tests.servers import embedded_server


def _login(page, url, username):
    page.goto(url + "login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    expect(page.locator("#user-badge")).to_contain_text(username)


def test_operations_lead_schedules_a_weekly_window_for_gamma(browser, tmp_path):
    with embedded_server(tmp_path) as server:
        page = browser.new_context().new_page()
        _login(page, server.url, "opslead")
        page.click("nav >> text=Maintenance")
        expect(page.locator("#calendar-heading")).to_be_visible()
        # The demo's recurring windows are on the calendar already.
        expect(page.locator("#upcoming-windows")).to_contain_text("Weekly patching (Alpha, Beta)")
        page.click("#schedule-window")

        # The first designated Standard Weekly slot outside the 48 h notice (the demo's
        # monthly windows start two weeks out, so it is free for Gamma).
        slot = page.locator("#id_slot option", has_text="Standard Weekly").first
        label = slot.inner_text()
        page.select_option("#id_slot", value=slot.get_attribute("value"))
        page.fill("#id_title", "Gamma delivery patches")
        page.check("#window-form input[name=modules] >> nth=2")  # alpha, beta, gamma
        page.fill("#id_impact", "Deliveries may be delayed by a few minutes")
        page.click("#window-form button[type=submit]")

        # The Operations Lead approves Standard Weekly windows: approved by scheduling.
        expect(page.locator("#window-status")).to_have_text("Approved")
        expect(page.locator("#window-modules")).to_have_text(re.compile(r"^\s*gamma\s*$"))
        day = re.search(r"Sun (\d\d \w\w\w \d{4}) 02:00", label).group(1)
        expect(page.locator("#window-when")).to_contain_text(f"Sun {day} 02:00")
        expect(page.locator("#window-when")).to_contain_text("06:00")
        # The 004 reminders are queued and the 000 announcement is ready to edit.
        for key in ("T-3d", "T-1d", "T-1h"):
            expect(page.locator(f"#reminder-{key}")).to_contain_text(re.compile("Pending|Skipped"))
        expect(page.locator("#announcement textarea")).to_contain_text("Type: Standard Weekly")

        # Back on the calendar, the window shows on its week.
        page.click("a:has-text('Calendar')")
        page.click("text=Week")
        page.goto(page.url.split("?")[0] + "?view=week&date=" + _iso(day))
        expect(page.locator("#calendar-grid")).to_contain_text("Gamma delivery patches")


def _iso(day: str) -> str:
    from datetime import datetime

    return datetime.strptime(day, "%d %b %Y").date().isoformat()
