"""Faults under the worker, on a private PostgreSQL cluster (never the shared one):

1. the worker killed (SIGKILL) in the middle of an escalation — the step's row inserted, its
   members not yet notified, nothing committed — fires the step exactly once after a restart;
2. PostgreSQL restarted under a running Celery worker (with beat, broker on a private Redis,
   persistent connections) — the worker carries on without being restarted: its stale
   connections are dropped (CONN_HEALTH_CHECKS, Celery's close_old_connections around each
   task) and the escalation that falls due across the restart fires once.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.faults.support import report_lost
from tests.servers import ROOT, stop_group, wait_until

SECRET = "faults-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def console_env(private_pg, tmp_path_factory):
    """The environment of a console process on the private cluster, migrated and seeded."""
    private_pg.create_database()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CI"}}
    env.update(
        DATABASE_URL=private_pg.url,
        VAR_DIR=str(tmp_path_factory.mktemp("faults-var")),
        SECRET_KEY=SECRET,
        DEBUG="0",
        HTTPS="0",
        LOG_LEVEL="WARNING",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DJANGO_SETTINGS_MODULE="console.settings",
    )
    _child(env, "setup", timeout=300)
    return env


def _child(env, *args, timeout=120) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _sql(env, query: str, *params):
    with psycopg.connect(env["DATABASE_URL"], connect_timeout=2) as conn:
        return conn.execute(query, params).fetchall()


def _step_figures(env, pk: int) -> dict:
    """How often incident `pk`'s step P2-1 fired, by each of its traces."""
    one = lambda query: _sql(env, query, pk)[0][0]  # noqa: E731
    return {
        "escalations": one(
            "SELECT count(*) FROM incidents_escalation WHERE incident_id = %s AND key = 'P2-1'"
        ),
        "timeline": one(
            "SELECT count(*) FROM incidents_timelineentry WHERE incident_id = %s"
            " AND kind = 'escalation' AND text LIKE '%%Senior Engineer%%'"
        ),
        "notifications": one(
            "SELECT count(*) FROM incidents_notification WHERE incident_id = %s"
            " AND event = 'escalation' AND subject LIKE '%%Senior Engineer%%'"
        ),
        "notified twice": one(
            "SELECT count(*) FROM (SELECT target, kind FROM incidents_notification"
            " WHERE incident_id = %s AND subject LIKE '%%Senior Engineer%%'"
            " GROUP BY target, kind HAVING count(*) > 1) AS twice"
        ),
    }


def _lost_and_duplicates(figures: dict) -> tuple[int, int]:
    lost = int(figures["escalations"] == 0 or figures["notifications"] == 0)
    duplicates = (
        max(0, figures["escalations"] - 1)
        + max(0, figures["timeline"] - 1)
        + figures["notified twice"]
    )
    return lost, duplicates


def test_worker_killed_mid_escalation_fires_it_exactly_once_after_restart(console_env, tmp_path):
    pk = int(_child(console_env, "declare", "0").split()[-1])
    marker = tmp_path / "stuck"
    stuck = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.worker", "scan-stuck", str(marker)],
        cwd=ROOT,
        env=console_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_until(lambda: marker.exists() or stuck.poll() is not None, 90, what="stuck scan")
    assert stuck.poll() is None, stuck.stdout.read()
    assert _step_figures(console_env, pk)["escalations"] == 0  # written, not committed
    stuck.send_signal(signal.SIGKILL)
    stuck.wait(10)
    # PostgreSQL notices the dead client, rolls its transaction back and frees the row lock.
    wait_until(
        lambda: (
            not _sql(
                console_env,
                "SELECT 1 FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'",
            )
        ),
        30,
        what="the killed worker's transaction to end",
    )

    # The restarted worker: beat sends the scan again and again (and a redelivered task
    # runs twice); the step must fire on the first and never again.
    _child(console_env, "scan", "3")
    figures = _step_figures(console_env, pk)
    lost, duplicates = _lost_and_duplicates(figures)
    report_lost("worker killed mid-escalation", lost, duplicates=duplicates, **figures)
    assert (lost, duplicates) == (0, 0)
    assert figures["escalations"] == figures["timeline"] == 1


@pytest.fixture
def celery_worker(console_env, private_redis, tmp_path):
    """`celery worker -B` (prefork, one child) as production runs it, with persistent
    database connections, so that a restarted PostgreSQL leaves them stale."""
    env = dict(
        console_env,
        REDIS_URL=private_redis.url,
        DB_CONN_MAX_AGE="600",
        HEARTBEAT_INTERVAL="1",
        VAR_DIR=str(tmp_path),
    )
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("celery")),
                "-A",
                "console",
                "worker",
                "-B",
                "--concurrency",
                "1",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(tmp_path / "celerybeat-schedule"),
            ],  # fmt: skip
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, log_path
    finally:
        stop_group(process, signal.SIGTERM, 20)


def _heartbeat(env):
    try:
        rows = _sql(env, "SELECT at FROM console_workerheartbeat WHERE name = 'worker'")
    except psycopg.Error:
        return None
    return rows[0][0] if rows else None


def test_postgres_restarted_under_a_running_worker_it_recovers_without_a_restart(
    console_env, private_pg, celery_worker
):
    process, log_path = celery_worker
    first = wait_until(lambda: _heartbeat(console_env), 90, what="the worker's first heartbeat")
    # Due 20 s from now: after the restart below, so the worker must fire it on new
    # connections (the scan runs every 10 s).
    pk = int(_child(console_env, "declare", "20").split()[-1])
    private_pg.restart()
    restarted = _sql(console_env, "SELECT now()")[0][0]

    def recovered():
        beat = _heartbeat(console_env)
        fired = _step_figures(console_env, pk)["escalations"]
        return beat is not None and beat > restarted and fired >= 1

    wait_until(
        lambda: process.poll() is not None or recovered(),
        120,
        interval=0.5,
        what=f"the worker to recover after the restart:\n{log_path.read_text()[-3000:]}",
    )
    assert process.poll() is None, log_path.read_text()[-3000:]  # never restarted
    figures = _step_figures(console_env, pk)
    lost, duplicates = _lost_and_duplicates(figures)
    report_lost(
        "PostgreSQL restarted under the worker",
        lost,
        duplicates=duplicates,
        first_heartbeat=f"{first:%H:%M:%S}",
        heartbeat_after_restart=f"{_heartbeat(console_env):%H:%M:%S}",
        **figures,
    )
    assert (lost, duplicates) == (0, 0)
