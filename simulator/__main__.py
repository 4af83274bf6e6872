"""``python -m simulator``: run the stand-in pipeline, or talk to a running one.

    python -m simulator                         # modules on :8081-8083, control on :8080
    python -m simulator --scenario destination-outage
    python -m simulator --revive beta           # bring a crashed module back
    python -m simulator --clear-faults          # switch every fault off
    python -m simulator --list-scenarios

Every flag has a SIMULATOR_* environment variable (SIMULATOR_HOST, SIMULATOR_ALPHA_PORT,
SIMULATOR_RATE, SIMULATOR_TOKEN, ...); a flag wins over its variable.
"""

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Any

from .faults import CATALOG
from .runtime import Simulator
from .scenarios import SCRIPTS
from .settings import ENVIRONMENT, Settings, from_environment, validate

MODULES = ("alpha", "beta", "gamma")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    defaults = from_environment()
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Stand-in Alpha/Beta/Gamma pipeline for the Pipeline Ops Console.",
        epilog="Environment: " + ", ".join(sorted(ENVIRONMENT.values())),
    )
    parser.add_argument("--host", default=defaults.host, help="address to listen on")
    for module, port in (
        ("control", defaults.control_port),
        ("alpha", defaults.alpha_port),
        ("beta", defaults.beta_port),
        ("gamma", defaults.gamma_port),
    ):
        parser.add_argument(
            f"--{module}-port", type=int, default=port, help=f"{module} port (0 picks a free one)"
        )
    parser.add_argument(
        "--rate",
        type=float,
        default=defaults.rate,
        help="records/s offered by all sources together",
    )
    parser.add_argument(
        "--token",
        default=defaults.token,
        help="bearer token required by admin and control endpoints",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=defaults.time_scale,
        help="manual seconds per real second for batch jobs (default 60)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--tick", type=float, default=defaults.tick, help="seconds between record-flow ticks"
    )
    parser.add_argument("--access-log", action="store_true", default=defaults.access_log)
    parser.add_argument("--scenario", choices=sorted(SCRIPTS), help="play a timed script")
    parser.add_argument(
        "--exit-after-scenario",
        action="store_true",
        help="stop when the scenario ends; exit 1 if the books do not balance",
    )
    client = parser.add_mutually_exclusive_group()
    client.add_argument(
        "--clear-faults",
        action="store_true",
        help="clear every fault in a running simulator (via the control port)",
    )
    client.add_argument("--revive", choices=MODULES, help="revive a crashed module")
    client.add_argument("--crash", choices=MODULES, help="crash a module")
    client.add_argument("--status", action="store_true", help="print a running simulator's status")
    client.add_argument(
        "--list-scenarios", action="store_true", help="list scenario scripts and faults"
    )
    args = parser.parse_args(argv)
    if args.exit_after_scenario and not args.scenario:
        parser.error("--exit-after-scenario needs --scenario")
    settings = validate(
        replace(
            defaults,
            host=args.host,
            control_port=args.control_port,
            alpha_port=args.alpha_port,
            beta_port=args.beta_port,
            gamma_port=args.gamma_port,
            rate=args.rate,
            token=args.token or None,
            time_scale=args.time_scale,
            seed=args.seed,
            tick=args.tick,
            access_log=args.access_log,
        )
    )
    return args, settings


def call_control(settings: Settings, method: str, path: str) -> int:
    """One request to a running simulator's control port; print the JSON answer."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{host}:{settings.control_port}{path}"
    request = urllib.request.Request(url, method=method)
    if settings.token:
        request.add_header("Authorization", f"Bearer {settings.token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(json.dumps(json.load(response), indent=2))
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(errors="replace"), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"no simulator answering at {url}: {exc}", file=sys.stderr)
        return 2


def list_scenarios() -> None:
    print("Scenario scripts (--scenario NAME, or POST /scenarios/NAME on the control port):")
    for script in SCRIPTS.values():
        print(f"  {script.name:20s} {script.duration:5.0f}s  {script.summary}")
    print('\nFaults (POST /admin/faults {"scenario": NAME} on the module named):')
    for spec in CATALOG.values():
        print(f"  {spec.name:20s} {'/'.join(spec.modules):16s} {spec.summary}")


def serve(args: argparse.Namespace, settings: Settings) -> int:
    sim = Simulator(settings).start()
    for name, url in sim.urls().items():
        print(f"{name:8s} {url}", flush=True)
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if args.scenario:
        sim.scenarios.start(args.scenario)
        print(f"playing scenario {args.scenario}", flush=True)
    try:
        while not done.wait(0.2):
            if args.exit_after_scenario and sim.scenarios.finished.is_set():
                break
    finally:
        sim.stop()
    books = sim.pipeline.books()
    print(json.dumps({"books": books, "scenario": sim.scenarios.status()["state"]}), flush=True)
    return 0 if books["balanced"] else 1


def main(argv: list[str] | None = None) -> int:
    args, settings = parse_args(argv)
    if args.list_scenarios:
        list_scenarios()
        return 0
    if args.clear_faults:
        return call_control(settings, "DELETE", "/faults")
    if args.revive:
        return call_control(settings, "DELETE", f"/modules/{args.revive}/crash")
    if args.crash:
        return call_control(settings, "POST", f"/modules/{args.crash}/crash")
    if args.status:
        return call_control(settings, "GET", "/status")
    return serve(args, settings)


if __name__ == "__main__":
    sys.exit(main())
