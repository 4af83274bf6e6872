"""Batch jobs (000 "Batch Processing Schedules"; 001 Runbook F): the console is the scheduler.

Scheduling is a due-time scan, as everywhere in the console (no countdown, no eta):

1. `claim_due_jobs` (beat, every second) locks the active jobs whose `next_run_at` has come
   (`SELECT … FOR UPDATE SKIP LOCKED`: two beats or workers claim disjoint sets), creates one
   PENDING `JobRun` per slot (unique on (job, slot): a slot fires once), moves `next_run_at`
   to the next cron time after the slot (missed slots collapse into this one) and commits.
2. `dispatch` then POSTs every claimed run's trigger to its module concurrently
   (`/admin/jobs/<name>/trigger`, answered 202 with the module's run id) and records the
   start, or the failure with the module's own message.
3. `check_runs` (the same beat task) looks at in-flight runs whose `next_check_at` has come:
   a PENDING one whose trigger never got an answer (a worker died between 1 and 2) is
   triggered again (a 409 "already running" adopts the module's run), a RUNNING one is read
   from `/admin/jobs/<name>/status` until it ends; the end stores duration, counts and a log
   excerpt from `/admin/jobs/<name>/logs?run=<id>`.

Cron times are computed by cronsim in the console's time zone (TIME_ZONE). cronsim (by the
author of healthchecks.io) follows Debian cron across daylight saving: a fixed-time job
whose time falls in the skipped hour runs once right after the jump, one in the repeated
hour runs once (the first pass), while hourly jobs keep running every real hour. croniter
(the other common choice) has had several DST bugs around ambiguous hours and is in
maintenance-only mode; cronsim is small, typed and has no dependencies.

Detection raises console alerts (`Alert.source = console`), through the same alert→incident
path as rule alerts: a failed run fires `batch_job_failed` (severity medium: 001 "Incident
Severity Levels" lists batch job failures under P3, and the default alert→incident policy
maps medium to P3), resolved by the job's next success; a late start fires `batch_job_late`
and an overrun `batch_job_overrun` (low: noted, no incident), resolved when the run ends.
"""

import logging
from datetime import datetime, timedelta

from cronsim import CronSim
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from console import audit, live
from console.errors import Refused

from . import alert_incidents, module_admin
from .alerting import fingerprint
from .models import Alert, AlertState, Job, JobRun, Module

log = logging.getLogger(__name__)

TOPIC = "jobs"
PERMISSION = "monitoring.change_job"
# How often an in-flight run is looked at; the simulator's runs last seconds, real ones
# minutes, so 3 s keeps the recorded end within a poll of the truth without hammering.
CHECK_INTERVAL = timedelta(seconds=3)
# A claimed run whose trigger has no recorded answer after this long is triggered again.
TRIGGER_LEASE = timedelta(seconds=30)
# Unanswered status reads in a row before a running run is given up as failed.
MAX_CHECK_FAILURES = 10
LOG_LINES = 20

FAILED_ALERT, LATE_ALERT, OVERRUN_ALERT = "batch_job_failed", "batch_job_late", "batch_job_overrun"
ALERT_SEVERITY = {FAILED_ALERT: "medium", LATE_ALERT: "low", OVERRUN_ALERT: "low"}


# --- schedule ----------------------------------------------------------------------------------


def next_run(cron: str, after: datetime) -> datetime:
    """The first cron time strictly after `after`, in the console's time zone."""
    local = timezone.localtime(after)
    return next(iter(CronSim(cron, local)))


def upcoming(cron: str, after: datetime, count: int) -> list[datetime]:
    it = iter(CronSim(cron, timezone.localtime(after)))
    return [next(it) for _ in range(count)]


# --- catalogue ---------------------------------------------------------------------------------


def load_catalogue(rows: list[dict]) -> str:
    """Seed the catalogue from the fixture: missing jobs are created (first run planned from
    now), existing ones are left alone (the admin owns them once seeded)."""
    now = timezone.now()
    created = 0
    for row in rows:
        if Job.objects.filter(name=row["name"]).exists():
            continue
        job = Job.objects.create(**row, next_run_at=next_run(row["cron"], now))
        audit.record("job.seed", obj=job, after={"module": job.module, "cron": job.cron})
        created += 1
    return f"{len(rows)} batch jobs ({created} new)"


