"""The authorisation matrix (issue 12): every URL of the console and the API, by method, as
every persona (each seeded role, a signed-in user without a role, nobody signed in), against
`authz_table.TABLE`.

- Allowed: never 401/403 (nor a refusal's `X-Refused-Status: 403`), never a redirect to the
  sign-in page, never 5xx; a GET answers 200; a mutation with an empty body may answer
  2xx/3xx/400/404/409/422 (invalid input or a state that does not allow it).
- Denied: 403 (the HTMX refusal carries `X-Refused-Status: 403`) before any validation;
  nobody signed in is sent to the sign-in page (pages) or answered 401/403 (API). A persona
  without any role may get 404 where the object is looked up among those it may see. An
  entry marked `lenient` (its rule depends on the body or the object's state) accepts any
  refusal (4xx, X-Refused-Status or an error message) from a denied persona.
- Every API error (4xx) is JSON.

The world is built once per module; every request runs in a savepoint rolled back after it,
so what one persona changes is never seen by the next.
"""

from http.cookies import SimpleCookie

import pytest
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from monitoring.services import forget_baselines
from monitoring.store import forget_series_cache

from . import world as world_module
from .authz_table import TABLE, Literal
from .world import ANONYMOUS, NO_ROLE, PERSONAS

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _walk(resolver, namespace="", prefix=""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern, ns, prefix + str(pattern.pattern))
        else:
            name = f"{namespace}{pattern.name}" if pattern.name else prefix + str(pattern.pattern)
            yield name, pattern


def url_patterns() -> dict[str, URLPattern]:
    """Every pattern of the URL configuration by (namespaced) name; the admin as `admin:*`."""
    found = {}
    for name, pattern in _walk(get_resolver()):
        found["admin:*" if name.startswith(("admin:", "admin/")) else name] = pattern
    return found


def api_methods(pattern: URLPattern) -> set[str] | None:
    """The methods a DRF view answers (None for a plain Django view, whose decorators say)."""
    callback = pattern.callback
    if getattr(callback, "actions", None):
        # DRF adds "head" to a viewset's actions once it has answered a GET.
        return {m.upper() for m in callback.actions if m not in ("head", "options")}
    cls = getattr(callback, "cls", None)
    if cls is None:
        return None
    return {
        m.upper() for m in cls.http_method_names if m not in ("head", "options") and hasattr(cls, m)
    }


REQUESTED = [
    (name, method)
    for name, entry in sorted(TABLE.items())
    if not entry.skip
    for method in entry.methods
]


def test_every_url_is_in_the_table():
    patterns = url_patterns()
    missing = sorted(set(patterns) - set(TABLE))
    stale = sorted(set(TABLE) - set(patterns))
    assert not missing, f"URL patterns without an entry in tests/security/authz_table.py: {missing}"
    assert not stale, f"authz_table.py entries that match no URL pattern: {stale}"


