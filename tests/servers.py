"""Starts the real embedded console (Daphne + Celery worker + beat in one process) for tests
that need a server speaking HTTP and WebSocket: the smoke test and the browser tests."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    port: int
    env: dict
    process: subprocess.Popen
    log_path: Path

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def stop_group(process: subprocess.Popen, sig: int, grace: float) -> None:
    """Stop a process started with start_new_session: `sig` to its group, SIGKILL after
    `grace` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def _ready(url: str):
    try:
        with urllib.request.urlopen(url + "readyz", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


@contextlib.contextmanager
def embedded_server(var_dir: Path, extra_env: dict | None = None):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "HTTPS"}
    }
    env.update(
        {
            "VAR_DIR": str(var_dir),
            "SECRET_KEY": "embedded-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
            "HTTPS": "0",
            "DEBUG": "0",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "HEARTBEAT_INTERVAL": "2",
            **(extra_env or {}),
        }
    )
    log_path = var_dir / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_embedded", "--port", str(port), "--no-simulator"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    server = Server(url, port, env, process, log_path)
    try:
        wait_until(lambda: process.poll() is not None or _ready(url), 90, what="/readyz")
        if process.poll() is not None:
            raise RuntimeError(f"embedded server exited:\n{server.log()}")
        yield server
    finally:
        stop_group(process, signal.SIGINT, 20)
