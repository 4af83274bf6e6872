"""1-minute and 1-hour roll-ups of the raw samples, and retention.

Each roll-up runs from its watermark (locked row) to the last complete bucket, so it is
idempotent and a crashed run is simply redone; rows are upserted. Raw samples are kept
RAW_RETENTION, 1-minute buckets ROLLUP_1M_RETENTION, hourly ones ROLLUP_1H_RETENTION.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import Poll, Rollup1h, Rollup1m, RollupWatermark, Sample

RAW_RETENTION = timedelta(days=getattr(settings, "MONITORING_RAW_RETENTION_DAYS", 7))
ROLLUP_1M_RETENTION = timedelta(days=getattr(settings, "MONITORING_1M_RETENTION_DAYS", 31))
ROLLUP_1H_RETENTION = timedelta(days=getattr(settings, "MONITORING_1H_RETENTION_DAYS", 400))
MAX_CHUNK = {"1m": timedelta(hours=6), "1h": timedelta(days=7)}


def _floor(when: datetime, width: timedelta) -> datetime:
    seconds = int(width.total_seconds())
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def _bucket_sql(column: str, seconds: int) -> str:
    if connection.vendor == "postgresql":
        return f"to_timestamp(floor(extract(epoch from {column}) / {seconds}) * {seconds})"
    # SQLite stores ISO text; Django reads back "YYYY-MM-DD HH:MM:SS". `%%`: the query goes
    # through the driver's parameter formatting, where a lone % would be a placeholder.
    return (
        f"strftime('%%Y-%%m-%%d %%H:%%M:%%S', "
        f"(CAST(strftime('%%s', {column}) AS INTEGER) / {seconds}) * {seconds}, 'unixepoch')"
    )


def _rollup_sql(source: str, target: str, seconds: int, raw: bool) -> str:
    """INSERT…SELECT of one bucket range; `last` is the value of the bucket's newest row."""
    bucket = _bucket_sql("ts", seconds)
    value = "value" if raw else None
    cols = (
        ("min(value)", "max(value)", "sum(value)", "count(*)")
        if raw
        else ("min(min)", "max(max)", "sum(sum)", "sum(count)")
    )
    last_col = value or "last"
    if connection.vendor == "postgresql":
        last = f"(array_agg({last_col} ORDER BY ts DESC))[1]"
    else:
        # SQLite: a correlated lookup of the newest row in the bucket.
        last = (
            f"(SELECT s2.{last_col} FROM {source} s2 WHERE s2.series_id = s.series_id "
            f"AND s2.ts >= %s AND s2.ts < %s "
            f"AND {_bucket_sql('s2.ts', seconds)} = {_bucket_sql('s.ts', seconds)} "
            f"ORDER BY s2.ts DESC LIMIT 1)"
        )
    return (
        f"INSERT INTO {target} (series_id, ts, min, max, sum, count, last) "
        f"SELECT series_id, {bucket}, {', '.join(cols)}, {last} FROM {source} s "
        f"WHERE ts >= %s AND ts < %s GROUP BY series_id, {bucket} "
        f"ON CONFLICT (series_id, ts) DO UPDATE SET min = excluded.min, max = excluded.max, "
        f"sum = excluded.sum, count = excluded.count, last = excluded.last"
    )


def roll_up(resolution: str, now: datetime | None = None) -> int:
    """Roll complete buckets up to now; returns the number of buckets ranges processed."""
    now = now or timezone.now()
    width = timedelta(minutes=1) if resolution == "1m" else timedelta(hours=1)
    source, target, raw = (
        (Sample._meta.db_table, Rollup1m._meta.db_table, True)
        if resolution == "1m"
        else (Rollup1m._meta.db_table, Rollup1h._meta.db_table, False)
    )
    end = _floor(now, width)
    chunks = 0
    with transaction.atomic():
        mark, _ = RollupWatermark.objects.select_for_update().get_or_create(
            resolution=resolution, defaults={"upto": end - RAW_RETENTION}
        )
        start = max(mark.upto, end - RAW_RETENTION)
        sql = _rollup_sql(source, target, int(width.total_seconds()), raw)
        while start < end:
            stop = min(end, start + MAX_CHUNK[resolution])
            # Adapted by hand: raw SQL on SQLite compares text, in the stored format.
            bounds = [connection.ops.adapt_datetimefield_value(v) for v in (start, stop)]
            params = bounds if connection.vendor == "postgresql" else bounds * 2
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
            start = stop
            chunks += 1
        mark.upto = end
        mark.save(update_fields=["upto"])
    return chunks


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete what is past its retention."""
    now = now or timezone.now()
    deleted = {
        "raw": Sample.objects.filter(ts__lt=now - RAW_RETENTION).delete()[0],
        "polls": Poll.objects.filter(started_at__lt=now - RAW_RETENTION).delete()[0],
        "1m": Rollup1m.objects.filter(ts__lt=now - ROLLUP_1M_RETENTION).delete()[0],
        "1h": Rollup1h.objects.filter(ts__lt=now - ROLLUP_1H_RETENTION).delete()[0],
    }
    if any(deleted.values()):
        # Retention is a deletion too (issue 12, data safety): what went is recorded; the
        # coarser rollups are its archive until their own retention ends.
        from console import audit

        audit.record(
            "metrics.prune", object_type="monitoring.sample", after={**deleted, "before": now}
        )
    return deleted
