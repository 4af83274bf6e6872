import uuid
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
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


class RejectNulMiddleware:
    """A NUL character in the path or the query string is a 400 before any view runs: no
    column can store it (PostgreSQL refuses it even in a lookup: a 500 otherwise) and no page
    or API parameter means one. Bodies are checked by the API's parsers (console/parsers.py)
    and the forms' fields."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info or any(
            "\x00" in key or "\x00" in value
            for key, values in request.GET.lists()
            for value in values
        ):
            message = "The URL may not contain a NUL character (%00)."
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)


class ConsoleLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login, except the API, which answers 401 JSON through DRF instead
    of redirecting a script to a login form."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class IdleTimeoutMiddleware:
    """Signs a session out after SESSION_IDLE_TIMEOUT minutes without activity (ASVS 7.3.1)
    and SESSION_COOKIE_AGE seconds after sign-in whatever the activity (ASVS 7.3.2). Activity
    is a page load or any non-GET request; HTMX GETs (live refreshes, polls) read the clock but
    never push it forward. An HTMX request that finds its session timed out is sent to the
    login page whole (HX-Redirect), not swapped into a fragment.

    Django alone would not make SESSION_COOKIE_AGE absolute: every request that touches the
    session saves it with a fresh expiry. The sign-in time is noted at login (console.signals)
    and checked here. The activity stamp is written at most once a minute (STAMP_EVERY): a
    changed session is a database write on every request otherwise, and a minute is noise
    against a 60-minute timeout."""

    KEY = "last_activity"
    SIGNED_IN_KEY = "signed_in_at"
    STAMP_EVERY = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated:
            return self.get_response(request)
        now = timezone.now().timestamp()
        request.session.setdefault(self.SIGNED_IN_KEY, now)
        ended = self.ended(request.session, now)
        if ended == "auth.session_expired":
            hours = settings.SESSION_COOKIE_AGE / 3600
            return self._sign_out(request, ended, f"signed out {hours:g} h after sign-in")
        if ended == "auth.idle_timeout":
            minutes = settings.SESSION_IDLE_TIMEOUT
            return self._sign_out(request, ended, f"signed out after {minutes} min idle")
        if settings.SESSION_IDLE_TIMEOUT <= 0:
            return self.get_response(request)
        background = request.method == "GET" and request.headers.get("HX-Request") == "true"
        last = request.session.get(self.KEY)
        if last is None or (not background and now - last >= self.STAMP_EVERY):
            request.session[self.KEY] = now
        return self.get_response(request)

    @classmethod
    def ended(cls, session, now: float) -> str | None:
        """Why a session is over ("auth.session_expired", "auth.idle_timeout") or None; the
        live socket (console.consumers) asks the same question."""
        signed_in = session.get(cls.SIGNED_IN_KEY)
        if signed_in is not None and now - signed_in > settings.SESSION_COOKIE_AGE:
            return "auth.session_expired"
        timeout = settings.SESSION_IDLE_TIMEOUT * 60
        last = session.get(cls.KEY)
        if timeout > 0 and last is not None and now - last > timeout:
            return "auth.idle_timeout"
        return None

    def _sign_out(self, request, action: str, why: str):
        user = request.user
        logout(request)
        audit.record(action, actor=user, object_repr=why)
        if request.headers.get("HX-Request") == "true":
            current = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
            login = resolve_url(settings.LOGIN_URL) + "?" + urlencode({"next": current})
            return HttpResponse(status=204, headers={"HX-Redirect": login})
        return self.get_response(request)
