"""Set-up shared by the incident benches: a throw-away PostgreSQL database of their own
(INCIDENTS_BENCH_DATABASE_URL, default `ops_incidents_bench` on 127.0.0.1), migrated, the
policy loaded and one user per role."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ops_incidents_bench"


def database_url() -> str:
    return os.environ.get("INCIDENTS_BENCH_DATABASE_URL", DEFAULT_URL)


def django_env(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="incidents-bench-"))
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnop")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("HTTPS", "0")
    os.environ.setdefault("DB_CONN_MAX_AGE", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings"
    import django

    django.setup()


def fresh() -> str:
    """Drop and recreate the bench database, migrate, load the policy, seed role users."""
    url = database_url()
    import psycopg

    admin, name = url.rsplit("/", 1)
    with psycopg.connect(admin + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    django_env(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_policy", verbosity=0)
    from console.demo import seed_users

    seed_users("bench-password")
    return url


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]
