import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")


class ForwardedFor:
    """Behind the reverse proxy (Procfile `web`, gunicorn) REMOTE_ADDR is the proxy's own
    address; with PROXY_HEADERS on, the client's is taken from the X-Forwarded-For entry the
    proxy appended — the last one (earlier entries are whatever the client sent). The audit
    trail and the login throttle (username + address) use it; Daphne's --proxy-headers does
    the same for the sockets."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        client = forwarded.rsplit(",", 1)[-1].strip()
        if client:
            environ["REMOTE_ADDR"] = client
        return self.app(environ, start_response)


application = get_wsgi_application()
if os.environ.get("PROXY_HEADERS", "0").strip().lower() in ("1", "true", "yes"):
    application = ForwardedFor(application)
