"""Backing up and restoring the console's own database, in the mode it runs in (issue 11).

SQLite (the embedded mode): SQLite's online backup API, which copies a consistent snapshot
while the console keeps writing (WAL), into a single `.sqlite3` file. PostgreSQL (production):
`pg_dump --format=custom` and `pg_restore`, the tools PostgreSQL documents for this; they must
be on PATH, in the server's major version or newer.

A restore goes into an empty database (a fresh `createdb`, or an SQLite path with no file):
restoring over live data is refused unless `replace=True`, so a slip of the finger cannot
overwrite a console. After a restore the audit chain is verified.
"""

import os
import sqlite3
import subprocess
from pathlib import Path

from django.db import connection


class BackupError(RuntimeError):
    pass


def vendor() -> str:
    return connection.vendor


def default_suffix() -> str:
    return ".sqlite3" if vendor() == "sqlite" else ".dump"


def table_counts() -> dict[str, int]:
    """Row counts of every table of the console, for the report after backup and restore."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        counts = {}
        for table in sorted(tables):
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def is_empty() -> bool:
    """True when the database holds no console tables with rows (a fresh database)."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    if "django_migrations" not in tables:
        return True
    return not any(count for table, count in table_counts().items() if table != "django_migrations")


def backup(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise BackupError(f"{path} exists; a backup never overwrites a file.")
    if vendor() == "sqlite":
        connection.ensure_connection()
        target = sqlite3.connect(path)
        try:
            with target:
                connection.connection.backup(target)
        finally:
            target.close()
    elif vendor() == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(path)])
    else:
        raise BackupError(f"No backup method for the {vendor()} backend.")
    return path


def restore(path: Path, replace: bool = False) -> None:
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file.")
    if not replace and not is_empty():
        raise BackupError(
            "The target database already holds data; restore into an empty database, or pass "
            "--replace to overwrite it."
        )
    if vendor() == "sqlite":
        connection.ensure_connection()
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if source.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{path} is not an intact SQLite database.")
            source.backup(connection.connection)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not an SQLite backup: {exc}") from None
        finally:
            source.close()
    elif vendor() == "postgresql":
        connection.close()  # pg_restore --clean must be able to drop what we hold open
        args = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
        if replace:
            args += ["--clean", "--if-exists"]
        _run(
            [*args, "--single-transaction", "--dbname", connection.settings_dict["NAME"], str(path)]
        )
    else:
        raise BackupError(f"No restore method for the {vendor()} backend.")


def _run(args: list[str]) -> None:
    """Run a PostgreSQL client tool against the default database (libpq's environment variables
    carry the connection, so the password never appears in a process list)."""
    settings = connection.settings_dict
    env = {
        **os.environ,
        "PGDATABASE": settings["NAME"],
        "PGHOST": settings.get("HOST") or "",
        "PGPORT": str(settings.get("PORT") or ""),
        "PGUSER": settings.get("USER") or "",
    }
    if settings.get("PASSWORD"):
        env["PGPASSWORD"] = settings["PASSWORD"]
    try:
        result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(f"{args[0]} is not installed (PostgreSQL's client tools).") from None
    if result.returncode != 0:
        raise BackupError(f"{args[0]} failed: {result.stderr.strip()[-2000:]}")
