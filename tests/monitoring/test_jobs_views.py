"""Jobs and actions pages and the /api/v1/jobs/ and /api/v1/actions/ contract: the
permission triad, HTMX fragments, suspended jobs standing out, and the API's shapes."""

import pytest
from django.urls import reverse

from console.models import AuditEntry
from monitoring import actions, jobs
from monitoring.models import ActionRun, Job, JobRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("without_change_control")]


def _pages(catalogue_names=("alpha_source_sync",)):
    return [
        reverse("monitoring:jobs"),
        reverse("monitoring:job_detail", args=["alpha_source_sync"]),
        reverse("monitoring:actions"),
    ]


def test_pages_need_a_login(client, catalogue):
    for url in _pages():
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_pages_refuse_users_without_a_role(client, outsider, catalogue):
    client.force_login(outsider)
    for url in _pages():
        assert client.get(url).status_code == 403


def test_viewer_sees_the_pages_without_buttons(client, viewer, catalogue, action_roles):
    client.force_login(viewer)
    page = client.get(reverse("monitoring:jobs")).content.decode()
    assert "alpha_source_sync" in page and "weekly_full_backup" in page
    assert "Trigger now" not in page and "Suspend all" not in page
    fragment = client.get(
        reverse("monitoring:jobs") + "?fragment=table", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    assert b'id="jobs-table"' in fragment.content


def test_suspended_job_stands_out(client, operator, catalogue):
    jobs.suspend(operator, "alpha_source_sync", "source adapter upgrade")
    client.force_login(operator)
    page = client.get(reverse("monitoring:jobs")).content.decode()
    assert 'id="job-row-alpha_source_sync" class="table-warning job-suspended"' in page
    assert "SUSPENDED" in page and "source adapter upgrade" in page
    detail = client.get(reverse("monitoring:job_detail", args=["alpha_source_sync"])).content
    assert b'id="job-suspended"' in detail


def test_operator_suspends_and_resumes_from_the_page(client, operator, catalogue):
    client.force_login(operator)
    url = reverse("monitoring:job_suspend", args=["beta_schema_sync"])
    assert client.get(url).status_code == 405
    client.post(url, {"reason": "registry migration"})
    assert Job.objects.get(name="beta_schema_sync").suspended
    client.post(reverse("monitoring:jobs_resume_all"))
    assert not Job.objects.filter(status="suspended").exists()
    assert AuditEntry.objects.filter(action="job.suspend").exists()


def test_viewer_cannot_suspend(client, viewer, catalogue):
    client.force_login(viewer)
    client.post(reverse("monitoring:jobs_suspend_all"), {"reason": "x"})
    assert not Job.objects.filter(status="suspended").exists()


def test_job_list_api_contract(client, viewer, catalogue):
    client.force_login(viewer)
    data = client.get("/api/v1/jobs/").json()
    row = next(j for j in data if j["name"] == "daily_audit_export")
    assert {"name", "module", "schedule", "next_run_at", "suspended", "last_status"} <= set(row)
    assert (row["module"], row["schedule"], row["suspended"], row["last_status"]) == (
        "gamma",
        "01:00",
        False,
        None,
    )


def test_job_api_operations(client, operator, viewer, sim, modules, catalogue):
    client.force_login(viewer)
    assert client.post("/api/v1/jobs/alpha_source_sync/trigger/").status_code == 403
    client.force_login(operator)
    response = client.post("/api/v1/jobs/alpha_source_sync/trigger/")
    assert response.status_code == 202 and response.json()["status"] == "running"
    assert client.post("/api/v1/jobs/alpha_source_sync/trigger/").status_code == 409
    runs = client.get("/api/v1/jobs/alpha_source_sync/runs/").json()
    assert runs[0]["trigger"] == "manual" and runs[0]["module_run_id"]
    assert client.post("/api/v1/jobs/nope/trigger/").json()["detail"].startswith("No batch job")
    bad = client.post("/api/v1/jobs/beta_schema_sync/suspend/", {}, content_type="application/json")
    assert bad.status_code == 400 and "Say why" in bad.json()["detail"]
    ok = client.post(
        "/api/v1/jobs/beta_schema_sync/suspend/", {"reason": "x"}, content_type="application/json"
    )
    assert ok.json()["suspended"] is True and ok.json()["next_run_at"] is None
    assert client.post("/api/v1/jobs/beta_schema_sync/resume/").json()["suspended"] is False
    assert JobRun.objects.count() == 1


def test_actions_api(client, operator, viewer, sim, modules, action_roles):
    client.force_login(viewer)
    body = {"action": "pause", "module": "alpha", "idempotency_key": "k1"}
    assert client.post("/api/v1/actions/", body, content_type="application/json").status_code == 403
    client.force_login(operator)
    first = client.post("/api/v1/actions/", body, content_type="application/json")
    assert first.status_code == 201 and first.json()["status"] == "succeeded"
    again = client.post("/api/v1/actions/", body, content_type="application/json")
    assert again.json()["id"] == first.json()["id"]  # a resend is the same run
    bad = client.post(
        "/api/v1/actions/", {"action": "pause", "module": "nope"}, content_type="application/json"
    )
    assert bad.status_code == 400
    assert client.get("/api/v1/actions/").json()[0]["action"] == "pause"


def test_action_page_shows_precheck_and_runs_with_confirmation(
    client, operator, sim, modules, action_roles
):
    client.force_login(operator)
    page = client.get(reverse("monitoring:action", args=["alpha", "pause"])).content.decode()
    assert "Stops the module working" in page and 'data-ok="1"' in page
    key = actions.new_key()
    url = reverse("monitoring:action_run", args=["alpha", "pause"])
    client.post(url, {"idempotency_key": key})  # no confirmation ticked: nothing runs
    assert not ActionRun.objects.exists()
    response = client.post(url, {"idempotency_key": key, "confirm": "yes"})
    record = ActionRun.objects.get()
    assert response["Location"] == reverse("monitoring:action_result", args=[record.pk])
    client.post(url, {"idempotency_key": key, "confirm": "yes"})  # a double-click
    assert ActionRun.objects.count() == 1
    result = client.get(response["Location"]).content.decode()
    assert "alpha is now paused" in result


def test_purge_page_hides_the_button_from_an_operator(client, operator, sim, modules, action_roles):
    client.force_login(operator)
    page = client.get(reverse("monitoring:action", args=["gamma", "dlq_purge"])).content.decode()
    assert "Operations Lead or above" in page and 'id="run-action"' not in page
    forbidden = client.post(
        reverse("monitoring:action_run", args=["gamma", "dlq_purge"]),
        {"idempotency_key": "x", "confirm": "yes", "scope": "all"},
    )
    assert forbidden.status_code == 403


def test_degraded_mode_recorded_with_live_buffering(client, operator, sim, modules):
    client.force_login(operator)
    client.post(reverse("monitoring:degraded_activate", args=["alpha"]), {"reason": "beta down"})
    client.post(reverse("monitoring:degraded_activate", args=["alpha"]), {"reason": "again"})
    from monitoring.models import DegradedMode

    assert DegradedMode.objects.filter(module="alpha", ended_at__isnull=True).count() == 1
    fragment = client.get(
        reverse("monitoring:actions") + "?fragment=degraded", headers={"HX-Request": "true"}
    )
    assert b"ACTIVE" in fragment.content and b"input buffer" in fragment.content
    client.post(reverse("monitoring:degraded_end", args=["alpha"]), {"note": "beta back"})
    assert DegradedMode.objects.get().ended_by == "operator"


def test_buffering_is_read_from_the_latest_poll(sim, modules):
    from monitoring import degraded, services
    from monitoring.poller import poll
    from tests.monitoring.jobs_support import step

    beta = modules["beta"]
    assert degraded.buffering(beta).utilization is None
    from tests.simulator.support import call

    call("POST", sim.urls()["beta"] + "/admin/pause")  # Alpha keeps feeding its queue
    step(sim, 3)
    services.record_polls(poll([(beta.pk, beta.base_url, beta.token)]))
    state = degraded.buffering(beta)
    metrics = call("GET", sim.urls()["beta"] + "/metrics").text
    depth = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("beta_queue_depth{")
    )
    assert depth > 0 and state.depth == depth
    assert state.utilization == pytest.approx(depth / 10000)


