import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection

from console import audit
from console.models import AuditChainHead, AuditEntry
from tests.factories import UserFactory


def _tamper(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_record_chains_each_entry_onto_the_previous():
    user = UserFactory()
    first = audit.record("thing.create", actor=user, object_type="x.thing", object_id="1")
    second = audit.record("thing.update", before={"a": 1}, after={"a": 2})
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.hash
    assert first.actor_name == user.username
    assert second.actor_name == "system"
    assert AuditChainHead.objects.get(pk=1).hash == second.hash


@pytest.mark.django_db
def test_record_stores_what_it_hashed_for_non_json_values():
    import datetime

    entry = audit.record("x.y", after={"when": datetime.date(2026, 1, 2), "n": 1.5})
    reloaded = AuditEntry.objects.get(pk=entry.pk)
    assert reloaded.after == {"n": 1.5, "when": "2026-01-02"}
    assert reloaded.compute_hash() == reloaded.hash


@pytest.mark.django_db
def test_verify_passes_on_an_intact_chain():
    for i in range(5):
        audit.record("x.y", after={"i": i})
    assert audit.verify() == (5, None)


@pytest.mark.django_db
def test_verify_finds_an_entry_altered_by_hand():
    for i in range(4):
        audit.record("x.y", after={"i": i})
    table = AuditEntry._meta.db_table
    _tamper(f"UPDATE {table} SET action = %s WHERE seq = %s", ["x.forged", 3])
    checked, broken = audit.verify()
    assert checked == 2
    assert broken.seq == 3
    assert "does not match its hash" in broken.reason


@pytest.mark.django_db
def test_verify_finds_an_entry_removed_by_hand():
    for i in range(4):
        audit.record("x.y", after={"i": i})
    _tamper(f"DELETE FROM {AuditEntry._meta.db_table} WHERE seq = %s", [2])
    checked, broken = audit.verify()
    assert (checked, broken.seq) == (1, 2)
    assert "missing" in broken.reason


@pytest.mark.django_db
def test_verify_finds_the_last_entry_removed_by_hand():
    for i in range(3):
        audit.record("x.y", after={"i": i})
    _tamper(f"DELETE FROM {AuditEntry._meta.db_table} WHERE seq = %s", [3])
    checked, broken = audit.verify()
    assert checked == 2 and broken is not None


@pytest.mark.django_db
def test_verify_finds_a_rehashed_entry_that_no_longer_chains():
    """Someone who edits an entry and recomputes its hash still breaks the next link."""
    for i in range(3):
        audit.record("x.y", after={"i": i})
    entry = AuditEntry.objects.get(seq=2)
    entry.action = "x.forged"
    forged_hash = entry.compute_hash()
    _tamper(
        f"UPDATE {AuditEntry._meta.db_table} SET action = %s, hash = %s WHERE seq = 2",
        ["x.forged", forged_hash],
    )
    checked, broken = audit.verify()
    assert (checked, broken.seq) == (2, 3)


@pytest.mark.django_db
def test_entries_cannot_be_updated_or_deleted_through_the_orm():
    entry = audit.record("x.y")
    entry.action = "changed"
    with pytest.raises(PermissionDenied):
        entry.save()
    with pytest.raises(PermissionDenied):
        entry.delete()
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.filter(pk=entry.pk).update(action="changed")
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.all().delete()


@pytest.mark.django_db
def test_verify_audit_command_reports_ok_and_the_first_broken_link(capsys):
    audit.record("x.y")
    audit.record("x.y")
    call_command("verify_audit")
    assert "OK: 2 entries" in capsys.readouterr().out
    _tamper(f"UPDATE {AuditEntry._meta.db_table} SET actor_name = %s WHERE seq = 1", ["mallory"])
    with pytest.raises(CommandError, match="BROKEN at entry #1"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_record_takes_request_id_and_address_from_the_request(client, operator):
    client.force_login(operator)
    client.get("/", HTTP_X_REQUEST_ID="req-123", REMOTE_ADDR="10.1.2.3")
    # Signing in through the view records auth.login with the request's context.
    client.logout()
    client.post(
        "/login/",
        {"username": "operator", "password": "correct horse battery"},
        HTTP_X_REQUEST_ID="req-456",
        REMOTE_ADDR="10.9.8.7",
    )
    entry = AuditEntry.objects.filter(action="auth.login").latest("seq")
    assert (entry.request_id, entry.source_ip, entry.actor_name) == (
        "req-456",
        "10.9.8.7",
        "operator",
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_on_postgres_keep_one_chain():
    """Eight threads appending at once: the head row lock gives one gapless chain."""
    errors = []

    def append(worker: int):
        try:
            for i in range(10):
                audit.record("x.concurrent", after={"worker": worker, "i": i})
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert audit.verify() == (80, None)
