from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from console.models import ApiToken, AuditEntry
from monitoring import backups
from monitoring.models import Alert, AlertState, BackupClass, BackupRun, DrDrill, DrillType
from monitoring.policy import load_capacity_and_backups

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def policy(db):
    with time_machine.travel(T0, tick=False):
        load_capacity_and_backups()


def _good(key: str, started: datetime, **kw) -> BackupRun:
    return backups.record_run(
        key,
        status="succeeded",
        started_at=started,
        finished_at=started + 10 * 60 * HOUR / 3600,
        **kw,
    )


def _firing(name: str) -> list[dict]:
    return [a.labels for a in Alert.objects.filter(name=name, state=AlertState.FIRING)]


def _overdue() -> set[str]:
    return {labels["backup_class"] for labels in _firing(backups.OVERDUE)}


# --- policy --------------------------------------------------------------------------------


def test_policy_seeds_the_manuals_backup_classes_and_drill_types(policy):
    state = BackupClass.objects.get(key="state")
    # 001 "State Backups": every 4 hours, 7 days, RTO 30 minutes, RPO 4 hours.
    assert (state.interval, state.rto, state.rpo, state.retention) == (
        4 * HOUR,
        timedelta(minutes=30),
        4 * HOUR,
        "7 days",
    )
    assert set(BackupClass.objects.values_list("category", flat=True)) == {
        "configuration",
        "state",
        "database",
        "audit_log",
    }
    assert BackupClass.objects.get(key="configuration").interval is None
    assert list(DrillType.objects.values_list("key", "interval")) == [
        ("tabletop", timedelta(days=30)),
        ("component", timedelta(days=30)),
        ("full", timedelta(days=91)),
        ("surprise", timedelta(days=365)),
    ]
    # A class never backed up is due one interval (plus grace) after it is set up.
    assert state.next_due_at == T0 + 4 * HOUR + timedelta(minutes=30)


# --- runs, overdue and failed --------------------------------------------------------------


def test_good_backup_moves_the_due_time(policy):
    with time_machine.travel(T0 + HOUR, tick=False):
        _good("state", T0)
    state = BackupClass.objects.get(key="state")
    assert state.last_success_at == T0
    assert state.next_due_at == T0 + 4 * HOUR + timedelta(minutes=30)
    assert AuditEntry.objects.filter(action="backup.backup_succeeded").count() == 1


def test_an_older_run_arriving_late_does_not_move_the_clock_back(policy):
    with time_machine.travel(T0 + 5 * HOUR, tick=False):
        _good("state", T0 + 4 * HOUR)
        _good("state", T0)
    assert BackupClass.objects.get(key="state").last_success_at == T0 + 4 * HOUR


def test_overdue_backup_raises_an_alert_and_the_next_good_one_resolves_it(policy):
    with time_machine.travel(T0, tick=False):
        _good("state", T0 - 10 * 60 * HOUR / 3600)
    due = BackupClass.objects.get(key="state").next_due_at
    with time_machine.travel(due - timedelta(minutes=1), tick=False):
        backups.scan_backups()
        assert "state" not in _overdue()
    with time_machine.travel(due + timedelta(minutes=1), tick=False) as traveller:
        backups.scan_backups()
        assert "state" in _overdue()
        backups.scan_backups()  # the same alert, not a second one
        assert Alert.objects.filter(name=backups.OVERDUE, labels__backup_class="state").count() == 1
        traveller.shift(timedelta(minutes=5))
        _good("state", due)
        assert "state" not in _overdue()
    alert = Alert.objects.get(name=backups.OVERDUE, labels__backup_class="state")
    assert alert.source == "console" and alert.state == AlertState.RESOLVED


def test_class_backed_up_on_every_change_is_never_overdue(policy):
    with time_machine.travel(T0 + 1000 * HOUR, tick=False):
        backups.scan_backups()
        statuses = {s.backup_class.key: s for s in backups.class_statuses()}
    assert "state" in _overdue()  # never backed up, long past due
    assert "configuration" not in _overdue()
    assert statuses["configuration"].exposure_exceeds_rpo is False


