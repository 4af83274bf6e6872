"""`make bench`: every script in bench/ as a subprocess, then one table of every figure, its
target, whether it is met and its ratio to the floor measured in the same run.

    .venv/bin/python bench/run_all.py [--full] [--only a,b] [--skip a,b] [--json out.json]

By default each script runs in a short version (QUICK below: fewer days of history, trials,
seconds); --full runs them with their own defaults (hours in total). Scripts print
`BENCH_JSON {...}` lines (bench/_report.py); everything else they print is passed through.
A script that fails or prints no figure gets a row saying so.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import PREFIX  # noqa: E402

# (script, arguments, environment) in the short version; --full drops arguments and env.
QUICK: list[tuple[str, list[str], dict]] = [
    ("monitoring_parse.py", [], {}),
    ("monitoring_store.py", [], {"BENCH_POLLS": "100"}),
    ("monitoring_poller.py", [], {"BENCH_SECONDS": "5"}),
    ("simulator_throughput.py", ["--seconds", "5"], {}),
    ("incidents_ids.py", [], {}),
    ("incidents_escalation.py", ["--incidents", "60", "--spread", "30", "--watchdog", "5"], {}),
    ("jobs_trigger_latency.py", ["--rounds", "1", "--spread", "20"], {}),
    ("overview_latency.py", [], {"BENCH_DAYS": "1", "BENCH_REQUESTS": "100"}),
    ("alerting_cycle.py", ["--cycles", "3", "--trials", "5", "--days", "1"], {}),
    ("live_fanout.py", [], {"BENCH_TRIALS": "10"}),
    ("live_fault_latency.py", [], {"BENCH_TRIALS": "6"}),
    ("live_resilience.py", [], {"BENCH_PAGES": "6"}),
    ("pages_load.py", [], {}),
    ("war_room.py", [], {}),
    ("memory_soak.py", [], {}),
]


def parse(output: str) -> list[dict]:
    """The BENCH_JSON records of one script's output, in order; malformed lines are skipped."""
    records = []
    for line in output.splitlines():
        if not line.startswith(PREFIX):
            continue
        try:
            record = json.loads(line[len(PREFIX) :])
        except ValueError:
            continue
        if isinstance(record, dict) and {"name", "value"} <= record.keys():
            records.append(record)
    return records


def met(record: dict) -> bool | None:
    target = record.get("target")
    if target is None or record.get("value") is None:
        return None
    if record.get("better", "higher") == "lower":
        return record["value"] <= target
    return record["value"] >= target


def ratio(record: dict) -> float | None:
    floor = record.get("floor")
    if not floor or record.get("value") is None:
        return None
    return record["value"] / floor


def _number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(rows: list[tuple[str, dict]]) -> str:
    """A fixed-width table: script, figure, value, target, met, floor, ratio."""
    header = ("script", "figure", "value", "target", "met", "floor", "×floor")
    lines = []
    for script, record in rows:
        unit = record.get("unit") or ""
        target = record.get("target")
        sign = "≤ " if record.get("better") == "lower" else "≥ "
        ok = met(record)
        r = ratio(record)
        lines.append(
            (
                script.removesuffix(".py"),
                record["name"],
                f"{_number(record.get('value'))} {unit}".strip(),
                "—" if target is None else f"{sign}{_number(target)} {unit}".strip(),
                {True: "yes", False: "NO", None: "—"}[ok],
                _number(record.get("floor")),
                "—" if r is None else f"{r:.2f}",
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    return "\n".join(out)


def run(script: str, args: list[str], env: dict) -> tuple[int, str, float]:
    start = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(HERE / script), *args],
        cwd=HERE.parent,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if not line.startswith(PREFIX):
            print(f"  {line}", end="", flush=True)
    return process.wait(), "".join(lines), time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="each script's own (long) defaults")
    parser.add_argument("--only", default="", help="comma-separated script names")
    parser.add_argument("--skip", default="", help="comma-separated script names")
    parser.add_argument("--json", help="also write every record here")
    args = parser.parse_args()
    only = {s.removesuffix(".py") for s in args.only.split(",") if s}
    skip = {s.removesuffix(".py") for s in args.skip.split(",") if s}
    # Every script's PostgreSQL/Redis defaults can be overridden from here (BENCH_REDIS_URL).
    os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    rows: list[tuple[str, dict]] = []
    for script, quick_args, quick_env in QUICK:
        name = script.removesuffix(".py")
        if (only and name not in only) or name in skip:
            continue
        print(f"== {script}", flush=True)
        code, output, seconds = run(
            script, [] if args.full else quick_args, {} if args.full else quick_env
        )
        records = parse(output)
        print(f"   exit {code}, {seconds:.0f} s, {len(records)} figures", flush=True)
        if not records:
            records = [{"name": f"(no figure: exit {code})", "value": None}]
        rows += [(script, r) for r in records]
    print()
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([{"script": s, **r} for s, r in rows], indent=1))
    return 0 if all(met(r) is not False for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
