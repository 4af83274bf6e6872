"""Memory (RSS) of every process of the production layout while the demo runs (issue 12):
bounded, not growing.

    BENCH_SOAK_SECONDS=3600 .venv/bin/python bench/memory_soak.py   # the hour; default 300 s

bench/stack.py's processes (gunicorn master + workers, Daphne, Celery worker + its pool,
beat, the simulator) run with the demo data while the simulator is polled every 5 s by beat
and the worker, alerts are evaluated, and a light user load runs: PAGES clients fetching the
Overview, a fragment and a war room every 2 s, the same number of WebSocket clients on the
overview and the war room's topics, and a note on an incident every 10 s. Every 10 s the
RSS of each process is read from /proc. Per role: RSS at the start, the end, the peak, and the
slope of a least-squares line over the second half of the run (MB/hour; the first half is
warm-up: imports, caches, connection pools). The bench does not recycle processes (no
gunicorn --max-requests, no Celery max-memory) so that a leak shows.

Target: each role's second-half slope ≤ 20 MB/h (our choice: a leak of that rate would take
days to matter, and a short run's noise is a few MB). Floor: none.
"""

import asyncio
import json
import os
import sys
import threading
import time
import urllib.request

from _report import emit
from stack import Stack, rss_kib

SECONDS = float(os.environ.get("BENCH_SOAK_SECONDS", "300"))
INTERVAL = float(os.environ.get("BENCH_SOAK_INTERVAL", "10"))
PAGES = int(os.environ.get("BENCH_SOAK_PAGES", "5"))
SLOPE_TARGET = 20.0  # MB/h


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, KiB) points, in MB per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if not var:
        return 0.0
    cov = sum((t - mx) * (v - my) for t, v in points)
    return cov / var * 3600 / 1024


def _browse(stack, paths: list[str], stop: threading.Event, errors: list) -> None:
    while not stop.is_set():
        for path in paths:
            request = urllib.request.Request(
                stack.http + path, headers={"Cookie": stack.cookie, "HX-Request": "true"}
            )
            try:
                urllib.request.urlopen(request, timeout=60).read()
            except OSError as exc:
                errors.append(str(exc))
        stop.wait(2)


async def _sockets(stack, topics: list[str], stop: threading.Event) -> None:
    import websockets

    async def one():
        headers = {"Cookie": stack.cookie, "Origin": stack.ws_origin}
        async with websockets.connect(stack.ws, additional_headers=headers) as ws:
            await ws.send(json.dumps({"subscribe": topics}))
            while not stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 1)
                except TimeoutError:
                    pass

    await asyncio.gather(*(one() for _ in range(PAGES)), return_exceptions=True)


def main() -> int:
    with Stack() as stack:
        from django.contrib.auth.models import User

        from incidents import services
        from incidents.models import Incident

        lead = User.objects.get(username="opslead")
        incident = Incident.objects.order_by("-pk").first()
        paths = ["/", "/?fragment=status", f"/incidents/{incident.number}/", "/incidents/"]
        stop, errors = threading.Event(), []
        threads = [
            threading.Thread(target=_browse, args=(stack, paths, stop, errors), daemon=True)
            for _ in range(PAGES)
        ]
        threads.append(
            threading.Thread(
                target=lambda: asyncio.run(
                    _sockets(stack, ["overview", f"incident.{incident.pk}"], stop)
                ),
                daemon=True,
            )
        )
        for thread in threads:
            thread.start()
        samples: dict[str, list[tuple[float, float]]] = {}
        start = time.time()
        next_note = start
        while time.time() - start < SECONDS:
            now = time.time()
            for role, pids in stack.processes().items():
                samples.setdefault(role, []).append((now - start, sum(map(rss_kib, pids))))
            if now >= next_note:
                services.add_note(lead, incident.pk, f"soak note at {now - start:.0f} s")
                next_note = now + 10
            time.sleep(INTERVAL)
        stop.set()
        for thread in threads:
            thread.join(10)
    print(
        f"soak {SECONDS:.0f} s, RSS every {INTERVAL:.0f} s, {PAGES} browsing clients + "
        f"{PAGES} sockets, {len(errors)} request errors"
    )
    ok = True
    total_end = 0.0
    for role, points in samples.items():
        half = [p for p in points if p[0] >= SECONDS / 2]
        slope = slope_mb_per_hour(half)
        first, last = points[0][1] / 1024, points[-1][1] / 1024
        peak = max(v for _, v in points) / 1024
        total_end += last
        print(
            f"  {role:9s} RSS start {first:6.1f} MB, end {last:6.1f} MB, peak {peak:6.1f} MB; "
            f"second-half slope {slope:+7.1f} MB/h"
        )
        emit(f"RSS {role} after {SECONDS / 60:.0f} min", last, "MB", better="lower")
        emit(f"RSS slope {role}, second half", slope, "MB/h", target=SLOPE_TARGET, better="lower")
        ok &= slope <= SLOPE_TARGET
    emit("RSS all processes", total_end, "MB", better="lower")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
