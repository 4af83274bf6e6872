"""Poll throughput of one worker process (issue 4 target: ≥ 200 module endpoints per second),
against fake modules in another process, with the ratio to a bare loop of HTTP GETs (the same
/health + /metrics pairs fetched concurrently with aiohttp, nothing parsed or stored).

The poll path measured is the worker's: claim due modules (skip_locked) → fetch concurrently
→ parse → store samples → status → Poll rows."""

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from _django import setup
from _report import emit

MODULES = int(os.environ.get("BENCH_MODULES", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
HERE = Path(__file__).resolve().parent


def _start_fakes() -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "fake_modules.py"), "0"], stdout=subprocess.PIPE, text=True
    )
    line = process.stdout.readline()
    return process, int(line.rsplit(":", 1)[1])


async def _bare_round(urls: list[str]) -> None:
    """The same client library and connection limit as the poller, nothing else."""
    import aiohttp

    async def get(session, url):
        async with session.get(url) as response:
            assert response.status == 200
            return await response.read()

    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(get(session, url) for url in urls))


def main() -> int:
    setup()
    from django.utils import timezone

    from monitoring.models import Module, Poll
    from monitoring.tasks import scan_module_polls

    fakes, port = _start_fakes()
    try:
        Module.objects.bulk_create(
            Module(
                name=f"fake{i}",
                kind="other",
                base_url=f"http://127.0.0.1:{port}/m{i}",
                poll_interval=1,
            )
            for i in range(MODULES)
        )
        urls = [
            f"http://127.0.0.1:{port}/m{i}/{p}"
            for i in range(MODULES)
            for p in ("health", "metrics")
        ]
        # Bare loop: rounds of every module's two GETs for SECONDS.
        rounds, start = 0, time.perf_counter()
        while time.perf_counter() - start < SECONDS:
            asyncio.run(_bare_round(urls))
            rounds += 1
        bare_rate = rounds * MODULES / (time.perf_counter() - start)

        # The worker's path: scans claim whatever is due (each module every 1 s).
        start = time.perf_counter()
        while time.perf_counter() - start < SECONDS:
            if not scan_module_polls():
                Module.objects.update(next_poll_at=timezone.now() - timedelta(seconds=1))
        elapsed = time.perf_counter() - start
        polls = Poll.objects.filter(ok=True).count()
        failed = Poll.objects.filter(ok=False).count()
        rate = polls / elapsed
        print(
            f"poller: {MODULES} fake modules, {rate:,.0f} module polls/s "
            f"({failed} failed) vs bare HTTP loop {bare_rate:,.0f} modules/s "
            f"= {rate / bare_rate:.0%} of bare (target ≥ 200 polls/s)"
        )
        emit("poll throughput", rate, "polls/s", target=200, floor=bare_rate)
        return 0 if rate >= 200 else 1
    finally:
        fakes.terminate()


if __name__ == "__main__":
    sys.exit(main())
