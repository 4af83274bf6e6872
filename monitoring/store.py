"""The metric store: writing polled samples in bulk and reading them back for PromQL.

Writes go through `store_samples`: series ids come from a per-process cache (series are few
and long-lived), rows go in with COPY on PostgreSQL and a bulk insert elsewhere. Reads go
through `DbSource`, which serves the PromQL evaluator from raw samples or from the 1-minute or
1-hour roll-ups, whichever suits the range asked for.
"""

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from .models import Module, Rollup1h, Rollup1m, Sample, Series
from .promql import Labels, Points, Selector, Source

ParsedSample = tuple[str, dict[str, str], float, str]  # (name, labels, value, family type)

_series_ids: dict[tuple[int, str, str], int] = {}
_series_lock = threading.Lock()


def labels_key(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def target_labels(module: Module, labels: dict[str, str]) -> dict[str, str]:
    """The scraped labels plus `module`; a scraped `module` that disagrees is kept as
    `exported_module`, as Prometheus does with honor_labels off."""
    result = dict(labels)
    scraped = result.get("module")
    if scraped is not None and scraped != module.name:
        result["exported_module"] = scraped
    result["module"] = module.name
    return result


def forget_series_cache() -> None:
    with _series_lock:
        _series_ids.clear()


def _series_ids_for(module: Module, samples: list[ParsedSample]) -> list[int]:
    keys = [(module.pk, name, labels_key(labels)) for name, labels, _, _ in samples]
    with _series_lock:
        missing = {k for k in keys if k not in _series_ids}
    if missing:
        by_key = {(module.pk, s[0], labels_key(s[1])): s for s in samples}
        new = []
        for key in missing:
            name, labels, _, kind = by_key[key]
            new.append(
                Series(module=module, name=name, labels=labels, labels_key=key[2], kind=kind)
            )
        Series.objects.bulk_create(new, ignore_conflicts=True)
        found = Series.objects.filter(module=module, name__in={k[1] for k in missing}).values_list(
            "name", "labels_key", "pk"
        )
        with _series_lock:
            for name, lk, pk in found:
                _series_ids[(module.pk, name, lk)] = pk
    with _series_lock:
        return [_series_ids[k] for k in keys]


def store_samples(module: Module, samples: list[ParsedSample], ts: datetime) -> int:
    """Insert one poll's samples at time `ts`; returns how many rows were written."""
    return store_many([(module, samples, ts)])


def store_many(batches: list[tuple[Module, list[ParsedSample], datetime]]) -> int:
    """Insert several polls' samples in one statement (a scan's worth of modules)."""
    rows: list[tuple[int, datetime, float]] = []
    for module, samples, ts in batches:
        if not samples:
            continue
        labelled = [
            (name, target_labels(module, labels), value, kind)
            for name, labels, value, kind in samples
        ]
        ids = _series_ids_for(module, labelled)
        rows.extend(
            (series_id, ts, sample[2]) for series_id, sample in zip(ids, labelled, strict=True)
        )
    if rows:
        _insert(rows)
    return len(rows)


def _insert(rows: list[tuple[int, datetime, float]]) -> None:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor, connection.wrap_database_errors:
                raw = cursor.cursor  # psycopg 3's cursor: COPY is ~5x a multi-row INSERT
                with raw.copy("COPY monitoring_sample (series_id, ts, value) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            Sample.objects.bulk_create(
                [Sample(series_id=series_id, ts=ts, value=value) for series_id, ts, value in rows],
                batch_size=500,
            )


# --- reading ---------------------------------------------------------------------------------

RESOLUTIONS = {"raw": None, "1m": Rollup1m, "1h": Rollup1h}
BUCKET = {"1m": 60.0, "1h": 3600.0}


def resolution_for(span: timedelta) -> str:
    """The coarsest data that still gives a chart enough points: raw up to 2 hours (≤ 1,440
    points at 5 s), 1-minute buckets up to 2 days (≤ 2,880 → thinned by the step), hourly past."""
    if span <= timedelta(hours=2):
        return "raw"
    if span <= timedelta(days=2):
        return "1m"
    return "1h"


class DbSource(Source):
    """Serves selectors from the database at one resolution (roll-ups use each bucket's last
    value, stamped at the bucket's end, so rates over them stay rates)."""

    def __init__(self, resolution: str = "raw", module_ids: list[int] | None = None):
        self.resolution = resolution
        self.module_ids = module_ids
        self._series_cache: dict[str, list[tuple[int, Labels]]] = {}

    def _series(self, selector: Selector) -> list[tuple[int, Labels]]:
        if selector.name not in self._series_cache:
            rows = Series.objects.filter(name=selector.name)
            if self.module_ids is not None:
                rows = rows.filter(module_id__in=self.module_ids)
            self._series_cache[selector.name] = [
                (pk, tuple(sorted({**labels, "__name__": selector.name}.items())))
                for pk, labels in rows.values_list("pk", "labels")
            ]
        found = []
        for pk, labels in self._series_cache[selector.name]:
            as_dict = dict(labels)
            if all(m.matches(as_dict) for m in selector.matchers):
                found.append((pk, labels))
        return found

    def select(self, selector: Selector, start: float, end: float) -> list[tuple[Labels, Points]]:
        series = self._series(selector)
        if not series:
            return []
        ids = [pk for pk, _ in series]
        points: dict[int, Points] = defaultdict(list)
        start_dt = datetime.fromtimestamp(start, tz=UTC)
        end_dt = datetime.fromtimestamp(end, tz=UTC)
        model = RESOLUTIONS[self.resolution]
        if model is None:
            rows = Sample.objects.filter(series_id__in=ids, ts__gte=start_dt, ts__lte=end_dt)
            for series_id, ts, value in rows.order_by("series_id", "ts").values_list(
                "series_id", "ts", "value"
            ):
                points[series_id].append((ts.timestamp(), value))
        else:
            width = BUCKET[self.resolution]
            rows = model.objects.filter(
                series_id__in=ids,
                ts__gte=start_dt - timedelta(seconds=width),
                ts__lte=end_dt - timedelta(seconds=width),
            )
            for series_id, ts, value in rows.order_by("series_id", "ts").values_list(
                "series_id", "ts", "last"
            ):
                points[series_id].append((ts.timestamp() + width, value))
        return [(labels, points.get(pk, [])) for pk, labels in series]
