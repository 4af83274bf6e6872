"""The world the API fuzzer runs in: the policies from the manuals, the demo users and data
(modules, changes, maintenance, shifts), an incident, an alert, a silence and a shift-log
entry, so that path parameters can name real objects; and a bearer token for the highest
role (VP/CTO), so that every operation gets past its permission check."""

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# Examples per API operation (schemathesis); the property tests draw a multiple. README
# "Tests": raise it for a deeper run, CI keeps the default.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))


@pytest.fixture
def fuzz_world(db):
    from django.contrib.auth.models import Permission

    from console.demo import seed_changes, seed_maintenance, seed_modules, seed_shifts, seed_users
    from console.models import ApiToken
    from incidents import services as incidents
    from monitoring.silences import create_silence
    from shifts.models import LogEntry
    from tests.monitoring.factories import AlertFactory

    call_command("load_policy", verbosity=0)
    users = {user.username: user for user in seed_users(password="fuzz")}
    seed_modules()
    seed_changes()
    seed_maintenance()
    seed_shifts(days=2)
    now = timezone.now()
    incidents.declare(users["operator"], title="Beta stalled", severity="P2", summary="No records.")
    AlertFactory()
    create_silence(
        users["opslead"],
        [{"name": "module", "value": "gamma", "isRegex": False, "isEqual": True}],
        now,
        now + timedelta(hours=1),
        "Patching Gamma",
    )
    LogEntry.objects.create(author=users["operator"], kind=LogEntry.Kind.NOTE, text="Restarted")
    # The Alertmanager intake needs a permission no role holds (README "Alerting").
    users["vp"].user_permissions.add(Permission.objects.get(codename="add_alert"))
    _, raw = ApiToken.issue(users["vp"], name="fuzz")
    return {"users": users, "token": raw}


# Property tests: deterministic (the same examples every run, no example database), no
# deadlines (a shared CI machine is slow at times).
FUZZ_SETTINGS = hypothesis_settings(
    max_examples=MAX_EXAMPLES * 10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Those that go through the database and the request cycle: fewer examples, each costs more.
DB_FUZZ_SETTINGS = hypothesis_settings(FUZZ_SETTINGS, max_examples=MAX_EXAMPLES * 2)
