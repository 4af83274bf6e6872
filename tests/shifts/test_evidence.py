"""Live evidence for the batch-job items of the daily checklists (000 "Morning Health
Verification": overnight jobs; "End of Day Procedures": critical batch jobs scheduled)."""

from datetime import timedelta

import pytest
import time_machine

from shifts import evidence, services
from shifts.models import ChecklistTemplate

from .conftest import T0

pytestmark = pytest.mark.django_db

MORNING = T0.replace(hour=6, minute=20)  # Monday 06:20, the console's zone is UTC
LAST_EVENING = MORNING.replace(hour=17, minute=0) - timedelta(days=1)


@pytest.fixture
def catalogue(db):
    from monitoring.policy import load_jobs

    load_jobs()


def _run(name, scheduled_for, status="success", **fields):
    from monitoring.models import Job, JobRun

    return JobRun.objects.create(
        job=Job.objects.get(name=name),
        trigger="schedule",
        scheduled_for=scheduled_for,
        status=status,
        **fields,
    )


def _lines(result):
    return {(line["label"], line["value"]): line["level"] for line in result["lines"]}


def test_job_items_are_wired_to_the_job_evidence(checklists):
    morning = ChecklistTemplate.objects.get(key="morning")
    assert morning.items.get(key="overnight-jobs").evidence == "jobs"
    end_of_day = ChecklistTemplate.objects.get(key="end-of-day")
    assert end_of_day.items.get(key="batch-scheduled").evidence == "job_schedule"


def test_overnight_starts_at_the_previous_end_of_day_check(checklists):
    assert evidence.overnight_since(MORNING) == LAST_EVENING
    evening = MORNING.replace(hour=19)
    assert evidence.overnight_since(evening) == evening.replace(hour=17, minute=0)


def test_jobs_evidence_lists_failed_late_overran_and_suspended(checklists, catalogue, opslead):
    from monitoring import jobs

    _run("alpha_source_sync", LAST_EVENING - timedelta(hours=1), "failed", error="old")  # before
    _run("alpha_source_sync", LAST_EVENING + timedelta(hours=2), "failed", error="Source timeout")
    _run(
        "gamma_dlq_report",
        LAST_EVENING + timedelta(hours=3),
        started_at=LAST_EVENING + timedelta(hours=3, minutes=10),
        duration_seconds=60,
    )
    fine = _run(
        "gamma_dlq_report",
        LAST_EVENING + timedelta(hours=4),
        started_at=LAST_EVENING + timedelta(hours=4, seconds=5),
        duration_seconds=60,
    )
    overran = fine.job.expected_max_minutes * 60 + 600
    _run(
        "gamma_dlq_report",
        LAST_EVENING + timedelta(hours=5),
        started_at=LAST_EVENING + timedelta(hours=5, seconds=5),
        duration_seconds=overran,
    )
    jobs.suspend(opslead, "weekly_full_backup", "Storage migration")
    with time_machine.travel(MORNING, tick=False):
        result = evidence.for_item("jobs")
    assert result["level"] == "critical"
    lines = _lines(result)
    assert (
        lines[("Since Sun 17:00", "4 runs: 3 succeeded, 1 failed, 0 in flight, 0 skipped")] == "ok"
    )
    failed = [k for k in lines if k[1].startswith("FAILED")]
    assert failed == [("alpha_source_sync (alpha) 19:00", "FAILED: Source timeout")]
    assert lines[("gamma_dlq_report (gamma) 20:00", "started late by 10 min")] == "warning"
    over = [k for k in lines if k[1].startswith("overran")]
    assert over and over[0][0] == "gamma_dlq_report (gamma) 22:00"
    assert not [k for k in lines if k[0].endswith("21:00")]  # on time, within its window
    suspended = [k for k in lines if k[0].startswith("weekly_full_backup")]
    assert [value for _, value in suspended] == ["suspended: Storage migration"]


def test_jobs_evidence_is_ok_when_every_run_succeeded(checklists, catalogue):
    _run("gamma_dlq_report", LAST_EVENING + timedelta(hours=4), duration_seconds=60)
    with time_machine.travel(MORNING, tick=False):
        assert evidence.for_item("jobs")["level"] == "ok"
    # No run at all is not evidence of success.
    with time_machine.travel(MORNING - timedelta(days=3), tick=False):
        assert evidence.for_item("jobs")["level"] == "unknown"


def test_job_schedule_evidence_flags_jobs_that_will_not_run(checklists, catalogue, opslead):
    from monitoring import jobs
    from monitoring.models import Job

    Job.objects.update(next_run_at=MORNING + timedelta(hours=1))
    Job.objects.filter(name="gamma_dlq_report").update(next_run_at=None)
    jobs.suspend(opslead, "weekly_full_backup", "Storage migration")
    with time_machine.travel(MORNING, tick=False):
        result = evidence.for_item("job_schedule")
    assert result["level"] == "warning"
    levels = {line["label"].split()[0]: (line["value"], line["level"]) for line in result["lines"]}
    assert levels["gamma_dlq_report"] == ("not scheduled", "warning")
    assert levels["weekly_full_backup"][1] == "warning"
    assert levels["alpha_source_sync"] == ("next Mon 07:20", "ok")


def test_ticking_the_overnight_jobs_item_records_the_job_evidence(checklists, catalogue, operator):
    _run("alpha_source_sync", LAST_EVENING + timedelta(hours=2), "failed", error="Source timeout")
    item = ChecklistTemplate.objects.get(key="morning").items.get(key="overnight-jobs")
    with time_machine.travel(MORNING, tick=False):
        run = services.start_checklist(operator, "morning")
        tick = services.tick(operator, run.pk, item.pk, "deviation", note="Re-ran the sync")
    assert tick.evidence["level"] == "critical"
    assert any(line["value"] == "FAILED: Source timeout" for line in tick.evidence["lines"])


def test_morning_checklist_page_shows_the_job_evidence(client, checklists, catalogue, operator):
    _run("alpha_source_sync", LAST_EVENING + timedelta(hours=2), "failed", error="Source timeout")
    client.force_login(operator)
    with time_machine.travel(MORNING, tick=False):
        html = client.get("/shifts/checklists/morning/").content.decode()
    item = html[html.index('id="item-overnight-jobs"') :][:3000]
    assert "FAILED: Source timeout" in item and 'data-evidence-level="critical"' in item
    # Refreshed when a job run changes (monitoring publishes on `jobs`), not on `overview`.
    assert 'id="evidence-overnight-jobs" data-live-topic="jobs"' in html
    assert 'id="evidence-modules-healthy" data-live-topic="overview"' in html
    with time_machine.travel(MORNING, tick=False):
        fragment = client.get(
            "/shifts/checklists/morning/?fragment=evidence&item=overnight-jobs",
            HTTP_HX_REQUEST="true",
        ).content.decode()
    assert fragment.startswith('<div id="evidence-overnight-jobs"') and "Source timeout" in fragment
