"""Backup jobs report their runs to monitoring.backups (issue 11: backups reported "through the
jobs of the pipeline"); the job → backup class mapping is data on the job."""

import pytest
from django.utils import timezone

from monitoring import backups, jobs
from monitoring.models import Alert, AlertState, BackupClass, BackupRun, Job, JobRun, Module
from monitoring.policy import load_capacity_and_backups
from tests.monitoring.jobs_support import step
from tests.simulator.support import call

pytestmark = pytest.mark.django_db


@pytest.fixture
def backup_classes(db):
    load_capacity_and_backups()


def _due_now(name: str) -> Job:
    job = Job.objects.get(name=name)
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.now())
    return job


def _run_to_the_end(sim, seconds: float) -> None:
    jobs.scan()
    step(sim, seconds)
    JobRun.objects.update(next_check_at=timezone.now())
    jobs.scan()


def test_catalogue_maps_the_backup_jobs_to_their_classes(catalogue, backup_classes):
    mapped = {j.name: (j.backup_class, j.backup_kind) for j in Job.objects.exclude(backup_class="")}
    assert mapped == {
        "daily_audit_export": ("audit-log", "backup"),
        "weekly_full_backup": ("database-full", "backup"),
        "daily_backup_verify": ("database-full", "verification"),
    }
    assert set(BackupClass.objects.values_list("key", flat=True)) >= {
        key for key, _ in mapped.values()
    }


def test_a_successful_backup_job_run_is_a_good_backup(sim, modules, catalogue, backup_classes):
    job = _due_now("daily_audit_export")  # 15-30 manual minutes: as many simulated seconds
    _run_to_the_end(sim, 32)
    run = JobRun.objects.get(job=job)
    assert run.status == JobRun.Status.SUCCESS
    backup = BackupRun.objects.get()
    assert (backup.backup_class.key, backup.kind, backup.status) == (
        "audit-log", "backup", "succeeded",
    )  # fmt: skip
    assert (backup.started_at, backup.finished_at) == (run.started_at, run.finished_at)
    assert f"run {run.pk}" in backup.detail
    audit_log = BackupClass.objects.get(key="audit-log")
    assert audit_log.last_success_at == run.started_at
    assert audit_log.next_due_at == run.started_at + audit_log.interval + audit_log.grace


def test_a_failed_backup_job_run_is_a_failed_backup_with_its_alert(
    sim, modules, catalogue, backup_classes
):
    call("POST", sim.urls()["gamma"] + "/admin/faults", {"scenario": "job-failure"})
    job = _due_now("daily_audit_export")
    _run_to_the_end(sim, 32)
    assert JobRun.objects.get(job=job).status == JobRun.Status.FAILED
    backup = BackupRun.objects.get()
    assert backup.status == "failed" and "job-failure fault" in backup.detail
    assert BackupClass.objects.get(key="audit-log").last_success_at is None
    failed = Alert.objects.filter(name=backups.FAILED, state=AlertState.FIRING)
    assert [a.labels["backup_class"] for a in failed] == ["audit-log"]


def test_a_verification_job_records_a_verification(catalogue, backup_classes):
    # The module does not answer: the trigger fails, and so does the verification it was.
    Module.objects.create(name="beta", kind="beta", base_url="http://127.0.0.1:9")
    job = _due_now("daily_backup_verify")
    jobs.scan()
    assert JobRun.objects.get(job=job).status == JobRun.Status.FAILED
    backup = BackupRun.objects.get()
    assert (backup.backup_class.key, backup.kind, backup.status) == (
        "database-full", "verification", "failed",
    )  # fmt: skip


def test_jobs_without_a_backup_class_report_nothing(sim, modules, catalogue, backup_classes):
    _due_now("alpha_source_sync")
    _run_to_the_end(sim, 8)
    assert JobRun.objects.get().status == JobRun.Status.SUCCESS
    assert not BackupRun.objects.exists()


def test_a_mapping_to_a_missing_class_does_not_break_the_run(catalogue):
    Module.objects.create(name="beta", kind="beta", base_url="http://127.0.0.1:9")
    job = _due_now("daily_backup_verify")  # no backup classes seeded
    jobs.scan()
    assert JobRun.objects.get(job=job).status == JobRun.Status.FAILED
    assert not BackupRun.objects.exists()
