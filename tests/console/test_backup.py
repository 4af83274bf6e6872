"""make backup / make restore: a dump restored into an empty database holds every row, and its
audit chain verifies. Driven through manage.py in subprocesses, as an operator would."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

POPULATE = """
from django.contrib.auth.models import User
from console import audit
from incidents import services
opslead = User.objects.get(username="opslead")
for n in range(3):
    services.declare(opslead, title=f"Backup test {n}", severity="P3", summary="x " * 50)
audit.record("backup.test", actor=opslead, object_repr="a marker entry")
"""

COUNT = """
from console.backup import table_counts
import json
print(json.dumps(table_counts()))
"""


def _env(tmp_path: Path, database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=database_url,
        SECRET_KEY="backup-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        DEBUG="0",
        HTTPS="0",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    return env


def _manage(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _counts(env: dict) -> dict[str, int]:
    import json

    return json.loads(_manage(env, "shell", "-c", COUNT).stdout.strip().splitlines()[-1])


def _round_trip(tmp_path: Path, source_url: str, target_url: str, dump: Path) -> None:
    source = _env(tmp_path, source_url)
    _manage(source, "migrate", "--verbosity", "0")
    _manage(source, "load_policy", "--verbosity", "0")
    _manage(source, "seed_demo", "--allow-non-embedded", "--verbosity", "0")
    _manage(source, "shell", "-c", POPULATE)
    before = _counts(source)
    # At least POPULATE's three: the demo's own alerts (an overdue backup) may open more.
    assert before["incidents_incident"] >= 3 and before["console_auditentry"] > 3

    _manage(source, "backup_db", "--output", str(dump))
    assert dump.is_file() and dump.stat().st_size > 0
    refused = _manage(source, "backup_db", "--output", str(dump), check=False)
    assert refused.returncode != 0 and "never overwrites" in refused.stderr

    target = _env(tmp_path, target_url)
    restored = _manage(target, "restore_db", str(dump))
    assert "audit chain OK" in restored.stdout
    assert _counts(target) == before
    _manage(target, "verify_audit")
    # A second restore over the now-full database is refused without --replace.
    again = _manage(target, "restore_db", str(dump), check=False)
    assert again.returncode != 0 and "already holds data" in again.stderr
    _manage(target, "restore_db", str(dump), "--replace")
    assert _counts(target) == before


def test_backup_restore_round_trip_on_sqlite(tmp_path):
    _round_trip(
        tmp_path,
        f"sqlite:///{tmp_path / 'source.sqlite3'}",
        f"sqlite:///{tmp_path / 'restored.sqlite3'}",
        tmp_path / "backup.sqlite3",
    )


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("not a database")
    target = _env(tmp_path, f"sqlite:///{tmp_path / 'restored.sqlite3'}")
    result = _manage(target, "restore_db", str(junk), check=False)
    assert result.returncode != 0 and "not" in result.stderr


@pytest.mark.postgres
def test_backup_restore_round_trip_on_postgresql(tmp_path):
    db = settings.DATABASES["default"]
    server = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}"
    names = [f"{db['NAME']}_backup_source", f"{db['NAME']}_backup_target"]
    admin_dsn = f"host={db['HOST']} port={db['PORT'] or 5432} user={db['USER']} dbname=postgres"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _round_trip(
            tmp_path, f"{server}/{names[0]}", f"{server}/{names[1]}", tmp_path / "backup.dump"
        )
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
