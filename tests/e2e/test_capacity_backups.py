"""Capacity, backups and reports in a real browser against the embedded console as `make run`
starts it (demo history seeded): charts draw, the calculator recomputes without a reload, the
overdue state snapshot shows with its alert, and a report renders."""

from playwright.sync_api import expect

from tests.servers import embedded_server


def test_capacity_backups_and_reports_pages(page, tmp_path):
    with embedded_server(tmp_path) as server:
        page.goto(server.url + "login/")
        page.fill("#id_username", "opslead")
        page.fill("#id_password", "demo")
        page.click("button[type=submit]")
        expect(page).to_have_url(server.url)

        page.goto(server.url + "capacity/")
        for kind in ("alpha", "beta", "gamma"):
            row = page.locator(f"#capacity-{kind}")
            expect(row).to_contain_text("%")
            expect(row).not_to_contain_text("of history")  # six months of demo history
        charts = page.locator("[data-capacity-chart]")
        expect(charts).to_have_count(3)
        for i in range(3):
            expect(charts.nth(i)).to_have_attribute("data-drawn", "1", timeout=30_000)
        page.evaluate("() => { window.__noReload = true; }")
        page.fill("#id_throughput", "4000")
        page.fill("#id_growth_factor", "1.5")
        page.fill("#id_target_utilization", "70")
        page.fill("#id_per_instance", "1000")
        expect(page.locator("#calculator-result")).to_contain_text("8.57 → 9 instances")
        assert page.evaluate("() => window.__noReload === true")

        page.goto(server.url + "backups/")
        expect(page.locator("#backup-class-state")).to_contain_text("overdue since")
        expect(page.locator("#backup-alerts")).to_contain_text("backup_overdue")

        page.goto(server.url + "reports/")
        page.click("#report-weekly-performance a.fw-semibold")
        expect(page.locator("#report-body h1")).to_have_text("Weekly performance summary")
