"""`manage.py check --deploy` is clean under the production settings of README "Production"
(ASVS 5.0 13.4.x): PostgreSQL and Redis URLs, TLS at a proxy, a real secret, HTTPS on. And
the check is not clean by accident: turning HTTPS off makes it fail."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Inherited values that would not be there in production (pytest's defaults for tests).
NOT_INHERITED = {"DEBUG", "HTTPS", "SECURE_HSTS_SECONDS", "SESSION_IDLE_TIMEOUT", "REDIS_URL"}


def _check_deploy(tmp_path, **overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL="postgres://ops@db.internal:5432/ops_console",
        REDIS_URL="redis://redis.internal:6379/0",
        ALLOWED_HOSTS="ops.example.com",
        CSRF_TRUSTED_ORIGINS="https://ops.example.com",
        BEHIND_TLS_PROXY="1",
        EMAIL_HOST="smtp.internal",
        VAR_DIR=str(tmp_path),
    )
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_check_deploy_is_clean_under_production_environment(tmp_path):
    result = _check_deploy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_fails_when_https_is_turned_off(tmp_path):
    result = _check_deploy(tmp_path, HTTPS="0")
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr + result.stdout