def test_failed_backup_raises_an_alert_until_a_good_one(policy):
    with time_machine.travel(T0 + HOUR, tick=False):
        backups.record_run(
            "database-full",
            status="failed",
            started_at=T0,
            finished_at=T0 + HOUR / 2,
            detail="pg_dump: connection refused",
        )
        [labels] = _firing(backups.FAILED)
        assert labels["backup_class"] == "database-full" and labels["run_kind"] == "backup"
        alert = Alert.objects.get(name=backups.FAILED)
        assert "connection refused" in alert.annotations["summary"]
        # A good verification does not clear a failed backup; a good backup does.
        backups.record_run(
            "database-full", kind="verification", status="succeeded", started_at=T0, finished_at=T0
        )
        assert len(_firing(backups.FAILED)) == 1
        _good("database-full", T0 + HOUR / 2)
        assert _firing(backups.FAILED) == []


def test_failed_verification_is_its_own_alert(policy):
    with time_machine.travel(T0 + HOUR, tick=False):
        backups.record_run(
            "database-full", kind="verification", status="failed", started_at=T0, finished_at=T0
        )
    [labels] = _firing(backups.FAILED)
    assert labels["run_kind"] == "verification"


def test_rpo_exposure_is_the_time_since_the_last_good_backup(policy):
    with time_machine.travel(T0, tick=False):
        _good("database-incremental", T0 - 30 * 60 * HOUR / 3600)
    with time_machine.travel(T0 + HOUR / 2, tick=False):
        status = {s.backup_class.key: s for s in backups.class_statuses()}["database-incremental"]
        assert status.exposure == HOUR
        assert status.exposure_exceeds_rpo is False  # RPO 1 hour
    with time_machine.travel(T0 + HOUR, tick=False):
        status = {s.backup_class.key: s for s in backups.class_statuses()}["database-incremental"]
        assert status.exposure == 90 * 60 * HOUR / 3600
        assert status.exposure_exceeds_rpo is True
        never = {s.backup_class.key: s for s in backups.class_statuses()}["audit-log"]
        assert never.exposure is None and never.exposure_exceeds_rpo is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "maybe"}, "status must be"),
        ({"kind": "snapshot"}, "kind must be"),
        ({"finished_at": T0 - HOUR}, "before started_at"),
        ({"started_at": T0 + 10 * HOUR, "finished_at": T0 + 10 * HOUR}, "in the future"),
        ({"size_bytes": -1}, "negative"),
        ({"key": "tapes"}, "unknown backup class"),
    ],
)
def test_record_run_refuses_bad_reports(policy, kwargs, message):
    args = {"key": "state", "status": "succeeded", "started_at": T0, "finished_at": T0}
    args.update(kwargs)
    key = args.pop("key")
    with (
        time_machine.travel(T0 + HOUR, tick=False),
        pytest.raises(backups.BackupError, match=message),
    ):
        backups.record_run(key, **args)
    assert not BackupRun.objects.exists()


# --- the API -------------------------------------------------------------------------------

URL = "/api/v1/backups/runs/"


@pytest.fixture
def token(policy, opslead):
    return ApiToken.issue(opslead, "backup script")[1]


def _post(client, token, payload):
    return client.post(
        URL, payload, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_api_records_a_run(client, token):
    with time_machine.travel(T0 + HOUR, tick=False):
        response = _post(
            client,
            token,
            {
                "backup_class": "state",
                "status": "succeeded",
                "started_at": "2026-03-02T08:00:00Z",
                "finished_at": "2026-03-02T08:20:00Z",
                "size_bytes": 1234,
            },
        )
    assert response.status_code == 201, response.json()
    assert response.json()["backup_class"] == "state"
    run = BackupRun.objects.get()
    assert run.reported_by.username == "opslead" and run.size_bytes == 1234
    assert BackupClass.objects.get(key="state").last_success_at == T0


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"status": "succeeded"}, "backup_class"),
        ({"backup_class": "state", "status": "sort of"}, "status"),
        ({"backup_class": "nope", "status": "failed"}, "unknown backup class"),
        ({"backup_class": "state", "status": "failed", "started_at": "yesterday"}, "started_at"),
        (
            {
                "backup_class": "state",
                "status": "failed",
                "started_at": "2026-03-02T08:00:00Z",
                "finished_at": "2026-03-02T07:00:00Z",
            },
            "before started_at",
        ),
        ([1, 2], "JSON object"),
    ],
)
def test_api_refuses_a_bad_payload_with_a_json_detail(client, token, payload, detail):
    if isinstance(payload, dict):
        payload = {
            "started_at": "2026-03-02T08:00:00Z",
            "finished_at": "2026-03-02T08:20:00Z",
            **payload,
        }
    with time_machine.travel(T0 + HOUR, tick=False):
        response = _post(client, token, payload)
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert not BackupRun.objects.exists()


