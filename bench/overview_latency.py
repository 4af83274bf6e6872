"""Overview page latency with a week of history (issue 4 target: ≤ 150 ms at p95 on
PostgreSQL with 7 days of samples at 5 s resolution for the three modules, and within 3x a
trivial authenticated page on the same server).

1. Starts the simulator, polls it once through the worker's path (creating every real series of
   the three modules), then fills 7 days of 5-second samples for every one of those series
   server-side (generate_series; counters rise, gauges wave) and runs the real roll-ups.
2. Serves the console with Daphne (PostgreSQL + Redis), signs a Viewer in, and times REQUESTS
   sequential GETs of the Overview and of a trivial page (the Shifts placeholder: base layout,
   no data) — same server, same session, after a warm-up.
"""

import os
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

from _django import ROOT, free_port, setup, start_daphne, viewer_session_cookie
from _report import emit

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
DAYS = int(os.environ.get("BENCH_DAYS", "7"))
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def _simulator():
    ports = [free_port() for _ in range(4)]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--control-port",
            str(ports[0]),
            "--alpha-port",
            str(ports[1]),
            "--beta-port",
            str(ports[2]),
            "--gamma-port",
            str(ports[3]),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{ports[3]}/health", timeout=1)
            return process, ports[1:]
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("simulator did not start")


def _fill(days: int) -> int:
    """Every series, a sample every 5 s for `days` days, written by PostgreSQL itself."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(ts) FROM monitoring_sample")
        end = cursor.fetchone()[0] - timedelta(seconds=5)
        start = end - timedelta(days=days)
        # Bulk fill: skip the per-row foreign-key trigger (every series id exists) and decide
        # counter or gauge once per series, not once per row.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            """
            INSERT INTO monitoring_sample (series_id, ts, value)
            SELECT s.id, t,
                   CASE WHEN s.counter THEN extract(epoch FROM t - %s) * (1 + s.id %% 97)
                        ELSE 0.5 + 0.4 * sin(extract(epoch FROM t) / 3600.0 + s.id) END
            FROM (SELECT id, name ~ '(_total|_bucket|_count|_sum)$' AS counter
                  FROM monitoring_series) s,
                 generate_series(%s, %s, interval '5 seconds') t
            """,
            [start, start, end],
        )
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("SELECT count(*) FROM monitoring_sample")
        return cursor.fetchone()[0]


def _time(url: str, cookie: str) -> list[float]:
    opener = urllib.request.build_opener()
    opener.addheaders = [("Cookie", cookie)]
    for _ in range(10):  # warm-up
        opener.open(url).read()
    times = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = opener.open(url)
        response.read()
        assert response.status == 200 and response.url == url, response.url
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def _p95(times: list[float]) -> float:
    return times[int(len(times) * 0.95) - 1]


def main() -> int:
    url = setup(redis=REDIS)
    from django.db import connection

    from console.demo import seed_modules
    from monitoring import rollups
    from monitoring.models import Module, Series
    from monitoring.poller import poll
    from monitoring.services import record_polls

    simulator, (alpha, beta, gamma) = _simulator()
    try:
        os.environ.update(
            SIMULATOR_ALPHA_PORT=str(alpha),
            SIMULATOR_BETA_PORT=str(beta),
            SIMULATOR_GAMMA_PORT=str(gamma),
        )
        seed_modules()
        modules = list(Module.objects.all())
        record_polls(poll([(m.pk, m.base_url, m.token) for m in modules]))
    finally:
        simulator.terminate()
    start = time.perf_counter()
    rows = _fill(DAYS)
    fill_seconds = time.perf_counter() - start
    start = time.perf_counter()
    rollups.roll_up("1m")
    rollups.roll_up("1h")
    rollup_seconds = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('monitoring_sample'))")
        size = cursor.fetchone()[0]
    print(
        f"data: {Series.objects.count()} series, {rows:,} raw samples ({size}) over {DAYS} "
        f"days, filled in {fill_seconds:.0f} s; roll-ups of the week in {rollup_seconds:.0f} s"
    )

    cookie = f"sessionid={viewer_session_cookie()}"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS, "ALLOWED_HOSTS": "127.0.0.1"}
    server = start_daphne(port, env)
    try:
        base = f"http://127.0.0.1:{port}"
        overview = _time(base + "/", cookie)
        trivial = _time(base + "/shifts/", cookie)
    finally:
        server.terminate()
        server.wait(10)
    ratio = _p95(overview) / _p95(trivial)
    print(
        f"overview: p50 {statistics.median(overview):.1f} ms, p95 {_p95(overview):.1f} ms; "
        f"trivial page p50 {statistics.median(trivial):.1f} ms, p95 {_p95(trivial):.1f} ms; "
        f"ratio {ratio:.1f}x (targets: p95 ≤ 150 ms, ≤ 3x)"
    )
    emit(
        f"Overview p95, sequential, {DAYS} d of samples",
        _p95(overview),
        "ms",
        target=150,
        floor=_p95(trivial),
        better="lower",
        note="floor: the trivial page, same server",
    )
    return 0 if _p95(overview) <= 150 and ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
