"""The console's own health: /healthz (alive), /readyz (dependencies), /metrics (Prometheus)."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import REGISTRY
from .models import WorkerHeartbeat


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _check_redis() -> dict:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        client.ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _worker() -> dict:
    """Reported, not required: pages are served without a worker, but timers stop."""
    try:
        beat = WorkerHeartbeat.objects.filter(name="worker").first()
    except Exception:
        return {"ok": False, "error": "unreadable"}
    if beat is None:
        return {"ok": False, "last_heartbeat": None}
    age = (timezone.now() - beat.at).total_seconds()
    stale = age > settings.HEARTBEAT_STALE_AFTER.total_seconds()
    return {"ok": not stale, "last_heartbeat": beat.at.isoformat(), "age_seconds": round(age, 1)}


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis()
    ready = all(check["ok"] for check in checks.values())
    if checks["database"]["ok"]:
        checks["worker"] = _worker()
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