def test_jobs_page_query_count_does_not_grow_with_runs(
    client, viewer, catalogue, django_assert_max_num_queries
):
    from django.utils import timezone

    for job in Job.objects.all():
        run = JobRun.objects.create(
            job=job, trigger="manual", scheduled_for=timezone.now(), status="success"
        )
        Job.objects.filter(pk=job.pk).update(last_run=run)
    client.force_login(viewer)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("monitoring:jobs")).status_code == 200


def test_action_pages_refuse_outsiders_and_404_unknown_actions(
    client, outsider, operator, sim, modules, action_roles
):
    client.force_login(outsider)
    assert client.get(reverse("monitoring:action", args=["alpha", "pause"])).status_code == 403
    client.force_login(operator)
    assert client.get(reverse("monitoring:action", args=["alpha", "nope"])).status_code == 404
    assert client.get(reverse("monitoring:action", args=["alpha", "dlq_purge"])).status_code == 404
    record = actions.run(operator, "pause", modules["alpha"], {}, actions.new_key())[0]
    client.force_login(outsider)
    assert client.get(reverse("monitoring:action_result", args=[record.pk])).status_code == 403


def test_action_from_an_unknown_or_unseen_incident_is_404(client, operator, sim, modules):
    client.force_login(operator)
    url = reverse("monitoring:action", args=["alpha", "pause"]) + "?incident=INC-20240101-0001"
    assert client.get(url).status_code == 404


def test_job_detail_fragment(client, viewer, catalogue):
    client.force_login(viewer)
    url = reverse("monitoring:job_detail", args=["weekly_full_backup"]) + "?fragment=runs"
    response = client.get(url, headers={"HX-Request": "true"})
    assert b'id="job-runs"' in response.content and b"<html" not in response.content
    page = client.get(reverse("monitoring:job_detail", args=["weekly_full_backup"])).content
    assert b"Sun " in page  # the next runs, on Sundays