def visible_jobs():
    return Job.objects.select_related("last_run")


# --- alerts ------------------------------------------------------------------------------------


def _labels(name: str, job: Job) -> dict[str, str]:
    return {
        "alertname": name,
        "severity": ALERT_SEVERITY[name],
        "module": job.module,
        "job": job.name,
    }


def raise_alert(name: str, job: Job, summary: str, now: datetime) -> Alert | None:
    """Fire a console alert for a job, unless the same one is already firing."""
    labels = _labels(name, job)
    key = fingerprint(labels)
    if Alert.objects.filter(
        fingerprint=key, state__in=[AlertState.PENDING, AlertState.FIRING]
    ).exists():
        return None
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                fingerprint=key,
                source=Alert.Source.CONSOLE,
                name=name,
                severity=labels["severity"],
                labels=labels,
                annotations={"summary": summary, "runbook": "001 Runbook F"},
                state=AlertState.FIRING,
                active_since=now,
                fired_at=now,
                last_evaluated_at=now,
            )
    except IntegrityError:  # fired by another worker a moment ago
        return None
    audit.record("alert.fired", obj=alert, after={"labels": labels, "source": "console"})
    live.publish("alerts", "alerts.changed")
    alert_incidents.on_fired(alert)
    return alert


def resolve_alert(name: str, job: Job, now: datetime) -> int:
    key = fingerprint(_labels(name, job))
    resolved = 0
    for alert in Alert.objects.select_for_update().filter(fingerprint=key, state=AlertState.FIRING):
        alert.state, alert.resolved_at, alert.last_evaluated_at = AlertState.RESOLVED, now, now
        alert.save(update_fields=["state", "resolved_at", "last_evaluated_at"])
        audit.record("alert.resolved", obj=alert, after={"labels": alert.labels})
        alert_incidents.on_resolved(alert)
        resolved += 1
    if resolved:
        live.publish("alerts", "alerts.changed")
    return resolved


# --- claiming and dispatching ------------------------------------------------------------------


def _changed(job: Job) -> None:
    live.publish(TOPIC, "jobs.changed", job=job.name)


def claim_due_jobs(now: datetime | None = None, limit: int = 200) -> list[int]:
    """Step 1: claim the due slots; returns the ids of the PENDING runs created."""
    now = now or timezone.now()
    created = []
    with transaction.atomic():
        due = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(status=Job.Status.ACTIVE, next_run_at__lte=now)
            .order_by("next_run_at")[:limit]
        )
        for job in due:
            slot = job.next_run_at
            job.next_run_at = next_run(job.cron, max(slot, now))
            busy = JobRun.objects.filter(job=job, status__in=JobRun.IN_FLIGHT).first()
            if busy is not None:
                # As a cron lock would: the slot is skipped, and says why.
                run = JobRun.objects.create(
                    job=job,
                    trigger=JobRun.Trigger.SCHEDULE,
                    scheduled_for=slot,
                    status=JobRun.Status.SKIPPED,
                    error=f"previous run (#{busy.pk}) still {busy.status}",
                )
                job.save(update_fields=["next_run_at"])
                audit.record("job.skipped", obj=job, after={"slot": slot, "busy_run": busy.pk})
            else:
                run = JobRun.objects.create(
                    job=job,
                    trigger=JobRun.Trigger.SCHEDULE,
                    scheduled_for=slot,
                    next_check_at=now + TRIGGER_LEASE,
                )
                job.last_run = run
                job.save(update_fields=["next_run_at", "last_run"])
                created.append(run.pk)
            _changed(job)
    return created


def dispatch(run_ids: list[int]) -> None:
    """Step 2: trigger the runs on their modules, concurrently, and record each answer."""
    runs = list(
        JobRun.objects.select_related("job").filter(pk__in=run_ids, status=JobRun.Status.PENDING)
    )
    modules = Module.objects.in_bulk({r.job.module for r in runs}, field_name="name")
    sendable, requests = [], []
    for run in runs:
        module = modules.get(run.job.module)
        if module is None:
            _record_trigger(run.pk, None, f"no module named {run.job.module!r} is registered")
            continue
        sendable.append(run)
        requests.append(
            module_admin.request_for(module, "POST", f"/admin/jobs/{run.job.name}/trigger")
        )
    for run, answer in zip(sendable, module_admin.send_all(requests), strict=True):
        _record_trigger(run.pk, answer, "")