def test_api_methods_match_the_table():
    wrong = {}
    for name, pattern in url_patterns().items():
        methods = api_methods(pattern)
        if methods is not None and methods != set(TABLE[name].methods):
            wrong[name] = (sorted(methods), sorted(TABLE[name].methods))
    assert not wrong, f"(view answers, table lists) per API pattern: {wrong}"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The world, built once for the module in a transaction rolled back at its end."""
    with django_db_blocker.unblock():
        with transaction.atomic():
            built = world_module.build()
            built.clients[ANONYMOUS] = Client()
            for persona, user in built.users.items():
                built.clients[persona] = Client()
                built.clients[persona].force_login(user)
            yield built
            transaction.set_rollback(True)
    # Series ids and baselines are cached per process; this module's rows are rolled back.
    forget_series_cache()
    forget_baselines()


def _url(name: str, world) -> str:
    entry = TABLE[name]
    kwargs = {
        arg: (key.value if isinstance(key, Literal) else world.objects[key])
        for arg, key in entry.kw.items()
    }
    return reverse(name, kwargs=kwargs)


def _send(client: Client, method: str, url: str):
    """One request in a savepoint rolled back after it, the client's cookies kept (a
    sign-out must not sign the persona out for the next request)."""
    api = url.startswith("/api/v1/")
    cookies = SimpleCookie()
    cookies.load(client.cookies.output(header="", sep=";"))
    with transaction.atomic():
        if api:
            response = client.generic(
                method,
                url,
                data=b"{}" if method != "GET" else b"",
                content_type="application/json",
                HTTP_ACCEPT="application/json",
            )
        elif method == "GET":
            response = client.get(url)
        else:
            # As the pages send it: an HTMX request, whose refusal carries X-Refused-Status.
            response = client.generic(
                method,
                url,
                data=b"",
                content_type="application/x-www-form-urlencoded",
                HTTP_HX_REQUEST="true",
            )
        transaction.set_rollback(True)
    client.cookies = cookies
    return response


def _error_message(response) -> bool:
    """The view refused with an error message on its redirect (pages without HTMX)."""
    return response.status_code in (301, 302, 303) and any(
        m.level_tag == "error" for m in get_messages(response.wsgi_request)
    )


def _outcome(response) -> str:
    refused = response.headers.get("X-Refused-Status")
    location = response.headers.get("Location", "")
    text = str(response.status_code)
    if refused:
        text += f"/refused {refused}"
    if response.status_code in (301, 302) and location.startswith("/login/"):
        text += "/to login"
    if _error_message(response):
        text += "/error message"
    return text


def _problem(name: str, method: str, persona: str, response) -> str | None:
    """What is wrong with `response` for `persona`, or None."""
    entry = TABLE[name]
    allowed = persona in entry.methods[method]
    status = response.status_code
    refused = response.headers.get("X-Refused-Status", "")
    to_login = status in (301, 302) and response.headers.get("Location", "").startswith("/login/")
    if status >= 500:
        return "server error"
    api = response.wsgi_request.path.startswith("/api/v1/")
    if api and status >= 400 and response.headers.get("Content-Type") != "application/json":
        return "an API error that is not JSON"
    if allowed:
        if status in (401, 403) or refused == "403" or (to_login and not entry.signs_out):
            return "refused, but the table allows it"
        if method == "GET" and status not in entry.ok:
            return f"GET answered {status}, expected {entry.ok}"
        if method != "GET" and status not in (200, 201, 202, 204, 302, 303, 400, 404, 409, 422):
            return f"answered {status}"
        return None
    if persona == ANONYMOUS:
        api = response.wsgi_request.path.startswith("/api/")  # the schema and docs too
        if (api and status in (401, 403)) or (not api and to_login):
            return None
        return "not refused to an anonymous caller"
    if status in entry.denied_with or refused in {str(code) for code in entry.denied_with}:
        return None
    if status == 404 and entry.hides and persona == NO_ROLE:
        return None
    if entry.lenient and (
        400 <= status < 500 or refused.startswith("4") or _error_message(response)
    ):
        return None
    return "not refused, but the table denies it"


@pytest.mark.parametrize(("name", "method"), REQUESTED, ids=[f"{n} {m}" for n, m in REQUESTED])
def test_authorisation(world, name, method):
    url = _url(name, world)
    problems = []
    for persona in PERSONAS:
        response = _send(world.clients[persona], method, url)
        problem = _problem(name, method, persona, response)
        if problem:
            problems.append(f"{persona}: {problem} ({_outcome(response)})")
    assert not problems, f"{method} {url}:\n  " + "\n  ".join(problems)


def test_admin_is_staff_only(world):
    url = reverse("admin:index")
    for persona in PERSONAS:
        response = _send(world.clients[persona], "GET", url)
        assert response.status_code == 302, (persona, response.status_code)
        assert response.headers["Location"].startswith(reverse("admin:login")), persona
