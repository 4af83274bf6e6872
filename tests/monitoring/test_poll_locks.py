"""On PostgreSQL: a poll holding its module's row lock does not block a transaction that
references the module (an incident declared on it). Under load a FOR UPDATE there deadlocked
a declaration against a poll (bench/war_room.py); the poll's locks are FOR NO KEY UPDATE."""

import threading
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone

from incidents import services as incidents
from monitoring import services
from monitoring.poller import PollResult
from tests.monitoring.factories import ModuleFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BOUND = 20  # seconds: only bounds a broken run; the insert either waits for the lock or not


def test_a_poll_holding_its_module_does_not_block_an_incident_on_it(operator):
    from incidents import policy

    policy.load()
    module = ModuleFactory(name="gamma")
    locked, release = threading.Event(), threading.Event()
    store_many = services.store_many

    def paused_store(*args, **kwargs):  # inside the poll's transaction, after its locks
        locked.set()
        release.wait(BOUND)
        return store_many(*args, **kwargs)

    def poll():
        try:
            with mock.patch.object(services, "store_many", paused_store):
                services.record_poll(
                    module, PollResult(module_id=module.pk, started_at=timezone.now(), ok=True)
                )
        finally:
            connection.close()

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        assert locked.wait(BOUND)
        with transaction.atomic():
            with connection.cursor() as cursor:  # fail at once instead of waiting for the poll
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            incident = incidents.declare(
                operator,
                title="Gamma stalled",
                severity="P2",
                summary="No deliveries.",
                affected_modules=["gamma"],
            )
    finally:
        release.set()
        poller.join(BOUND)
    assert list(incident.affected_modules.values_list("name", flat=True)) == ["gamma"]
