"""A war room with CLIENTS open pages while the incident takes a status update every second
(issue 12), on the production layout (bench/stack.py: gunicorn, Daphne for /ws/, worker, beat,
simulator, PostgreSQL, Redis).

Each client behaves as static/console/live.js does in a browser: it subscribes to the topics
the war room declares (<body data-live-topics> and every [data-live-topic] element, read from
the page), swaps in a message's `html`, and re-fetches (HTMX GET, the session cookie) every
element of the message's topic that the html did not replace — one request in flight per
element, as htmx does — plus what those fragments load on arrival (hx-trigger="load").

Measured per update (`incidents.services.post_update` in this process, UPDATES of them, one
a second): the time until every page has the message, the time until every page shows the
update in its timeline (pushed or re-fetched), and the fragment requests each page made for
it. Floor: the same fan-out for a bare message (live.send_now on the incident's topic, no
renderer, nothing fetched)."""

import asyncio
import json
import os
import re
import statistics
import sys
import time
import urllib.request

from _report import emit
from stack import Stack

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "50"))
UPDATES = int(os.environ.get("BENCH_UPDATES", "30"))
SETTLE = float(os.environ.get("BENCH_SETTLE", "10"))

ELEMENT = re.compile(r"<(?:section|div)\b[^>]*>", re.S)


def _attr(tag: str, name: str) -> str | None:
    match = re.search(rf'\s{name}="([^"]*)"', tag)
    return match.group(1) if match else None


def live_elements(html: str) -> list[dict]:
    """[data-live-topic] elements with an hx-get: id, topics, url."""
    out = []
    for tag in ELEMENT.findall(html):
        topics, url = _attr(tag, "data-live-topic"), _attr(tag, "hx-get")
        if topics and url:
            out.append({"id": _attr(tag, "id"), "topics": topics.split(), "url": url})
    return out


def load_urls(html: str) -> list[str]:
    """What a fragment fetches as soon as it is swapped in (hx-trigger="load")."""
    return [
        _attr(tag, "hx-get")
        for tag in ELEMENT.findall(html)
        if _attr(tag, "hx-get") and "load" in (_attr(tag, "hx-trigger") or "").split(", ")
    ]


def oob_ids(html: str) -> set[str]:
    return {_attr(t, "id") for t in ELEMENT.findall(html) if _attr(t, "hx-swap-oob")} - {None}


