"""Gamma's dead letter queue: one entry per record that could not be delivered.

Entries are named ``entry_<n>`` as in Runbook C.2's examples (001), so the runbook's curl
lines work as written. The queue is bounded: when it is full Gamma holds failing records in
its own queues instead, so nothing is dropped and backpressure travels upstream.
"""

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Invalid
from .records import Batch
from .stats import RateWindow

# reason -> (retry eligible, what the destination said). Runbook C.2 (001) replays
# "transient failures (retry eligible)" and reviews, exports or purges permanent ones.
REASONS: dict[str, tuple[bool, str]] = {
    "destination_unavailable": (True, "connection to destination refused or timed out"),
    "rate_limited": (True, "destination answered HTTP 429 Too Many Requests"),
    "circuit_open": (True, "circuit breaker OPEN; record not attempted"),
    "ack_timeout": (True, "no acknowledgment within ACK_WAIT_TIMEOUT_MS"),
    "transient_error": (True, "destination answered HTTP 503"),
    "payload_rejected": (False, "destination rejected the record: HTTP 400 schema mismatch"),
}

ADVICE = {
    "destination_unavailable": "check destination connectivity (Runbook C.3), then replay",
    "rate_limited": "reduce the destination's max_rate with a config reload, then replay",
    "circuit_open": "replay once the breaker is CLOSED (Runbook C.3)",
    "ack_timeout": "check acknowledgment latency at the destination, then replay",
    "transient_error": "replay",
    "payload_rejected": "permanent: correct the data or export it, then purge (Runbook C.2)",
}

AGE_BUCKETS = ((60, "<1m"), (300, "1-5m"), (900, "5-15m"), (3600, "15-60m"), (21600, "1-6h"))


@dataclass(slots=True)
class Entry:
    """One undeliverable record."""

    number: int
    record_id: int
    source: str
    destination: str
    reason: str
    attempts: int
    first_failed_at: float
    quality: float
    low_quality: bool

    @property
    def entry_id(self) -> str:
        return f"entry_{self.number}"

    @property
    def retry_eligible(self) -> bool:
        return REASONS[self.reason][0]

    def as_dict(self, now: float, iso: Callable[[float], str]) -> dict[str, Any]:
        return {
            "id": self.entry_id,
            "record_id": f"rec_{self.record_id}",
            "source": self.source,
            "destination": self.destination,
            "reason": self.reason,
            "error": REASONS[self.reason][1],
            "retry_eligible": self.retry_eligible,
            "attempts": self.attempts,
            "failed_at": iso(self.first_failed_at),
            "age_seconds": round(now - self.first_failed_at, 3),
            "quality_score": round(self.quality, 3),
        }


