"""Issue 8's "Done when", in browsers: an engineer raises a High-risk change; a senior engineer
reviews it; the Director and two CAB members approve, each in their own browser; scheduling
into a window that clashes with an open P1 on the module is refused; it is scheduled in the
weekly window, implemented with the checklist and completed; the weekly review counts it."""

from datetime import UTC, datetime, time, timedelta

from playwright.sync_api import expect

from tests.servers import embedded_server

WAIT = 15_000


def _login(browser, url, username):
    page = browser.new_context().new_page()
    page.goto(url + "login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    expect(page.locator("#user-badge")).to_contain_text(username)
    return page


def _settle(page):
    """Wait for the live connection and the re-fetch of fragments its first sync makes: a
    click while a fragment is being swapped can land on the element being replaced."""
    expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live", timeout=WAIT)
    page.wait_for_load_state("networkidle")


def _open(page, url):
    page.goto(url)
    _settle(page)


def _local(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M")  # the server's TIME_ZONE is UTC here


def _weekly_window(now: datetime) -> tuple[datetime, datetime]:
    """The next Sunday 02:00-04:00 (000 "Weekly Maintenance Window") more than a day away."""
    day = now.date() + timedelta(days=(6 - now.weekday()) % 7 or 7)
    start = datetime.combine(day, time(2, 0), tzinfo=UTC)
    if start - now < timedelta(hours=30):
        start += timedelta(days=7)
    return start, start + timedelta(hours=2)


UTC = UTC


def _fig_total(page, url) -> int:
    page.goto(url + "changes/weekly/")
    return int(page.locator("#fig-total").inner_text())


def test_high_risk_change_through_cab_to_completion(browser, tmp_path):
    with embedded_server(tmp_path) as server:
        url = server.url
        engineer = _login(browser, url, "operator")
        before = _fig_total(engineer, url)

        # 1. The engineer raises a High-risk change (impact high × likelihood medium).
        engineer.goto(url + "changes/new/")
        engineer.fill("#id_title", "Raise Beta queue capacity")
        engineer.select_option("#id_type", "normal")
        engineer.select_option("#id_priority", "high")
        engineer.fill("#id_description", "Double Beta's queue capacity.")
        engineer.fill("#id_business_justification", "Peak backlog breaches the 60 % line.")
        engineer.fill("#id_technical_details", "queue_capacity 10000 -> 20000 via config reload.")
        engineer.check("input[name=affected_modules][value=beta]")
        engineer.select_option("#id_impact", "high")
        engineer.select_option("#id_likelihood", "medium")
        engineer.fill("#id_risk_assessment", "Memory grows; watched.")
        engineer.fill("#id_testing_performed", "Soak test in staging.")
        engineer.fill("#id_implementation_plan", "1. Reload. 2. Verify version. 3. Watch.")
        engineer.fill("#id_rollback_plan", "Reload the previous configuration version.")
        engineer.click("#save-change")
        expect(engineer.locator("#change-risk")).to_have_text("High Risk")
        change_url = engineer.url
        _settle(engineer)
        number = change_url.rstrip("/").rsplit("/", 1)[1]
        assert number.startswith("CHG-")
        engineer.click("#action-submit")
        expect(engineer.locator("#change-status")).to_have_text("Submitted")

        # 2. Technical review by a senior engineer.
        senior = _login(browser, url, "senior")
        _open(senior, change_url)
        senior.fill("#review-comment", "Feasible; rollback rehearsed.")
        senior.click("#action-review")
        expect(senior.locator("#change-status")).to_have_text("CAB Review", timeout=WAIT)

        # 3. The Director and both CAB members approve, each in their own browser.
        director = _login(browser, url, "director")
        _open(director, change_url)
        director.fill("#decision-comment", "Business priority confirmed.")
        director.click("#action-approve")
        expect(director.locator("#action-result")).to_contain_text("approve is recorded")

        cab1 = _login(browser, url, "cab1")
        _open(cab1, url + "changes/cab/")
        item = cab1.locator(f'.agenda-item[data-change="{number}"]')
        item.locator("input[name=comment]").fill("Resources available Sunday.")
        item.locator("button[value=approve]").click()
        expect(cab1.locator("#action-result")).to_contain_text("Vote recorded")

        cab2 = _login(browser, url, "cab2")
        _open(cab2, change_url)
        cab2.click("#action-approve")
        expect(cab2.locator("#change-status")).to_have_text("Approved", timeout=WAIT)
        # The engineer's open page follows live (or by polling).
        expect(engineer.locator("#change-status")).to_have_text("Approved", timeout=WAIT)

        # 4. A P1 on Beta: scheduling into a window that clashes with it is refused.
        oncall = _login(browser, url, "oncall")
        oncall.goto(url + "incidents/declare/")
        oncall.fill("#id_title", "Beta stalled")
        oncall.fill("#id_summary", "No output from Beta.")
        oncall.check("input[name=severity][value=P1]")
        oncall.check("input[name=affected_modules][value=beta]")
        oncall.click("#declare-form button[type=submit]")
        expect(oncall.locator("#incident-status")).to_have_text("Open")
        incident = oncall.url.rstrip("/").rsplit("/", 1)[1]

        now = datetime.now(UTC)
        soon = now + timedelta(hours=2)
        _open(engineer, change_url)
        engineer.fill("#schedule-start", _local(soon))
        engineer.fill("#schedule-end", _local(soon + timedelta(hours=1)))
        engineer.click("#action-check-conflicts")
        expect(engineer.locator("#conflicts-panel")).to_contain_text(incident)
        engineer.click("#action-schedule")
        expect(engineer.locator("#action-result")).to_contain_text("conflicts")
        expect(engineer.locator("#action-result")).to_contain_text(incident)
        expect(engineer.locator("#change-status")).to_have_text("Approved")

        # 5. Scheduled in the weekly window instead.
        start, end = _weekly_window(now)
        engineer.fill("#schedule-start", _local(start))
        engineer.fill("#schedule-end", _local(end))
        engineer.click("#action-schedule")
        expect(engineer.locator("#change-status")).to_have_text("Scheduled", timeout=WAIT)
        expect(engineer.locator("#scheduled-window")).to_contain_text(start.strftime("%d %b %Y"))

        # The P1 is resolved before work starts (an open P1 would hold the start back).
        oncall.fill("#resolution-summary", "Worker restarted.")
        oncall.click("form[action$='/resolve/'] button[type=submit]")
        expect(oncall.locator("#incident-status")).to_have_text("Resolved", timeout=WAIT)

        # 6. Implemented with the checklist, then completed.
        _open(engineer, change_url)
        engineer.click("#action-start")
        expect(engineer.locator("#action-result")).to_contain_text("checklist")
        unchecked = engineer.locator('#checklist button[aria-label^="Check "]')
        remaining = unchecked.count()
        assert remaining == 17
        while remaining:
            unchecked.first.click()
            expect(unchecked).to_have_count(remaining - 1, timeout=WAIT)
            remaining -= 1
        expect(engineer.locator("#checklist-open")).to_have_text("complete")
        engineer.click("#action-start")
        expect(engineer.locator("#change-status")).to_have_text("In Progress", timeout=WAIT)
        engineer.fill("#log-text", "Config reloaded; version 4 running.")
        engineer.click("#action-log")
        expect(engineer.locator("#implementation-log")).to_contain_text("version 4", timeout=WAIT)
        engineer.click("#action-complete")
        expect(engineer.locator("#change-status")).to_have_text("Completed", timeout=WAIT)

        # 7. The weekly review counts it.
        assert _fig_total(engineer, url) == before + 1
        expect(engineer.locator("#weekly-changes")).to_contain_text(number)
        expect(engineer.locator("#chart-outcomes")).to_have_attribute("data-drawn", "1")
