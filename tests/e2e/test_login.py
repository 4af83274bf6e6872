import sqlite3

from playwright.sync_api import expect

from tests.servers import embedded_server

NAV = ["Overview", "Incidents", "Changes", "Maintenance", "Shifts", "Monitoring", "Jobs", "Audit"]


def test_login_shows_navigation_role_and_live_state_and_the_audit_chain_holds(page, tmp_path):
    with embedded_server(tmp_path) as server:
        page.goto(server.url)
        expect(page).to_have_url(f"{server.url}login/?next=/")

        page.fill("#id_username", "operator")
        page.fill("#id_password", "not-the-password")
        page.click("button[type=submit]")
        expect(page.locator("#login-error")).to_contain_text("correct username and password")

        page.fill("#id_username", "operator")
        page.fill("#id_password", "demo")
        page.click("button[type=submit]")
        expect(page).to_have_url(server.url)
        nav = page.get_by_role("navigation", name="Main navigation")
        for label in NAV:
            expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
        expect(page.locator("#user-role")).to_have_text("Operator")
        expect(page.locator("#user-badge")).to_contain_text("operator")
        # The WebSocket connects and the indicator says so.
        expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
        # Live push: another user's sign-in is audited and the activity panel updates.
        viewer_acted = page.locator("#activity-panel strong", has_text="viewer")
        expect(viewer_acted).to_have_count(0)
        other = page.context.browser.new_context().new_page()
        other.goto(server.url + "login/")
        other.fill("#id_username", "viewer")
        other.fill("#id_password", "demo")
        other.click("button[type=submit]")
        expect(other.locator("#user-role")).to_have_text("Viewer")
        expect(viewer_acted.first).to_be_visible(timeout=10_000)
        other.context.close()

        # The browser's actions were audited, and the chain verifies...
        result = server.manage("verify_audit")
        assert result.returncode == 0, result.stderr
        assert "Audit chain OK" in result.stdout

    # ...until one entry is altered by hand in the database.
    with sqlite3.connect(tmp_path / "console.sqlite3") as db:
        db.execute(
            "UPDATE console_auditentry SET actor_name = 'mallory' WHERE action = 'auth.login'"
        )
    result = server.manage("verify_audit")
    assert result.returncode != 0
    assert "BROKEN at entry #" in result.stderr
