"""Records per second the simulator moves through each module, and the CPU it spends.

    .venv/bin/python bench/simulator_throughput.py [--seconds 15] [--rates 1000,5000]

1. Live: starts ``python -m simulator`` as a child on free ports at each rate, scrapes
   every module's /metrics once a second as a console would, and after ``--seconds``
   stops it and reports records/s per module and the child's CPU seconds (user + system).
2. Flat out: steps a pipeline in this process as fast as it will go, to show how far above
   real time one core carries the record flow.

The manual's nominal rates are 1,000-5,000 records/s per module (000, Module Alpha
Metrics); the figures show whether the simulator carries them on one core.
"""

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from _report import emit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.pipeline import Pipeline  # noqa: E402


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


def counts(control: str) -> tuple[float, dict[str, int], bool]:
    status = json.loads(get(control + "/status"))
    m = status["modules"]
    moved = {
        "alpha": m["alpha"]["records_ingested"],
        "beta": m["beta"]["records_transformed"],
        "gamma": m["gamma"]["records_delivered"],
    }
    return time.monotonic(), moved, status["books"]["balanced"]


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Live:
    rate: float
    seconds: float
    per_second: dict[str, float]
    cpu_seconds: float
    lifetime: float
    balanced: bool


@dataclass
class FlatOut:
    rate: float
    simulated: float
    cpu_seconds: float
    delivered: int
    balanced: bool


def live(rate: float, seconds: float) -> Live:
    cmd = [sys.executable, "-m", "simulator", "--rate", str(rate), "--control-port", "0",
           "--alpha-port", "0", "--beta-port", "0", "--gamma-port", "0"]  # fmt: skip
    cpu_before = child_cpu()
    born = time.monotonic()
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    urls: dict[str, str] = {}
    assert child.stdout is not None
    while len(urls) < 4:
        name, url = child.stdout.readline().split()
        urls[name] = url
    try:
        # Let the flow settle before measuring: queues fill to their working depth.
        time.sleep(2)
        t0, start, _ = counts(urls["control"])
        deadline = t0 + seconds
        while time.monotonic() < deadline:
            for module in ("alpha", "beta", "gamma"):
                get(urls[module] + "/metrics")
            time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
        t1, end, balanced = counts(urls["control"])
    finally:
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=30)
    elapsed = t1 - t0
    return Live(
        rate,
        elapsed,
        {k: (end[k] - start[k]) / elapsed for k in end},
        # The child's whole life: start-up, 2 s settling, the run, and shutdown.
        child_cpu() - cpu_before,
        time.monotonic() - born,
        balanced,
    )


def flat_out(rate: float, simulated: float) -> FlatOut:
    pipeline = Pipeline(rate=rate, seed=1)
    cpu = time.process_time()
    for _ in range(int(simulated / 0.05)):
        pipeline.step(0.05)
    spent = time.process_time() - cpu
    books = pipeline.books()
    return FlatOut(rate, simulated, spent, books["delivered"], books["balanced"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per rate")
    parser.add_argument("--rates", default="1000,5000", help="offered records/s, comma-separated")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print("live: a child process; every module's /metrics scraped once a second")
    print("offered  alpha/s  beta/s  gamma/s  child cpu s  share of one core  books")
    for rate in rates:
        r = live(rate, args.seconds)
        ps = r.per_second
        print(
            f"{rate:7.0f}  {ps['alpha']:7.0f}  {ps['beta']:6.0f}  {ps['gamma']:7.0f}  "
            f"{r.cpu_seconds:11.2f}  {r.cpu_seconds / r.lifetime:17.1%}  "
            f"{'balanced' if r.balanced else 'UNBALANCED'}"
        )
        emit(
            f"simulator at {rate:.0f}/s offered, slowest module",
            min(ps.values()),
            "records/s",
            target=rate * 0.98,
        )
        emit(
            f"simulator CPU at {rate:.0f}/s",
            r.cpu_seconds / r.lifetime,
            "core",
            target=1.0,
            better="lower",
        )
    print("\nflat out: stepped in this process as fast as it goes (0.05 s ticks, no HTTP)")
    print("offered  simulated s  cpu s  x real time  delivered per cpu s  books")
    for rate in rates:
        f = flat_out(rate, 300.0)
        print(
            f"{rate:7.0f}  {f.simulated:11.0f}  {f.cpu_seconds:5.2f}  "
            f"{f.simulated / f.cpu_seconds:10.0f}x  {f.delivered / f.cpu_seconds:19.0f}  "
            f"{'balanced' if f.balanced else 'UNBALANCED'}"
        )


if __name__ == "__main__":
    main()
