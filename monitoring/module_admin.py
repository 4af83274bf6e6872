"""Calling a module's admin endpoints (`/admin/...`: jobs, pause/resume/drain, sources, config,
caches, circuit breakers, DLQ) over HTTP, the way the poller reads /health and /metrics:
aiohttp, a connect/read timeout and an overall deadline, a body cap, and every way it can go
wrong turned into an `Answer` with `ok=False` and the module's own message (never an exception
for the caller, never a success claimed on a guess).

Many calls at once (the job scan triggering every job due this second) go out concurrently.
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .models import Module

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
DEADLINE = 8.0
MAX_BODY = 16 * 1024 * 1024  # a DLQ export of 100,000 entries fits


@dataclass
class Request:
    method: str
    url: str
    token: str = ""
    body: Any = None


@dataclass
class Answer:
    """What came back: `ok` for a 2xx, the decoded JSON (or text), and a message if not."""

    status: int | None
    data: Any = None
    text: str = ""
    error: str = ""
    headers: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def message(self) -> str:
        """The module's own words when it refused (its `message`), else why nothing came."""
        if self.error:
            return self.error
        if isinstance(self.data, dict) and self.data.get("message"):
            return f"HTTP {self.status}: {self.data['message']}"
        return f"HTTP {self.status}: {self.text[:300]}" if not self.ok else ""


def request_for(module: Module, method: str, path: str, body: Any = None) -> Request:
    return Request(method, module.base_url.rstrip("/") + path, module.token, body)


async def _one(session: aiohttp.ClientSession, req: Request) -> Answer:
    headers = {"Authorization": f"Bearer {req.token}"} if req.token else {}
    payload = None if req.body is None else json.dumps(req.body).encode()
    if payload is not None:
        headers["Content-Type"] = "application/json"
    try:
        async with asyncio.timeout(DEADLINE):
            async with session.request(
                req.method, req.url, data=payload, headers=headers, allow_redirects=False
            ) as response:
                raw = await response.content.read(MAX_BODY + 1)
                if len(raw) > MAX_BODY:
                    return Answer(response.status, error=f"{req.url} answered more than 16 MiB")
                text = raw.decode("utf-8", errors="replace")
                data: Any = None
                if "json" in response.headers.get("Content-Type", ""):
                    try:
                        data = json.loads(text)
                    except json.JSONDecodeError:
                        data = None
                return Answer(response.status, data, text, headers=dict(response.headers))
    except TimeoutError:
        return Answer(None, error=f"{req.url}: no answer within {DEADLINE:g} s")
    except aiohttp.ClientConnectorError as exc:
        return Answer(None, error=f"cannot connect to {req.url}: {exc.os_error or exc}"[:500])
    except (aiohttp.ClientError, ValueError) as exc:
        return Answer(None, error=f"{req.url}: {type(exc).__name__}: {exc}"[:500])


async def _all(requests: list[Request]) -> list[Answer]:
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return list(await asyncio.gather(*(_one(session, r) for r in requests)))


def send_all(requests: list[Request]) -> list[Answer]:
    """Send requests concurrently from synchronous code (a task or a view)."""
    if not requests:
        return []
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_all(requests))
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, _all(requests)).result()


def call(module: Module, method: str, path: str, body: Any = None) -> Answer:
    return send_all([request_for(module, method, path, body)])[0]
