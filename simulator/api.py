"""The HTTP endpoints every module serves: health, metrics, run state, config, faults, jobs.

Handlers are thin: they parse the request, take the module's lock, call the module, and
return its dict. The module-specific endpoints live in ``api_sources`` (Alpha),
``api_cache`` (Beta) and ``api_delivery`` (Gamma).
"""

from collections.abc import Callable
from typing import Any

from . import api_cache, api_delivery, api_sources
from .errors import Invalid
from .faults import CATALOG, available
from .metrics import exposition, registry_for
from .module import Health, Module
from .pipeline import Pipeline
from .server import Request, Response, Router

# Where a module-specific path lives, for the 404 another module gives.
OWNERS = {
    "/admin/sources": "alpha",
    "/admin/cache": "beta",
    "/admin/circuit-breakers": "gamma",
    "/admin/destinations": "gamma",
    "/admin/dlq": "gamma",
}

REGISTER: dict[str, Callable[[Router, Module], None]] = {
    "alpha": api_sources.register,
    "beta": api_cache.register,
    "gamma": api_delivery.register,
}


def module_router(pipeline: Pipeline, module: Module) -> Router:
    router = Router(module.name)
    registry = registry_for(module)
    name = module.name

    def locked(fn: Callable[[], Any]) -> Any:
        with module.lock:
            return fn()

    def index(request: Request) -> dict[str, Any]:
        return {"module": name, "endpoints": router.endpoints()}

    def health(request: Request) -> Response:
        body = locked(module.health)
        # 503 lets a load balancer probe act on UNHEALTHY without reading the body.
        return Response(503 if body["status"] == Health.UNHEALTHY else 200, body)

    def metrics(request: Request) -> Response:
        return Response(
            raw=exposition(registry), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    def reload_config(request: Request) -> Any:
        body = request.json()
        return locked(lambda: module.reload_config(body))

    def list_faults(request: Request) -> dict[str, Any]:
        with module.lock:
            active = module.faults.describe(module.clock.now, module.clock.iso)
        return {
            "module": name,
            "active": active,
            "available": [CATALOG[f].describe() for f in available(name)],
        }

    def add_fault(request: Request) -> Response:
        result = pipeline.apply_fault(name, request.json())
        return Response(201 if result["created"] else 200, result)

    def clear_faults(request: Request) -> Any:
        return pipeline.clear_faults(name)

    def clear_fault(request: Request) -> Any:
        scenario = request.params["scenario"]
        if scenario not in CATALOG:
            raise Invalid(f"unknown scenario {scenario!r}", available=available(name))
        return pipeline.clear_faults(name, scenario)

    def list_jobs(request: Request) -> list[dict[str, Any]]:
        # A bare array: Runbook F.2 filters it with jq '.[] | select(.status=="suspended")'.
        with module.lock:
            return [module.jobs.describe(j) for j in module.jobs.jobs.values()]

    def job_status(request: Request) -> Any:
        return locked(lambda: module.jobs.status(request.params["job"]))

    def job_logs(request: Request) -> Any:
        raw_run = request.query.get("run")
        if raw_run is not None and not raw_run.isdigit():
            raise Invalid("run must be a run id (a whole number)", got=raw_run)
        limit = request.int_arg("limit", 200, 1, 10000)
        job = request.params["job"]
        run_id = None if raw_run is None else int(raw_run)
        return locked(lambda: module.jobs.logs(job, run_id, limit))

    def all_jobs(action: str) -> Callable[[Request], Any]:
        def handler(request: Request) -> Any:
            with module.lock:
                fn = module.jobs.suspend if action == "suspend" else module.jobs.resume
                return {"module": name, "jobs": [fn(j) for j in module.jobs.jobs]}

        return handler

    def job_action(action: str) -> Callable[[Request], Any]:
        def handler(request: Request) -> Response:
            job = request.params["job"]
            with module.lock:
                if action == "trigger":
                    return Response(202, module.jobs.trigger(job, module.clock.now))
                if action == "suspend":
                    return Response(200, module.jobs.suspend(job))
                return Response(200, module.jobs.resume(job))

        return handler

    add = router.add
    add("GET", "/", index)
    add("GET", "/health", health)
    add("GET", "/metrics", metrics)
    add("GET", "/admin/status", lambda r: locked(module.status))
    add("POST", "/admin/pause", lambda r: locked(module.pause))
    add("POST", "/admin/resume", lambda r: locked(module.resume))
    add("POST", "/admin/drain", lambda r: locked(module.drain))
    add("GET", "/admin/config", lambda r: locked(module.config.describe))
    add("POST", "/admin/config/reload", reload_config)
    add("GET", "/admin/faults", list_faults)
    add("POST", "/admin/faults", add_fault)
    add("DELETE", "/admin/faults", clear_faults)
    add("DELETE", "/admin/faults/{scenario}", clear_fault)
    add("GET", "/admin/jobs/list", list_jobs)
    add("POST", "/admin/jobs/suspend-all", all_jobs("suspend"))
    add("POST", "/admin/jobs/resume-all", all_jobs("resume"))
    add("GET", "/admin/jobs/{job}/status", job_status)
    add("POST", "/admin/jobs/{job}/trigger", job_action("trigger"))
    add("POST", "/admin/jobs/{job}/suspend", job_action("suspend"))
    add("POST", "/admin/jobs/{job}/resume", job_action("resume"))
    add("GET", "/admin/jobs/{job}/logs", job_logs)
    REGISTER[name](router, module)
    router.elsewhere = {prefix: owner for prefix, owner in OWNERS.items() if owner != name}
    return router
