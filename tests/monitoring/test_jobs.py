"""Batch jobs: cron computation (daylight saving included), the due-time scan, runs recorded
against the real simulator, late/overrun/failure detection, Runbook F operations."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.utils import timezone

from console.errors import Refused
from monitoring import jobs
from monitoring.models import Alert, AlertState, Job, JobRun
from tests.monitoring.jobs_support import step
from tests.simulator.support import call

pytestmark = pytest.mark.django_db


def _job(name="test_job", cron="30 1 * * *", module="alpha", **fields) -> Job:
    return Job.objects.create(
        name=name,
        module=module,
        cadence="daily",
        schedule_text="01:30",
        cron=cron,
        description="test",
        expected_min_minutes=fields.pop("lo", 2),
        expected_max_minutes=fields.pop("hi", 5),
        next_run_at=fields.pop("next_run_at", None),
        **fields,
    )


def test_catalogue_has_every_job_of_the_manual(catalogue):
    names = set(Job.objects.values_list("name", flat=True))
    assert len(names) == 35
    assert {"alpha_source_sync", "daily_audit_export", "weekly_full_backup"} <= names
    weekly = Job.objects.get(name="weekly_full_backup")
    assert (weekly.cron, weekly.expected_min_minutes, weekly.expected_max_minutes) == (
        "0 2 * * 0",
        120,
        240,
    )
    assert Job.objects.get(name="monthly_security_scan").cron == "0 1 15 * *"
    assert all(j.next_run_at is not None for j in Job.objects.all())


def test_next_run_follows_cron_in_the_console_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    after = datetime(2024, 1, 16, 10, 0, tzinfo=UTC)  # 11:00 in Berlin
    assert jobs.next_run("0 2 * * 0", after) == datetime(2024, 1, 21, 1, 0, tzinfo=UTC)
    assert jobs.next_run("5 * * * *", after) == datetime(2024, 1, 16, 10, 5, tzinfo=UTC)
    assert jobs.next_run("0 1 1 * *", after) == datetime(2024, 2, 1, 0, 0, tzinfo=UTC)


def _runs_over(job: Job, start: datetime, hours: int) -> list[datetime]:
    """Step the clock every 5 minutes and run the claim scan; the slots claimed."""
    job.next_run_at = jobs.next_run(job.cron, start)
    job.save()
    moment = start
    while moment < start + timedelta(hours=hours):
        with time_machine.travel(moment, tick=False):
            for pk in jobs.claim_due_jobs():
                JobRun.objects.filter(pk=pk).update(status=JobRun.Status.SUCCESS)
        moment += timedelta(minutes=5)
    return list(
        JobRun.objects.filter(job=job)
        .order_by("scheduled_for")
        .values_list("scheduled_for", flat=True)
    )


@pytest.mark.parametrize(
    "day, cron",
    [
        ("2024-03-31", "30 1 * * *"),  # London springs 01:00 -> 02:00: 01:30 never exists
        ("2024-10-27", "30 1 * * *"),  # London falls 02:00 -> 01:00: 01:30 happens twice
    ],
)
def test_fixed_time_job_runs_once_across_a_dst_change(settings, day, cron):
    settings.TIME_ZONE = "Europe/London"
    start = datetime.fromisoformat(f"{day}T00:00:00+00:00") - timedelta(hours=12)
    slots = _runs_over(_job(cron=cron), start, 40)
    assert len(slots) == 2  # the DST day and the day after: once each
    assert len({timezone.localtime(s).date() for s in slots}) == 2


def test_hourly_job_runs_every_real_hour_across_fall_back(settings):
    settings.TIME_ZONE = "Europe/London"
    start = datetime(2024, 10, 26, 22, 0, tzinfo=UTC)
    slots = _runs_over(_job(cron="0 * * * *"), start, 6)
    gaps = {(b - a) for a, b in zip(slots, slots[1:], strict=False)}
    assert gaps == {timedelta(hours=1)}  # 01:00 BST and 01:00 GMT are both real hours


def test_a_slot_is_claimed_once_and_missed_slots_collapse():
    now = timezone.now()
    job = _job(cron="* * * * *", next_run_at=now - timedelta(minutes=10))
    first = jobs.claim_due_jobs(now)
    assert len(first) == 1 and jobs.claim_due_jobs(now) == []
    job.refresh_from_db()
    assert job.next_run_at > now  # ten missed minutes ran once, late, not ten times


def test_a_busy_job_skips_its_slot():
    now = timezone.now()
    job = _job(cron="* * * * *", next_run_at=now - timedelta(seconds=1))
    jobs.claim_due_jobs(now)
    Job.objects.filter(pk=job.pk).update(next_run_at=now)
    jobs.claim_due_jobs(now + timedelta(seconds=1))
    statuses = sorted(JobRun.objects.filter(job=job).values_list("status", flat=True))
    assert statuses == ["pending", "skipped"]


def test_scheduled_run_is_recorded_from_the_simulator(sim, modules, catalogue):
    job = Job.objects.get(name="alpha_source_sync")
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.now())
    assert jobs.scan()["claimed"] == 1
    run = JobRun.objects.get(job=job)
    assert run.status == "running" and run.module_run_id
    assert sim.pipeline.modules["alpha"].jobs.jobs["alpha_source_sync"].current is not None
    step(sim, 8)
    JobRun.objects.update(next_check_at=timezone.now())
    jobs.scan()
    run.refresh_from_db()
    assert run.status == "success"
    assert run.records_processed is not None and run.duration_seconds > 0
    assert run.versus_expected == "under"  # 2-5 manual minutes ran in simulated seconds
    assert "finished SUCCESS" in run.log_excerpt
    job.refresh_from_db()
    assert job.last_run_id == run.pk


def _oncall(roles):
    from tests.factories import UserFactory

    user = UserFactory(username="oncall")
    user.groups.add(roles["On-call Engineer"].group)
    return user


def test_failed_run_raises_an_alert_and_opens_a_p3_incident(sim, modules, catalogue, roles):
    from django.core.management import call_command

    call_command("load_policy", verbosity=0)
    _oncall(roles)
    call("POST", sim.urls()["gamma"] + "/admin/faults", {"scenario": "job-failure"})
    job = Job.objects.get(name="gamma_dlq_report")
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.now())
    jobs.scan()
    step(sim, 6)
    JobRun.objects.update(next_check_at=timezone.now())
    jobs.scan()
    run = JobRun.objects.get(job=job)
    assert run.status == "failed" and "injected failure" in run.log_excerpt
    assert run.error.startswith("finished FAILED") and "job-failure fault" in run.error
    alert = Alert.objects.get(name="batch_job_failed", state=AlertState.FIRING)
    assert alert.source == "console" and alert.labels["job"] == "gamma_dlq_report"
    assert alert.incident is not None and alert.incident.severity == "P3"
    # The next success resolves it.
    call("DELETE", sim.urls()["gamma"] + "/admin/faults/job-failure")
    jobs.trigger(None, "gamma_dlq_report")
    step(sim, 6)
    JobRun.objects.update(next_check_at=timezone.now())
    jobs.scan()
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_module_down_fails_the_run_with_its_reason(db):
    from monitoring.models import Module

    Module.objects.create(name="alpha", kind="alpha", base_url="http://127.0.0.1:9")
    job = _job(next_run_at=timezone.now())
    jobs.scan()
    run = JobRun.objects.get(job=job)
    assert run.status == "failed" and "cannot connect" in run.error
    assert Alert.objects.filter(name="batch_job_failed", labels__job=job.name).exists()


def test_late_start_and_overrun_raise_alerts(sim, modules):
    job = _job(
        name="alpha_source_sync", cron="0 * * * *", lo=0.001, hi=0.01,
        next_run_at=timezone.now() - timedelta(seconds=120),
    )  # fmt: skip
    jobs.scan()
    run = JobRun.objects.get(job=job)
    assert run.late_alerted_at is not None
    assert Alert.objects.get(name="batch_job_late", state="firing").labels["job"] == job.name
    step(sim, 8)
    JobRun.objects.update(next_check_at=timezone.now())
    jobs.scan()
    run.refresh_from_db()
    assert run.status == "success" and run.versus_expected == "over"
    overrun = Alert.objects.get(name="batch_job_overrun")
    assert overrun.state == "resolved"  # raised for the record, ended with the run
    assert Alert.objects.get(name="batch_job_late").state == "resolved"


def test_on_time_run_raises_nothing(sim, modules):
    job = _job(name="alpha_source_sync", cron="0 * * * *", next_run_at=timezone.now())
    jobs.scan()
    assert JobRun.objects.get(job=job).late_alerted_at is None
    assert not Alert.objects.exists()


def test_trigger_refused_while_suspended_or_in_flight(operator, sim, modules, catalogue):
    run = jobs.trigger(operator, "alpha_buffer_flush")
    assert run.status == "running"
    with pytest.raises(Refused, match="already running"):
        jobs.trigger(operator, "alpha_buffer_flush")
    with pytest.raises(Refused, match="Say why"):
        jobs.suspend(operator, "alpha_error_report", "")
    jobs.suspend(operator, "alpha_error_report", "investigating source drift")
    with pytest.raises(Refused, match="suspended"):
        jobs.trigger(operator, "alpha_error_report")
    listed = {
        j["name"]: j
        for j in __import__("json").loads(
            __import__("urllib.request")
            .request.urlopen(sim.urls()["alpha"] + "/admin/jobs/list")
            .read()
        )
    }
    assert listed["alpha_error_report"]["status"] == "suspended"  # the module was told


def test_suspended_job_is_not_scheduled_and_resume_plans_from_now(operator, catalogue):
    jobs.suspend(operator, "beta_schema_sync", "schema registry migration")
    job = Job.objects.get(name="beta_schema_sync")
    assert job.suspended and job.next_run_at is None and job.status_reason
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.now() - timedelta(hours=3))
    assert not JobRun.objects.filter(job=job).exists() and jobs.claim_due_jobs() == []
    jobs.resume(operator, "beta_schema_sync")
    job.refresh_from_db()
    assert job.status == "active" and job.next_run_at > timezone.now()


def test_viewer_may_not_trigger(viewer, catalogue):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        jobs.trigger(viewer, "alpha_source_sync")


def test_module_jobs_suspended_by_a_window_resume_only_with_its_key(operator, catalogue):
    jobs.suspend(operator, "gamma_dlq_report", "operator: DLQ investigation")
    moved = jobs.suspend_module_jobs(["gamma"], "maintenance window 7", key="maintenance:7")
    assert "gamma_dlq_report" not in {j.name for j in moved}
    assert Job.objects.filter(module="gamma", status="active").count() == 0
    jobs.resume_module_jobs(["gamma"], key="maintenance:7")
    assert Job.objects.get(name="gamma_dlq_report").suspended  # still the operator's
    assert Job.objects.filter(module="gamma", status="suspended").count() == 1


def test_a_run_the_module_already_started_is_followed_not_failed(sim, modules, catalogue):
    started = call("POST", sim.urls()["beta"] + "/admin/jobs/beta_quality_report/trigger").json
    run = jobs.trigger(None, "beta_quality_report")
    assert run.status == "running" and run.module_run_id == started["run_id"]
    assert "already running" in run.log_excerpt


def test_admin_refuses_a_bad_cron_and_replans_a_good_one(admin_client, catalogue):
    url = "/admin/monitoring/job/{}/change/".format(Job.objects.get(name="alpha_source_sync").pk)
    form = {
        "name": "alpha_source_sync", "module": "alpha", "cadence": "hourly",
        "schedule_text": ":07", "cron": "61 * * * *", "description": "d",
        "expected_min_minutes": 2, "expected_max_minutes": 5, "start_grace_seconds": 60,
    }  # fmt: skip
    response = admin_client.post(url, form)
    assert response.status_code == 200 and b"Not a cron expression" in response.content
    admin_client.post(url, {**form, "cron": "7 * * * *"})
    job = Job.objects.get(name="alpha_source_sync")
    assert job.cron == "7 * * * *" and timezone.localtime(job.next_run_at).minute == 7


def test_compress_day_keeps_the_order_within_the_minutes(catalogue):
    from django.core.management import call_command

    now = timezone.now()
    before = dict(Job.objects.values_list("name", "next_run_at"))
    with time_machine.travel(now, tick=False):
        call_command("jobs_compress_day", "--minutes", "10", stdout=StringIO())
    after = dict(Job.objects.values_list("name", "next_run_at"))
    moved = [n for n in before if before[n] <= now + timedelta(hours=24)]
    assert moved and all(after[n] <= now + timedelta(minutes=10) for n in moved)
    assert sorted(moved, key=before.get) == sorted(moved, key=after.get)
    untouched = [n for n in before if n not in moved]
    assert all(after[n] == before[n] for n in untouched)  # weekly and monthly jobs
