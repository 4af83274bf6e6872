"""Gamma's endpoints: destinations, circuit breakers (001, Runbook C.3) and the dead letter
queue (001, Runbook C.2)."""

from .dlq import Filter
from .errors import Invalid
from .gamma import Gamma
from .module import Module
from .server import Request, Response, Router


def register(router: Router, module: Module) -> None:
    assert isinstance(module, Gamma)
    gamma = module

    def destinations(request: Request) -> object:
        with gamma.lock:
            return gamma.list_destinations()

    def destination(request: Request) -> object:
        with gamma.lock:
            return gamma.describe_destination(request.params["destination"])

    def breakers(request: Request) -> object:
        with gamma.lock:
            return gamma.breakers_status()

    def reset(request: Request) -> object:
        with gamma.lock:
            return gamma.reset_breaker(request.params["destination"])

    def dlq_stats(request: Request) -> object:
        with gamma.lock:
            return gamma.dlq.stats(gamma.clock.now, gamma.clock.iso)

    def dlq_entries(request: Request) -> object:
        limit = request.int_arg("limit", 100, 1, 1000)
        offset = request.int_arg("offset", 0, 0, 10**9)
        flt = Filter.from_query(request.query)
        with gamma.lock:
            return gamma.dlq.page(flt, limit, offset, gamma.clock.now, gamma.clock.iso)

    def dlq_analysis(request: Request) -> object:
        with gamma.lock:
            return gamma.dlq.analysis(gamma.clock.now)

    def dlq_export(request: Request) -> Response:
        fmt = request.query.get("format", "json")
        if fmt not in ("json", "csv"):
            raise Invalid("format must be json or csv", got=fmt)
        flt = Filter.from_query(request.query)
        with gamma.lock:
            content_type, text = gamma.dlq.export(flt, fmt, gamma.clock.now, gamma.clock.iso)
        return Response(raw=text.encode(), content_type=content_type)

    def dlq_replay(request: Request) -> object:
        body = request.json()
        with gamma.lock:
            return gamma.replay(body)

    def dlq_purge(request: Request) -> object:
        body = request.json()
        with gamma.lock:
            return gamma.purge(body)

    router.add("GET", "/admin/destinations", destinations)
    router.add("GET", "/admin/destinations/{destination}/status", destination)
    router.add("GET", "/admin/circuit-breakers/status", breakers)
    router.add("POST", "/admin/circuit-breakers/{destination}/reset", reset)
    router.add("GET", "/admin/dlq/stats", dlq_stats)
    router.add("GET", "/admin/dlq/entries", dlq_entries)
    router.add("GET", "/admin/dlq/analysis", dlq_analysis)
    router.add("GET", "/admin/dlq/export", dlq_export)
    router.add("POST", "/admin/dlq/replay", dlq_replay)
    router.add("POST", "/admin/dlq/purge", dlq_purge)
