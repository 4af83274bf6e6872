"""The production layout on one machine, for the benches that need the whole thing: PostgreSQL
(BENCH_DATABASE_URL, default `ops_bench`, dropped and re-created) and Redis
(BENCH_REDIS_URL), gunicorn for HTTP, Daphne for /ws/ only, a Celery worker, Celery beat and
the simulator, each its own process on free ports, with the demo data seeded (users, modules,
changes, maintenance, shifts, capacity history and INCIDENTS incidents).

    with Stack() as stack:
        stack.http  # http://127.0.0.1:<gunicorn port>
        stack.ws    # ws://127.0.0.1:<daphne port>/ws/live/
        stack.processes()  # {"web": [pids], "ws": [...], "worker": [...], ...}

Run alone (`python bench/stack.py`) it starts the stack and waits, printing the addresses.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from _django import ROOT, free_port, setup, viewer_session_cookie

REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
BIN = os.path.dirname(sys.executable)
# gunicorn's gthread workers: processes × threads. The README's production section says why.
# BENCH_WEB=daphne serves HTTP from one Daphne process instead (the layout before).
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", str(2 * (os.cpu_count() or 1))))
WEB_THREADS = int(os.environ.get("BENCH_WEB_THREADS", "2"))
INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", "40"))


def _wait_http(url: str, process: subprocess.Popen, what: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer {url}")


def seed() -> None:
    """The demo's data (console.demo, as `seed_demo`), plus open and closed incidents."""
    import random

    from django.contrib.auth.models import User

    from console import demo
    from incidents import services
    from incidents.models import Status

    demo.seed_users()
    demo.seed_modules()
    demo.seed_changes()
    demo.seed_maintenance()
    demo.seed_shifts()
    demo.seed_capacity_history()
    demo.seed_backups_and_drills()
    lead = User.objects.get(username="opslead")
    rng = random.Random(12)
    for i in range(INCIDENTS):
        incident = services.declare(
            lead,
            title=f"Bench incident {i}: {rng.choice(['lag', 'errors', 'queue depth', 'drops'])}",
            severity=rng.choice(["P1", "P2", "P3", "P4"]),
            summary="Seeded by bench/stack.py.",
            affected_modules=[rng.choice(["alpha", "beta", "gamma"])],
        )
        services.add_note(lead, incident.pk, "First look: the pipeline lags.")
        if i % 3 == 0:
            services.acknowledge(lead, incident.pk)
            services.move(lead, incident.pk, Status.MITIGATING)


class Stack:
    def __init__(self, seed_data: bool = True):
        self.url = setup(redis=REDIS)
        self.env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "REDIS_URL": REDIS,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
        self.children: dict[str, subprocess.Popen] = {}
        self.seed_data = seed_data

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(os.path.join(os.environ["VAR_DIR"], f"{name}.log"), "w")
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children[name] = process
        return process

    def __enter__(self) -> "Stack":
        # A SIGTERM (timeout, a killed make) unwinds through __exit__: the children run in
        # their own sessions and would otherwise outlive us, writing into the next run's data.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        ports = {name: free_port() for name in ("control", "alpha", "beta", "gamma")}
        for name in ("alpha", "beta", "gamma"):
            os.environ[f"SIMULATOR_{name.upper()}_PORT"] = str(ports[name])
            self.env[f"SIMULATOR_{name.upper()}_PORT"] = str(ports[name])
        try:
            sim = self._start(
                "simulator",
                [
                    sys.executable,
                    "-m",
                    "simulator",
                    *(a for n, p in ports.items() for a in (f"--{n}-port", str(p))),
                ],
            )
            _wait_http(f"http://127.0.0.1:{ports['gamma']}/health", sim, "simulator")
            if self.seed_data:
                seed()
            self.cookie = "sessionid=" + viewer_session_cookie()
            web_port, ws_port = free_port(), free_port()
            gunicorn = [
                f"{BIN}/gunicorn",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                str(WEB_WORKERS),
                "--threads",
                str(WEB_THREADS),
                "--worker-class",
                "gthread",
                "--graceful-timeout",
                "5",
                "--access-logfile",
                "-" if os.environ.get("BENCH_ACCESS_LOG") else "/dev/null",
                "console.wsgi:application",
            ]
            if os.environ.get("BENCH_WEB") == "daphne":  # the layout before, for comparison
                gunicorn = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p",
                            str(web_port), "console.asgi:application"]  # fmt: skip
            web = self._start("web", gunicorn)
            ws = self._start(
                "ws",
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(ws_port),
                    "console.asgi:application",
                ],
            )
            self._start(
                "worker",
                [
                    f"{BIN}/celery",
                    "-A",
                    "console",
                    "worker",
                    "--loglevel",
                    "WARNING",
                    "--concurrency",
                    os.environ.get("WORKER_CONCURRENCY", "4"),
                ],
            )
            self._start(
                "beat",
                [
                    f"{BIN}/celery",
                    "-A",
                    "console",
                    "beat",
                    "--loglevel",
                    "WARNING",
                    "--schedule",
                    os.path.join(os.environ["VAR_DIR"], "celerybeat-schedule"),
                ],
            )
            self.http = f"http://127.0.0.1:{web_port}"
            self.ws_origin = f"http://127.0.0.1:{ws_port}"
            self.ws = f"ws://127.0.0.1:{ws_port}/ws/live/"
            _wait_http(self.http + "/healthz", web, "gunicorn")
            _wait_http(self.ws_origin + "/healthz", ws, "daphne")
        except BaseException:
            self.__exit__()
            raise
        return self

    def processes(self) -> dict[str, list[int]]:
        """Every process of the stack by role, children included (gunicorn's and Celery's
        workers are children of the process started)."""
        out = {}
        for name, process in self.children.items():
            pids = [process.pid]
            try:
                kids = open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()
                pids += [int(k) for k in kids]
            except OSError:
                pass
            out[name] = pids
        return out

    def __exit__(self, *exc) -> None:
        for process in self.children.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.children.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        from django.db import connections

        connections.close_all()


def rss_kib(pid: int) -> int:
    """Resident set size of one process, KiB (/proc/<pid>/status VmRSS); 0 if it is gone."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    with Stack() as stack:
        print(f"http {stack.http}  ws {stack.ws}  cookie {stack.cookie}", flush=True)
        print(stack.processes(), flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