def test_api_refuses_malformed_json(client, token):
    response = client.post(
        URL, "{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 400
    assert "detail" in response.json()


def test_api_refuses_a_token_without_permission(client, policy, operator):
    raw = ApiToken.issue(operator, "no rights")[1]
    response = _post(client, raw, {"backup_class": "state", "status": "failed"})
    assert response.status_code == 403
    assert response.json()["detail"]


def test_api_refuses_anonymous(client, policy):
    response = client.post(URL, {}, content_type="application/json")
    assert response.status_code in (401, 403)


# --- DR drills -----------------------------------------------------------------------------


def _drill(kind: str, days_ago: int, passed=True, rto=None, rpo=None, now=T0) -> DrDrill:
    drill = backups.schedule_drill(
        None, DrillType.objects.get(key=kind), now - timedelta(days=days_ago)
    )
    return backups.record_drill(
        None,
        drill.pk,
        passed=passed,
        performed_at=now - timedelta(days=days_ago),
        achieved_rto=rto,
        achieved_rpo=rpo,
        findings="",
    )


def test_dr_alert_fires_past_90_days_since_the_last_drill(policy):
    with time_machine.travel(T0, tick=False) as traveller:
        backups.scan_dr_drills()
        assert len(_firing(backups.DRILL_OVERDUE)) == 1  # never drilled
        _drill("tabletop", 10)
        assert _firing(backups.DRILL_OVERDUE) == []
        traveller.move_to(T0 + timedelta(days=80))
        backups.scan_dr_drills()
        assert _firing(backups.DRILL_OVERDUE) == []  # 90 days since the drill
        traveller.move_to(T0 + timedelta(days=80, minutes=1))
        backups.scan_dr_drills()
        assert len(_firing(backups.DRILL_OVERDUE)) == 1
        _drill("component", 0, now=T0 + timedelta(days=80, minutes=1))
        assert _firing(backups.DRILL_OVERDUE) == []


def test_dr_figures_against_targets(policy):
    with time_machine.travel(T0, tick=False):
        _drill("full", 60, passed=True, rto=3 * HOUR, rpo=HOUR / 2)
        _drill("component", 10, passed=False, rto=5 * HOUR, rpo=2 * HOUR)
        upcoming = backups.schedule_drill(
            None, DrillType.objects.get(key="tabletop"), T0 + timedelta(days=3)
        )
        figures = backups.dr_figures()
    assert (figures.completed, figures.passed, figures.success_rate) == (2, 1, 0.5)
    assert figures.success_ok is False  # target 100 %
    assert figures.worst_rto == 5 * HOUR and figures.rto_ok is False  # target < 4 h
    assert figures.last_rto == 5 * HOUR
    assert figures.worst_rpo == 2 * HOUR and figures.rpo_ok is False  # target < 1 h
    assert figures.since_last == timedelta(days=10) and figures.since_ok is True
    by_type = {t.drill_type.key: t for t in figures.types}
    assert by_type["full"].due_at == T0 - timedelta(days=60) + timedelta(days=91)
    assert by_type["tabletop"].next_scheduled == upcoming
    assert by_type["surprise"].overdue(T0)  # never run


def test_drill_result_is_recorded_once(policy):
    with time_machine.travel(T0, tick=False):
        drill = _drill("tabletop", 1)
        # Recording the same result again is a no-op; a different one is refused.
        assert (
            backups.record_drill(
                None,
                drill.pk,
                passed=True,
                performed_at=T0,
                achieved_rto=None,
                achieved_rpo=None,
                findings="",
            ).status
            == "passed"
        )
        with pytest.raises(backups.BackupError, match="already passed"):
            backups.record_drill(
                None,
                drill.pk,
                passed=False,
                performed_at=T0,
                achieved_rto=None,
                achieved_rpo=None,
                findings="",
            )
        with pytest.raises(backups.BackupError):
            backups.cancel_drill(None, drill.pk)


@pytest.mark.parametrize(
    ("start", "to", "allowed"),
    [
        (s, t, t == s or (s == "scheduled"))
        for s in DrDrill.Status.values
        for t in DrDrill.Status.values
    ],
)
def test_drill_moves_table(start, to, allowed):
    assert DrDrill(status=start).can_move(to) is allowed


# --- views ---------------------------------------------------------------------------------


def test_backups_page_needs_sign_in(client, policy):
    response = client.get("/backups/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_backups_page_refuses_users_without_permission(client, policy, outsider):
    client.force_login(outsider)
    assert client.get("/backups/").status_code == 403
    assert client.post("/backups/drills/schedule/").status_code == 403


def test_backups_page_shows_last_good_backup_exposure_and_overdue(
    client, policy, viewer, django_assert_max_num_queries
):
    with time_machine.travel(T0, tick=False):
        _good("state", T0 - 9 * HOUR)
        backups.scan_backups()
    client.force_login(viewer)
    with time_machine.travel(T0, tick=False), django_assert_max_num_queries(40):
        response = client.get("/backups/")
    body = response.content.decode()
    assert response.status_code == 200
    row = body.split('id="backup-class-state"')[1].split("</tr>")[0]
    assert "2026-03-01 23:00" in row  # last good backup
    assert "9 h" in row and "text-danger" in row  # exposure beyond the 4 h RPO
    assert "overdue since" in row
    alerts = body.split('id="backup-alerts"')[1].split("</ul>")[0]
    assert "backup_overdue" in alerts and "State snapshot: no good backup since" in alerts
    assert "Schedule drill" not in body  # a viewer may not schedule


def test_backups_fragment_for_htmx(client, policy, viewer):
    client.force_login(viewer)
    response = client.get("/backups/?fragment=classes", HTTP_HX_REQUEST="true")
    assert (
        response.content.decode()
        .strip()
        .startswith('<section class="card panel mb-3" id="backup-classes"')
    )


def test_scheduling_and_recording_a_drill_through_the_page(client, policy, operator, roles):
    from tests.conftest import _persona

    senior = _persona(roles, "senior", "Senior Engineer")
    tabletop = DrillType.objects.get(key="tabletop")
    client.force_login(operator)
    assert client.post("/backups/drills/schedule/", {"drill_type": tabletop.pk}).status_code == 403
    client.force_login(senior)
    with time_machine.travel(T0, tick=False):
        response = client.post(
            "/backups/drills/schedule/",
            {"drill_type": tabletop.pk, "scheduled_for": "2026-03-01T10:00"},
        )
        assert response.status_code == 302
        drill = DrDrill.objects.get()
        bad = client.post(f"/backups/drills/{drill.pk}/record/", {"passed": "1"})
        assert bad.status_code == 400
        response = client.post(
            f"/backups/drills/{drill.pk}/record/",
            {
                "passed": "1",
                "performed_at": "2026-03-01T12:00",
                "achieved_rto_minutes": "95",
                "achieved_rpo_minutes": "20",
                "findings": "runbook step 4 unclear",
            },
        )
    assert response.status_code == 302
    drill.refresh_from_db()
    assert drill.status == "passed" and drill.achieved_rto == timedelta(minutes=95)
    assert drill.recorded_by == senior
    assert AuditEntry.objects.filter(action="dr_drill.recorded").exists()


def test_schedule_needs_post(client, policy, opslead):
    client.force_login(opslead)
    assert client.get("/backups/drills/schedule/").status_code == 405


# --- concurrency (PostgreSQL) ----------------------------------------------------------------


def _together(*calls):
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(calls))
    errors, results = [], []

    def run(call):
        try:
            barrier.wait()
            results.append(call())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors, results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_scanning_at_once_raise_each_overdue_alert_once():
    load_capacity_and_backups()
    later = datetime.now(UTC) + timedelta(days=3)
    errors, _ = _together(lambda: backups.scan_backups(later), lambda: backups.scan_backups(later))
    assert errors == []
    due = BackupClass.objects.exclude(interval=None).count()
    assert Alert.objects.filter(name=backups.OVERDUE).count() == due
    assert len(_overdue()) == due


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_results_for_one_drill_at_once_leave_one(roles):
    load_capacity_and_backups()
    now = datetime.now(UTC)
    drill = backups.schedule_drill(None, DrillType.objects.get(key="tabletop"), now)

    def record(passed):
        return lambda: backups.record_drill(
            None,
            drill.pk,
            passed=passed,
            performed_at=now,
            achieved_rto=None,
            achieved_rpo=None,
            findings=str(passed),
        )

    errors, results = _together(record(True), record(False))
    drill.refresh_from_db()
    assert len(results) == 1 and len(errors) == 1
    assert isinstance(errors[0], backups.BackupError)
    assert drill.status == results[0].status
    assert AuditEntry.objects.filter(action="dr_drill.recorded").count() == 1
