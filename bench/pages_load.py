"""Pages under load (issue 12): requests/s and p50/p95/p99 latency of the Overview, an HTMX
fragment of it, the incident list, a war room, the change list and the API list endpoints, at
20, 50 and 100 concurrent clients, against the production layout (bench/stack.py: gunicorn
for HTTP, Daphne for /ws/, Celery worker and beat, the simulator, PostgreSQL, Redis; the demo
data seeded and the simulator polled while the load runs).

The load comes from wrk in a second process (`apt-get install wrk`), signed in as a Viewer
by a session cookie (a Lua script sets the header and prints the latency percentiles as JSON).
Floor: the same load on a trivial authenticated view on the same server (`/api/v1/me/`:
session, middleware, one user lookup, a tiny JSON body).

Targets: ≥ 100 requests/s per core for a dashboard page (Overview), ≥ 300 for an HTMX
fragment, p95 ≤ 300 ms at 50 clients. Requests/s per core is the wall rate divided by the
machine's cores (shared with whatever else runs); also printed: requests per CPU-second of the
web workers themselves, which does not depend on the neighbours.

    BENCH_LOAD_SECONDS=8 BENCH_CONCURRENCY=20,50,100 .venv/bin/python bench/pages_load.py
    BENCH_PAGES="Overview,war room" BENCH_WEB=daphne ...   # some pages; HTTP from Daphne
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

from _report import emit
from stack import Stack, cpu_seconds

SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "8"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "20,50,100").split(",")]
CORES = os.cpu_count() or 1

LUA = """
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
if os.getenv("BENCH_HTMX") == "1" then wrk.headers["HX-Request"] = "true" end
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests": %d, "seconds": %f, "errors": %d, "status_errors": %d, '
    .. '"p50": %f, "p95": %f, "p99": %f}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk(url: str, cookie: str, clients: int, htmx: bool = False) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    env = {**os.environ, "BENCH_COOKIE": cookie, "BENCH_HTMX": "1" if htmx else "0"}
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(clients),
            "-d",
            f"{SECONDS}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def check(url: str, cookie: str, htmx: bool) -> int:
    """The page answers 200 to the signed-in Viewer (a redirect to the login would be fast)."""
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    if htmx:
        request.add_header("HX-Request", "true")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200 and response.url == url, (url, response.url)
        return len(response.read())


def main() -> int:
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install -y -qq wrk")
        return 2
    with Stack() as stack:
        from incidents.models import Incident

        number = Incident.objects.order_by("-pk").values_list("number", flat=True).first()
        pages = [
            ("Overview", "/", False, 100),
            ("Overview fragment (HTMX)", "/?fragment=status", True, 300),
            ("incident list", "/incidents/", False, None),
            ("war room", f"/incidents/{number}/", False, None),
            ("change list", "/changes/", False, None),
            ("API incidents list", "/api/v1/incidents/", False, None),
            ("API changes list", "/api/v1/changes/", False, None),
        ]
        wanted = [w for w in os.environ.get("BENCH_PAGES", "").split(",") if w]
        pages = [p for p in pages if not wanted or p[0] in wanted]
        floor_url = stack.http + "/api/v1/me/"
        check(floor_url, stack.cookie, False)
        web_pids = stack.processes()["web"][1:]  # gunicorn's workers
        ok = True
        for clients in CONCURRENCY:
            floor = wrk(floor_url, stack.cookie, clients)
            print(
                f"c={clients:3d} floor /api/v1/me/: {floor['rps']:7.0f} req/s, p50 "
                f"{floor['p50']:.0f} p95 {floor['p95']:.0f} p99 {floor['p99']:.0f} ms",
                flush=True,
            )
            for name, path, htmx, target in pages:
                url = stack.http + path
                size = check(url, stack.cookie, htmx)
                cpu0 = sum(cpu_seconds(p) for p in web_pids)
                r = wrk(url, stack.cookie, clients, htmx)
                cpu = sum(cpu_seconds(p) for p in web_pids) - cpu0
                per_cpu = r["requests"] / cpu if cpu else float("nan")
                print(
                    f"c={clients:3d} {name} ({size:,} B): {r['rps']:6.0f} req/s "
                    f"({r['rps'] / CORES:.0f}/core; {per_cpu:.0f} per web CPU-second), "
                    f"p50 {r['p50']:.0f} p95 {r['p95']:.0f} p99 {r['p99']:.0f} ms, "
                    f"errors {r['errors']} + {r['status_errors']} status",
                    flush=True,
                )
                ok &= r["status_errors"] == 0
                if clients in (20, 100) or target:
                    emit(
                        f"{name} req/s per core, c={clients}",
                        r["rps"] / CORES,
                        "req/s",
                        target=target,
                        floor=floor["rps"] / CORES,
                    )
                if target and clients == 20:
                    emit(f"{name} req per web CPU-s, c={clients}", per_cpu, "req/s", target=target)
                emit(
                    f"{name} p95, c={clients}",
                    r["p95"],
                    "ms",
                    target=300 if clients == 50 else None,
                    floor=floor["p95"],
                    better="lower",
                )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