def _record_trigger(pk: int, answer: module_admin.Answer | None, error: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        run = JobRun.objects.select_for_update().select_related("job").filter(pk=pk).first()
        if run is None or run.status != JobRun.Status.PENDING:
            return
        job = run.job
        run.triggered_at = now
        adopted = None
        if answer is not None and answer.status == 409 and isinstance(answer.data, dict):
            # The module is running this job already (its run answered our earlier trigger
            # that went unrecorded, or the module's own timer): follow that run.
            adopted = (answer.data.get("details") or {}).get("run")
        if answer is not None and (answer.ok or adopted):
            body = answer.data if answer.ok else adopted
            run.status = JobRun.Status.RUNNING
            run.module_run_id = body.get("run_id") if isinstance(body, dict) else None
            run.started_at = now
            run.next_check_at = now + CHECK_INTERVAL
            if adopted:
                run.log_excerpt = (
                    f"module was already running run {run.module_run_id}; following it"
                )
            run.save()
            audit.record(
                "job.started",
                obj=job,
                after={"run": run.pk, "module_run": run.module_run_id, "slot": run.scheduled_for},
            )
            delay = (now - run.scheduled_for).total_seconds()
            if run.trigger == JobRun.Trigger.SCHEDULE and delay > job.start_grace_seconds:
                run.late_alerted_at = now
                run.save(update_fields=["late_alerted_at"])
                raise_alert(
                    LATE_ALERT,
                    job,
                    f"{job.name} started {delay:.0f} s after its time "
                    f"{timezone.localtime(run.scheduled_for):%H:%M} "
                    f"(allowed {job.start_grace_seconds} s)",
                    now,
                )
        else:
            message = error or (answer.message if answer is not None else "no answer")
            _finish(run, JobRun.Status.FAILED, now, error=f"trigger refused: {message}")
        _changed(job)


def _finish(run: JobRun, status: str, now: datetime, error: str = "", **fields) -> None:
    """End a run (the caller holds its lock) and raise or resolve the job's alerts."""
    job = run.job
    run.status = status
    run.finished_at = fields.pop("finished_at", None) or now
    run.error = error[:500]
    run.next_check_at = None
    for name, value in fields.items():
        setattr(run, name, value)
    if run.duration_seconds is None and run.started_at is not None:
        run.duration_seconds = (run.finished_at - run.started_at).total_seconds()
    run.save()
    Job.objects.filter(pk=job.pk).update(last_run=run)
    audit.record(
        "job.finished",
        obj=job,
        after={
            "run": run.pk,
            "status": status,
            "records_processed": run.records_processed,
            "duration_seconds": run.duration_seconds,
            "error": run.error,
        },
    )
    _, high = run.expected_seconds
    if (
        run.duration_seconds is not None
        and run.duration_seconds > high
        and not run.overrun_alerted_at
    ):
        run.overrun_alerted_at = now
        run.save(update_fields=["overrun_alerted_at"])
        raise_alert(
            OVERRUN_ALERT,
            job,
            f"{job.name} took {run.duration_seconds / 60:.1f} min; expected at most "
            f"{job.expected_max_minutes:g} min",
            now,
        )
    resolve_alert(LATE_ALERT, job, now)
    resolve_alert(OVERRUN_ALERT, job, now)
    if status == JobRun.Status.FAILED:
        raise_alert(FAILED_ALERT, job, f"{job.name} on {job.module} failed: {run.error}", now)
    elif status == JobRun.Status.SUCCESS:
        resolve_alert(FAILED_ALERT, job, now)
    if job.backup_class and status in BACKUP_STATUS:
        _report_backup(job, run, BACKUP_STATUS[status])


# A finished run of a backup job is a backup run of its class (issue 11); other endings (a
# skipped run) took no backup and report nothing.
BACKUP_STATUS = {JobRun.Status.SUCCESS: "succeeded", JobRun.Status.FAILED: "failed"}


def _report_backup(job: Job, run: JobRun, status: str) -> None:
    """Record the run with monitoring.backups (same transaction as the run's end: both or
    neither). A mapping to a class that no longer exists is logged, never fatal to the run."""
    from . import backups

    # A run the module refused never started: it counts as a failed backup at that moment.
    started = run.started_at or run.finished_at
    detail = f"batch job {job.name} run {run.pk}" + (f": {run.error}" if run.error else "")
    try:
        backups.record_run(
            job.backup_class,
            status=status,
            started_at=started,
            finished_at=max(run.finished_at, started),
            kind=job.backup_kind or "backup",
            detail=detail,
        )
    except backups.BackupError as exc:
        log.warning("job %s: backup not recorded: %s", job.name, exc)


# --- checking running runs ---------------------------------------------------------------------


def claim_checks(now: datetime | None = None, limit: int = 200) -> list[int]:
    now = now or timezone.now()
    with transaction.atomic():
        runs = list(
            JobRun.objects.select_for_update(skip_locked=True)
            .filter(status__in=JobRun.IN_FLIGHT, next_check_at__lte=now)
            .order_by("next_check_at")[:limit]
        )
        for run in runs:
            lease = TRIGGER_LEASE if run.status == JobRun.Status.PENDING else CHECK_INTERVAL
            run.next_check_at = now + lease
        JobRun.objects.bulk_update(runs, ["next_check_at"])
    return [r.pk for r in runs]


def check_runs(run_ids: list[int]) -> None:
    """Step 3: re-trigger unanswered PENDING runs, read RUNNING ones from their module."""
    runs = list(JobRun.objects.select_related("job").filter(pk__in=run_ids))
    dispatch([r.pk for r in runs if r.status == JobRun.Status.PENDING])
    running = [r for r in runs if r.status == JobRun.Status.RUNNING]
    modules = Module.objects.in_bulk({r.job.module for r in running}, field_name="name")
    pairs = [(r, modules.get(r.job.module)) for r in running]
    requests = [
        module_admin.request_for(m, "GET", f"/admin/jobs/{r.job.name}/status")
        for r, m in pairs
        if m is not None
    ]
    answers = iter(module_admin.send_all(requests))
    checked = [(r, m, next(answers) if m is not None else None) for r, m in pairs]
    # The log excerpts of the runs that have ended, in one concurrent round, so that a failed
    # run is recorded with the module's own reason (its last ERROR line).
    ended = [
        (r, m)
        for r, m, a in checked
        if a is not None and a.ok and _find_run(a.data, r.module_run_id)[0] == "finished"
    ]
    logs = module_admin.send_all(
        [
            module_admin.request_for(
                m, "GET", f"/admin/jobs/{r.job.name}/logs?run={r.module_run_id}&limit={LOG_LINES}"
            )
            for r, m in ended
        ]
    )
    excerpts = {r.pk: _excerpt(a) for (r, _), a in zip(ended, logs, strict=True)}
    for run, _, answer in checked:
        _record_check(run.pk, answer, excerpts.get(run.pk))


def _excerpt(answer: module_admin.Answer) -> tuple[str, str]:
    """(the log lines as text, the last ERROR message) from a /logs answer."""
    if not (answer.ok and isinstance(answer.data, dict)):
        return f"(log not available: {answer.message})", ""
    lines = answer.data.get("lines") or []
    text = "\n".join(
        f"{line.get('at', '')} {line.get('level', '')} {line.get('message', '')}" for line in lines
    )
    errors = [line.get("message", "") for line in lines if line.get("level") == "ERROR"]
    return text[:5000], (errors[-1] if errors else "")


def _find_run(data, run_id: int | None) -> tuple[str, dict | None]:
    """("running" | "finished" | "missing", the module's description of the run)."""
    if not isinstance(data, dict):
        return "missing", None
    current = data.get("current_run") or {}
    if current.get("run_id") == run_id:
        return "running", current
    for item in data.get("history") or []:
        if item.get("run_id") == run_id:
            return ("running" if item.get("status") == "RUNNING" else "finished"), item
    return "missing", None


def _record_check(
    pk: int, answer: module_admin.Answer | None, excerpt: tuple[str, str] | None = None
) -> bool:
    """Store what the module says about a running run; True when it has just ended."""
    now = timezone.now()
    with transaction.atomic():
        run = JobRun.objects.select_for_update().select_related("job").filter(pk=pk).first()
        if run is None or run.status != JobRun.Status.RUNNING:
            return False
        job = run.job
        if answer is None or not answer.ok:
            run.check_failures += 1
            message = answer.message if answer is not None else "module not registered"
            if run.check_failures >= MAX_CHECK_FAILURES:
                _finish(
                    run,
                    JobRun.Status.FAILED,
                    now,
                    error=f"module stopped answering about the run: {message}",
                )
                _changed(job)
                return False
            run.save(update_fields=["check_failures"])
            return False
        state, body = _find_run(answer.data, run.module_run_id)
        if state == "missing":
            _finish(
                run,
                JobRun.Status.FAILED,
                now,
                error=f"the module no longer reports run {run.module_run_id} (restarted?)",
            )
            _changed(job)
            return False
        run.check_failures = 0
        if state == "running":
            elapsed = (now - run.started_at).total_seconds()
            _, high = run.expected_seconds
            if elapsed > high and not run.overrun_alerted_at:
                run.overrun_alerted_at = now
                raise_alert(
                    OVERRUN_ALERT,
                    job,
                    f"{job.name} has run {elapsed / 60:.1f} min; expected at most "
                    f"{job.expected_max_minutes:g} min",
                    now,
                )
            run.save(update_fields=["check_failures", "overrun_alerted_at"])
            return False
        duration = body.get("duration_seconds")
        result = JobRun.Status.SUCCESS if body.get("status") == "SUCCESS" else JobRun.Status.FAILED
        log_text, last_error = excerpt or ("", "")
        if log_text:
            run.log_excerpt = log_text
        _finish(
            run,
            result,
            now,
            error=""
            if result == JobRun.Status.SUCCESS
            else (last_error or f"module reported {body.get('status')}"),
            finished_at=run.started_at + timedelta(seconds=duration) if duration else now,
            duration_seconds=duration,
            records_processed=body.get("records_processed"),
            records_failed=body.get("records_failed"),
        )
        _changed(job)
        return True


def scan(now: datetime | None = None) -> dict[str, int]:
    """One beat: claim due slots and trigger them, then look at in-flight runs."""
    claimed = claim_due_jobs(now)
    dispatch(claimed)
    checks = claim_checks(now)
    check_runs(checks)
    return {"claimed": len(claimed), "checked": len(checks)}


# --- operator actions (Runbook F) --------------------------------------------------------------


def _require(by) -> None:
    if by is not None and not by.has_perm(PERMISSION):
        raise PermissionDenied("Your role may not trigger, suspend or resume batch jobs.")


def _get(name: str, lock: bool = False) -> Job:
    qs = Job.objects.select_for_update() if lock else Job.objects
    job = qs.filter(name=name).first()
    if job is None:
        raise Refused(f"No batch job named {name!r}.", 404)
    return job


def _actor(by) -> str:
    return by.get_username() if by is not None else audit.SYSTEM


def trigger(by, name: str) -> JobRun:
    """Runbook F.1: run a job now. Refused while suspended or while a run is in flight."""
    _require(by)
    now = timezone.now()
    try:
        with transaction.atomic():
            job = _get(name, lock=True)
            if job.suspended:
                raise Refused(f"{name} is suspended; resume it before triggering (Runbook F.2).")
            busy = JobRun.objects.filter(job=job, status__in=JobRun.IN_FLIGHT).first()
            if busy is not None:
                raise Refused(f"{name} is already {busy.status} (run #{busy.pk}).")
            run = JobRun.objects.create(
                job=job,
                trigger=JobRun.Trigger.MANUAL,
                triggered_by=_actor(by),
                scheduled_for=now,
                next_check_at=now + TRIGGER_LEASE,
            )
            job.last_run = run
            job.save(update_fields=["last_run"])
            audit.record("job.trigger", actor=by, obj=job, after={"run": run.pk})
    except IntegrityError:  # the in-flight constraint: a second click that raced the first
        raise Refused(f"{name} is already running.") from None
    dispatch([run.pk])
    run.refresh_from_db()
    _changed(job)
    return run


def _set_status(by, job: Job, status: str, reason: str, key: str, now: datetime) -> bool:
    """Move one locked job; False when it is already there (a no-op)."""
    if job.status == status:
        return False
    before = {"status": job.status, "reason": job.status_reason}
    job.status, job.status_reason = status, reason
    job.suspension_key = key if status == Job.Status.SUSPENDED else ""
    job.status_changed_by, job.status_changed_at = _actor(by), now
    # Suspended jobs have no next run; resuming plans from now, so that a long suspension
    # does not fire a burst of missed runs.
    job.next_run_at = next_run(job.cron, now) if status == Job.Status.ACTIVE else None
    job.save(
        update_fields=[
            "status",
            "status_reason",
            "suspension_key",
            "status_changed_by",
            "status_changed_at",
            "next_run_at",
        ]
    )
    action = "job.suspend" if status == Job.Status.SUSPENDED else "job.resume"
    audit.record(
        action, actor=by, obj=job, before=before, after={"status": status, "reason": reason}
    )
    return True


def _propagate(names: list[str], action: str) -> dict[str, str]:
    """Tell the modules too (their own timers stop or restart): best effort, reported."""
    jobs = list(Job.objects.filter(name__in=names))
    modules = Module.objects.in_bulk({j.module for j in jobs}, field_name="name")
    pairs = [(j, modules[j.module]) for j in jobs if j.module in modules]
    answers = module_admin.send_all(
        [module_admin.request_for(m, "POST", f"/admin/jobs/{j.name}/{action}") for j, m in pairs]
    )
    return {j.name: ("ok" if a.ok else a.message) for (j, _), a in zip(pairs, answers, strict=True)}


def _move_many(
    by, names: list[str], status: str, reason: str, key: str = "", propagate: bool = True
) -> list[Job]:
    """Suspend or resume these jobs. With `propagate` False the modules are not told (the
    caller holds a transaction and tells them after it commits, with `tell_modules`)."""
    _require(by)
    if status == Job.Status.SUSPENDED and not reason.strip():
        raise Refused("Say why the job is suspended.", 400)
    now = timezone.now()
    moved = []
    with transaction.atomic():
        for job in Job.objects.select_for_update().filter(name__in=names).order_by("pk"):
            if status == Job.Status.ACTIVE and key and job.suspension_key != key:
                continue  # suspended by someone else, for another reason: not ours to resume
            if _set_status(by, job, status, reason.strip(), key, now):
                moved.append(job)
    for job in moved:
        _changed(job)
    if moved and propagate:
        tell_modules(by, [j.name for j in moved], status)
    return moved


def tell_modules(by, names: list[str], status: str) -> None:
    """Pass a suspension or resumption on to the modules (best effort, HTTP: never call it
    while holding a transaction); refusals are logged and audited."""
    answers = _propagate(names, "suspend" if status == Job.Status.SUSPENDED else "resume")
    refused = {k: v for k, v in answers.items() if v != "ok"}
    if refused:
        log.warning("modules did not take the job %s: %s", status, refused)
        audit.record("job.module_not_told", actor=by, object_type="monitoring.job", after=refused)


def suspend(by, name: str, reason: str) -> Job:
    _get(name)
    _move_many(by, [name], Job.Status.SUSPENDED, reason)
    return _get(name)


def resume(by, name: str, reason: str = "") -> Job:
    _get(name)
    _move_many(by, [name], Job.Status.ACTIVE, reason)
    return _get(name)


def suspend_all(by, reason: str) -> list[Job]:
    return _move_many(
        by, list(Job.objects.values_list("name", flat=True)), Job.Status.SUSPENDED, reason
    )


def resume_all(by, reason: str = "") -> list[Job]:
    return _move_many(
        by, list(Job.objects.values_list("name", flat=True)), Job.Status.ACTIVE, reason
    )


def suspend_module_jobs(
    module_names, reason: str, by=None, key: str = "", propagate: bool = True
) -> list[Job]:
    """Suspend every active job of these modules (a maintenance window starting). `key`
    (e.g. "maintenance:12") marks the suspension so that `resume_module_jobs` with the same
    key resumes only these, never a job an operator suspended for another reason."""
    names = list(Job.objects.filter(module__in=list(module_names)).values_list("name", flat=True))
    return _move_many(by, names, Job.Status.SUSPENDED, reason, key, propagate)


def resume_module_jobs(
    module_names, by=None, key: str = "", reason: str = "", propagate: bool = True
) -> list[Job]:
    """Resume the suspended jobs of these modules (those suspended with `key`, if given)."""
    names = list(Job.objects.filter(module__in=list(module_names)).values_list("name", flat=True))
    return _move_many(by, names, Job.Status.ACTIVE, reason, key, propagate)
