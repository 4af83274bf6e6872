"""Escalation engine under stress, on PostgreSQL: lateness, duplicates, kill -9, watchdog.

    .venv/bin/python bench/incidents_escalation.py [--incidents 200] [--spread 60]

1. Declares N P2 incidents and moves their declaration back so that their 30-minute matrix
   step (Senior Engineer) falls due spread over the next `spread` seconds.
2. Starts two worker processes, each running the scan every 10 s (beat's period) and every
   scan twice (a redelivered task). Each step is slowed inside its transaction so that a
   kill lands mid-step; worker A is killed with SIGKILL every few seconds and restarted.
3. When every step is due plus two scan periods, stops the workers and counts, per incident,
   how many times the step fired (0 = a miss, >1 = a duplicate), and the lateness
   (fired_at - due_at) percentiles.
4. Watchdog: with no scanner running, makes M steps fall due and runs the watchdog task on its
   beat period (60 s); reports the time from due to fired.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from _report import emit
from incidents_setup import database_url, django_env, fresh, percentile

HERE = Path(__file__).resolve().parent
SCAN_PERIOD = 10.0


def worker_main(name: str, slow: float) -> None:
    """A worker process: the scan every SCAN_PERIOD seconds, each delivered twice."""
    django_env(database_url())
    from incidents import notify, services

    if slow:
        original = notify.queue_users

        def slowed(*args, **kwargs):
            time.sleep(slow)  # inside the step's transaction: a kill here is mid-step
            return original(*args, **kwargs)

        notify.queue_users = slowed
    offset = random.uniform(0, SCAN_PERIOD)
    time.sleep(offset)
    while True:
        started = time.monotonic()
        for _ in range(2):  # the same task delivered twice
            services.scan_due()
        time.sleep(max(0.0, SCAN_PERIOD - (time.monotonic() - started)))


def spawn(name: str, slow: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--slow", str(slow)],
        cwd=HERE,
        env=os.environ.copy(),
    )


def declare_due(count: int, spread: float, offset_minutes: int = 30):
    """`count` P2 incidents whose step at `offset_minutes` falls due over the next `spread` s."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from incidents import services
    from incidents.models import Incident

    operator = get_user_model().objects.get(username="operator")
    pks = [
        services.declare(operator, title=f"bench {i}", severity="P2", summary="bench").pk
        for i in range(count)
    ]
    now = timezone.now()  # after declaring, so that no step is due before the workers start
    for i, pk in enumerate(pks):
        due = now + timedelta(seconds=spread * i / max(count - 1, 1) + 5)
        declared = due - timedelta(minutes=offset_minutes)
        incident = Incident.objects.get(pk=pk)
        incident.declared_at = incident.detected_at = declared
        incident.acknowledged_at = declared  # only the escalation clock matters here
        incident.investigating_at = declared
        incident.status = "investigating"
        incident.recompute_deadlines()
        incident.save()
    return pks, now + timedelta(seconds=spread + 5)


def count_step(pks, key="P2-1"):
    from incidents.models import Escalation

    fired = {pk: [] for pk in pks}
    for pk, due, at in Escalation.objects.filter(incident__in=pks, key=key).values_list(
        "incident_id", "due_at", "fired_at"
    ):
        fired[pk].append((at - due).total_seconds())
    return fired


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--kill-every", type=float, default=7.0)
    parser.add_argument("--watchdog", type=int, default=5, help="incidents for the watchdog phase")
    parser.add_argument("--worker")
    parser.add_argument("--slow", type=float, default=0.0)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.slow)
        return

    fresh()
    from django.db import connection
    from django.utils import timezone

    from incidents import tasks

    print(f"declaring {args.incidents} P2 incidents due over {args.spread:.0f} s ...")
    pks, last_due = declare_due(args.incidents, args.spread)
    connection.close()
    slow = 0.05
    workers = {"a": spawn("a", slow), "b": spawn("b", slow)}
    kills = 0
    end = last_due + timedelta(seconds=2 * SCAN_PERIOD + 5)
    next_kill = time.monotonic() + args.kill_every
    while timezone.now() < end:
        time.sleep(0.5)
        if time.monotonic() >= next_kill:
            workers["a"].send_signal(signal.SIGKILL)
            workers["a"].wait()
            kills += 1
            workers["a"] = spawn("a", slow)
            next_kill = time.monotonic() + args.kill_every
    for proc in workers.values():
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    fired = count_step(pks)
    misses = sum(1 for v in fired.values() if not v)
    duplicates = sum(len(v) - 1 for v in fired.values() if len(v) > 1)
    lateness = [v[0] for v in fired.values() if v]
    print(
        f"two workers, every scan delivered twice, worker A killed -9 {kills} times: "
        f"{len(lateness)} of {len(pks)} steps fired, misses {misses}, duplicates {duplicates}"
    )
    print(
        "lateness (due -> notification recorded): "
        f"p50 {percentile(lateness, 50):.1f} s, p90 {percentile(lateness, 90):.1f} s, "
        f"p99 {percentile(lateness, 99):.1f} s, max {max(lateness, default=float('nan')):.1f} s"
    )

    emit("escalation lateness p99", percentile(lateness, 99), "s", target=15, better="lower")
    emit("escalation misses + duplicates", misses + duplicates, "", target=0, better="lower")
    # Watchdog phase: no scanner at all; the watchdog runs on its beat period.
    print(f"watchdog: {args.watchdog} steps fall due with no scanner running ...")
    pks, last_due = declare_due(args.watchdog, 5.0)
    watchdog_end = last_due + timedelta(minutes=2, seconds=30)
    while timezone.now() < watchdog_end:
        started = time.monotonic()
        result = tasks.watchdog_incident_escalations()
        if result["refired"]:
            print(f"  watchdog run at {timezone.now():%H:%M:%S}: {result}")
        if all(count_step(pks).values()):
            break
        time.sleep(max(0.0, 60.0 - (time.monotonic() - started)))
    fired = count_step(pks)
    late = [v[0] for v in fired.values() if v]
    print(
        f"watchdog re-fired {len(late)} of {len(pks)}; due -> fired max "
        f"{max(late, default=float('nan')):.1f} s (limit 120 s); "
        f"misses {sum(1 for v in fired.values() if not v)}"
    )
    emit(
        "watchdog due → fired, max",
        max(late, default=float("inf")),
        "s",
        target=120,
        better="lower",
    )
    ok = misses == 0 and duplicates == 0 and percentile(lateness, 99) <= 15 and len(late) == len(
        pks) and max(late) <= 120  # fmt: skip
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
