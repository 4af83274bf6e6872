"""Alpha's source endpoints (001, Runbook A: Source Adapter Operations)."""

from .alpha import Alpha
from .module import Module
from .server import Request, Router


def register(router: Router, module: Module) -> None:
    assert isinstance(module, Alpha)
    alpha = module

    def status(request: Request) -> object:
        with alpha.lock:
            return alpha.describe_source(request.params["source"])

    def test(request: Request) -> object:
        with alpha.lock:
            return alpha.test_source(request.params["source"])

    def enable(request: Request) -> object:
        with alpha.lock:
            return alpha.set_source_enabled(request.params["source"], True)

    def disable(request: Request) -> object:
        with alpha.lock:
            return alpha.set_source_enabled(request.params["source"], False)

    def sources(request: Request) -> object:
        with alpha.lock:
            return alpha.list_sources()

    router.add("GET", "/admin/sources", sources)
    router.add("GET", "/admin/sources/{source}/status", status)
    # A.1 tests with a plain GET; a test changes nothing, so POST is accepted as well.
    router.add("GET", "/admin/sources/{source}/test", test)
    router.add("POST", "/admin/sources/{source}/test", test)
    router.add("POST", "/admin/sources/{source}/enable", enable)
    router.add("POST", "/admin/sources/{source}/disable", disable)
