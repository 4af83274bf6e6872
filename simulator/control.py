"""The control port: the simulator's own switchboard, not a pipeline module.

It can revive a crashed module (whose own port no longer answers), clear every fault, and
start scenario scripts. ``python -m simulator --clear-faults`` and ``--revive <module>``
talk to it.
"""

from typing import TYPE_CHECKING, Any

from .scenarios import SCRIPTS
from .server import Request, Response, Router

if TYPE_CHECKING:
    from .runtime import Simulator


def control_router(sim: "Simulator") -> Router:
    router = Router("control")
    pipeline = sim.pipeline

    def index(request: Request) -> dict[str, Any]:
        return {"service": "control", "endpoints": router.endpoints(), "modules": sim.urls()}

    def status(request: Request) -> dict[str, Any]:
        body = pipeline.overview()
        for name, service in sim.services.items():
            body["modules"][name]["url"] = service.url
            body["modules"][name]["listening"] = service.running
        body["scenario"] = sim.scenarios.status()
        body["rate"] = sim.settings.rate
        return body

    def crash(request: Request) -> Any:
        return pipeline.crash(request.params["module"])

    def revive(request: Request) -> Any:
        return pipeline.revive(request.params["module"])

    def scenarios(request: Request) -> dict[str, Any]:
        return {"scenarios": [s.describe() for s in SCRIPTS.values()]}

    def play(request: Request) -> Response:
        return Response(202, sim.scenarios.start(request.params["name"]))

    router.add("GET", "/", index)
    router.add("GET", "/status", status)
    router.add("GET", "/books", lambda r: pipeline.books())
    router.add("POST", "/modules/{module}/crash", crash)
    router.add("DELETE", "/modules/{module}/crash", revive)
    router.add("DELETE", "/faults", lambda r: pipeline.clear_all_faults())
    router.add("GET", "/scenarios", scenarios)
    router.add("GET", "/scenarios/current", lambda r: sim.scenarios.status())
    router.add("DELETE", "/scenarios/current", lambda r: sim.scenarios.stop())
    router.add("POST", "/scenarios/{name}", play)
    return router
