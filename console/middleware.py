import uuid

from django.contrib.auth.middleware import LoginRequiredMiddleware

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
