import uuid
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone

from . import audit
from .context import RequestContext, current


class RequestContextMiddleware:
    """Gives each request an id (kept from X-Request-ID when sane) and notes its address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if given.isascii() and 0 < len(given) <= 64 else uuid.uuid4().hex
        request.request_id = request_id
        token = current.set(RequestContext(request_id, request.META.get("REMOTE_ADDR") or None))
        try:
            response = self.get_response(request)
        finally:
            current.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ConsoleLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login, except the API, which answers 401 JSON through DRF instead
    of redirecting a script to a login form."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class IdleTimeoutMiddleware:
    """Signs a session out after SESSION_IDLE_TIMEOUT minutes without activity (ASVS 7.3.1);
    SESSION_COOKIE_AGE is the absolute limit. Activity is a page load or any non-GET request;
    HTMX GETs (live refreshes, polls) read the clock but never push it forward. An HTMX request
    that finds its session timed out is sent to the login page whole (HX-Redirect), not swapped
    into a fragment.

    The stamp is written at most once a minute (STAMP_EVERY): a changed session is a database
    write on every request otherwise, and a minute is noise against a 60-minute timeout."""

    KEY = "last_activity"
    STAMP_EVERY = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timeout = settings.SESSION_IDLE_TIMEOUT * 60
        if timeout <= 0 or not request.user.is_authenticated:
            return self.get_response(request)
        now = timezone.now().timestamp()
        last = request.session.get(self.KEY)
        if last is not None and now - last > timeout:
            user = request.user
            logout(request)
            audit.record(
                "auth.idle_timeout",
                actor=user,
                object_repr=f"signed out after {settings.SESSION_IDLE_TIMEOUT} min idle",
            )
            if request.headers.get("HX-Request") == "true":
                current = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
                login = resolve_url(settings.LOGIN_URL) + "?" + urlencode({"next": current})
                return HttpResponse(status=204, headers={"HX-Redirect": login})
            return self.get_response(request)
        background = request.method == "GET" and request.headers.get("HX-Request") == "true"
        if last is None or (not background and now - last >= self.STAMP_EVERY):
            request.session[self.KEY] = now
        return self.get_response(request)
