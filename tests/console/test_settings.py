"""Settings come from the environment only and fail loudly on bad values."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "HTTPS", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"}
    }
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


SETUP = (
    "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'console.settings'); "
    "django.setup()"
)


@pytest.mark.slow
def test_refuses_to_start_without_a_secret_when_debug_is_off(tmp_path):
    result = _run(SETUP, DEBUG="0", VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY is unset or insecure while DEBUG is off" in result.stderr


@pytest.mark.slow
def test_bad_boolean_fails_loudly(tmp_path):
    result = _run(SETUP, DEBUG="maybe", VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


@pytest.mark.slow
def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in {"HTTPS", "DEBUG"}},
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "ops.example.com",
            "VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_settings_helpers_parse_and_reject(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from console.settings import env_bool, env_int, env_list

    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 0) == 12
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("X_INT", 0)


def test_every_beat_entry_names_a_registered_task():
    """A scheduled task that is not a Celery task (a lost decorator) would never run."""
    from importlib import import_module

    from celery import current_app
    from django.apps import apps
    from django.conf import settings

    for config in apps.get_app_configs():
        try:
            import_module(f"{config.name}.tasks")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.tasks":
                raise
    missing = [
        entry["task"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] not in current_app.tasks
    ]
    assert missing == []
