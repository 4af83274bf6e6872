"""Schemathesis against /api/schema/: every operation, in-process through the WSGI app, as the
VP/CTO with a bearer token, with valid and invalid data. The API may refuse anything it is
sent (4xx), but never with a server error, and what it answers must match the schema it
publishes.

Path parameters are half the time the names of real objects (read from the database when the
example is drawn, so objects created by earlier examples count too), so that the actions
behind them run rather than stopping at a 404. FUZZ_MAX_EXAMPLES sets the examples per
operation (README "Tests").

One pytest test per operation, each driving Hypothesis itself: schemathesis' own pytest
plugin for lazily loaded schemas (`from_fixture`) does not run under pytest 9."""

import pytest
import schemathesis
from django.apps import apps
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from .conftest import MAX_EXAMPLES

pytestmark = [pytest.mark.slow]

SCHEMA_URL = "/api/schema/?format=json"
METHODS = ("get", "post", "put", "patch", "delete")

# The collection a path parameter names: "<collection>/{param}" -> (model, field).
REAL_OBJECTS = {
    "alerts": ("monitoring.Alert", "fingerprint"),
    "changes": ("changes.Change", "number"),
    "handoffs": ("shifts.Handoff", "pk"),
    "incidents": ("incidents.Incident", "number"),
    "jobs": ("monitoring.Job", "name"),
    "maintenance-windows": ("changes.MaintenanceWindow", "pk"),
    "modules": ("monitoring.Module", "name"),
    "rota": ("shifts.RotaWeek", "pk"),
    "routes": ("monitoring.Route", "pk"),
    "shift-log": ("shifts.LogEntry", "pk"),
    "shifts": ("shifts.Shift", "pk"),
    "silences": ("monitoring.Silence", "pk"),
}


def _operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation the schema publishes, for the test ids."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [
        (method.upper(), path)
        for path, item in sorted(paths.items())
        for method in METHODS
        if method in item
    ]


def _real_values(path: str, param: str) -> list[str]:
    collection = path.split("/{" + param + "}")[0].rsplit("/", 1)[-1]
    label, field = REAL_OBJECTS[collection]
    values = apps.get_model(label).objects.order_by(field).values_list(field, flat=True)[:20]
    return [str(value) for value in values]


@pytest.fixture
def wsgi_app():
    """The WSGI app as the test client runs it: requests must not close the connection that
    holds the test's transaction (django.test.Client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth(fuzz_world):
    return {"Authorization": f"Bearer {fuzz_world['token']}"}


@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(*op, id=" ".join(op)) for op in _operations()]
)
def test_api_operation_never_answers_5xx(method, path, wsgi_app, auth):
    schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, wsgi_app, headers=auth)
    operation = schema[path][method]
    params = [p.name for p in operation.path_parameters]

    @given(data=st.data())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(data):
        fixed = None
        if params and data.draw(st.booleans(), label="real objects"):
            fixed = {}
            for name in params:
                real = _real_values(path, name)
                if real:
                    fixed[name] = data.draw(st.sampled_from(real), label=name)
        mode = data.draw(st.sampled_from(list(GenerationMode)), label="mode")
        case = data.draw(operation.as_strategy(mode, path_parameters=fixed or None))
        case.call_and_validate(
            headers=auth,
            checks=[
                not_a_server_error,
                response_schema_conformance,
                content_type_conformance,
            ],
        )

    fuzz()