@dataclass(frozen=True)
class Filter:
    """Which entries a replay, purge, listing or export applies to; unset fields match all."""

    retry_eligible: bool | None = None
    destination: str | None = None
    source: str | None = None
    reason: str | None = None
    older_than_seconds: float | None = None

    def matches(self, entry: Entry, now: float) -> bool:
        return (
            (self.retry_eligible is None or entry.retry_eligible == self.retry_eligible)
            and (self.destination is None or entry.destination == self.destination)
            and (self.source is None or entry.source == self.source)
            and (self.reason is None or entry.reason == self.reason)
            and (
                self.older_than_seconds is None
                or now - entry.first_failed_at >= self.older_than_seconds
            )
        )

    @classmethod
    def parse(cls, raw: Any) -> "Filter":
        """From a JSON object (replay and purge bodies)."""
        if not isinstance(raw, Mapping):
            raise Invalid("filter must be a JSON object", allowed=FILTER_KEYS)
        unknown = sorted(set(raw) - set(FILTER_KEYS))
        if unknown:
            raise Invalid(f"unknown filter keys {unknown}", allowed=FILTER_KEYS)
        eligible = raw.get("retry_eligible")
        if eligible is not None and not isinstance(eligible, bool):
            raise Invalid("filter.retry_eligible must be true or false")
        for key in ("destination", "source", "reason"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise Invalid(f"filter.{key} must be a string")
        if raw.get("reason") is not None and raw["reason"] not in REASONS:
            raise Invalid("unknown filter.reason", allowed=sorted(REASONS))
        older = raw.get("older_than_seconds")
        if older is not None and (isinstance(older, bool) or not isinstance(older, int | float)):
            raise Invalid("filter.older_than_seconds must be a number")
        return cls(
            retry_eligible=eligible,
            destination=raw.get("destination"),
            source=raw.get("source"),
            reason=raw.get("reason"),
            older_than_seconds=None if older is None else float(older),
        )

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "Filter":
        """From query-string parameters (entries listing and export)."""
        raw: dict[str, Any] = {k: query[k] for k in FILTER_KEYS if k in query}
        if "retry_eligible" in raw:
            flag = raw["retry_eligible"].lower()
            if flag not in ("true", "false"):
                raise Invalid("retry_eligible must be true or false")
            raw["retry_eligible"] = flag == "true"
        if "older_than_seconds" in raw:
            try:
                raw["older_than_seconds"] = float(raw["older_than_seconds"])
            except ValueError:
                raise Invalid("older_than_seconds must be a number") from None
        return cls.parse(raw)


FILTER_KEYS = ["retry_eligible", "destination", "source", "reason", "older_than_seconds"]


class DeadLetterQueue:
    """Bounded, insertion-ordered store of entries with the counts Runbook C.2 asks for."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: dict[int, Entry] = {}
        self._next_number = 1
        self.added_total = 0
        self.replayed_total = 0
        self.purged_total = 0
        self.added_by_reason: dict[str, int] = dict.fromkeys(REASONS, 0)
        self._arrivals = RateWindow(width=1, span=3600.0)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def free(self) -> int:
        return max(self.capacity - len(self._entries), 0)

    def add(self, batch: Batch, reason: str, now: float) -> int:
        """Add up to ``free`` records of ``batch`` (from its head); return how many."""
        accepted = min(batch.count, self.free)
        for record_id in range(batch.first_id, batch.first_id + accepted):
            self._entries[self._next_number] = Entry(
                self._next_number,
                record_id,
                batch.source,
                batch.destination,
                reason,
                batch.attempts,
                now,
                batch.quality,
                batch.low_quality,
            )
            self._next_number += 1
        self.added_total += accepted
        self.added_by_reason[reason] += accepted
        if accepted:
            self._arrivals.add(now, accepted)
        return accepted

    def select(self, flt: Filter, now: float) -> Iterator[Entry]:
        return (e for e in self._entries.values() if flt.matches(e, now))

    def find(self, entry_ids: Any) -> tuple[list[Entry], list[str]]:
        if not isinstance(entry_ids, list) or not all(isinstance(i, str) for i in entry_ids):
            raise Invalid('entry_ids must be a list of ids such as "entry_1"')
        found: list[Entry] = []
        missing: list[str] = []
        for entry_id in entry_ids:
            number = _entry_number(entry_id)
            entry = self._entries.get(number) if number is not None else None
            if entry is None:
                missing.append(entry_id)
            else:
                found.append(entry)
        return found, missing

    def remove(self, entries: Iterable[Entry]) -> int:
        removed = 0
        for entry in entries:
            if self._entries.pop(entry.number, None) is not None:
                removed += 1
        return removed

    def page(self, flt: Filter, limit: int, offset: int, now: float, iso: Any) -> dict[str, Any]:
        matched = list(self.select(flt, now))
        window = matched[offset : offset + limit]
        return {
            "total": len(matched),
            "limit": limit,
            "offset": offset,
            "entries": [e.as_dict(now, iso) for e in window],
        }

    def stats(self, now: float, iso: Any) -> dict[str, Any]:
        oldest = next(iter(self._entries.values()), None)
        size = len(self._entries)
        return {
            "size": size,
            "capacity": self.capacity,
            "utilization": round(size / self.capacity, 4) if self.capacity else 0.0,
            # 000, Queue Depth Assessment: investigate any queue approaching 50% of capacity.
            "over_half_full": size >= self.capacity / 2,
            "retry_eligible": sum(1 for e in self._entries.values() if e.retry_eligible),
            "added_total": self.added_total,
            "added_last_hour": int(self._arrivals.totals(now)[0]),
            "replayed_total": self.replayed_total,
            "purged_total": self.purged_total,
            "oldest_entry_at": iso(oldest.first_failed_at) if oldest else None,
            "oldest_age_seconds": round(now - oldest.first_failed_at, 3) if oldest else None,
        }

    def analysis(self, now: float) -> dict[str, Any]:
        by_reason: dict[str, int] = {}
        by_destination: dict[str, int] = {}
        by_source: dict[str, int] = {}
        ages = dict.fromkeys([label for _, label in AGE_BUCKETS] + [">6h"], 0)
        for e in self._entries.values():
            by_reason[e.reason] = by_reason.get(e.reason, 0) + 1
            by_destination[e.destination] = by_destination.get(e.destination, 0) + 1
            by_source[e.source] = by_source.get(e.source, 0) + 1
            ages[_age_label(now - e.first_failed_at)] += 1
        size = len(self._entries) or 1
        reasons = [
            {
                "reason": reason,
                "count": count,
                "share": round(count / size, 4),
                "retry_eligible": REASONS[reason][0],
                "description": REASONS[reason][1],
                "suggested_action": ADVICE[reason],
            }
            for reason, count in sorted(by_reason.items(), key=lambda kv: -kv[1])
        ]
        return {
            "size": len(self._entries),
            "failure_reasons": reasons,
            "by_destination": by_destination,
            "by_source": by_source,
            "age_distribution": ages,
            "retry_eligible": sum(r["count"] for r in reasons if r["retry_eligible"]),
            "permanent": sum(r["count"] for r in reasons if not r["retry_eligible"]),
        }

    def export(self, flt: Filter, fmt: str, now: float, iso: Any) -> tuple[str, str]:
        """The matching entries as (content type, text) in ``json`` or ``csv``."""
        rows = [e.as_dict(now, iso) for e in self.select(flt, now)]
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return "text/csv; charset=utf-8", out.getvalue()
        if fmt != "json":
            raise Invalid("format must be json or csv", got=fmt)
        body = {"exported_at": iso(now), "count": len(rows), "entries": rows}
        return "application/json", json.dumps(body)


EXPORT_COLUMNS = [
    "id",
    "record_id",
    "source",
    "destination",
    "reason",
    "error",
    "retry_eligible",
    "attempts",
    "failed_at",
    "age_seconds",
    "quality_score",
]


def entries_to_batches(entries: list[Entry], now: float) -> list[Batch]:
    """Regroup replayed entries into batches of consecutive records bound the same way.

    A replayed record's latency clock restarts: the end-to-end histogram measures the live
    flow, and how long a record sat in the DLQ is reported by the DLQ's own age figures.
    """
    batches: list[Batch] = []
    for e in sorted(entries, key=lambda x: x.number):
        last = batches[-1] if batches else None
        if (
            last is not None
            and last.source == e.source
            and last.destination == e.destination
            and last.low_quality == e.low_quality
            and last.first_id + last.count == e.record_id
        ):
            last.count += 1
            continue
        batch = Batch(e.source, e.record_id, 1, now)
        batch.destination = e.destination
        batch.quality = e.quality
        batch.low_quality = e.low_quality
        batches.append(batch)
    return batches


def _entry_number(entry_id: str) -> int | None:
    prefix, _, digits = entry_id.partition("_")
    if prefix != "entry" or not digits.isdigit():
        return None
    return int(digits)


def _age_label(age: float) -> str:
    for limit, label in AGE_BUCKETS:
        if age < limit:
            return label
    return ">6h"
