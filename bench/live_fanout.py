"""Live fan-out (issue 4 target: 200 WebSocket clients subscribed to the Overview all receive a
status change within 500 ms at p95). Production layout: Daphne + channels-redis + PostgreSQL.

200 authenticated sockets subscribe to `overview`; the bench publishes TRIALS status-change
messages through console.live (the same call the worker makes) and records, for every client,
the time from publish to receipt."""

import asyncio
import json
import os
import signal
import statistics
import sys
import time

from _django import free_port, setup, start_daphne, viewer_session_cookie
from _report import emit

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "200"))
TRIALS = int(os.environ.get("BENCH_TRIALS", "20"))
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


async def _client(url, headers, ready: asyncio.Event, arrivals: list, stop: asyncio.Event):
    import websockets

    async with websockets.connect(url, additional_headers=headers, open_timeout=30) as ws:
        await ws.send(json.dumps({"subscribe": ["overview"]}))
        while json.loads(await ws.recv()).get("type") != "subscribed":
            pass
        ready.set()
        while not stop.is_set():
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 1))
            except TimeoutError:
                continue
            if message.get("type") == "message" and message["event"] == "bench.status_changed":
                arrivals.append((message["seq"], time.time()))


async def run(port: int, cookie: str) -> list[float]:
    from asgiref.sync import sync_to_async

    from console import live

    url = f"ws://127.0.0.1:{port}/ws/live/"
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    arrivals: list = []
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in range(CLIENTS)]
    tasks = [
        asyncio.create_task(_client(url, headers, readies[i], arrivals, stop))
        for i in range(CLIENTS)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    sent: dict[int, float] = {}
    for _ in range(TRIALS):
        t0 = time.time()
        seq = await sync_to_async(live.send_now)("overview", "bench.status_changed", {})
        sent[seq] = t0
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [(at - sent[seq]) * 1000 for seq, at in arrivals if seq in sent]
    missing = CLIENTS * TRIALS - len(latencies)
    return latencies, missing


def main() -> int:
    url = setup(redis=REDIS)
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    cookie = f"sessionid={viewer_session_cookie()}"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS, "ALLOWED_HOSTS": "127.0.0.1"}
    server = start_daphne(port, env)
    try:
        latencies, missing = asyncio.run(run(port, cookie))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(10)
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1] if latencies else float("inf")
    print(
        f"live fan-out: {CLIENTS} sockets × {TRIALS} status changes: p50 "
        f"{statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, max {latencies[-1]:.0f} ms, "
        f"{missing} missing (target p95 ≤ 500 ms, 0 missing)"
    )
    emit(f"fan-out p95, {CLIENTS} sockets", p95, "ms", target=500, better="lower")
    emit("fan-out missing messages", missing, "", target=0, better="lower")
    return 0 if p95 <= 500 and missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
