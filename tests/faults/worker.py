"""Child processes for tests/faults/test_worker_faults.py, on the private PostgreSQL named by
DATABASE_URL (the test's own Django is configured for the suite's database, so everything on
the private cluster runs here, in processes the test can kill).

    python -m tests.faults.worker setup                 migrate, load the policy, demo users
    python -m tests.faults.worker declare SECONDS        a P2 whose 30-minute step is due then
    python -m tests.faults.worker scan TIMES             the incident-timer task body, TIMES times
    python -m tests.faults.worker scan-stuck MARKER      the same, stuck inside an escalation
"""

import os
import sys
import threading
from datetime import timedelta
from pathlib import Path


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()


def setup() -> None:
    from django.core.management import call_command

    from console.demo import seed_users

    call_command("migrate", verbosity=0)
    call_command("load_policy", verbosity=0)
    seed_users("faults-password")


def declare(seconds: float) -> None:
    """Declared by the operator, moved back in time so that its step P2-1 (Senior Engineer,
    30 minutes) falls due `seconds` from now; acknowledged, so only that clock matters."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from incidents import services
    from incidents.models import Incident

    operator = get_user_model().objects.get(username="operator")
    incident = services.declare(operator, title="fault", severity="P2", summary="fault test")
    declared = timezone.now() + timedelta(seconds=seconds) - timedelta(minutes=30)
    incident = Incident.objects.get(pk=incident.pk)
    incident.declared_at = incident.detected_at = declared
    incident.acknowledged_at = incident.investigating_at = declared
    incident.status = "investigating"
    incident.recompute_deadlines()
    incident.save()
    print(incident.pk, flush=True)


def scan(times: int) -> None:
    from incidents.tasks import scan_incident_timers

    for _ in range(times):
        print(scan_incident_timers(), flush=True)


def scan_stuck(marker: str) -> None:
    """The scan, stuck after the escalation row is inserted and before its transaction
    commits (notifying the role's members): the moment a kill -9 does the most harm."""
    from incidents import notify
    from incidents.tasks import scan_incident_timers

    def stuck(*args, **kwargs):
        Path(marker).write_text(str(os.getpid()))
        threading.Event().wait()  # until the test kills this process

    notify.queue_users = stuck
    scan_incident_timers()


if __name__ == "__main__":
    _django()
    command, *args = sys.argv[1:]
    if command == "setup":
        setup()
    elif command == "declare":
        declare(float(args[0]))
    elif command == "scan":
        scan(int(args[0]))
    elif command == "scan-stuck":
        scan_stuck(args[0])
    else:
        raise SystemExit(f"unknown command {command}")
