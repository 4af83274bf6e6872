"""Batch jobs: schedule time → the module receives the trigger (issue 10: p95 ≤ 2 s).

    .venv/bin/python bench/jobs_trigger_latency.py [--rounds 3] [--spread 30]

1. A throw-away PostgreSQL database (JOBS_BENCH_DATABASE_URL, default `ops_jobs_bench`),
   migrated, the policy (the 35-job catalogue) loaded.
2. The real simulator in this process on free ports (time scale 3600, so that the longest
   job, 2-4 manual hours, takes 2-4 s), registered as the console's modules. Its trigger
   handler is wrapped to note the wall time each trigger arrives.
3. Each round gives every job a slot at a random moment in the next `spread` seconds
   (`next_run_at`), then runs the beat task `monitoring.tasks.scan_jobs` every second (beat's
   period in settings, with a random phase) until every slot has been triggered and its run
   has ended.
4. Prints arrival − slot for every trigger: p50, p95, max, and misses (slots never triggered).
"""

import argparse
import os
import random
import time
from datetime import timedelta

from _report import emit
from incidents_setup import percentile

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ops_jobs_bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spread", type=float, default=30.0)
    args = parser.parse_args()
    os.environ["INCIDENTS_BENCH_DATABASE_URL"] = os.environ.get(
        "JOBS_BENCH_DATABASE_URL", DEFAULT_URL
    )
    from incidents_setup import fresh

    fresh()
    from django.utils import timezone

    from monitoring.models import Job, JobRun, Module
    from monitoring.tasks import scan_jobs
    from simulator import jobs as sim_jobs
    from simulator.runtime import Simulator
    from simulator.settings import Settings

    arrivals: dict[str, list[float]] = {}
    original = sim_jobs.JobScheduler.trigger

    def noted(self, name, now):
        arrivals.setdefault(name, []).append(time.time())
        return original(self, name, now)

    sim_jobs.JobScheduler.trigger = noted
    settings = Settings(control_port=0, alpha_port=0, beta_port=0, gamma_port=0, time_scale=3600)
    simulator = Simulator(settings).start(tick=True)
    for name, url in simulator.urls().items():
        if name != "control":
            Module.objects.create(name=name, kind=name, base_url=url, enabled=False)
    lateness, misses = [], 0
    try:
        for round_no in range(args.rounds):
            arrivals.clear()
            now = timezone.now()
            slots = {}
            for job in Job.objects.all():
                slot = now + timedelta(seconds=random.uniform(1, args.spread))
                Job.objects.filter(pk=job.pk).update(next_run_at=slot)
                slots[job.name] = slot.timestamp()
            time.sleep(random.uniform(0, 1))  # beat's phase is arbitrary
            deadline = time.time() + args.spread + 30
            while time.time() < deadline:
                started = time.monotonic()
                scan_jobs()
                done = (
                    all(arrivals.get(n) for n in slots)
                    and not JobRun.objects.filter(status__in=JobRun.IN_FLIGHT).exists()
                )
                if done:
                    break
                time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
            for name, slot in slots.items():
                got = arrivals.get(name)
                if got:
                    lateness.append(got[0] - slot)
                else:
                    misses += 1
            triggered = sum(1 for n in slots if arrivals.get(n))
            print(f"round {round_no + 1}: {len(slots)} slots, {triggered} triggered")
    finally:
        simulator.stop()
    print(
        f"{len(lateness)} triggers: schedule time → module received "
        f"p50 {percentile(lateness, 50):.3f} s, p95 {percentile(lateness, 95):.3f} s, "
        f"max {max(lateness):.3f} s; misses {misses}  (target p95 ≤ 2 s)"
    )
    emit("job trigger latency p95", percentile(lateness, 95), "s", target=2, better="lower")
    emit("job trigger misses", misses, "", target=0, better="lower")


if __name__ == "__main__":
    main()
