"""The embedded mode: the whole console in one process, plus the simulator as a child.

Why one process: with no Redis, the Celery broker (kombu `memory://`) and the channel layer
(`InMemoryChannelLayer`) only reach within a process. So this process runs
1. Daphne (ASGI: pages, API, WebSocket) on the main thread, under Twisted's asyncio reactor;
2. a Celery worker (thread pool) in a background thread, consuming the in-memory broker;
3. Celery beat in another thread, publishing the settings' beat schedule to the same broker;
and the simulator (`python -m simulator`) as a child process, spoken to over HTTP only.
Ctrl-C (SIGINT) or SIGTERM stops Daphne, then the worker, beat and the simulator.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent


def start_worker(app, concurrency: int = 4):
    app.loader.import_default_modules()
    app.finalize()
    worker = app.WorkController(
        app=app,
        pool="threads",
        concurrency=concurrency,
        hostname="embedded@localhost",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    thread = threading.Thread(target=worker.start, name="celery-worker", daemon=True)
    thread.start()
    return worker, thread


def start_beat(app):
    from celery.beat import EmbeddedService

    beat = EmbeddedService(app, thread=True)
    beat.daemon = True
    beat.start()
    return beat


def start_simulator(host: str) -> subprocess.Popen | None:
    if not (BASE_DIR / "simulator" / "__main__.py").exists():
        return None
    cmd = [sys.executable, "-m", "simulator", "--host", host]
    # Its own process group: the console decides when it stops, after Daphne.
    return subprocess.Popen(cmd, cwd=BASE_DIR, start_new_session=True)


def serve(host: str, port: int, with_simulator: bool = True) -> None:
    # Daphne installs Twisted's asyncio reactor on import: before anything imports a reactor.
    import asyncio

    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server
    from django.conf import settings
    from twisted.internet import reactor

    from console import live
    from console.asgi import application
    from console.celery import app

    if settings.REDIS_URL:
        raise SystemExit("run_embedded is the no-Redis mode; unset REDIS_URL (see README).")

    worker, worker_thread = start_worker(app)
    beat = start_beat(app)
    simulator = start_simulator(host) if with_simulator else None

    def bind_loop():
        live.bind_loop(asyncio.get_event_loop())

    reactor.callWhenRunning(bind_loop)
    server = Server(
        application=application,
        endpoints=build_endpoint_description_strings(host=host, port=port),
        signal_handlers=True,
        websocket_timeout=86400,
    )
    try:
        server.run()
    finally:
        log.info("stopping worker, beat and simulator")
        beat.stop()
        worker.stop(in_sighandler=False)
        worker_thread.join(10)
        if simulator is not None and simulator.poll() is None:
            os.killpg(simulator.pid, signal.SIGTERM)
            try:
                simulator.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(simulator.pid, signal.SIGKILL)
