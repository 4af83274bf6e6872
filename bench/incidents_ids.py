"""100 incidents declared concurrently through the API on PostgreSQL: every one gets a
distinct, consecutive INC id. Prints the rate.

    .venv/bin/python bench/incidents_ids.py [--count 100] [--threads 100]

Each thread is one API client (DRF's test client: the full view, serializer, service and
database path, without an HTTP socket) on its own database connection."""

import argparse
import threading
import time

from _report import emit
from incidents_setup import fresh


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)
    # PostgreSQL's default max_connections is 100 and other clients share it: 25 connections
    # declaring 4 each keeps 100 declarations in flight at once without exhausting it.
    parser.add_argument("--threads", type=int, default=25)
    args = parser.parse_args()
    fresh()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.test import APIClient

    from incidents.models import Incident

    operator = get_user_model().objects.get(username="operator")
    per_thread = [args.count // args.threads + (i < args.count % args.threads) for i in
                  range(args.threads)]  # fmt: skip
    barrier = threading.Barrier(args.threads + 1)
    ids: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        client = APIClient(SERVER_NAME="localhost")
        client.force_authenticate(operator)
        barrier.wait()
        try:
            for i in range(n):
                body = {"title": f"bench {i}", "severity": "P4", "summary": "bench"}
                try:
                    response = client.post("/api/v1/incidents/", body, format="json")
                except Exception as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    if response.status_code == 201:
                        ids.append(response.json()["id"])
                    else:
                        errors.append(f"{response.status_code} {response.content[:200]!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in per_thread]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    sequence = sorted(int(i.rsplit("-", 1)[1]) for i in ids)
    consecutive = sequence == list(range(1, len(sequence) + 1))
    print(f"declared {len(ids)} of {args.count} with {args.threads} concurrent clients "
          f"in {elapsed:.2f} s: {len(ids) / elapsed:.1f} declarations/s")  # fmt: skip
    print(f"distinct ids: {len(set(ids))}; consecutive 1..{len(ids)}: {consecutive}; "
          f"errors: {len(errors)}; incidents in database: {Incident.objects.count()}")  # fmt: skip
    emit("concurrent declarations, distinct ids", len(set(ids)), "ids", target=args.count)
    emit("ids consecutive", int(consecutive), "bool", target=1)
    for error in errors[:5]:
        print("  error:", error)
    if errors or not consecutive or len(set(ids)) != args.count:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
