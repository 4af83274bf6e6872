from django.conf import settings

from . import roles


def console(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"live_poll_seconds": LIVE_POLL_SECONDS}
    return {
        "nav_section": _nav_section(request),
        "user_role": roles.primary_role(user),
        "user_roles": roles.role_names(user),
        "live_poll_seconds": LIVE_POLL_SECONDS,
        "embedded_mode": not settings.REDIS_URL,
    }


def _nav_section(request) -> str:
    """Which navigation item is current: the app, or the page for pages outside an app."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    # Maintenance and Jobs have their own nav items but live in the changes/monitoring apps.
    if match.url_name in ("maintenance", "jobs"):
        return match.url_name
    return match.app_name or match.url_name or ""


# How often a page re-fetches its live fragments while its WebSocket is down.
LIVE_POLL_SECONDS = 10
