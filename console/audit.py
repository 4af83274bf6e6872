"""The append-only, hash-chained audit trail.

Every state change by a person or by the system goes through `record()`. Entries are chained:
each carries the hash of the one before it, so `verify()` (and `manage.py verify_audit`) finds
an entry altered, removed or inserted by hand.
"""

import json
from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone

from . import live
from .context import current
from .models import AuditChainHead, AuditEntry

SYSTEM = "system"


def _plain(value):
    """JSON-safe copy, so what is stored is exactly what was hashed."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _actor(user) -> tuple[object | None, str]:
    if user is None or not getattr(user, "is_authenticated", False):
        return None, SYSTEM
    return user, user.get_username()


def record(
    action: str,
    *,
    actor=None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Append one entry. `actor` None means the system; `obj` fills the object fields."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    user, actor_name = _actor(actor)
    ctx = current.get()
    with transaction.atomic():
        # One row lock serialises appends: seq and prev_hash come from the same head, so two
        # writers can never both chain onto the same predecessor.
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        entry = AuditEntry(
            seq=head.seq + 1,
            at=timezone.now(),
            actor=user,
            actor_name=actor_name,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            object_repr=str(object_repr)[:300],
            before=_plain(before),
            after=_plain(after),
            request_id=ctx.request_id,
            source_ip=ctx.source_ip,
            prev_hash=head.hash,
        )
        entry.hash = entry.compute_hash()
        entry.save()
        head.seq, head.hash = entry.seq, entry.hash
        head.save(update_fields=["seq", "hash"])
        live.publish("audit", "audit.recorded", seq=entry.seq)
    return entry


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    reason: str


def verify(batch_size: int = 2000) -> tuple[int, BrokenLink | None]:
    """Walk the chain in order; return (entries checked, first broken link or None)."""
    expected_prev = "0" * 64
    expected_seq = 1
    checked = 0
    last_seq = 0
    while True:
        batch = list(AuditEntry.objects.filter(seq__gt=last_seq).order_by("seq")[:batch_size])
        if not batch:
            break
        for entry in batch:
            if entry.seq != expected_seq:
                return checked, BrokenLink(expected_seq, f"entry #{expected_seq} is missing")
            if entry.prev_hash != expected_prev:
                return checked, BrokenLink(entry.seq, "does not chain onto the entry before it")
            if entry.compute_hash() != entry.hash:
                return checked, BrokenLink(entry.seq, "its content does not match its hash")
            expected_prev = entry.hash
            expected_seq += 1
            checked += 1
        last_seq = batch[-1].seq
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.hash) != (checked, expected_prev):
        return checked, BrokenLink(checked + 1, f"the chain head expects {head.seq} entries")
    return checked, None
