"""Cost of storing polled samples (issue 4 target: 10,000 samples/s cost at most half a core,
end to end = parse + store, counting the PostgreSQL backend's CPU as well as ours).

Stores POLLS polls of one module, each an exposition of ~SAMPLES samples (like a simulator
module's), through the same path the worker uses: parse_metrics → store_samples (COPY)."""

import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta

from _django import setup
from _report import emit

POLLS = int(os.environ.get("BENCH_POLLS", "200"))


def _backend_cpu(pid: int) -> float:
    """utime + stime of a PostgreSQL backend, from /proc (seconds)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    url = setup()
    from django.db import connection

    from bench.monitoring_parse import exposition
    from monitoring.models import Module, Sample
    from monitoring.poller import parse_metrics
    from monitoring.store import store_samples

    module = Module.objects.create(name="bench", kind="other", base_url="http://127.0.0.1:9")
    body = exposition(series_per_family=14, families=30).encode()
    per_poll = len(parse_metrics(200, "text/plain", body, "bench"))
    connection.ensure_connection()
    backend = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
    start_ts = datetime(2026, 1, 1, tzinfo=UTC)
    cpu0, db0, wall0 = _own_cpu(), _backend_cpu(backend) if backend else 0.0, time.perf_counter()
    for i in range(POLLS):
        samples = parse_metrics(200, "text/plain", body, "bench")
        store_samples(module, samples, start_ts + timedelta(seconds=5 * i))
    wall = time.perf_counter() - wall0
    own = _own_cpu() - cpu0
    db = (_backend_cpu(backend) - db0) if backend else 0.0
    total = per_poll * POLLS
    assert Sample.objects.count() == total
    cores_at_10k = (own + db) / total * 10_000
    print(
        f"store ({connection.vendor}, {url.split('@')[-1]}): {total} samples in {POLLS} polls "
        f"of {per_poll}; {total / wall:,.0f} samples/s wall; CPU per 10,000 samples: "
        f"ours {own / total * 1e4:.3f} s + database {db / total * 1e4:.3f} s "
        f"= {cores_at_10k:.2f} core at 10,000 samples/s (target ≤ 0.5)"
    )
    emit("store 10k samples/s", cores_at_10k, "core", target=0.5, better="lower")
    return 0 if cores_at_10k <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
