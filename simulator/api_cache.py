"""Beta's cache endpoints (001, Runbook B.2: Refreshing Enrichment Cache)."""

from .beta import Beta
from .module import Module
from .server import Request, Response, Router


def register(router: Router, module: Module) -> None:
    assert isinstance(module, Beta)
    beta = module

    def status(request: Request) -> object:
        with beta.lock:
            return beta.cache_status()

    def refresh(request: Request) -> Response:
        with beta.lock:
            return Response(202, beta.refresh(request.params["name"]))

    def refresh_status(request: Request) -> object:
        with beta.lock:
            return beta.refresh_status()

    router.add("GET", "/admin/cache/status", status)
    # B.2 step 5 reads hit rates from /admin/cache/stats; it is the same report.
    router.add("GET", "/admin/cache/stats", status)
    # GET .../refresh/status (B.2 step 4) reads progress; POST .../refresh/<name> starts one.
    router.add("GET", "/admin/cache/refresh/status", refresh_status)
    router.add("POST", "/admin/cache/refresh/{name}", refresh)
