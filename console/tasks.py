import socket

from celery import shared_task
from django.utils import timezone

from . import live
from .models import WorkerHeartbeat


@shared_task(ignore_result=True)
def record_heartbeat() -> None:
    """Beat schedules this; /readyz reads its age to tell whether worker and beat are alive."""
    WorkerHeartbeat.objects.update_or_create(
        name="worker", defaults={"at": timezone.now(), "hostname": socket.gethostname()}
    )
    live.publish("overview", "worker.heartbeat")