class Page:
    def __init__(self, stack, path: str, html: str, marker: re.Pattern):
        self.stack, self.path, self.marker = stack, path, marker
        body = re.search(r"<body\b[^>]*>", html).group(0)
        self.elements = live_elements(html)
        self.topics = sorted(
            set((_attr(body, "data-live-topics") or "").split())
            | {t for e in self.elements for t in e["topics"]}
            | {"overview"}  # the header's inbox
        )
        self.busy: set[str] = set()
        self.fetches = 0  # requests made
        self.triggers = 0  # element refreshes asked for (a request, or dropped while one runs)
        self.arrivals: list[tuple[float, str]] = []  # (time, topic) of every message
        self.seen: dict[int, float] = {}  # update number -> shown in the timeline

    def _get(self, url: str) -> str:
        request = urllib.request.Request(
            self.stack.http + url, headers={"Cookie": self.stack.cookie, "HX-Request": "true"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read().decode()

    def show(self, html: str) -> None:
        now = time.time()
        for n in map(int, self.marker.findall(html)):
            self.seen.setdefault(n, now)

    async def fetch(self, element: dict) -> None:
        key = element["id"] or element["url"]
        self.triggers += 1
        if key in self.busy:
            return  # htmx drops a trigger while the element's request is in flight
        self.busy.add(key)
        try:
            await asyncio.sleep(0.15)  # live.js's debounce
            html = await asyncio.to_thread(self._get, element["url"])
            self.fetches += 1
            self.show(html)
            for url in load_urls(html):
                await asyncio.to_thread(self._get, url)
                self.fetches += 1
        finally:
            self.busy.discard(key)

    def first_after(self, topic: str, t0: float, t1: float) -> float | None:
        return next((t for t, top in self.arrivals if top == topic and t0 <= t < t1), None)

    async def run(self, ready: asyncio.Event, stop: asyncio.Event) -> None:
        import websockets

        headers = {"Cookie": self.stack.cookie, "Origin": self.stack.ws_origin}
        async with websockets.connect(
            self.stack.ws, additional_headers=headers, open_timeout=60, max_size=2**23
        ) as ws:
            await ws.send(json.dumps({"subscribe": self.topics}))
            pending = set(self.topics)
            while pending:
                message = json.loads(await ws.recv())
                if message.get("type") in ("subscribed", "refused"):
                    pending.discard(message["topic"])
            ready.set()
            while not stop.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                if message.get("type") != "message":
                    continue
                self.arrivals.append((time.time(), message["topic"]))
                html = message.get("html") or ""
                replaced = oob_ids(html)
                self.show(html)
                for element in self.elements:
                    if message["topic"] in element["topics"] and element["id"] not in replaced:
                        asyncio.ensure_future(self.fetch(element))


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


async def scenario(stack, pages: list[Page], incident, commander) -> dict:
    from asgiref.sync import sync_to_async

    from console import live
    from incidents import services

    topic = f"incident.{incident.pk}"
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in pages]
    tasks = [asyncio.ensure_future(p.run(r, stop)) for p, r in zip(pages, readies, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    await asyncio.sleep(2)

    # Floor: bare messages on the same topic (numbers 1001, 1002, ...), no renderer.
    floor_sent = {}
    for i in range(1, 11):
        floor_sent[1000 + i] = time.time()
        await sync_to_async(live.send_now)(topic, "bench.tick", {})
        await asyncio.sleep(0.3)
    await asyncio.sleep(2)
    for page in pages:
        page.fetches = page.triggers = (
            0  # bench.tick has no renderer: pages re-fetch for it too; not counted
        )

    sent = {}
    for n in range(1, UPDATES + 1):
        started = time.time()
        sent[n] = started
        await sync_to_async(services.post_update)(
            commander, incident.pk, f"Update {n}", f"bench update {n} of the war room bench"
        )
        await asyncio.sleep(max(0.0, started + 1 - time.time()))
    deadline = time.time() + SETTLE
    while time.time() < deadline and not all(len(p.seen) >= UPDATES for p in pages):
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)

    def spread(field: str, numbers, t0: dict) -> tuple[list[float], int]:
        """Per update: the slowest page's time (ms), and how many pages never got there."""
        worst, missing = [], 0
        for n in numbers:
            if field == "messages":  # the first message on the topic after the update
                end = t0.get(n + 1, float("inf"))
                times = [p.first_after(topic, t0[n], end) for p in pages]
            else:
                times = [p.seen.get(n) for p in pages]
            missing += sum(1 for t in times if t is None)
            if all(t is not None for t in times):
                worst.append((max(times) - t0[n]) * 1000)
        return worst, missing

    messages, lost = spread("messages", range(1, UPDATES + 1), sent)
    floor, floor_lost = spread("messages", range(1001, 1011), floor_sent)
    visible, unseen = spread("seen", range(1, UPDATES + 1), sent)
    fetches = sum(p.fetches for p in pages) / len(pages) / UPDATES
    triggers = sum(p.triggers for p in pages) / len(pages) / UPDATES
    return dict(
        messages=messages,
        lost=lost,
        floor=floor,
        floor_lost=floor_lost,
        visible=visible,
        unseen=unseen,
        fetches=fetches,
        triggers=triggers,
    )


def main() -> int:
    with Stack() as stack:
        from django.contrib.auth.models import User

        from incidents import services

        commander = User.objects.get(username="opslead")
        incident = services.declare(
            commander,
            title="War room bench",
            severity="P1",
            summary="50 pages watch this.",
            affected_modules=["gamma"],
        )
        path = f"/incidents/{incident.number}/"
        request = urllib.request.Request(stack.http + path, headers={"Cookie": stack.cookie})
        html = urllib.request.urlopen(request, timeout=60).read().decode()
        marker = re.compile(r"bench update (\d+) of the war room bench")
        pages = [Page(stack, path, html, marker) for _ in range(CLIENTS)]
        print(
            f"war room {path}: topics {pages[0].topics}; live elements "
            f"{[e['id'] for e in pages[0].elements]}",
            flush=True,
        )
        r = asyncio.run(scenario(stack, pages, incident, commander))
    msg_p95 = _percentile(r["messages"], 95) if r["messages"] else float("inf")
    floor_p95 = _percentile(r["floor"], 95) if r["floor"] else float("nan")
    vis_p95 = _percentile(r["visible"], 95) if r["visible"] else float("inf")
    print(
        f"{CLIENTS} pages, {UPDATES} updates 1/s: update → message at every page p50 "
        f"{statistics.median(r['messages'] or [0]):.0f} ms, p95 {msg_p95:.0f} ms "
        f"({r['lost']} lost; bare message floor p95 {floor_p95:.0f} ms); update → shown in "
        f"every page's timeline p50 {statistics.median(r['visible'] or [0]):.0f} ms, p95 "
        f"{vis_p95:.0f} ms, max {max(r['visible'] or [0]):.0f} ms ({r['unseen']} never shown "
        f"within {SETTLE:.0f} s of the last); per page per update: {r['triggers']:.2f} "
        f"fragment re-fetches asked for, {r['fetches']:.2f} made (the rest dropped while the "
        f"element's request was in flight)",
        flush=True,
    )
    emit(
        f"war room update → message, {CLIENTS} pages, p95",
        msg_p95,
        "ms",
        target=500,
        floor=floor_p95,
        better="lower",
    )
    emit(
        f"war room update → shown in timeline, {CLIENTS} pages, p95",
        vis_p95,
        "ms",
        target=1000,
        floor=floor_p95,
        better="lower",
    )
    emit("war room updates not shown", r["unseen"], "page-updates", target=0, better="lower")
    emit("war room re-fetches asked per page per update", r["triggers"], "req", better="lower")
    emit("war room fragment requests per page per update", r["fetches"], "req", better="lower")
    return 0 if r["unseen"] == 0 and msg_p95 <= 500 else 1


if __name__ == "__main__":
    sys.exit(main())
