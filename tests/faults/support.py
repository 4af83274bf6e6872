"""Support for the fault tests: private Redis and PostgreSQL servers, started on free ports
under a temporary directory, stopped, killed and restarted by the tests (the machine's shared
services on 5432 and 6379 are never touched: other sessions and CI use them), their fixtures,
and `report_lost`, the figure every fault test prints."""

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port, wait_until

REDIS_SERVER = Path("/usr/bin/redis-server")
PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def require(path: Path, what: str) -> None:
    """A missing binary skips the test, except under CI, where it fails loudly: a CI run must
    never pass by skipping its fault tests."""
    if path.exists():
        return
    reason = f"{path} is missing ({what})"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so fault tests may not be skipped: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(self.ping, 15, 0.05, what=f"private redis on {self.port}")

    def stop(self) -> None:
        """SIGKILL: an outage, not a graceful shutdown. Its data is gone (no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None
        wait_until(lambda: not self.ping(), 10, 0.05, what="private redis to stop")


@dataclass
class PrivatePostgreSQL:
    port: int
    data: Path
    owner: str | None  # the OS user the server runs as (initdb refuses root)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/ops_faults"

    def _run(self, *args: str, check=True) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self.owner:
            command = ["runuser", "-u", self.owner, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=check)

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(
                f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=1
            ) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def init(self) -> None:
        self.data.mkdir(parents=True)
        if self.owner:
            shutil.chown(self.data.parent, self.owner)
            shutil.chown(self.data, self.owner)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w",
            "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )  # fmt: skip
        wait_until(self.ready, 30, 0.1, what=f"private PostgreSQL on {self.port}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        """`pg_ctl -m fast`: every session is cut off, as in a failover or a crash restart."""
        self.stop()
        self.start()

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute("DROP DATABASE IF EXISTS ops_faults")
            conn.execute("CREATE DATABASE ops_faults")


REPORTED: list[str] = []  # shown at the end of the run (tests/faults/conftest.py)


def report_lost(what: str, lost: int, **figures) -> None:
    """Print and record the figure each fault test exists for: what was lost."""
    extra = ", ".join(f"{key} {value}" for key, value in figures.items())
    line = f"FAULT {what}: lost {lost}" + (f" ({extra})" if extra else "")
    REPORTED.append(line)
    print("\n" + line)


@pytest.fixture
def private_redis():
    require(REDIS_SERVER, "apt-get install redis-server")
    server = PrivateRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def private_pg():
    """One private cluster per module (initdb takes seconds); the database is made afresh by
    the tests that need it. initdb refuses root, so as root the server runs as `postgres`."""
    require(PG_BIN / "initdb", "apt-get install postgresql-15")
    owner = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="faults-pg-"))
    server = PrivatePostgreSQL(free_port(), base / "data", owner)
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
