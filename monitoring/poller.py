"""Fetching a module's /health and /metrics, concurrently, with every way it can go wrong
turned into a failed poll with a reason (never an exception for the worker, never half-stored
data). aiohttp, not httpx: about 3x the requests per second on this path, which the
≥ 200 polls/s target needs.

Guards: a connect and read timeout plus an overall deadline (a slow-loris that trickles bytes
is cut off), a body size cap, the content type, strict UTF-8, and the parser's own errors.
"""

import asyncio
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from .store import ParsedSample

MAX_BODY = 8 * 1024 * 1024
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 3.0
DEADLINE = 5.0
HEALTH_STATUSES = {"HEALTHY", "DEGRADED", "UNHEALTHY"}
METRICS_TYPES = ("text/plain", "application/openmetrics-text")


class PollError(Exception):
    """Why a poll failed, in words an operator can act on."""

    def __init__(self, reason: str, http_status: int | None = None):
        super().__init__(reason)
        self.http_status = http_status


@dataclass
class PollResult:
    module_id: int
    started_at: datetime
    duration_ms: float = 0.0
    ok: bool = False
    health_status: str = ""
    health: dict = field(default_factory=dict)
    http_status: int | None = None
    error: str = ""
    samples: list[ParsedSample] = field(default_factory=list)


async def _get(session: aiohttp.ClientSession, url: str, headers: dict) -> tuple[int, str, bytes]:
    async with session.get(url, headers=headers, allow_redirects=False) as response:
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > MAX_BODY:
                raise PollError(f"{url} answered more than {MAX_BODY // (1024 * 1024)} MiB")
            chunks.append(chunk)
        content_type = response.headers.get("Content-Type", "")
        return response.status, content_type, b"".join(chunks)


def _decode(body: bytes, url: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PollError(f"{url} answered invalid UTF-8 at byte {exc.start}") from None


def parse_health(status: int, content_type: str, body: bytes, url: str) -> tuple[str, dict]:
    if status != 200 and status != 503:  # a health endpoint may say UNHEALTHY with a 503
        raise PollError(f"{url} answered HTTP {status}", status)
    if "json" not in content_type:
        raise PollError(f"{url} answered {content_type or 'no content type'}, not JSON", status)
    try:
        data = json.loads(_decode(body, url))
    except json.JSONDecodeError as exc:
        raise PollError(f"{url} answered malformed JSON ({exc.msg})", status) from None
    health_status = str(data.get("status", "")).upper() if isinstance(data, dict) else ""
    if health_status not in HEALTH_STATUSES:
        raise PollError(f"{url} gave no HEALTHY/DEGRADED/UNHEALTHY status", status)
    return health_status, data


def parse_metrics(status: int, content_type: str, body: bytes, url: str) -> list[ParsedSample]:
    if status != 200:
        raise PollError(f"{url} answered HTTP {status}", status)
    if not content_type.startswith(METRICS_TYPES):
        raise PollError(f"{url} answered {content_type or 'no content type'}, not Prometheus text")
    text = _decode(body, url)
    samples: list[ParsedSample] = []
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if math.isnan(sample.value):
                    continue
                samples.append((sample.name, sample.labels, float(sample.value), family.type))
    except (ValueError, TypeError, IndexError) as exc:
        raise PollError(f"{url} answered unparseable metrics: {str(exc)[:200]}") from None
    return samples


async def _poll_one(client: aiohttp.ClientSession, module_id: int, base_url: str, token: str):
    result = PollResult(module_id=module_id, started_at=timezone.now())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = base_url.rstrip("/")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(DEADLINE):
            health, metrics = await asyncio.gather(
                _get(client, f"{base}/health", headers), _get(client, f"{base}/metrics", headers)
            )
        result.http_status = metrics[0]
        result.health_status, result.health = parse_health(*health, f"{base}/health")
        result.samples = parse_metrics(*metrics, f"{base}/metrics")
        result.ok = True
    except PollError as exc:
        result.error = str(exc)
        result.http_status = exc.http_status or result.http_status
    except TimeoutError:
        result.error = f"no complete answer within {DEADLINE:g} s"
    except aiohttp.ClientConnectorError as exc:
        result.error = f"cannot connect to {base}: {exc.os_error or exc}"[:500]
    except (aiohttp.ClientError, ValueError) as exc:  # ValueError: a malformed URL
        result.error = f"{type(exc).__name__}: {exc}"[:500]
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


async def poll_all(targets: list[tuple[int, str, str]]) -> list[PollResult]:
    """Poll (module id, base URL, token) targets concurrently."""
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        return await asyncio.gather(*(_poll_one(session, *target) for target in targets))


def poll(targets: list[tuple[int, str, str]]) -> list[PollResult]:
    """Poll from synchronous code (a Celery task). If this thread already runs an event loop
    (a caller inside async code), the polls get a loop of their own in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(poll_all(targets))
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, poll_all(targets)).result()
